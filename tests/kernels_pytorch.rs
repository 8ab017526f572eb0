//! glassbox-tensor's fast CPU kernels against PyTorch: `conv2d` (with bias, some with the fused ReLU),
//! `max_pool2d`, `conv_transpose2d`, `upsample_nearest2d`, `lstm_recurrence`, a stacked `nn::Lstm`,
//! `nn::BatchNorm` (training and inference, with its running averages) and `leaky_relu`, forward and every
//! gradient, must match
//! tests/fixtures/kernels.json (written by tests/fixtures/generate_kernels.py) to 1e-4 relative.
//!
//! Inputs are not stored: both sides build them from the closed formula
//! `value(i; seed, scale) = f32(scale * sin(0.7311 * (i + 1) + seed))` of the flat index `i`, in f64 then
//! cast (see [`values`]). The loss is `L = Σ_k sum(y_k * r_k)` over the outputs `y_k`, with loss weights
//! `r_k` from the same formula; the fixture holds every output and `dL/d input` for every input.
//!
//! Error measure, per tensor: `max |rust − torch| / (|torch| + mean |torch|)`, as in
//! crates/glassbox-tensor/tests/kernels_vs_candle.rs: relative, but not blown up by entries near 0.
//!
//! The stride-2 convolutions that leave input rows or columns unused (names ending in `_unused`) are
//! compared only here: candle's own conv2d backward gets their input gradient wrong.
//!
//! Print the table of measured errors with
//! `cargo test --release -p glassbox-tests --test kernels_pytorch -- --nocapture`.

use std::collections::HashMap;

use candle_core::{Device, Tensor, Var};
use candle_nn::VarBuilder;
use glassbox_tensor::nn::{BatchNorm, BatchNormConfig, Lstm, LstmConfig};
use glassbox_tensor::ops::{
    conv2d, conv_transpose2d, leaky_relu, lstm_recurrence, max_pool2d, upsample_nearest2d,
    ConvParams, ConvTransposeParams,
};
use serde::Deserialize;
use serde_json::{Map, Value};

const TOLERANCE: f64 = 1e-4;
/// The step of the input formula.
const STEP: f64 = 0.7311;

#[derive(Deserialize)]
struct Fixture {
    torch_version: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    op: String,
    params: Map<String, Value>,
    inputs: Vec<Spec>,
    /// One per output, in the order of `outputs`.
    loss_weights: Vec<Spec>,
    outputs: Vec<Stored>,
    /// One per input, in the order of `inputs`.
    grads: Vec<Stored>,
}

/// A tensor built from the formula.
#[derive(Deserialize)]
struct Spec {
    name: String,
    shape: Vec<usize>,
    seed: f64,
    scale: f64,
}

/// A tensor PyTorch computed.
#[derive(Deserialize)]
struct Stored {
    name: String,
    shape: Vec<usize>,
    data: Vec<f64>,
}

/// `value(i; seed, scale) = f32(scale * sin(0.7311 * (i + 1) + seed))` for the flat index `i`.
fn values(spec: &Spec) -> Tensor {
    let n: usize = spec.shape.iter().product();
    let data: Vec<f32> = (0..n)
        .map(|i| (spec.scale * (STEP * (i + 1) as f64 + spec.seed).sin()) as f32)
        .collect();
    Tensor::from_vec(data, spec.shape.as_slice(), &Device::Cpu).unwrap()
}

fn fixture() -> Fixture {
    let path = glassbox_tests::fixture("kernels.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

impl Case {
    fn param(&self, key: &str) -> &Value {
        self.params
            .get(key)
            .unwrap_or_else(|| panic!("{}: no parameter {key}", self.name))
    }

    fn usize(&self, key: &str) -> usize {
        self.param(key).as_u64().unwrap() as usize
    }

    fn f64(&self, key: &str) -> f64 {
        self.param(key).as_f64().unwrap()
    }

    /// The family of the case, for the summary: conv2d, max_pool2d, lstm_recurrence, lstm_stacked.
    fn family(&self) -> &str {
        &self.op
    }

    /// The outputs of the case's op on `vars` (in the order of `inputs`), named as in the fixture.
    fn run(&self, vars: &[Var]) -> Vec<(String, Tensor)> {
        let t = |k: usize| vars[k].as_tensor();
        match self.op.as_str() {
            "conv2d" => {
                let params = ConvParams {
                    padding: self.usize("padding"),
                    stride: self.usize("stride"),
                    dilation: self.usize("dilation"),
                };
                let relu = self.param("relu").as_bool().unwrap();
                let y = conv2d(t(0), t(1), Some(t(2)), params, relu).unwrap();
                vec![("y".into(), y)]
            }
            "max_pool2d" => {
                let y = max_pool2d(t(0), self.usize("kernel"), self.usize("stride")).unwrap();
                vec![("y".into(), y)]
            }
            "conv_transpose2d" => {
                let params = ConvTransposeParams {
                    padding: self.usize("padding"),
                    output_padding: self.usize("output_padding"),
                    stride: self.usize("stride"),
                    dilation: self.usize("dilation"),
                };
                let y = conv_transpose2d(t(0), t(1), Some(t(2)), params).unwrap();
                vec![("y".into(), y)]
            }
            "upsample_nearest2d" => {
                let y = upsample_nearest2d(t(0), self.usize("scale")).unwrap();
                vec![("y".into(), y)]
            }
            "batch_norm" => {
                let channels = t(1).dim(0).unwrap();
                let config = BatchNormConfig {
                    eps: self.f64("eps"),
                    momentum: self.f64("momentum"),
                };
                let start =
                    |v: f32| Var::from_tensor(&Tensor::full(v, channels, &Device::Cpu).unwrap());
                let bn = BatchNorm::from_tensors(
                    t(1).clone(),
                    t(2).clone(),
                    start(0.0).unwrap(),
                    start(1.0).unwrap(),
                    config,
                );
                let y = bn.forward_t(t(0), true).unwrap();
                let running = [
                    ("running_mean".to_string(), bn.running_mean().clone()),
                    ("running_var".to_string(), bn.running_var().clone()),
                ];
                let y_eval = bn.forward_t(t(0), false).unwrap();
                let mut outputs = vec![("y".to_string(), y)];
                outputs.extend(running);
                outputs.push(("y_eval".into(), y_eval));
                outputs
            }
            "leaky_relu" => {
                let y = leaky_relu(t(0), self.f64("slope")).unwrap();
                vec![("y".into(), y)]
            }
            "lstm_recurrence" => {
                let states = lstm_recurrence(t(0), t(1), None).unwrap();
                vec![
                    ("hidden".into(), states.hidden),
                    ("last_cell".into(), states.last_cell),
                ]
            }
            "lstm_stacked" => {
                // The weights under PyTorch's names; the VarBuilder hands back these very tensors, so
                // their gradients are the vars' gradients.
                let weights: HashMap<String, Tensor> = self.inputs[1..]
                    .iter()
                    .zip(&vars[1..])
                    .map(|(spec, var)| (spec.name.clone(), var.as_tensor().clone()))
                    .collect();
                let vb = VarBuilder::from_tensors(weights, candle_core::DType::F32, &Device::Cpu);
                let layers = self.usize("layers");
                let lstm = Lstm::new(
                    self.usize("input_size"),
                    self.usize("hidden"),
                    LstmConfig {
                        layers,
                        ..Default::default()
                    },
                    vb,
                )
                .unwrap();
                let out = lstm.forward(t(0)).unwrap();
                let mut outputs = vec![("sequence".to_string(), out.sequence)];
                for (k, cell) in out.last_cells.into_iter().enumerate() {
                    outputs.push((format!("last_cell_l{k}"), cell));
                }
                outputs
            }
            other => panic!("{}: unknown op {other}", self.name),
        }
    }
}

/// `max |a − b| / (|b| + mean |b|)` (f64 arithmetic), with a NaN anywhere counting as NaN.
fn relative_error(a: &Tensor, b: &Stored) -> f64 {
    let a: Vec<f32> = a.flatten_all().unwrap().to_vec1().unwrap();
    // PyTorch's f32s, rounded to 8 significant digits in the fixture (within 5e-9 relative); rounding
    // back to f32 recovers most of them exactly, so a bit-exact kernel mostly measures 0.
    let b: Vec<f64> = b.data.iter().map(|&v| v as f32 as f64).collect();
    let scale = b.iter().map(|v| v.abs()).sum::<f64>() / b.len().max(1) as f64;
    let mut worst = 0.0f64;
    for (&x, &y) in a.iter().zip(&b) {
        let error = (x as f64 - y).abs() / (y.abs() + scale + 1e-12);
        if error.is_nan() || error > worst {
            worst = error;
        }
        if worst.is_nan() {
            break;
        }
    }
    worst
}

/// The larger error, a NaN being the worst.
fn worse(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Compares one tensor, adds its cell to the table row and any failure (named by case and tensor);
/// returns the error (NaN for a wrong shape).
fn check(
    case: &Case,
    tensor: &str,
    kind: &str,
    got: &Tensor,
    want: &Stored,
    row: &mut Vec<String>,
    failures: &mut Vec<String>,
) -> f64 {
    assert_eq!(want.name, tensor, "{}: fixture order", case.name);
    if got.dims() != want.shape.as_slice() {
        failures.push(format!(
            "{}: {kind} {tensor}: shape {:?}, PyTorch {:?}",
            case.name,
            got.dims(),
            want.shape
        ));
        row.push(format!("{kind} {tensor} SHAPE"));
        return f64::NAN;
    }
    let error = relative_error(got, want);
    let label = if kind == "grad" {
        format!("d{tensor}")
    } else {
        tensor.to_string()
    };
    row.push(format!("{label} {error:.1e}"));
    // A NaN fails too.
    if error.is_nan() || error > TOLERANCE {
        failures.push(format!(
            "{}: {kind} {tensor}: relative error {error:.3e} > {TOLERANCE:e}",
            case.name
        ));
    }
    error
}

#[test]
fn kernels_match_pytorch_forward_and_gradients() {
    let fixture = fixture();
    assert!(!fixture.cases.is_empty());
    println!(
        "PyTorch {}; error = max |rust - torch| / (|torch| + mean |torch|), tolerance {TOLERANCE:e}",
        fixture.torch_version
    );
    println!("{:<38} max relative error per tensor", "case");
    let mut failures = Vec::new();
    // Per family, the largest error of its forward outputs and of its gradients.
    let mut families: Vec<(String, f64, f64)> = Vec::new();
    for case in &fixture.cases {
        assert_eq!(
            case.grads.len(),
            case.inputs.len(),
            "{}: one gradient per input",
            case.name
        );
        let vars: Vec<Var> = case
            .inputs
            .iter()
            .map(|spec| Var::from_tensor(&values(spec)).unwrap())
            .collect();
        let outputs = case.run(&vars);
        assert_eq!(
            outputs.len(),
            case.outputs.len(),
            "{}: output count",
            case.name
        );
        assert_eq!(
            case.loss_weights.len(),
            outputs.len(),
            "{}: one loss weight per output",
            case.name
        );

        let mut row = Vec::new();
        let mut forward_worst = 0.0f64;
        let mut loss = Tensor::zeros((), candle_core::DType::F32, &Device::Cpu).unwrap();
        for ((name, y), (want, weight)) in outputs
            .iter()
            .zip(case.outputs.iter().zip(&case.loss_weights))
        {
            assert_eq!(&weight.name, name, "{}: loss weight order", case.name);
            let error = check(case, name, "out", y, want, &mut row, &mut failures);
            forward_worst = worse(forward_worst, error);
            let term = (y * values(weight)).unwrap().sum_all().unwrap();
            loss = (loss + term).unwrap();
        }

        let grads = loss.backward().unwrap();
        let mut grad_worst = 0.0f64;
        for ((spec, var), want) in case.inputs.iter().zip(&vars).zip(&case.grads) {
            let error = match grads.get(var) {
                Some(g) => check(case, &spec.name, "grad", g, want, &mut row, &mut failures),
                None => {
                    failures.push(format!("{}: grad {}: none computed", case.name, spec.name));
                    row.push(format!("grad {} NONE", spec.name));
                    f64::NAN
                }
            };
            grad_worst = worse(grad_worst, error);
        }
        println!("{:<38} {}", case.name, row.join("  "));

        match families.iter_mut().find(|(f, _, _)| f == case.family()) {
            Some((_, fw, gw)) => {
                *fw = worse(*fw, forward_worst);
                *gw = worse(*gw, grad_worst);
            }
            None => families.push((case.family().to_string(), forward_worst, grad_worst)),
        }
    }
    println!();
    println!(
        "{:<18} {:>16} {:>16}",
        "family", "max err outputs", "max err grads"
    );
    for (family, fw, gw) in &families {
        println!("{family:<18} {fw:>16.2e} {gw:>16.2e}");
    }
    assert!(failures.is_empty(), "differ from PyTorch: {failures:#?}");
}
