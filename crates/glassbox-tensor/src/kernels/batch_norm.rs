//! Batch normalization on `(N, C, S)` data (`S = H W` for images, 1 after a dense layer): per-channel
//! statistics over the `N S` values of each channel, the normalization with its scale and shift, and the
//! backward pass. Channels are independent, so they are split across threads; each channel's sums run
//! in f64 in a fixed order, so results do not depend on the thread count.

mod dense;

use super::activation::dispatch_avx512;
use super::parallel::{for_parts, threads, SharedMut};

/// Partial sums a plane's f64 sums keep side by side. One running sum waited on each add before the
/// next (four cycles a value): the DCGAN's training step spent about 9% of its samples in batch
/// normalization (`perf record` of `kernels_bench --case dcgan_train`). The order stays fixed, so the
/// sums do not depend on the thread count.
const LANES: usize = 8;

/// The lanes' sums added pairwise, then the values past the last whole group of [`LANES`].
#[inline(always)]
fn reduce(acc: [f64; LANES], rest: impl Iterator<Item = f64>) -> f64 {
    let pairs = [
        acc[0] + acc[4],
        acc[1] + acc[5],
        acc[2] + acc[6],
        acc[3] + acc[7],
    ];
    rest.fold((pairs[0] + pairs[2]) + (pairs[1] + pairs[3]), |t, v| t + v)
}

dispatch_avx512! {
    /// Adds `Σ (x - shift)^p` over `x` to `out` (`square` chooses p = 2, else p = 1), in f64.
    fn add_sums(x: &[f32], shift: f64, square: bool, out: &mut f64) {
        let term = |v: f32| {
            let d = f64::from(v) - shift;
            if square {
                d * d
            } else {
                d
            }
        };
        let mut acc = [0f64; LANES];
        let groups = x.chunks_exact(LANES);
        let rest = groups.remainder();
        for g in groups {
            let g: &[f32; LANES] = g.try_into().expect("chunks of LANES");
            for i in 0..LANES {
                acc[i] += term(g[i]);
            }
        }
        *out += reduce(acc, rest.iter().map(|&v| term(v)));
    }
}

dispatch_avx512! {
    /// Adds `Σ g` to `out[0]` and `Σ g (x - mean) inv_std` to `out[1]`, in f64.
    fn add_gradient_sums(dy: &[f32], x: &[f32], mean: f64, inv_std: f64, out: &mut [f64; 2]) {
        let (mut beta, mut gamma) = ([0f64; LANES], [0f64; LANES]);
        let (groups, xs) = (dy.chunks_exact(LANES), x.chunks_exact(LANES));
        let (rest, xrest) = (groups.remainder(), xs.remainder());
        for (g, v) in groups.zip(xs) {
            let g: &[f32; LANES] = g.try_into().expect("chunks of LANES");
            let v: &[f32; LANES] = v.try_into().expect("chunks of LANES");
            for i in 0..LANES {
                let g = f64::from(g[i]);
                beta[i] += g;
                gamma[i] += g * (f64::from(v[i]) - mean) * inv_std;
            }
        }
        out[0] += reduce(beta, rest.iter().map(|&g| f64::from(g)));
        out[1] += reduce(
            gamma,
            rest.iter()
                .zip(xrest)
                .map(|(&g, &v)| f64::from(g) * (f64::from(v) - mean) * inv_std),
        );
    }
}

dispatch_avx512! {
    /// `dst = x a + b`.
    fn scale_shift(dst: &mut [f32], x: &[f32], a: f32, b: f32) {
        for (d, &v) in dst.iter_mut().zip(x) {
            *d = v * a + b;
        }
    }
}

dispatch_avx512! {
    /// `dst = k (dy - shift - x̂ slope)` with `x̂ = (x - mean) inv_std`, in f64.
    #[allow(clippy::too_many_arguments)]
    fn input_gradient(
        dst: &mut [f32],
        dy: &[f32],
        x: &[f32],
        mean: f64,
        inv_std: f64,
        k: f64,
        shift: f64,
        slope: f64,
    ) {
        for ((d, &g), &v) in dst.iter_mut().zip(dy).zip(x) {
            let xhat = (f64::from(v) - mean) * inv_std;
            *d = (k * (f64::from(g) - shift - xhat * slope)) as f32;
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
        let mut sum = 0f64;
        dims.planes(c)
            .for_each(|r| add_sums(&x[r], 0.0, false, &mut sum));
        let mean = sum / count;
        let mut squares = 0f64;
        dims.planes(c)
            .for_each(|r| add_sums(&x[r], mean, true, &mut squares));
        (mean as f32, (squares / count) as f32)
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
    assert_eq!(x.len(), dims.len(), "batch_norm: data and dims disagree");
    if dims.plane == 1 {
        let a: Vec<f32> = inv_std.iter().zip(gamma).map(|(s, g)| s * g).collect();
        let b: Vec<f32> = beta
            .iter()
            .zip(mean)
            .zip(&a)
            .map(|((b, m), a)| b - m * a)
            .collect();
        return dense::normalize(x, dims, &a, &b);
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
            scale_shift(dst, &x[r], a, b);
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
    assert_eq!(x.len(), dims.len(), "batch_norm: data and dims disagree");
    assert_eq!(
        dy.len(),
        dims.len(),
        "batch_norm: gradient and dims disagree"
    );
    if dims.plane == 1 {
        return dense::backward(x, dy, dims, mean, inv_std, gamma);
    }
    let m = dims.per_channel().max(1) as f64;
    // Not zeroed first: every value is written below (a serial `memset` otherwise).
    let mut dx = Vec::with_capacity(x.len());
    let out = SharedMut::spare(&mut dx, x.len());
    let sums = per_channel(dims.channels, |c| {
        let (mu, s) = (f64::from(mean[c]), f64::from(inv_std[c]));
        let mut sums = [0f64; 2];
        for r in dims.planes(c) {
            add_gradient_sums(&dy[r.clone()], &x[r], mu, s, &mut sums);
        }
        let [dbeta, dgamma] = sums;
        // dx = k (dy - dβ / M - x̂ dγ / M), k = γ inv_std.
        let k = f64::from(gamma[c]) * s;
        let (shift, slope) = (dbeta / m, dgamma / m);
        for r in dims.planes(c) {
            // SAFETY: each channel's planes are disjoint from every other channel's.
            let dst = unsafe { out.slice(r.start, r.len()) };
            input_gradient(dst, &dy[r.clone()], &x[r], mu, s, k, shift, slope);
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
