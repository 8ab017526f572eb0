//! The layers of `kernels_bench --case mnist_infer` one by one: the MNIST network's first convolution
//! (1 -> 32 channels, 3x3, ReLU), its second fused with ReLU and 2x2 max pooling (32 -> 64, the direct
//! path on AVX-512), and its 9,216 -> 128 dense layer, batch 128, each timed alone after the others have
//! run once (so inputs come from cache as they do in the network). Medians of 20 calls, milliseconds.
//!
//!     RAYON_NUM_THREADS=2 cargo run --release -p glassbox-tensor --example mnist_layers

use std::time::Instant;

use candle_core::{Device, Module, Result, Tensor};
use glassbox_tensor::ops::{self, ConvParams};

/// Values in (-scale, scale), deterministic.
fn data(shape: &[usize], scale: f32, seed: f32) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|i| ((i as f32 + seed) * 0.7311).sin() * scale)
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu)
}

fn median_ms(mut f: impl FnMut() -> Result<Tensor>) -> Result<f64> {
    f()?;
    let mut times = Vec::with_capacity(20);
    for _ in 0..20 {
        let t = Instant::now();
        let out = f()?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        drop(out);
    }
    times.sort_by(f64::total_cmp);
    Ok((times[9] + times[10]) / 2.0)
}

fn main() -> Result<()> {
    glassbox_tensor::kernels::process::tune_process();
    let x = data(&[128, 1, 28, 28], 1.0, 0.0)?.affine(0.5, 0.5)?;
    let (w1, b1) = (data(&[32, 1, 3, 3], 0.3, 1.0)?, data(&[32], 0.05, 2.0)?);
    let (w2, b2) = (data(&[64, 32, 3, 3], 0.06, 3.0)?, data(&[64], 0.05, 4.0)?);
    let fc1 = glassbox_tensor::nn::Linear::from(candle_nn::Linear::new(
        data(&[128, 9216], 0.01, 5.0)?,
        Some(data(&[128], 0.05, 6.0)?),
    ));
    let p = ConvParams::default();
    let conv1 = || ops::conv2d(&x, &w1, Some(&b1), p, true);
    let h1 = conv1()?;
    let conv2 = || ops::conv2d_relu_pool(&h1, &w2, Some(&b2), p, 2);
    let h2 = conv2()?.flatten_from(1)?;
    let dense = || fc1.forward(&h2);
    println!(
        "conv1 {:.2} ms, conv2 + ReLU + pool {:.2} ms, fc1 {:.2} ms",
        median_ms(conv1)?,
        median_ms(conv2)?,
        median_ms(dense)?
    );
    Ok(())
}
