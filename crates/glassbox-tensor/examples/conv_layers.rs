//! The per-layer convolution table of docs/benchmarks.md (Winograd section): for each layer shape, the
//! forward convolution with bias and ReLU by im2col + GEMM, by Winograd F(2x2, 3x3) and F(4x4, 3x3), and
//! through the default dispatch (`ops::conv2d`), timed in turn within each repetition after warm-up.
//!
//!     cargo run --release -p glassbox-tensor --example conv_layers -- [--reps N] [--warmup N]
//!
//! Prints a markdown table: median milliseconds over `--reps` (default 7) per variant, the path the
//! dispatch takes, and the largest difference of each variant from im2col relative to the output's mean
//! magnitude (so that the timings compare like with like). Threads: rayon's pool (`RAYON_NUM_THREADS`).

mod common;

use common::{median, sci};
use std::hint::black_box;
use std::time::Instant;

use candle_core::{Device, Result, Tensor};
use glassbox_tensor::kernels::conv2d::{
    conv2d_forward_im2col, forward_path, ConvGeometry, Epilogue, ForwardPath,
};
use glassbox_tensor::kernels::parallel::threads;
use glassbox_tensor::kernels::winograd::{self, conv2d_winograd_with, F2X2, F4X4};
use glassbox_tensor::ops::{self, ConvParams};
use rand::{rngs::StdRng, Rng, SeedableRng};

/// (row label, batch, in channels, out channels, input height = width, padding); 3x3, stride 1.
const LAYERS: [(&str, usize, usize, usize, usize, usize); 21] = [
    ("MNIST conv2, b128 32->64 26x26", 128, 32, 64, 26, 0),
    // Its input gradient, a convolution of the output gradient with the flipped filters.
    (
        "MNIST conv2 input grad, b128 64->32 24x24",
        128,
        64,
        32,
        24,
        2,
    ),
    // The course's convolutional autoencoder's 8- and 16-channel layers.
    ("autoencoder, b128 16->8 14x14", 128, 16, 8, 14, 1),
    ("autoencoder, b128 8->16 28x28", 128, 8, 16, 28, 1),
    ("autoencoder, b128 1->16 28x28", 128, 1, 16, 28, 1),
    ("autoencoder, b128 8->3 7x7", 128, 8, 3, 7, 1),
    ("autoencoder, b128 3->16 14x14", 128, 3, 16, 14, 1),
    ("autoencoder, b128 16->1 28x28", 128, 16, 1, 28, 1),
    ("64->64 224x224", 1, 64, 64, 224, 1),
    ("64->128 112x112", 1, 64, 128, 112, 1),
    ("128->128 112x112", 1, 128, 128, 112, 1),
    ("128->256 56x56", 1, 128, 256, 56, 1),
    ("256->256 56x56", 1, 256, 256, 56, 1),
    ("256->512 28x28", 1, 256, 512, 28, 1),
    ("512->512 28x28", 1, 512, 512, 28, 1),
    ("512->512 14x14", 1, 512, 512, 14, 1),
    ("b8 64->64 56x56", 8, 64, 64, 56, 1),
    // Style transfer at 512x512 puts VGG16's block 4 on 64x64 maps and block 5 on 32x32.
    ("256->512 64x64", 1, 256, 512, 64, 1),
    ("512->512 64x64", 1, 512, 512, 64, 1),
    ("512->512 40x40", 1, 512, 512, 40, 1),
    ("512->512 32x32", 1, 512, 512, 32, 1),
];

/// Seconds one call of `f` takes; its result is dropped after the clock stops.
fn secs<T>(f: impl FnOnce() -> T) -> f64 {
    let t = Instant::now();
    let out = black_box(f());
    let s = t.elapsed().as_secs_f64();
    drop(out);
    s
}

/// `max |a - r| / mean |r|`.
fn rel_diff(a: &[f32], r: &[f32]) -> f64 {
    let scale = r.iter().map(|v| v.abs() as f64).sum::<f64>() / r.len() as f64;
    let max = a
        .iter()
        .zip(r)
        .map(|(a, r)| (a - r).abs() as f64)
        .fold(0.0, f64::max);
    max / scale
}

fn main() -> Result<()> {
    glassbox_tensor::kernels::process::tune_process();
    let (mut reps, mut warmup) = (7usize, 2usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let value: usize = args
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| candle_core::Error::Msg(format!("{a} needs a number")))?;
        match a.as_str() {
            "--reps" => reps = value.max(1),
            "--warmup" => warmup = value,
            other => candle_core::bail!("unknown argument {other}"),
        }
    }
    println!(
        "Forward conv2d 3x3 stride 1 with bias and ReLU, {} threads, median ms of {reps} (after {warmup} warm-up)\n",
        threads()
    );
    println!("| layer | im2col | F(2x2,3x3) | F(4x4,3x3) | dispatch | dispatch takes | max diff vs im2col: F(2x2) / F(4x4) / dispatch |");
    println!("|---|---:|---:|---:|---:|---|---|");
    let mut rng = StdRng::seed_from_u64(0);
    let mut random = |n: usize, scale: f32| -> Vec<f32> {
        (0..n).map(|_| rng.random_range(-scale..scale)).collect()
    };
    for (label, batch, cin, cout, hw, padding) in LAYERS {
        let g = ConvGeometry {
            batch,
            in_channels: cin,
            height: hw,
            width: hw,
            out_channels: cout,
            kernel_h: 3,
            kernel_w: 3,
            padding,
            stride: 1,
            dilation: 1,
        };
        let x = random(g.input_len(), 1.0);
        let w = random(g.weight_len(), (2.0 / (9 * cin) as f32).sqrt());
        let b = random(cout, 0.01);
        let (xt, wt, bt) = (
            Tensor::from_slice(&x, (batch, cin, hw, hw), &Device::Cpu)?,
            Tensor::from_slice(&w, (cout, cin, 3, 3), &Device::Cpu)?,
            Tensor::from_slice(&b, cout, &Device::Cpu)?,
        );
        let params = ConvParams {
            padding,
            ..Default::default()
        };
        let relu = Epilogue::BiasRelu;
        let im2col = || conv2d_forward_im2col(&x, &w, &b, &g, relu);
        let f2 = || conv2d_winograd_with(&F2X2, &x, &w, &b, &g, relu);
        let f4 = || conv2d_winograd_with(&F4X4, &x, &w, &b, &g, relu);
        let dispatch = || ops::conv2d(&xt, &wt, Some(&bt), params, true);

        let reference = im2col();
        let diffs = [
            rel_diff(&f2(), &reference),
            rel_diff(&f4(), &reference),
            rel_diff(&dispatch()?.flatten_all()?.to_vec1()?, &reference),
        ];
        // One call of each variant in turn per repetition, so drift hits them alike.
        let mut ms: [Vec<f64>; 4] = Default::default();
        for rep in 0..warmup + reps {
            let t = [secs(im2col), secs(f2), secs(f4), secs(dispatch)];
            if rep >= warmup {
                ms.iter_mut().zip(t).for_each(|(v, s)| v.push(s * 1e3));
            }
        }
        let [a, f2, f4, d] = ms.map(median);
        // What `kernels::conv2d::conv2d_forward` decides (it is what `ops::conv2d` runs on the CPU).
        let takes = match forward_path(&g) {
            ForwardPath::Batched3x3 => "F(4x4,3x3) tiles",
            ForwardPath::Winograd if winograd::algorithm_for(&g).m == F4X4.m => "F(4x4,3x3)",
            ForwardPath::Winograd => "F(2x2,3x3)",
            ForwardPath::Direct => "direct",
            ForwardPath::Parity => "F(4x4,2x2) parity",
            ForwardPath::Im2col => "im2col",
        };
        println!(
            "| {label} | {a:.1} | {f2:.1} | {f4:.1} | {d:.1} | {takes} | {} |",
            diffs.map(sci).join(" / ")
        );
    }
    Ok(())
}
