//! Batch normalization on `(N, C, S)` data (`S = H W` for images, 1 after a dense layer): per-channel
//! statistics over the `N S` values of each channel, the normalization with its scale and shift, and the
//! backward pass. Channels are independent, so they are split across threads; each channel's sums run
//! in f64 in a fixed order, so results do not depend on the thread count.

mod dense;

use super::activation::{dispatch_avx512, leaky, leaky_grad};
use super::parallel::{for_parts, threads, SharedMut};

/// float32 lanes of a channel's sums ([`LaneSums`]): each lane sums fewer than `2 BLOCK / F32_LANES` =
/// 128 values before the lanes join the channel's float64 total, so their rounding stays small (at worst
/// 128 x 2^-24 of their magnitude) while they run twice as wide as float64 lanes. Summed in float64 throughout,
/// batch normalization took 6.5% of a DCGAN step's samples (`perf record` of `kernels_bench --case
/// dcgan_train`). The order is fixed, so the sums do not depend on the thread count.
const F32_LANES: usize = 16;
const BLOCK: usize = 1024;

/// Two sums over a channel's planes: float32 lanes, joined into float64 every [`BLOCK`] values or so and
/// at the end, in a fixed order. The lanes carry across planes (a 7x7 plane is only three groups of
/// lanes).
#[derive(Default)]
struct LaneSums {
    lanes: [[f32; F32_LANES]; 2],
    pending: usize,
    total: [f64; 2],
}

impl LaneSums {
    /// Adds `first(a[i], b[i], c[i])` to the first sum and `second(..)` to the second (`b` and `c` may
    /// repeat `a` for terms of fewer values).
    #[inline(always)]
    fn add(
        &mut self,
        [a, b, c]: [&[f32]; 3],
        first: impl Fn(f32, f32, f32) -> f32,
        second: impl Fn(f32, f32, f32) -> f32,
    ) {
        for ((a, b), c) in a.chunks(BLOCK).zip(b.chunks(BLOCK)).zip(c.chunks(BLOCK)) {
            let [acc, acc2] = &mut self.lanes;
            let groups = a.chunks_exact(F32_LANES);
            let (others, thirds) = (b.chunks_exact(F32_LANES), c.chunks_exact(F32_LANES));
            let rest = groups.remainder().iter();
            let rest = rest.zip(others.remainder()).zip(thirds.remainder());
            for ((g, h), k) in groups.zip(others).zip(thirds) {
                let g: &[f32; F32_LANES] = g.try_into().expect("chunks of F32_LANES");
                let h: &[f32; F32_LANES] = h.try_into().expect("chunks of F32_LANES");
                let k: &[f32; F32_LANES] = k.try_into().expect("chunks of F32_LANES");
                for l in 0..F32_LANES {
                    acc[l] += first(g[l], h[l], k[l]);
                    acc2[l] += second(g[l], h[l], k[l]);
                }
            }
            for ((&g, &h), &k) in rest {
                self.total[0] += f64::from(first(g, h, k));
                self.total[1] += f64::from(second(g, h, k));
            }
            self.pending += a.len();
            if self.pending >= BLOCK {
                self.flush();
            }
        }
    }

    fn flush(&mut self) {
        for (t, lanes) in self.total.iter_mut().zip(&mut self.lanes) {
            *t += lanes.iter().fold(0f64, |t, &v| t + f64::from(v));
            *lanes = [0.0; F32_LANES];
        }
        self.pending = 0;
    }

    fn finish(mut self) -> [f64; 2] {
        self.flush();
        self.total
    }
}

dispatch_avx512! {
    /// Adds `Σ (x - shift)^p` over `x` to the first of `sums` (`square` chooses p = 2, else p = 1).
    fn add_sums(x: &[f32], shift: f32, square: bool, sums: &mut LaneSums) {
        if square {
            sums.add([x; 3], |v, _, _| (v - shift) * (v - shift), |_, _, _| 0.0);
        } else {
            sums.add([x; 3], |v, _, _| v - shift, |_, _, _| 0.0);
        }
    }
}

dispatch_avx512! {
    /// Adds `Σ g'` to the first of `sums` and `Σ g' (x - mean)` to the second, `g' = leaky_grad(dy, y, slope)`.
    fn add_gradient_sums(dy: &[f32], y: &[f32], x: &[f32], mean: f32, slope: f32, sums: &mut LaneSums) {
        sums.add(
            [dy, y, x],
            |g, y, _| leaky_grad(g, y, slope),
            |g, y, v| leaky_grad(g, y, slope) * (v - mean),
        );
    }
}

dispatch_avx512! {
    /// `dst = leaky(x a + b, slope)`.
    fn scale_shift(dst: &mut [f32], x: &[f32], a: f32, b: f32, slope: f32) {
        for (d, &v) in dst.iter_mut().zip(x) {
            *d = leaky(v * a + b, slope);
        }
    }
}

dispatch_avx512! {
    /// `dst = k g' + slope (x - mean) + shift` with `g' = leaky_grad(dy, y, leak)`: the input gradient with
    /// its coefficients folded ([`backward_through_leaky_relu`]); `x - mean` first, so that values near
    /// the mean lose nothing to cancellation.
    #[allow(clippy::too_many_arguments)]
    fn input_gradient(
        dst: &mut [f32],
        dy: &[f32],
        y: &[f32],
        x: &[f32],
        mean: f32,
        leak: f32,
        k: f32,
        slope: f32,
        shift: f32,
    ) {
        for (((d, &g), &y), &v) in dst.iter_mut().zip(dy).zip(y).zip(x) {
            *d = k * leaky_grad(g, y, leak) + (slope * (v - mean) + shift);
        }
    }
}

/// How the data is laid out: `batch` images of `channels` planes of `plane` values each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    /// Images.
    pub batch: usize,
    /// Channels, each normalized on its own.
    pub channels: usize,
    /// Values per channel plane (height times width).
    pub plane: usize,
}

impl Dims {
    /// Values in all.
    pub fn len(self) -> usize {
        self.batch * self.channels * self.plane
    }

    /// Whether there are no values.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// Values per channel.
    pub fn per_channel(self) -> usize {
        self.batch * self.plane
    }

    /// The slices of channel `c`, one per image.
    fn planes(self, c: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
        (0..self.batch).map(move |n| {
            let start = (n * self.channels + c) * self.plane;
            start..start + self.plane
        })
    }
}

/// A batch's per-channel mean and biased variance (divided by `N S`, what the normalization uses).
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelStats {
    /// Each channel's mean over the batch.
    pub mean: Vec<f32>,
    /// Each channel's biased variance over the batch (divided by the count, as batch norm normalizes).
    pub var: Vec<f32>,
}

/// Splits the channels across the pool and runs `f(c)` for each, in channel order.
fn per_channel<T: Send>(channels: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    for_parts(channels, threads(), |_, range| {
        range.map(&f).collect::<Vec<T>>()
    })
    .into_iter()
    .flatten()
    .collect()
}

/// Mean and biased variance of each channel (two passes, f64 sums).
pub fn channel_stats(x: &[f32], dims: Dims) -> ChannelStats {
    assert_eq!(x.len(), dims.len(), "batch_norm: data and dims disagree");
    if dims.plane == 1 {
        return dense::channel_stats(x, dims);
    }
    let count = dims.per_channel().max(1) as f64;
    let stats = per_channel(dims.channels, |c| {
        let mut sums = LaneSums::default();
        dims.planes(c)
            .for_each(|r| add_sums(&x[r], 0.0, false, &mut sums));
        let mean = (sums.finish()[0] / count) as f32;
        let mut squares = LaneSums::default();
        dims.planes(c)
            .for_each(|r| add_sums(&x[r], mean, true, &mut squares));
        (mean, (squares.finish()[0] / count) as f32)
    });
    ChannelStats {
        mean: stats.iter().map(|s| s.0).collect(),
        var: stats.iter().map(|s| s.1).collect(),
    }
}

/// `1 / sqrt(var + eps)` per channel.
pub fn inverse_std(var: &[f32], eps: f32) -> Vec<f32> {
    var.iter().map(|&v| 1.0 / (v + eps).sqrt()).collect()
}

/// `y = (x - mean) inv_std gamma + beta`, per channel.
pub fn normalize(
    x: &[f32],
    dims: Dims,
    mean: &[f32],
    inv_std: &[f32],
    gamma: &[f32],
    beta: &[f32],
) -> Vec<f32> {
    normalize_then_leaky_relu(x, dims, mean, inv_std, gamma, beta, 1.0)
}

/// [`normalize`] followed by a leaky ReLU of slope `slope` in the same pass (0 for a ReLU; 1 for none).
///
/// Panics unless `slope >= 0` (a negative slope flips signs, which the backward pass's mask, taken from
/// the output, cannot follow).
pub fn normalize_then_leaky_relu(
    x: &[f32],
    dims: Dims,
    mean: &[f32],
    inv_std: &[f32],
    gamma: &[f32],
    beta: &[f32],
    slope: f32,
) -> Vec<f32> {
    assert_eq!(x.len(), dims.len(), "batch_norm: data and dims disagree");
    assert!(slope >= 0.0, "batch_norm: leaky ReLU slope {slope} below 0");
    if dims.plane == 1 {
        let a: Vec<f32> = inv_std.iter().zip(gamma).map(|(s, g)| s * g).collect();
        let b: Vec<f32> = beta
            .iter()
            .zip(mean)
            .zip(&a)
            .map(|((b, m), a)| b - m * a)
            .collect();
        return dense::normalize(x, dims, &a, &b, slope);
    }
    // Not zeroed first: every value is written below (a serial `memset` otherwise).
    let mut y = Vec::with_capacity(x.len());
    let out = SharedMut::spare(&mut y, x.len());
    per_channel(dims.channels, |c| {
        // One multiply-add per value: y = x a + b.
        let a = inv_std[c] * gamma[c];
        let b = beta[c] - mean[c] * a;
        for r in dims.planes(c) {
            // SAFETY: each channel's planes are disjoint from every other channel's.
            let dst = unsafe { out.slice(r.start, r.len()) };
            scale_shift(dst, &x[r], a, b, slope);
        }
    });
    // SAFETY: every channel's values of every image were written above.
    unsafe { y.set_len(x.len()) };
    y
}

/// Gradients of a training-mode batch normalization (statistics of this batch) with respect to its input,
/// scale and shift, from the output's gradient `dy`:
///
/// `x̂ = (x - mean) inv_std`, `dβ = Σ dy`, `dγ = Σ dy x̂`, `dx = γ inv_std / M (M dy - dβ - x̂ dγ)` with
/// `M = N S` and the sums over each channel's values. Returns `(dx, dγ, dβ)`.
pub fn backward(
    x: &[f32],
    dy: &[f32],
    dims: Dims,
    mean: &[f32],
    inv_std: &[f32],
    gamma: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    backward_through_leaky_relu(x, dy, dy, dims, mean, inv_std, gamma, 1.0)
}

/// [`backward`] of [`normalize_then_leaky_relu`], given its output `y` and the gradient `dy` of that
/// output: the gradient is carried through the leaky ReLU (where `y > 0`, or times `slope`) as it is
/// read, with no pass of its own. Slope 1 ignores `y` (it may be `dy` then).
#[allow(clippy::too_many_arguments)]
pub fn backward_through_leaky_relu(
    x: &[f32],
    y: &[f32],
    dy: &[f32],
    dims: Dims,
    mean: &[f32],
    inv_std: &[f32],
    gamma: &[f32],
    slope: f32,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    assert_eq!(x.len(), dims.len(), "batch_norm: data and dims disagree");
    assert!(
        dy.len() == dims.len() && y.len() == dims.len(),
        "batch_norm: gradient or output and dims disagree"
    );
    assert!(slope >= 0.0, "batch_norm: leaky ReLU slope {slope} below 0");
    if dims.plane == 1 {
        return dense::backward(x, y, dy, dims, mean, inv_std, gamma, slope);
    }
    let m = dims.per_channel().max(1) as f64;
    // Not zeroed first: every value is written below (a serial `memset` otherwise). Room for the scale
    // and shift gradients after it, where the candle op packs them (appending had copied all of `dx`).
    let mut dx = Vec::with_capacity(x.len() + 2 * dims.channels);
    let out = SharedMut::spare(&mut dx, x.len());
    let sums = per_channel(dims.channels, |c| {
        let (mu, s) = (mean[c], f64::from(inv_std[c]));
        let mut sums = LaneSums::default();
        for r in dims.planes(c) {
            add_gradient_sums(&dy[r.clone()], &y[r.clone()], &x[r], mu, slope, &mut sums);
        }
        let [dbeta, centred] = sums.finish();
        let dgamma = centred * s;
        // dx = k (dy - dβ / M - x̂ dγ / M), k = γ inv_std, x̂ = (x - mean) inv_std.
        let k = f64::from(gamma[c]) * s;
        let (shift, centred_slope) = (-k * dbeta / m, -k * s * dgamma / m);
        for r in dims.planes(c) {
            // SAFETY: each channel's planes are disjoint from every other channel's.
            let dst = unsafe { out.slice(r.start, r.len()) };
            let (dy, y, x) = (&dy[r.clone()], &y[r.clone()], &x[r]);
            let coefs = (k as f32, centred_slope as f32, shift as f32);
            input_gradient(dst, dy, y, x, mu, slope, coefs.0, coefs.1, coefs.2);
        }
        (dgamma as f32, dbeta as f32)
    });
    // SAFETY: every channel's values of every image were written above.
    unsafe { dx.set_len(x.len()) };
    let dgamma = sums.iter().map(|s| s.0).collect();
    let dbeta = sums.iter().map(|s| s.1).collect();
    (dx, dgamma, dbeta)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two images of two 1x2 channels, worked by hand.
    #[test]
    fn small_case_by_hand() {
        // channel 0: 1, 3 | 5, 7 -> mean 4, var (9 + 1 + 1 + 9) / 4 = 5
        // channel 1: 2, 2 | 2, 6 -> mean 3, var (1 + 1 + 1 + 9) / 4 = 3
        let x = [1.0, 3.0, 2.0, 2.0, 5.0, 7.0, 2.0, 6.0];
        let dims = Dims {
            batch: 2,
            channels: 2,
            plane: 2,
        };
        let stats = channel_stats(&x, dims);
        assert_eq!(stats.mean, vec![4.0, 3.0]);
        assert_eq!(stats.var, vec![5.0, 3.0]);
        // eps 0, gamma (1, 2), beta (0, 1): channel 1's values (2, 2, 2, 6) -> (-1/sqrt 3) * 2 + 1 etc.
        let inv = inverse_std(&stats.var, 0.0);
        let y = normalize(&x, dims, &stats.mean, &inv, &[1.0, 2.0], &[0.0, 1.0]);
        let s5 = 5f32.sqrt();
        let s3 = 3f32.sqrt();
        let want = [
            -3.0 / s5,
            -1.0 / s5,
            1.0 - 2.0 / s3,
            1.0 - 2.0 / s3,
            1.0 / s5,
            3.0 / s5,
            1.0 - 2.0 / s3,
            1.0 + 6.0 / s3,
        ];
        for (a, b) in y.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{y:?} vs {want:?}");
        }
        // A gradient equal to 1 everywhere: dβ = 4 per channel, dγ = Σ x̂ = 0, and dx = 0 (shifting all
        // inputs of a channel together changes nothing after normalization).
        let (dx, dgamma, dbeta) = backward(&x, &[1.0; 8], dims, &stats.mean, &inv, &[1.0, 2.0]);
        assert_eq!(dbeta, vec![4.0, 4.0]);
        assert!(dgamma.iter().all(|g| g.abs() < 1e-6), "{dgamma:?}");
        assert!(dx.iter().all(|g| g.abs() < 1e-6), "{dx:?}");
        // dy = x̂ on channel 0: dγ = Σ x̂² = M = 4, and dx = γ inv_std / M (M x̂ - 0 - x̂ M) = 0 (scaling
        // the inputs of a channel changes nothing either).
        let xhat0: Vec<f32> = [1.0f32, 3.0, 5.0, 7.0]
            .iter()
            .map(|v| (v - 4.0) / s5)
            .collect();
        let dy = [xhat0[0], xhat0[1], 0.0, 0.0, xhat0[2], xhat0[3], 0.0, 0.0];
        let (dx, dgamma, _) = backward(&x, &dy, dims, &stats.mean, &inv, &[1.0, 2.0]);
        assert!((dgamma[0] - 4.0).abs() < 1e-5, "{dgamma:?}");
        assert!(dx.iter().all(|g| g.abs() < 1e-6), "{dx:?}");
    }

    /// The input gradient against central differences of `L = Σ y r` for a non-trivial `r`.
    #[test]
    fn input_gradient_matches_finite_differences() {
        let dims = Dims {
            batch: 3,
            channels: 2,
            plane: 4,
        };
        let x: Vec<f32> = (0..dims.len())
            .map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.3)
            .collect();
        let r: Vec<f32> = (0..dims.len())
            .map(|i| ((i * 5 % 13) as f32 - 6.0) * 0.1)
            .collect();
        let gamma = [0.7, -1.3];
        let beta = [0.2, 0.5];
        let loss = |x: &[f32]| -> f64 {
            let s = channel_stats(x, dims);
            let inv = inverse_std(&s.var, 1e-5);
            normalize(x, dims, &s.mean, &inv, &gamma, &beta)
                .iter()
                .zip(&r)
                .map(|(&y, &r)| f64::from(y) * f64::from(r))
                .sum()
        };
        let s = channel_stats(&x, dims);
        let inv = inverse_std(&s.var, 1e-5);
        let (dx, _, _) = backward(&x, &r, dims, &s.mean, &inv, &gamma);
        let h = 1e-2f32;
        for i in 0..x.len() {
            let (mut up, mut down) = (x.clone(), x.clone());
            up[i] += h;
            down[i] -= h;
            let numeric = (loss(&up) - loss(&down)) / (2.0 * f64::from(h));
            assert!(
                (f64::from(dx[i]) - numeric).abs() < 2e-3,
                "dx[{i}] = {}, finite difference {numeric}",
                dx[i]
            );
        }
    }
}
