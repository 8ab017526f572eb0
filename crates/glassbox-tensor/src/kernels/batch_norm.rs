//! Batch normalization on `(N, C, S)` data (`S = H W` for images, 1 after a dense layer): per-channel
//! statistics over the `N S` values of each channel, the normalization with its scale and shift, and the
//! backward pass. Images are read in memory order, in parts of whole images across threads; each
//! channel's sums are grouped by the batch size alone and joined in f64 in a fixed order, so results
//! do not depend on the thread count.

mod dense;

use super::activation::{dispatch_avx512, leaky, leaky_grad};
use super::parallel::{for_parts, reduction_parts, SharedMut};

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
    /// Adds `Σ (x - shift)` over `x` to the first of `sums` and `Σ (x - shift)²` to the second.
    fn add_moments(x: &[f32], shift: f32, sums: &mut LaneSums) {
        sums.add([x; 3], |v, _, _| v - shift, |v, _, _| (v - shift) * (v - shift));
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

    /// Channel `c`'s plane of image `n`.
    fn plane_of(self, n: usize, c: usize) -> std::ops::Range<usize> {
        let start = (n * self.channels + c) * self.plane;
        start..start + self.plane
    }

    /// Every plane of `images`, `(channel, plane)`, in memory order.
    fn planes_of(
        self,
        images: std::ops::Range<usize>,
    ) -> impl Iterator<Item = (usize, std::ops::Range<usize>)> {
        images.flat_map(move |n| (0..self.channels).map(move |c| (c, self.plane_of(n, c))))
    }

    /// The parts of whole images the passes split the batch into ([`reduction_parts`]: they follow the
    /// batch alone).
    fn image_parts(self) -> usize {
        reduction_parts(self.batch, IMAGES_PER_PART)
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

/// Images per part of the sums, at least: each part is at least this many whole images read in memory
/// order.
const IMAGES_PER_PART: usize = 4;

/// Two sums per channel over every image: `add(c, plane, sums)` adds channel `c`'s values at `plane`
/// to that channel's sums. The images are read in memory order, in parts of whole images on the
/// pool ([`reduction_parts`], so the grouping follows the batch alone), and each channel's part totals
/// are joined in part order. Read channel by channel instead, a channel's planes lie a whole image
/// apart (196 bytes each for a 7x7 map), and the passes ran at half the memory's speed
/// (`backward_through_leaky_relu` on the DCGAN discriminator's 800,000 values, data evicted first:
/// 1.9-2.0 ms, against 1.0 this way; `examples/batch_norm_layers.rs`).
fn channel_sums(
    dims: Dims,
    add: impl Fn(usize, std::ops::Range<usize>, &mut LaneSums) + Sync,
) -> Vec<[f64; 2]> {
    let partials = for_parts(dims.batch, dims.image_parts(), |_, images| {
        let mut sums: Vec<LaneSums> = (0..dims.channels).map(|_| LaneSums::default()).collect();
        for (c, plane) in dims.planes_of(images) {
            add(c, plane, &mut sums[c]);
        }
        sums.into_iter().map(LaneSums::finish).collect::<Vec<_>>()
    });
    let mut totals = vec![[0f64; 2]; dims.channels];
    for part in partials {
        for (t, p) in totals.iter_mut().zip(part) {
            t[0] += p[0];
            t[1] += p[1];
        }
    }
    totals
}

/// `write(c, plane, out)` for every image's plane of every channel into a new buffer of `dims.len()`
/// values (and room for `extra` more), images in parallel parts in memory order. `write` must fill
/// `out`, channel `c`'s plane at `plane`.
fn by_planes(
    dims: Dims,
    extra: usize,
    write: impl Fn(usize, std::ops::Range<usize>, &mut [f32]) + Sync,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(dims.len() + extra);
    let shared = SharedMut::spare(&mut out, dims.len());
    for_parts(dims.batch, dims.image_parts(), |_, images| {
        for (c, r) in dims.planes_of(images) {
            // SAFETY: each image's planes belong to the one part that holds the image.
            write(c, r.clone(), unsafe { shared.slice(r.start, r.len()) });
        }
    });
    // SAFETY: every plane of every image was written above.
    unsafe { out.set_len(dims.len()) };
    out
}

/// Mean and biased variance of each channel, in one pass over the data: the sums of `x - K` and its
/// squares, `K` each channel's mean over the first image (near the batch's mean, so that
/// `E[(x - K)²] - E[x - K]²` loses little to cancellation; a second pass over centred values had read
/// the data twice).
pub fn channel_stats(x: &[f32], dims: Dims) -> ChannelStats {
    assert_eq!(x.len(), dims.len(), "batch_norm: data and dims disagree");
    if dims.plane == 1 {
        return dense::channel_stats(x, dims);
    }
    let count = dims.per_channel().max(1) as f64;
    let shifts: Vec<f32> = (0..dims.channels)
        .map(|c| match dims.batch {
            0 => 0.0,
            _ => {
                let first = &x[dims.plane_of(0, c)];
                (first.iter().map(|&v| f64::from(v)).sum::<f64>() / dims.plane as f64) as f32
            }
        })
        .collect();
    let sums = channel_sums(dims, |c, r, sums| add_moments(&x[r], shifts[c], sums));
    let (mean, var) = sums
        .iter()
        .zip(&shifts)
        .map(|(&[sum, squares], &shift)| {
            let offset = sum / count;
            let var = (squares / count - offset * offset).max(0.0);
            ((f64::from(shift) + offset) as f32, var as f32)
        })
        .unzip();
    ChannelStats { mean, var }
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
    // One multiply-add per value: y = x a + b.
    let a: Vec<f32> = inv_std.iter().zip(gamma).map(|(s, g)| s * g).collect();
    let b: Vec<f32> = (0..dims.channels)
        .map(|c| beta[c] - mean[c] * a[c])
        .collect();
    by_planes(dims, 0, |c, r, dst| {
        scale_shift(dst, &x[r], a[c], b[c], slope)
    })
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
    let sums = channel_sums(dims, |c, r, sums| {
        add_gradient_sums(&dy[r.clone()], &y[r.clone()], &x[r], mean[c], slope, sums)
    });
    // dx = k (dy - dβ / M - x̂ dγ / M), k = γ inv_std, x̂ = (x - mean) inv_std.
    let (mut dgamma, mut dbeta) = (Vec::new(), Vec::new());
    let coefs: Vec<(f32, f32, f32)> = sums
        .iter()
        .enumerate()
        .map(|(c, &[sum, centred])| {
            let s = f64::from(inv_std[c]);
            let dg = centred * s;
            dgamma.push(dg as f32);
            dbeta.push(sum as f32);
            let k = f64::from(gamma[c]) * s;
            (k as f32, (-k * s * dg / m) as f32, (-k * sum / m) as f32)
        })
        .collect();
    // Room for the scale and shift gradients after dx, where the candle op packs them (appending had
    // copied all of `dx`).
    let dx = by_planes(dims, 2 * dims.channels, |c, r, dst| {
        let (k, centred_slope, shift) = coefs[c];
        let (dy, y, x) = (&dy[r.clone()], &y[r.clone()], &x[r]);
        input_gradient(dst, dy, y, x, mean[c], slope, k, centred_slope, shift);
    });
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

    /// Far from zero, with the first image's values apart from the rest's, the one-pass statistics
    /// agree with two f64 passes: the shift keeps the variance from cancelling away.
    #[test]
    fn statistics_keep_their_precision_far_from_zero() {
        let dims = Dims {
            batch: 9,
            channels: 3,
            plane: 49,
        };
        let x: Vec<f32> = (0..dims.len())
            .map(|i| {
                let (n, c) = (i / (3 * 49), i / 49 % 3);
                let first_image_offset = if n == 0 { 2.0 } else { 0.0 };
                1000.0 * (c as f32 + 1.0)
                    + first_image_offset
                    + ((i * 37 % 101) as f32 / 50.0 - 1.0)
            })
            .collect();
        let stats = channel_stats(&x, dims);
        for c in 0..3 {
            let values: Vec<f64> = (0..9)
                .flat_map(|n| x[dims.plane_of(n, c)].iter().map(|&v| f64::from(v)))
                .collect();
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
            assert!(
                (f64::from(stats.mean[c]) - mean).abs() < 1e-4,
                "channel {c} mean"
            );
            let error = (f64::from(stats.var[c]) - var).abs() / var;
            assert!(
                error < 1e-5,
                "channel {c}: variance {} against {var}",
                stats.var[c]
            );
        }
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
