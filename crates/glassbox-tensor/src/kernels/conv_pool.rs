//! Convolution, bias, ReLU and max pooling (window = stride = `pool`) in one pass: each band of output
//! rows is computed into a per-thread buffer and pooled straight away, so the full-size activation is
//! never written, and the backward pass needs only the pooled output and one byte per pooled element
//! (the winning position in its window). ReLU and adding the bias are monotonic, so the pooled value is
//! `relu(max(window) + bias)` and the winner is the window's first maximum, as in PyTorch.

use super::conv2d::{for_each_band, ConvGeometry, Epilogue};
use super::gemm::{sgemm, Mat, MatMut};
use super::parallel::{with_second_scratch, SharedMut};

/// The pooled output size for a convolution geometry (windows that do not fit are dropped, as in
/// PyTorch).
pub fn pooled_hw(g: &ConvGeometry, pool: usize) -> Option<(usize, usize)> {
    let (oh, ow) = g.output_hw()?;
    (pool > 0 && oh >= pool && ow >= pool).then_some((oh / pool, ow / pool))
}

/// Returns the pooled `(batch, out, oh / pool, ow / pool)` activations and the winner of each window.
pub fn conv2d_relu_pool_forward(
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    g: &ConvGeometry,
    pool: usize,
) -> (Vec<f32>, Vec<u8>) {
    if super::winograd::applies(g) {
        // Winograd computes whole 2x2 output blocks per band; pool its full-size result afterwards.
        let y = super::winograd::conv2d_winograd(x, w, bias, g, Epilogue::BiasRelu);
        return pool_with_winners(&y, g, pool);
    }
    let (_, ow) = g.output_hw().expect("checked geometry");
    let (ph, pw) = pooled_hw(g, pool).expect("checked pooling");
    let (m, k) = (g.out_channels, g.patch_len());
    let pooled_plane = ph * pw;
    let mut y = vec![0.0f32; g.batch * m * pooled_plane];
    let mut winners = vec![0u8; y.len()];
    let shared = SharedMut::new(&mut y);
    let winners_ptr = winners.as_mut_ptr() as usize;
    let wm = Mat::rows(w, m, k);
    let rows = g.band_rows().div_ceil(pool) * pool;
    for_each_band(x, g, rows, |band, lowered, inner| {
        let n = band.cols(ow);
        let oh0 = band.rows.start;
        with_second_scratch(m * n, |out| {
            sgemm(MatMut::rows(out, m, n), false, wm, lowered, inner);
            let (pr0, pr1) = (oh0 / pool, (band.rows.end / pool).min(ph));
            for (b, at) in band.parts(ow) {
                for o in 0..m {
                    let plane = &out[o * n + at..o * n + at + band.image_cols(ow)];
                    let base = (b * m + o) * pooled_plane;
                    for pr in pr0..pr1 {
                        for pc in 0..pw {
                            let (mut best, mut at) = (f32::NEG_INFINITY, 0u8);
                            for i in 0..pool {
                                let r = (pr * pool + i - oh0) * ow + pc * pool;
                                for (j, &v) in plane[r..r + pool].iter().enumerate() {
                                    if v > best {
                                        best = v;
                                        at = (i * pool + j) as u8;
                                    }
                                }
                            }
                            let idx = base + pr * pw + pc;
                            // SAFETY: each (image, pooled row) belongs to exactly one band.
                            unsafe {
                                *shared.slice(idx, 1).get_unchecked_mut(0) =
                                    (best + bias[o]).max(0.0);
                                *(winners_ptr as *mut u8).add(idx) = at;
                            }
                        }
                    }
                }
            }
        });
    });
    (y, winners)
}

/// Max pooling of a full-size (already ReLU'd) activation, with the winner of each window.
fn pool_with_winners(y: &[f32], g: &ConvGeometry, pool: usize) -> (Vec<f32>, Vec<u8>) {
    use rayon::prelude::*;
    let (oh, ow) = g.output_hw().expect("checked geometry");
    let (ph, pw) = pooled_hw(g, pool).expect("checked pooling");
    let planes = g.batch * g.out_channels;
    let mut out = vec![0.0f32; planes * ph * pw];
    let mut winners = vec![0u8; out.len()];
    out.par_chunks_mut(ph * pw)
        .zip(winners.par_chunks_mut(ph * pw))
        .enumerate()
        .for_each(|(p, (out, win))| {
            let plane = &y[p * oh * ow..(p + 1) * oh * ow];
            for pr in 0..ph {
                for pc in 0..pw {
                    let (mut best, mut at) = (f32::NEG_INFINITY, 0u8);
                    for i in 0..pool {
                        let r = (pr * pool + i) * ow + pc * pool;
                        for (j, &v) in plane[r..r + pool].iter().enumerate() {
                            if v > best {
                                best = v;
                                at = (i * pool + j) as u8;
                            }
                        }
                    }
                    out[pr * pw + pc] = best;
                    win[pr * pw + pc] = at;
                }
            }
        });
    (out, winners)
}

/// The gradient of the convolution's output, `(batch, out, oh, ow)`: each pooled gradient goes to its
/// window's winner where the pooled value passed the ReLU.
pub fn unpool_relu_grad(
    grad: &[f32],
    pooled: &[f32],
    winners: &[u8],
    g: &ConvGeometry,
    pool: usize,
) -> Vec<f32> {
    use rayon::prelude::*;
    let (oh, ow) = g.output_hw().expect("checked geometry");
    let (ph, pw) = pooled_hw(g, pool).expect("checked pooling");
    let mut out = vec![0.0f32; g.batch * g.out_channels * oh * ow];
    out.par_chunks_mut(oh * ow)
        .enumerate()
        .for_each(|(p, plane)| {
            let base = p * ph * pw;
            for i in 0..ph * pw {
                if pooled[base + i] > 0.0 {
                    let win = winners[base + i] as usize;
                    let (r, c) = (i / pw * pool + win / pool, i % pw * pool + win % pool);
                    plane[r * ow + c] = grad[base + i];
                }
            }
        });
    out
}
