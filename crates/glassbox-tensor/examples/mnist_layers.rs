mod common;
use candle_core::{Device, Module, Tensor};
use common::median;
use glassbox_tensor::ops::{self, ConvParams};
use std::time::Instant;

fn main() -> candle_core::Result<()> {
    glassbox_tensor::kernels::process::tune_process();
    let dev = Device::Cpu;
    let x = Tensor::rand(0f32, 1f32, (128, 1, 28, 28), &dev)?;
    let w1 = (Tensor::rand(0f32, 1f32, (32, 1, 3, 3), &dev)? - 0.5)?;
    let b1 = Tensor::zeros(32, candle_core::DType::F32, &dev)?;
    let w2 = ((Tensor::rand(0f32, 1f32, (64, 32, 3, 3), &dev)? - 0.5)? * 0.1)?;
    let b2 = Tensor::zeros(64, candle_core::DType::F32, &dev)?;
    let fw = ((Tensor::rand(0f32, 1f32, (128, 9216), &dev)? - 0.5)? * 0.01)?;
    let fb = Tensor::zeros(128, candle_core::DType::F32, &dev)?;
    let fc1 = glassbox_tensor::nn::Linear::from(candle_nn::Linear::new(fw, Some(fb)));
    let p = ConvParams::default();
    let h1 = ops::conv2d(&x, &w1, Some(&b1), p, true)?;
    let h2 = ops::conv2d_relu_pool(&h1, &w2, Some(&b2), p, 2)?.flatten_from(1)?;
    let mut t = [vec![], vec![], vec![]];
    for rep in 0..25 {
        let s = Instant::now();
        let a = ops::conv2d(&x, &w1, Some(&b1), p, true)?;
        let t0 = s.elapsed().as_secs_f64();
        drop(a);
        let s = Instant::now();
        let a = ops::conv2d_relu_pool(&h1, &w2, Some(&b2), p, 2)?;
        let t1 = s.elapsed().as_secs_f64();
        drop(a);
        let s = Instant::now();
        let a = fc1.forward(&h2)?;
        let t2 = s.elapsed().as_secs_f64();
        drop(a);
        if rep >= 5 {
            t[0].push(t0 * 1e3);
            t[1].push(t1 * 1e3);
            t[2].push(t2 * 1e3);
        }
    }
    let [a, b, c] = t.map(median);
    println!("conv1 {a:.2} ms, conv2+pool {b:.2} ms, fc1 {c:.2} ms");
    Ok(())
}
