//! Why a convolution's work item may hold several images (`kernels::conv2d`'s bands): the three products
//! of the DCGAN generator's first transposed convolution (128 -> 64 channels, 4x4 kernel, 7x7 input) for
//! 1 to 16 images at a time, each image's 49 lowered columns side by side, timed on one thread per image.
//!
//!     cargo run --release -p glassbox-tensor --example conv_shapes

use glassbox_tensor::kernels::gemm::{sgemm, Mat, MatMut, Threads};
use std::time::Instant;

/// Channels of the 7x7 side, rows of the lowered matrix (64 channels x 16 taps), columns an image.
const CHANNELS: usize = 128;
const PATCH: usize = 1024;
const PLANE: usize = 49;

fn data(n: usize, seed: f32) -> Vec<f32> {
    (0..n).map(|i| ((i as f32 + seed) * 0.7311).sin()).collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Microseconds an image, median of five rounds of `reps` calls of `f` for `images` images each.
fn per_image(images: usize, reps: usize, mut f: impl FnMut()) -> f64 {
    let rounds = (0..5)
        .map(|_| {
            let t = Instant::now();
            (0..reps).for_each(|_| f());
            t.elapsed().as_secs_f64() * 1e6 / (reps * images) as f64
        })
        .collect();
    median(rounds)
}

fn main() {
    let w = data(CHANNELS * PATCH, 1.0);
    let gflops = |us: f64| 2.0 * (CHANNELS * PATCH * PLANE) as f64 / us / 1e3;
    println!("| images | W^T x (us, GFLOP/s) | dW += g col^T | W col |");
    println!("|---:|---:|---:|---:|");
    for images in [1usize, 2, 4, 8, 16] {
        let n = PLANE * images;
        let x = data(CHANNELS * n, 2.0);
        let col = data(PATCH * n, 3.0);
        let (mut lowered, mut dw, mut y) = (
            vec![0f32; PATCH * n],
            vec![0f32; CHANNELS * PATCH],
            vec![0f32; CHANNELS * n],
        );
        let reps = 512 / images;
        let (wm, xm, cm) = (
            Mat::rows(&w, CHANNELS, PATCH),
            Mat::rows(&x, CHANNELS, n),
            Mat::rows(&col, PATCH, n),
        );
        let forward = per_image(images, reps, || {
            sgemm(
                MatMut::rows(&mut lowered, PATCH, n),
                false,
                wm.t(),
                xm,
                Threads::One,
            )
        });
        let weight = per_image(images, reps, || {
            sgemm(
                MatMut::rows(&mut dw, CHANNELS, PATCH),
                true,
                xm,
                cm.t(),
                Threads::One,
            )
        });
        let input = per_image(images, reps, || {
            sgemm(
                MatMut::rows(&mut y, CHANNELS, n),
                false,
                wm,
                cm,
                Threads::One,
            )
        });
        println!(
            "| {images} | {forward:.1}, {:.0} | {weight:.1}, {:.0} | {input:.1}, {:.0} |",
            gflops(forward),
            gflops(weight),
            gflops(input)
        );
    }
}
