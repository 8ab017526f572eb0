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
    if super::conv2d::batched3x3::pays(g) {
        return batched_relu_pool(x, w, bias, g, pool);
    }
    if super::winograd::applies(g) {
        // Winograd computes whole 2x2 output blocks per band; pool its full-size result afterwards.
        let y = super::winograd::conv2d_winograd(x, w, bias, g, Epilogue::BiasRelu);
        return pool_with_winners(&y, g, pool);
    }
    if super::conv2d::direct::applies(g) {
        return direct_relu_pool(x, w, bias, g, pool);
    }
    let (_, ow) = g.output_hw().expect("checked geometry");
    let (ph, pw) = pooled_hw(g, pool).expect("checked pooling");
    let (m, k) = (g.out_channels, g.patch_len());
    let pooled_plane = ph * pw;
    let out = PooledOut::new(g.batch * m * pooled_plane);
    let wm = Mat::rows(w, m, k);
    let rows = g.band_rows().div_ceil(pool) * pool;
    for_each_band(x, g, rows, |band, lowered, inner| {
        let n = band.cols(ow);
        let oh0 = band.rows.start;
        with_second_scratch(m * n, |product| {
            sgemm(MatMut::rows(product, m, n), false, wm, lowered, inner);
            let (pr0, pr1) = (oh0 / pool, (band.rows.end / pool).min(ph));
            for (b, at) in band.parts(ow) {
                for o in 0..m {
                    let plane = &product[o * n + at..o * n + at + band.image_cols(ow)];
                    let base = (b * m + o) * pooled_plane;
                    for pr in pr0..pr1 {
                        let window_rows = &plane[(pr * pool - oh0) * ow..];
                        // SAFETY: each (image, pooled row) belongs to exactly one band.
                        unsafe { out.pool_row(base + pr * pw, pw, window_rows, ow, pool, bias[o]) };
                    }
                }
            }
        });
    });
    out.into_parts()
}

/// [`conv2d_relu_pool_forward`] on the direct path: each item's wide output pooled as it comes.
fn direct_relu_pool(
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    g: &ConvGeometry,
    pool: usize,
) -> (Vec<f32>, Vec<u8>) {
    use super::conv2d::direct::{for_each_item, CO};
    let (ph, pw) = pooled_hw(g, pool).expect("checked pooling");
    let (m, pooled_plane) = (g.out_channels, ph * pw);
    let out = PooledOut::new(g.batch * m * pooled_plane);
    for_each_item(x, w, g, |b, groups, wide, wide_out| {
        for (i, o) in (groups.start * CO..(groups.end * CO).min(m)).enumerate() {
            let plane = &wide_out[i * wide.stride..(i + 1) * wide.stride];
            // SAFETY: each (image, channel) belongs to one work item.
            unsafe { out.pool_plane(b * m + o, plane, wide.wp, (ph, pw), pool, bias[o]) };
        }
    });
    out.into_parts()
}

/// [`conv2d_relu_pool_forward`] by Winograd on batches ([`super::conv2d::batched3x3`]): each image's
/// output planes pooled as they come.
fn batched_relu_pool(
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    g: &ConvGeometry,
    pool: usize,
) -> (Vec<f32>, Vec<u8>) {
    let (ph, pw) = pooled_hw(g, pool).expect("checked pooling");
    let (m, pooled_plane) = (g.out_channels, ph * pw);
    let out = PooledOut::new(g.batch * m * pooled_plane);
    super::conv2d::batched3x3::for_each_image(x, w, g, |b, planes, row| {
        for (o, plane) in planes.chunks_exact(planes.len() / m).enumerate() {
            // SAFETY: each image belongs to one work item.
            unsafe { out.pool_plane(b * m + o, plane, row, (ph, pw), pool, bias[o]) };
        }
    });
    out.into_parts()
}

/// The pooled activations and their winners, written row by row from several threads.
struct PooledOut {
    y: Vec<f32>,
    winners: Vec<u8>,
    y_ptr: SharedMut,
    winners_ptr: usize,
}

impl PooledOut {
    fn new(len: usize) -> PooledOut {
        let (mut y, mut winners) = (vec![0.0f32; len], vec![0u8; len]);
        let (y_ptr, winners_ptr) = (SharedMut::new(&mut y), winners.as_mut_ptr() as usize);
        PooledOut {
            y,
            winners,
            y_ptr,
            winners_ptr,
        }
    }

    /// The `len` pooled values at `start` from the windows of `rows` (see [`pool_row`]), plus `bias`,
    /// through the ReLU (monotonic, so it commutes with the maximum), and their winners.
    ///
    /// # Safety
    /// No two calls at once may write overlapping ranges.
    #[allow(clippy::too_many_arguments)]
    unsafe fn pool_row(
        &self,
        start: usize,
        len: usize,
        rows: &[f32],
        stride: usize,
        pool: usize,
        bias: f32,
    ) {
        assert!(
            start + len <= self.winners.len(),
            "PooledOut: out of bounds"
        );
        let dst = self.y_ptr.slice(start, len);
        let win = std::slice::from_raw_parts_mut((self.winners_ptr as *mut u8).add(start), len);
        pool_row(rows, stride, pool, dst, win);
        dst.iter_mut().for_each(|v| *v = (*v + bias).max(0.0));
    }

    /// Pooled plane `index` (`ph x pw`, see [`PooledOut::pool_row`]) from the output plane `plane`,
    /// whose rows are `row` floats apart.
    ///
    /// # Safety
    /// No two calls at once may write the same plane.
    unsafe fn pool_plane(
        &self,
        index: usize,
        plane: &[f32],
        row: usize,
        (ph, pw): (usize, usize),
        pool: usize,
        bias: f32,
    ) {
        for pr in 0..ph {
            let window_rows = &plane[pr * pool * row..];
            self.pool_row((index * ph + pr) * pw, pw, window_rows, row, pool, bias);
        }
    }

    fn into_parts(self) -> (Vec<f32>, Vec<u8>) {
        (self.y, self.winners)
    }
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
                let (dst, win) = (
                    &mut out[pr * pw..(pr + 1) * pw],
                    &mut win[pr * pw..(pr + 1) * pw],
                );
                pool_row(&plane[pr * pool * ow..], ow, pool, dst, win);
            }
        });
    (out, winners)
}

/// One row of pooled outputs, `dst.len()` windows of `pool x pool` side by side from the `pool` rows
/// that start `ow` floats apart at the start of `rows` (the direct path's wide rows are longer than
/// their valid outputs): each window's maximum and its first winning position (row-major
/// within the window). Values are scanned in order against a running best that starts at minus
/// infinity, so ties go to the first and NaNs never win.
fn pool_row(rows: &[f32], ow: usize, pool: usize, dst: &mut [f32], win: &mut [u8]) {
    if pool == 2 {
        // The MNIST network's pooling, without branches: the winners of random data are a coin toss
        // for the branch predictor, and the branchy scan took 15% of an inference pass (`perf record`
        // of `kernels_bench --case mnist_infer`).
        let (top, bottom) = (&rows[..ow], &rows[ow..2 * ow]);
        for (pc, (d, w)) in dst.iter_mut().zip(win.iter_mut()).enumerate() {
            let (mut best, mut at) = (f32::NEG_INFINITY, 0u8);
            for (k, v) in [
                top[2 * pc],
                top[2 * pc + 1],
                bottom[2 * pc],
                bottom[2 * pc + 1],
            ]
            .into_iter()
            .enumerate()
            {
                let take = v > best;
                best = if take { v } else { best };
                at = if take { k as u8 } else { at };
            }
            *d = best;
            *w = at;
        }
        return;
    }
    for (pc, (d, w)) in dst.iter_mut().zip(win.iter_mut()).enumerate() {
        let (mut best, mut at) = (f32::NEG_INFINITY, 0u8);
        for i in 0..pool {
            let r = i * ow + pc * pool;
            for (j, &v) in rows[r..r + pool].iter().enumerate() {
                if v > best {
                    best = v;
                    at = (i * pool + j) as u8;
                }
            }
        }
        *d = best;
        *w = at;
    }
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
    let (oh, ow) = g.output_hw().expect("checked geometry");
    let (ph, pw) = pooled_hw(g, pool).expect("checked pooling");
    // Each plane zeroed by the thread that fills it: a `vec![0.0; len]` zeroed the whole gradient (19
    // MB for the MNIST network) on one thread first.
    super::parallel::zeros_accumulated_in_parallel(
        g.batch * g.out_channels * oh * ow,
        oh * ow,
        |p, plane| {
            // Without divisions or branches: a division per window and a coin-toss branch on the
            // ReLU were 4% of an MNIST training step's samples (`perf annotate` of `kernels_bench --case
            // mnist_train`). The winner's place gets zero where the ReLU stopped the gradient, which the
            // zeroed plane holds anyway.
            let base = p * ph * pw;
            for pr in 0..ph {
                for pc in 0..pw {
                    let i = base + pr * pw + pc;
                    let win = winners[i] as usize;
                    let (dr, dc) = if pool == 2 {
                        (win >> 1, win & 1)
                    } else {
                        (win / pool, win % pool)
                    };
                    let g = if pooled[i] > 0.0 { grad[i] } else { 0.0 };
                    plane[(pr * pool + dr) * ow + pc * pool + dc] = g;
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::super::conv2d::{batched3x3, conv2d_forward_im2col, direct, ConvGeometry, Epilogue};
    use super::{batched_relu_pool, direct_relu_pool, pool_row, pooled_hw};

    /// The direct path's pooling of its wide rows against pooling the full-size im2col convolution:
    /// each pooled value close to the window's maximum there, and each winner a position that holds
    /// it (to rounding: the two paths sum in different orders), on the MNIST network's shape and on one
    /// whose wide rows are longer than their windows (odd output width, padding).
    #[test]
    fn direct_pooling_matches_pooling_the_full_convolution() {
        if !super::super::activation::has_avx512f() {
            eprintln!(
                "skipped: the direct path needs AVX-512F, which this CPU (or GLASSBOX_CPU) lacks"
            );
            return;
        }
        for (b, c, hw, m, p) in [(2, 32, 26, 64, 0), (3, 9, 11, 10, 1)] {
            let g = geometry(b, c, hw, m, p);
            assert!(direct::applies(&g), "{g:?} should take the direct path");
            check_pooling(&g, direct_relu_pool, 1e-5);
        }
    }

    /// The same for Winograd on batches, whose sums round differently from im2col's (F(4x4, 3x3)):
    /// values to 2e-4, and each winner holds its window's maximum to that.
    #[test]
    fn winograd_pooling_matches_pooling_the_full_convolution() {
        for (b, c, hw, m, p) in [(2, 32, 26, 64, 0), (3, 40, 11, 32, 1)] {
            let g = geometry(b, c, hw, m, p);
            assert!(
                batched3x3::applies(&g),
                "{g:?} should take the batched Winograd path"
            );
            check_pooling(&g, batched_relu_pool, 2e-4);
        }
    }

    /// Square maps, 3x3 filters, stride 1.
    fn geometry(batch: usize, c: usize, hw: usize, m: usize, p: usize) -> ConvGeometry {
        super::super::conv2d::test_support::geometry(batch, c, (hw, hw), m, 3, p, 1)
    }

    /// `run`'s 2x2-pooled ReLU'd convolution against pooling im2col's full one: each value equals its
    /// window's maximum, and its winner holds that maximum, to `tol * (1 + |max|)`.
    fn check_pooling(
        g: &ConvGeometry,
        run: impl Fn(&[f32], &[f32], &[f32], &ConvGeometry, usize) -> (Vec<f32>, Vec<u8>),
        tol: f32,
    ) {
        let (b, m) = (g.batch, g.out_channels);
        let x: Vec<f32> = (0..g.input_len())
            .map(|i| (i as f32 * 0.61).sin())
            .collect();
        let w: Vec<f32> = (0..g.weight_len())
            .map(|i| (i as f32 * 0.23).cos() * 0.2)
            .collect();
        let bias: Vec<f32> = (0..m).map(|i| i as f32 * 0.01 - 0.05).collect();
        let full = conv2d_forward_im2col(&x, &w, &bias, g, Epilogue::BiasRelu);
        let (pooled, winners) = run(&x, &w, &bias, g, 2);
        let (oh, ow) = g.output_hw().unwrap();
        let (ph, pw) = pooled_hw(g, 2).unwrap();
        for plane in 0..b * m {
            for i in 0..ph * pw {
                let (r, q) = (i / pw * 2, i % pw * 2);
                let at = |dr: usize, dq: usize| full[plane * oh * ow + (r + dr) * ow + q + dq];
                let best = [at(0, 0), at(0, 1), at(1, 0), at(1, 1)]
                    .into_iter()
                    .fold(f32::NEG_INFINITY, f32::max);
                let got = pooled[plane * ph * pw + i];
                let win = winners[plane * ph * pw + i] as usize;
                let tol = tol * (1.0 + best.abs());
                assert!(
                    (got - best).abs() <= tol,
                    "{g:?} window {plane}/{i}: {got} against {best}"
                );
                assert!(
                    (at(win / 2, win % 2) - best).abs() <= tol || best == 0.0,
                    "{g:?} window {plane}/{i}: winner {win} does not hold the maximum {best}"
                );
            }
        }
    }

    /// Windows worked by hand: ties go to the first position in row-major order and a NaN never wins,
    /// in the branch-free 2x2 scan and in the general one.
    #[test]
    fn pooled_rows_by_hand() {
        let nan = f32::NAN;
        // Two rows of 6 values: windows [1 3 / 3 0], [2 2 / 2 2], [nan 5 / 4 nan].
        let rows = [1.0, 3.0, 2.0, 2.0, nan, 5.0, 3.0, 0.0, 2.0, 2.0, 4.0, nan];
        let (mut best, mut at) = ([0.0f32; 3], [9u8; 3]);
        pool_row(&rows, 6, 2, &mut best, &mut at);
        assert_eq!((best, at), ([3.0, 2.0, 5.0], [1, 0, 1]));
        // The general path: a 3x3 window with a tie between positions 2 and 6, and a NaN.
        let rows3 = [0.0, 1.0, 7.0, nan, 2.0, 3.0, 7.0, 6.0, 5.0];
        let (mut b3, mut a3) = ([0.0f32; 1], [9u8; 1]);
        pool_row(&rows3, 3, 3, &mut b3, &mut a3);
        assert_eq!((b3, a3), ([7.0], [2]));
    }
}
