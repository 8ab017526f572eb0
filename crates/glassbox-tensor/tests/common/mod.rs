//! What the tensor tests share: seeded inputs and a NaN-aware relative error.

// Each test file compiles this module on its own and uses part of it.
#![allow(dead_code)]

use candle_core::{Device, Tensor};
use rand::{rngs::StdRng, Rng, SeedableRng};

/// Uniform in (-1, 1) on the CPU, the same values for the same seed.
pub fn random(shape: &[usize], seed: u64) -> Tensor {
    let mut rng = StdRng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    Tensor::from_vec(data, shape, &Device::Cpu).unwrap()
}

/// Largest `|a - b| / (|b| + mean |b|)`: relative, but not blown up by entries that happen to be near 0.
/// A NaN anywhere (on either side) makes the error NaN, which fails every bound. The tensors may live on
/// any device.
pub fn relative_error(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    let a: Vec<f32> = a.flatten_all().unwrap().to_vec1().unwrap();
    let b: Vec<f32> = b.flatten_all().unwrap().to_vec1().unwrap();
    let scale = b.iter().map(|v| v.abs()).sum::<f32>() / b.len().max(1) as f32;
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs() / (y.abs() + scale + 1e-12))
        // f32::max would drop a NaN (max(0, NaN) = 0) and call the pair equal.
        .fold(0.0, |worst, e| {
            if e.is_nan() || worst.is_nan() {
                f32::NAN
            } else {
                worst.max(e)
            }
        })
}

/// Fails unless `relative_error(ours, reference) < 1e-4`.
pub fn assert_close(what: &str, ours: &Tensor, reference: &Tensor) {
    assert_within(1e-4, what, ours, reference)
}

/// Fails unless `relative_error(ours, reference) < tolerance`.
pub fn assert_within(tolerance: f32, what: &str, ours: &Tensor, reference: &Tensor) {
    let err = relative_error(ours, reference);
    assert!(err < tolerance, "{what}: relative error {err:.2e}");
}
