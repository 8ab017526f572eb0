//! glassbox's side of `cargo xtask bench style`: seconds per L-BFGS step of style transfer on the shared
//! VGG16, at 256x256 (`style_lbfgs_256`) or 512x512 (`style_lbfgs_512`). Prints one JSON line
//! `{"case", "unit", "samples", "peer"}` like xtask/bench/torch_style.py, which does the same work in PyTorch:
//! the default losses (content block4_conv2, style block1_conv1 ... block5_conv1, weights 1 and 1e3), targets
//! computed once, then L-BFGS (history 100, no line search) from the content image. One sample is one
//! iteration: the network forward and backward on the image plus L-BFGS's two-loop recursion, timed from
//! the end of one iteration to the end of the next, after `--warmup` iterations.
//!
//! The images are seeded uniform noise in 0..255 (the cost does not depend on the pixels); the weights
//! come from `--weights FILE` or `GLASSBOX_WEIGHTS/vgg16_features_hed.safetensors`.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{Device, Tensor};
use glassbox_convnet::vgg::Vgg16;
use glassbox_core::optim::lbfgs::LbfgsConfig;
use glassbox_synthesis::style::{transfer, LossConfig, Method, Start, Targets, TransferConfig};
use rand::{Rng, SeedableRng};

fn image(size: usize, seed: u64) -> candle_core::Result<Tensor> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let v: Vec<f32> = (0..3 * size * size)
        .map(|_| rng.random_range(0f32..255.0))
        .collect();
    Tensor::from_vec(v, (1, 3, size, size), &Device::Cpu)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    glassbox_tensor::kernels::process::tune_process();
    let (mut case, mut reps, mut warmup, mut weights) = (None, 5usize, 2usize, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--case" => case = Some(value()?),
            "--reps" => reps = value()?.parse()?,
            "--warmup" => warmup = value()?.parse()?,
            "--weights" => weights = Some(PathBuf::from(value()?)),
            "--allocator-env" => {
                println!("{}", glassbox_tensor::kernels::allocator::glibc_tunables());
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let case = case.ok_or("--case is required")?;
    let size: usize = match case.as_str() {
        "style_lbfgs_256" => 256,
        "style_lbfgs_512" => 512,
        other => return Err(format!("unknown case {other}").into()),
    };
    let weights = weights
        .or_else(|| glassbox_core::testdata::weights_file("vgg16_features_hed.safetensors"))
        .ok_or("give --weights FILE or set GLASSBOX_WEIGHTS")?;
    let model = Vgg16::load(&weights, &Device::Cpu)?;
    let (content, style) = (image(size, 1)?, image(size, 2)?);
    let targets = Targets::new(&model, &LossConfig::default(), &content, &style)?;
    let config = TransferConfig {
        optimizer: Method::Lbfgs(LbfgsConfig::default()),
        // One more than the spans timed, and one more again: the last iteration evaluates nothing.
        steps: warmup + reps + 2,
        start: Start::Content,
    };
    let mut ends = Vec::new();
    transfer(&model, &targets, &content, &config, |_, _| {
        ends.push(Instant::now());
        Ok(())
    })?;
    // Iteration k's time is from the end of iteration k-1. The last iteration skips its evaluation
    // (PyTorch's LBFGS does the same), so it is never among the samples.
    let samples: Vec<String> = ends
        .windows(2)
        .skip(warmup)
        .take(reps)
        .map(|w| format!("{:.4}", (w[1] - w[0]).as_secs_f64() * 1e3))
        .collect();
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    let rss = glassbox_core::device::peak_rss_bytes().map_or(f64::NAN, |b| b as f64 / 1048576.0);
    println!(
        r#"{{"case": "{case}", "unit": "ms", "samples": [{}], "peer": "glassbox ({threads} threads)", "peak_rss_mb": {rss:.1}}}"#,
        samples.join(", ")
    );
    Ok(())
}
