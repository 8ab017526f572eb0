//! Batch normalization's kernels on the DCGAN's two image-shaped layers (batch 128: 128 channels of 7x7,
//! the discriminator's; 64 channels of 14x14, the generator's), with a leaky ReLU of slope 0.2: the
//! statistics, the normalization and the backward pass, each timed on data fresh from cache (as a step
//! finds it right after the convolution that wrote it) and on data evicted first (a 64 MB buffer written
//! in between). Medians of 40 calls, milliseconds.
//!
//!     RAYON_NUM_THREADS=2 cargo run --release -p glassbox-tensor --example batch_norm_layers

use glassbox_tensor::kernels::batch_norm::{
    backward_through_leaky_relu, channel_stats, inverse_std, normalize_then_leaky_relu, Dims,
};
use std::time::Instant;

fn data(n: usize, seed: f32) -> Vec<f32> {
    (0..n).map(|i| ((i as f32 + seed) * 0.7311).sin()).collect()
}

fn main() {
    glassbox_tensor::kernels::process::tune_process();
    let mut evict = vec![0f32; 16 << 20];
    println!("| layer | data | statistics ms | normalize ms | backward ms |");
    println!("|---|---|---:|---:|---:|");
    for (channels, side) in [(128usize, 7usize), (64, 14)] {
        let dims = Dims {
            batch: 128,
            channels,
            plane: side * side,
        };
        let x = data(dims.len(), 1.0);
        let dy = data(dims.len(), 2.0);
        let (gamma, beta) = (vec![1.0f32; channels], vec![0.1f32; channels]);
        let stats = channel_stats(&x, dims);
        let inv = inverse_std(&stats.var, 1e-5);
        let y = normalize_then_leaky_relu(&x, dims, &stats.mean, &inv, &gamma, &beta, 0.2);
        for cold in [false, true] {
            let mut times = [vec![], vec![], vec![]];
            for _ in 0..40 {
                let mut timed = |k: usize, f: &mut dyn FnMut()| {
                    if cold {
                        for (i, v) in evict.iter_mut().enumerate().step_by(16) {
                            *v += i as f32;
                        }
                    }
                    let t = Instant::now();
                    f();
                    times[k].push(t.elapsed().as_secs_f64() * 1e3);
                };
                timed(0, &mut || {
                    std::hint::black_box(channel_stats(&x, dims));
                });
                timed(1, &mut || {
                    let (m, s) = (&stats.mean, &inv);
                    std::hint::black_box(normalize_then_leaky_relu(
                        &x, dims, m, s, &gamma, &beta, 0.2,
                    ));
                });
                timed(2, &mut || {
                    let (m, s) = (&stats.mean, &inv);
                    std::hint::black_box(backward_through_leaky_relu(
                        &x, &y, &dy, dims, m, s, &gamma, 0.2,
                    ));
                });
            }
            let median = |v: &mut Vec<f64>| {
                v.sort_by(|a, b| a.total_cmp(b));
                v[v.len() / 2]
            };
            let [a, b, c] = &mut times;
            println!(
                "| {channels} x {side}x{side} | {} | {:.2} | {:.2} | {:.2} |",
                if cold { "evicted" } else { "in cache" },
                median(a),
                median(b),
                median(c)
            );
        }
    }
    std::hint::black_box(&evict);
}
