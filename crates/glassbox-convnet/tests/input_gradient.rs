//! The gradient of the MNIST CNN's loss with respect to its input (what adversarial examples follow) is
//! the same whether the weights are variables or constants, and agrees with finite differences.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use glassbox_convnet::mnist::MnistCnn;
use glassbox_core::checkpoint::varmap_tensors;
use glassbox_core::seed::Seed;

fn loss(model: &MnistCnn, x: &Tensor, y: &Tensor) -> Tensor {
    candle_nn::loss::cross_entropy(&model.forward_t(x, false).unwrap(), y).unwrap()
}

fn grad(model: &MnistCnn, x: &Tensor, y: &Tensor) -> Vec<f32> {
    let v = Var::from_tensor(x).unwrap();
    let g = loss(model, v.as_tensor(), y).backward().unwrap();
    g.get(v.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

#[test]
fn input_gradients_agree_with_variables_constants_and_finite_differences() {
    let dev = Device::Cpu;
    let varmap = VarMap::new();
    let tracked = MnistCnn::new(&varmap, Seed(3), &dev).unwrap();
    let constants: HashMap<String, Tensor> = varmap_tensors(&varmap)
        .into_iter()
        .map(|(k, t)| (k, t.detach()))
        .collect();
    let frozen = MnistCnn::load(
        VarBuilder::from_tensors(constants, DType::F32, &dev),
        Seed(3),
    )
    .unwrap();
    let n = 3;
    let x: Vec<f32> = (0..n * 784)
        .map(|i| ((i as f32 * 0.37).sin() * 0.5 + 0.5).clamp(0.0, 1.0))
        .collect();
    let x = Tensor::from_vec(x, (n, 1, 28, 28), &dev).unwrap();
    let y = Tensor::new(&[3u32, 7, 1], &dev).unwrap();
    let g1 = grad(&tracked, &x, &y);
    let g2 = grad(&frozen, &x, &y);
    let scale = g1.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = g1
        .iter()
        .zip(&g2)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        diff <= 1e-4 * scale,
        "tracked vs frozen weights: {diff} (scale {scale})"
    );
    // Central differences in f64 terms of the f32 loss, on the pixels with the largest gradients.
    let mut order: Vec<usize> = (0..g1.len()).collect();
    order.sort_by(|&a, &b| g1[b].abs().total_cmp(&g1[a].abs()));
    let flat: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
    for &i in order.iter().take(5) {
        let h = 1e-2f32;
        let at = |d: f32| {
            let mut v = flat.clone();
            v[i] += d;
            let t = Tensor::from_vec(v, (n, 1, 28, 28), &dev).unwrap();
            f64::from(loss(&frozen, &t, &y).to_scalar::<f32>().unwrap())
        };
        let numeric = (at(h) - at(-h)) / (2.0 * f64::from(h));
        let analytic = f64::from(g2[i]);
        assert!(
            (numeric - analytic).abs() <= 0.05 * analytic.abs().max(1e-3),
            "pixel {i}: numeric {numeric}, analytic {analytic}"
        );
    }
}
