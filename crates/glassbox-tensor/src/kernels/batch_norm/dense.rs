//! Batch normalization of dense features (`plane == 1`): each channel's values lie one per image, a row
//! of channels apart, so the loops go image by image over a range of channels, the channels in the
//! vector lanes. Per channel, the plane-by-plane loops had made a call per value: the DCGAN generator's
//! normalization of 6,272 features took most of the 8% of a training step that batch normalization
//! took (`perf record` of `kernels_bench --case dcgan_train`). Each channel's sums still run over the
//! images in order, in f64, so the results are those of that loop and do not depend on the threads.

use super::super::activation::{dispatch_avx512, leaky, leaky_grad};
use super::super::parallel::{for_parts, threads, SharedMut};
use super::{ChannelStats, Dims};
use std::ops::Range;

dispatch_avx512! {
    /// `acc[c] += x[c]`.
    fn add_row(acc: &mut [f64], x: &[f32]) {
        let x = &x[..acc.len()];
        for (a, &v) in acc.iter_mut().zip(x) {
            *a += f64::from(v);
        }
    }
}

dispatch_avx512! {
    /// `acc[c] += (x[c] - mean[c])^2`.
    fn add_squares_row(acc: &mut [f64], x: &[f32], mean: &[f64]) {
        let n = acc.len();
        let (x, mean) = (&x[..n], &mean[..n]);
        for c in 0..n {
            let d = f64::from(x[c]) - mean[c];
            acc[c] += d * d;
        }
    }
}

dispatch_avx512! {
    /// `beta[c] += g'[c]`, `gamma[c] += g'[c] (x[c] - mean[c]) inv_std[c]`, `g' = leaky_grad(g, y, slope)`.
    #[allow(clippy::too_many_arguments)]
    fn add_gradient_row(
        beta: &mut [f64],
        gamma: &mut [f64],
        g: &[f32],
        y: &[f32],
        x: &[f32],
        mean: &[f64],
        inv_std: &[f64],
        slope: f32,
    ) {
        let n = beta.len();
        let (gamma, g, x, mean, inv_std) = (&mut gamma[..n], &g[..n], &x[..n], &mean[..n], &inv_std[..n]);
        let y = &y[..n];
        for c in 0..n {
            let d = f64::from(leaky_grad(g[c], y[c], slope));
            beta[c] += d;
            gamma[c] += d * (f64::from(x[c]) - mean[c]) * inv_std[c];
        }
    }
}

dispatch_avx512! {
    /// `dst[c] = leaky(x[c] a[c] + b[c], slope)`.
    fn scale_shift_row(dst: &mut [f32], x: &[f32], a: &[f32], b: &[f32], slope: f32) {
        let n = dst.len();
        let (x, a, b) = (&x[..n], &a[..n], &b[..n]);
        for c in 0..n {
            dst[c] = leaky(x[c] * a[c] + b[c], slope);
        }
    }
}

dispatch_avx512! {
    /// `dst = k (g' - shift - x̂ slope)`, `x̂ = (x - mean) inv_std`, every factor per channel, in f64,
    /// `g' = leaky_grad(g, y, leak)`.
    fn input_gradient_row(dst: &mut [f32], g: &[f32], y: &[f32], x: &[f32], per: &[[f64; 5]], leak: f32) {
        let n = dst.len();
        let (g, y, x, per) = (&g[..n], &y[..n], &x[..n], &per[..n]);
        for c in 0..n {
            let [mean, inv_std, k, shift, slope] = per[c];
            let xhat = (f64::from(x[c]) - mean) * inv_std;
            let g = f64::from(leaky_grad(g[c], y[c], leak));
            dst[c] = (k * (g - shift - xhat * slope)) as f32;
        }
    }
}

/// The rows (one per image) of channels `range` of `x`.
fn rows<'a>(x: &'a [f32], dims: Dims, range: &'a Range<usize>) -> impl Iterator<Item = &'a [f32]> {
    x.chunks_exact(dims.channels)
        .map(move |row| &row[range.clone()])
}

/// [`super::channel_stats`] for `plane == 1`.
pub(super) fn channel_stats(x: &[f32], dims: Dims) -> ChannelStats {
    let count = dims.per_channel().max(1) as f64;
    let parts = for_parts(dims.channels, threads(), |_, range| {
        let mut sums = vec![0f64; range.len()];
        rows(x, dims, &range).for_each(|row| add_row(&mut sums, row));
        let mean: Vec<f64> = sums.iter().map(|s| s / count).collect();
        let mut squares = vec![0f64; range.len()];
        rows(x, dims, &range).for_each(|row| add_squares_row(&mut squares, row, &mean));
        (mean, squares)
    });
    let (mut mean, mut var) = (Vec::new(), Vec::new());
    for (m, sq) in parts {
        mean.extend(m.iter().map(|&m| m as f32));
        var.extend(sq.iter().map(|&s| (s / count) as f32));
    }
    ChannelStats { mean, var }
}

/// [`super::normalize`] for `plane == 1`, with `a = inv_std gamma` and `b = beta - mean a` per channel.
pub(super) fn normalize(x: &[f32], dims: Dims, a: &[f32], b: &[f32], slope: f32) -> Vec<f32> {
    // Not zeroed first: every value is written below (a serial `memset` otherwise).
    let mut y = Vec::with_capacity(x.len());
    let out = SharedMut::spare(&mut y, x.len());
    for_parts(dims.channels, threads(), |_, range| {
        for (n, row) in rows(x, dims, &range).enumerate() {
            // SAFETY: each part writes its own channels of each row.
            let dst = unsafe { out.slice(n * dims.channels + range.start, range.len()) };
            scale_shift_row(dst, row, &a[range.clone()], &b[range.clone()], slope);
        }
    });
    // SAFETY: every channel's values of every image were written above.
    unsafe { y.set_len(x.len()) };
    y
}

/// [`super::backward_through_leaky_relu`] for `plane == 1`.
#[allow(clippy::too_many_arguments)]
pub(super) fn backward(
    x: &[f32],
    y: &[f32],
    dy: &[f32],
    dims: Dims,
    mean: &[f32],
    inv_std: &[f32],
    gamma: &[f32],
    slope: f32,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let m = dims.per_channel().max(1) as f64;
    // Not zeroed first: every value is written below (a serial `memset` otherwise). Room for the scale
    // and shift gradients after it, where the candle op packs them (appending had copied all of `dx`).
    let mut dx = Vec::with_capacity(x.len() + 2 * dims.channels);
    let out = SharedMut::spare(&mut dx, x.len());
    let parts = for_parts(dims.channels, threads(), |_, range| {
        let mu: Vec<f64> = mean[range.clone()].iter().map(|&v| f64::from(v)).collect();
        let s: Vec<f64> = inv_std[range.clone()]
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        let (mut dbeta, mut dgamma) = (vec![0f64; range.len()], vec![0f64; range.len()]);
        let outputs = rows(y, dims, &range);
        for ((g, y), row) in rows(dy, dims, &range)
            .zip(outputs)
            .zip(rows(x, dims, &range))
        {
            add_gradient_row(&mut dbeta, &mut dgamma, g, y, row, &mu, &s, slope);
        }
        // dx = k (dy - dβ / M - x̂ dγ / M), k = γ inv_std.
        let per: Vec<[f64; 5]> = (0..range.len())
            .map(|i| {
                let k = f64::from(gamma[range.start + i]) * s[i];
                [mu[i], s[i], k, dbeta[i] / m, dgamma[i] / m]
            })
            .collect();
        let outputs = rows(y, dims, &range);
        for (n, ((g, y), row)) in rows(dy, dims, &range)
            .zip(outputs)
            .zip(rows(x, dims, &range))
            .enumerate()
        {
            // SAFETY: each part writes its own channels of each row.
            let dst = unsafe { out.slice(n * dims.channels + range.start, range.len()) };
            input_gradient_row(dst, g, y, row, &per, slope);
        }
        (dgamma, dbeta)
    });
    // SAFETY: every channel's values of every image were written above.
    unsafe { dx.set_len(x.len()) };
    let (mut dgamma, mut dbeta) = (Vec::new(), Vec::new());
    for (g, b) in parts {
        dgamma.extend(g.iter().map(|&v| v as f32));
        dbeta.extend(b.iter().map(|&v| v as f32));
    }
    (dx, dgamma, dbeta)
}
