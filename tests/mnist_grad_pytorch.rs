//! The whole MNIST CNN's gradient against PyTorch (`tests/fixtures/mnist_grad.json`, written by
//! `tests/fixtures/generate_mnist_grad.py`): glassbox_convnet::mnist::MnistCnn over weights both sides build
//! from a closed formula, the first 128 training digits, the mean cross-entropy, and candle's backward pass
//! through glassbox's f32 kernels, against PyTorch's float64. The loss, digit 0's logits, and per tensor its
//! L2 and L1 norms, sum, largest magnitude and 24 (or all) entries at fixed positions.
//!
//! Tolerance: 1e-5 of each quantity's scale (the tensor's largest gradient for entries, its L2 norm for the
//! norm, its L1 norm for the sum, the largest logit for logits). f32 rounds each operation to 6e-8 relative;
//! the gradients are sums of up to 73,728 terms (conv2's kernel: 128 digits x 24 x 24 positions), and
//! PyTorch's own f32 gradient lands up to 3.3e-6 of the largest entry from its f64 one (printed beside ours).
//! A wrong layout, a transposed kernel or a missing term moves entries by a large fraction of the scale.
//! The script keeps every ReLU and max-pool decision well clear of its jump, so the check does not
//! depend on which way f32 rounding breaks a near-tie.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use glassbox_convnet::mnist::MnistCnn;
use glassbox_core::data::Mnist;
use glassbox_core::seed::Seed;
use glassbox_tests::{fixture, formula};
use serde_json::Value;

const TOLERANCE: f64 = 1e-5;

/// (name, shape, fan_in, fan_out) in the script's order: tensor k uses formula seed k. Biases have no fans.
const TENSORS: [(&str, &[usize], usize, usize); 8] = [
    ("conv1.weight", &[32, 1, 3, 3], 9, 32 * 9),
    ("conv1.bias", &[32], 0, 0),
    ("conv2.weight", &[64, 32, 3, 3], 32 * 9, 64 * 9),
    ("conv2.bias", &[64], 0, 0),
    ("fc1.weight", &[128, 9216], 9216, 128),
    ("fc1.bias", &[128], 0, 0),
    ("fc2.weight", &[10, 128], 128, 10),
    ("fc2.bias", &[10], 0, 0),
];

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

/// The fixture's weights: the formula, the bias variants that move biases off near-kinks (unit c takes
/// the formula's value at c + n * variant[c]), and fc1's zeroed columns.
fn weights(fixture: &Value) -> HashMap<String, Tensor> {
    let bias_scale = fixture["bias_scale"].as_f64().unwrap();
    let mut out = HashMap::new();
    for (k, (name, shape, fan_in, fan_out)) in TENSORS.iter().enumerate() {
        let n: usize = shape.iter().product();
        let mut v = if *fan_in == 0 {
            let variant = match *name {
                "conv1.bias" => usizes(&fixture["conv1_bias_variant"]),
                "fc1.bias" => usizes(&fixture["fc1_bias_variant"]),
                _ => vec![0; n],
            };
            assert_eq!(variant.len(), n, "{name} variants");
            let longest = formula(
                n * (variant.iter().max().unwrap() + 1),
                k as u32,
                bias_scale,
            );
            variant
                .iter()
                .enumerate()
                .map(|(c, t)| longest[c + n * t])
                .collect()
        } else {
            formula(n, k as u32, (6.0 / (fan_in + fan_out) as f64).sqrt())
        };
        if *name == "fc1.weight" {
            let columns = shape[1];
            for col in usizes(&fixture["fc1_zero_columns"]) {
                for row in 0..shape[0] {
                    v[row * columns + col] = 0.0;
                }
            }
        }
        out.insert(
            name.to_string(),
            Tensor::from_vec(v, *shape, &Device::Cpu).unwrap(),
        );
    }
    out
}

/// |ours - theirs| / scale, failing on a NaN or a value beyond the tolerance.
fn check(ours: f64, theirs: f64, scale: f64, what: &str) -> f64 {
    let err = (ours - theirs).abs() / scale;
    assert!(
        err <= TOLERANCE,
        "{what}: ours {ours}, PyTorch {theirs} (relative to {scale}: {err:.2e}, tolerance {TOLERANCE:.0e})"
    );
    err
}

#[test]
fn the_cnn_gradient_matches_pytorch_in_f64() {
    let fixture: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("mnist_grad.json")).unwrap())
            .unwrap();
    let digits = fixture["digits"].as_u64().unwrap() as usize;
    let train = Mnist::embedded().unwrap().train;
    let indices: Vec<usize> = (0..digits).collect();
    let labels_sum: u64 = train.labels[..digits].iter().map(|&l| u64::from(l)).sum();
    assert_eq!(labels_sum, fixture["labels_sum"], "not the script's digits");
    let x = train.images_tensor(&indices, &Device::Cpu).unwrap();
    let y = train.labels_tensor(&indices, &Device::Cpu).unwrap();

    let mut varmap = VarMap::new();
    let model = MnistCnn::new(&varmap, Seed(0), &Device::Cpu).unwrap();
    for (name, t) in weights(&fixture) {
        varmap.set_one(&name, &t).unwrap();
    }
    let logits = model.forward_t(&x, false).unwrap();
    let loss = candle_nn::loss::cross_entropy(&logits, &y).unwrap();
    let grads = loss.backward().unwrap();

    let theirs = fixture["loss"].as_f64().unwrap();
    let ours = f64::from(loss.to_scalar::<f32>().unwrap());
    let loss_err = check(ours, theirs, theirs.abs(), "loss");
    let first: Vec<f32> = logits.get(0).unwrap().to_vec1().unwrap();
    let expected: Vec<f64> = fixture["logits_digit0"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(first.len(), expected.len());
    let scale = expected.iter().fold(0f64, |m, v| m.max(v.abs()));
    let mut logit_err = 0f64;
    for (k, (o, t)) in first.iter().zip(&expected).enumerate() {
        logit_err = logit_err.max(check(
            f64::from(*o),
            *t,
            scale,
            &format!("logit {k} of digit 0"),
        ));
    }
    eprintln!(
        "loss ours {ours:.8}, PyTorch f64 {theirs:.8} (relative {loss_err:.1e}); digit 0's logits to {logit_err:.1e}"
    );
    eprintln!(
        "{:<14}{:>9}{:>12}{:>11}{:>11}{:>11}{:>11}{:>14}",
        "tensor", "values", "L2 norm", "entries", "L2", "L1", "sum", "PyTorch f32"
    );

    let vars = varmap.data().lock().unwrap();
    let mut worst = 0f64;
    for (name, ..) in TENSORS {
        let e = &fixture["tensors"][name];
        let var = &vars[name];
        assert_eq!(var.dims(), usizes(&e["shape"]).as_slice(), "{name}");
        let g: Vec<f32> = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("no gradient for {name}"))
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert!(
            g.iter().all(|v| v.is_finite()),
            "{name}: a gradient is not finite"
        );
        let g: Vec<f64> = g.into_iter().map(f64::from).collect();
        let (l2_t, l1_t, max_t) = (
            e["l2"].as_f64().unwrap(),
            e["l1"].as_f64().unwrap(),
            e["max_abs"].as_f64().unwrap(),
        );
        let l2 = g.iter().map(|v| v * v).sum::<f64>().sqrt();
        let l1 = g.iter().map(|v| v.abs()).sum::<f64>();
        let sum = g.iter().sum::<f64>();
        let max = g.iter().fold(0f64, |m, v| m.max(v.abs()));
        let mut entries = check(max, max_t, max_t, &format!("{name} largest magnitude"));
        for s in e["samples"].as_array().unwrap() {
            let (i, t) = (s[0].as_u64().unwrap() as usize, s[1].as_f64().unwrap());
            entries = entries.max(check(g[i], t, max_t, &format!("{name}[{i}]")));
        }
        let l2_err = check(l2, l2_t, l2_t, &format!("{name} L2 norm"));
        let l1_err = check(l1, l1_t, l1_t, &format!("{name} L1 norm"));
        let sum_err = check(
            sum,
            e["sum"].as_f64().unwrap(),
            l1_t,
            &format!("{name} sum"),
        );
        eprintln!(
            "{name:<14}{:>9}{l2:>12.4e}{entries:>11.1e}{l2_err:>11.1e}{l1_err:>11.1e}{sum_err:>11.1e}{:>14.1e}",
            g.len(),
            e["pytorch_f32_error"].as_f64().unwrap()
        );
        worst = worst.max(entries).max(l2_err).max(l1_err).max(sum_err);
    }
    eprintln!(
        "worst relative error {worst:.1e} (tolerance {TOLERANCE:.0e}); entries relative to the tensor's largest, \
         sums to its L1 norm; PyTorch f32: its own f32 gradient against its f64, worst entry"
    );
}
