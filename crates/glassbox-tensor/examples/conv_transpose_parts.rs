//! The kernels of `kernels_bench --case conv_transpose_train` one by one: the DCGAN generator's two
//! transposed convolutions (4x4, stride 2, padding 1, batch 128; 128 -> 64 channels at 7x7 -> 14x14 and
//! 64 -> 1 at 14x14 -> 28x28), each layer's forward pass, its backward pass as the op runs it (input
//! and weight gradients together), and the two gradients apart, without candle's graph around them.
//! Medians of 15 calls, milliseconds.
//!
//!     RAYON_NUM_THREADS=2 cargo run --release -p glassbox-tensor --example conv_transpose_parts

use glassbox_tensor::kernels::conv2d::{
    conv2d_backward_weight, conv2d_forward, conv2d_forward_and_backward_weight,
    conv_transpose_forward, ConvGeometry, Epilogue,
};
use std::time::Instant;

fn data(n: usize, seed: f32) -> Vec<f32> {
    (0..n).map(|i| ((i as f32 + seed) * 0.7311).sin()).collect()
}

fn median_ms(mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..15)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(|a, b| a.total_cmp(b));
    times[times.len() / 2]
}

/// A transposed convolution from `channels_in` to `channels_out` channels on a `size` x `size` input, as
/// the convolution whose input gradient it is.
fn layer(channels_in: usize, channels_out: usize, size: usize) -> ConvGeometry {
    ConvGeometry {
        batch: 128,
        in_channels: channels_out,
        height: 2 * size,
        width: 2 * size,
        out_channels: channels_in,
        kernel_h: 4,
        kernel_w: 4,
        padding: 1,
        stride: 2,
        dilation: 1,
    }
}

fn main() {
    glassbox_tensor::kernels::process::tune_process();
    println!("| layer | forward ms | backward ms | input gradient ms | weight gradient ms |");
    println!("|---|---:|---:|---:|---:|");
    for (name, g) in [
        ("128 -> 64, 7x7 -> 14x14", layer(128, 64, 7)),
        ("64 -> 1, 14x14 -> 28x28", layer(64, 1, 14)),
    ] {
        // The transposed convolution's input has the convolution's output shape, and its output
        // gradient the convolution's input shape.
        let x = data(g.output_len(), 1.0);
        let w = data(g.weight_len(), 2.0);
        let bias = data(g.in_channels, 4.0);
        let gy = data(g.input_len(), 3.0);
        let forward = median_ms(|| {
            std::hint::black_box(conv_transpose_forward(&x, &w, &bias, &g));
        });
        let backward = median_ms(|| {
            std::hint::black_box(conv2d_forward_and_backward_weight(&gy, &w, &x, &g));
        });
        let input = median_ms(|| {
            std::hint::black_box(conv2d_forward(&gy, &w, &[], &g, Epilogue::None));
        });
        let weight = median_ms(|| {
            std::hint::black_box(conv2d_backward_weight(&gy, &x, &g));
        });
        println!("| {name} | {forward:.2} | {backward:.2} | {input:.2} | {weight:.2} |");
    }
}
