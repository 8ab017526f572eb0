//! glassbox's fast conv2d as an ordinary candle op: forward with fused bias and ReLU, gradients through
//! candle's autograd, checked against candle's own `conv2d` and timed beside it.
//!
//!     cargo run --release -p glassbox-tensor --example fast_conv2d
//!
//! Prints the CPU tier the kernels chose, the largest difference from candle in the output and in each
//! gradient, and the time of one forward and backward pass of each. Takes a second or two.

use std::time::Instant;

use candle_core::{Device, Result, Tensor, Var};
use glassbox_tensor::kernels::{cpu, process};
use glassbox_tensor::ops::{self, ConvParams};

fn main() -> Result<()> {
    process::tune_process();
    println!("CPU kernels: {}", cpu::tier());

    let dev = Device::Cpu;
    // A batch of 16 images 32x32 with 16 channels, convolved by 32 filters 3x3 with padding 1.
    let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (16, 16, 32, 32), &dev)?)?;
    let w = Var::from_tensor(&(Tensor::randn(0f32, 1.0, (32, 16, 3, 3), &dev)? * 0.1)?)?;
    let b = Var::from_tensor(&Tensor::randn(0f32, 0.1, 32, &dev)?)?;
    let params = ConvParams {
        padding: 1,
        ..ConvParams::default()
    };
    println!("fast path taken: {}", ops::conv2d::uses_fast_path(&x));

    // The same loss through both ops: glassbox's kernel, then candle's conv2d + bias + relu.
    let mut results = Vec::new();
    for (name, fast) in [("glassbox", true), ("candle", false)] {
        let start = Instant::now();
        let y = if fast {
            ops::conv2d(&x, &w, Some(&b), params, true)?
        } else {
            ops::reference_conv2d(&x, &w, Some(&b), params, true)?
        };
        let loss = y.sqr()?.mean_all()?;
        let grads = loss.backward()?;
        let took = start.elapsed();
        let grad = |v: &Var| {
            grads
                .get(v)
                .cloned()
                .expect("a tracked variable has a gradient")
        };
        println!(
            "{name:>9}: forward + backward in {:.1} ms",
            took.as_secs_f64() * 1e3
        );
        results.push([y, grad(&x), grad(&w), grad(&b)]);
    }

    for (i, what) in ["output", "d input", "d filters", "d bias"]
        .iter()
        .enumerate()
    {
        let (fast, reference) = (&results[0][i], &results[1][i]);
        let diff = (fast - reference)?.abs()?.max_all()?.to_scalar::<f32>()?;
        let scale = reference.abs()?.max_all()?.to_scalar::<f32>()?;
        println!("{what:>10}: largest difference {diff:.2e} (largest value {scale:.2e})");
        // Written so that a NaN difference fails too.
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        if !(diff <= 1e-4 * scale.max(1e-12)) {
            candle_core::bail!(
                "{what} differs from candle's by {diff} (NaN counts as a difference)"
            );
        }
    }
    Ok(())
}
