//! 3x3, stride-1 convolution by Winograd's minimal filtering (Lavin & Gray, "Fast Algorithms for
//! Convolutional Neural Networks", 2015). F(m x m, 3x3) makes each m x m block of outputs from an
//! n x n block of input (n = m + 2) with n² multiplications per (input, output) channel pair instead of
//! 9 m²: F(2x2, 3x3) does 2.25x fewer multiply-adds than the direct convolution, F(4x4, 3x3) 4x. The
//! products are n² independent GEMMs `M_k = U_k V_k` over the transformed filters and input tiles:
//!
//! ```text
//! U = G f Gᵀ  (n x n per filter)     V = Bᵀ d B  (n x n per input tile)     Y = Aᵀ (U ⊙ V) A  (m x m)
//! ```
//!
//! Work is cut into (image, band of tile rows) items like the im2col path; the transformed tiles of a
//! band (n² x channels x tiles floats) stay near 2 MB. The transforms run along whole rows of tiles, so
//! they vectorize.

use std::sync::OnceLock;

use super::activation::dispatch_avx512;
use super::conv2d::{ConvGeometry, Epilogue};
use super::gemm::{sgemm, Mat, MatMut, Threads};
use super::parallel::{band_threads, with_scratch, with_second_scratch, SharedMut, MIN_WORK_ITEMS};

/// One algorithm F(m x m, 3x3): its three matrices, row-major.
pub struct Algorithm {
    /// Outputs per tile side.
    pub m: usize,
    /// Inputs per tile side, `m + 2`.
    pub n: usize,
    /// `Bᵀ` and `Aᵀ` are unrolled by hand in [`input_1d`] and [`output_1d`]; a test holds them equal.
    #[cfg_attr(not(test), allow(dead_code))]
    bt: &'static [f32],
    g: &'static [f32],
    #[cfg_attr(not(test), allow(dead_code))]
    at: &'static [f32],
}

/// F(2x2, 3x3): the exact one (all coefficients 0, ±1, ±½).
pub const F2X2: Algorithm = Algorithm {
    m: 2,
    n: 4,
    bt: &[
        1., 0., -1., 0., 0., 1., 1., 0., 0., -1., 1., 0., 0., 1., 0., -1.,
    ],
    g: &[1., 0., 0., 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0., 0., 1.],
    at: &[1., 1., 1., 0., 0., 1., -1., -1.],
};

/// F(4x4, 3x3) with interpolation points 0, ±1, ±2 (Lavin & Gray's): 4x fewer multiply-adds, at the
/// price of rounding error ~10x the direct convolution's (up to 5e-5 relative to the output's mean
/// magnitude in the tests here, against 3e-6 for F(2x2, 3x3)).
pub const F4X4: Algorithm = Algorithm {
    m: 4,
    n: 6,
    bt: &[
        4., 0., -5., 0., 1., 0., //
        0., -4., -4., 1., 1., 0., //
        0., 4., -4., -1., 1., 0., //
        0., -2., -1., 2., 1., 0., //
        0., 2., -1., -2., 1., 0., //
        0., 4., 0., -5., 0., 1.,
    ],
    g: &[
        1. / 4.,
        0.,
        0., //
        -1. / 6.,
        -1. / 6.,
        -1. / 6., //
        -1. / 6.,
        1. / 6.,
        -1. / 6., //
        1. / 24.,
        1. / 12.,
        1. / 6., //
        1. / 24.,
        -1. / 12.,
        1. / 6., //
        0.,
        0.,
        1.,
    ],
    at: &[
        1., 1., 1., 1., 1., 0., //
        0., 1., -1., 2., -2., 0., //
        0., 1., 1., 4., 4., 0., //
        0., 1., -1., 8., -8., 1.,
    ],
};

/// Tiles per pass of the output transform.
const OUTPUT_CHUNK: usize = 64;

/// Below this many output pixels per image the GEMMs get too thin to beat im2col (a 14x14 VGG layer is
/// faster by im2col: `examples/conv_layers.rs` times both per layer).
const MIN_OUTPUT_PIXELS: usize = 28 * 28;

/// From this many output pixels per image, and with at most [`F4X4_MAX_IN_CHANNELS`] input channels,
/// F(4x4, 3x3) runs the convolution instead of F(2x2, 3x3). Its 36 products per band are as wide as the
/// band has tiles, and the band holds ~2 MB of transformed tiles, so many channels make them thin.
/// `examples/conv_layers.rs` (forward with bias and ReLU, 2 threads, median ms, F(2x2) against F(4x4)) on
/// an Intel Xeon with AVX-512, 2026-12-04: 64->64 224x224 13.1 / 8.9, 128->128 112x112 9.9 / 7.7,
/// 128->256 56x56 5.5 / 4.5, 256->256 56x56 9.3 / 8.0, batch 8 64->64 56x56 7.7 / 6.4, 256->512 64x64
/// 19.5 / 18.3; but 512->512 64x64 37.5 / 48.1 and 256->512 28x28 6.0 / 9.9. On an AMD Zen 4 the rule
/// picks the faster of the two on every layer of that table but 512->512 64x64 (52.7 / 49.8).
pub const F4X4_MIN_OUTPUT_PIXELS: usize = 56 * 56;

/// See [`F4X4_MIN_OUTPUT_PIXELS`].
pub const F4X4_MAX_IN_CHANNELS: usize = 256;

/// The algorithm for a convolution that [`applies`]: F(4x4, 3x3) on wide maps of up to 256 channels,
/// F(2x2, 3x3) on the rest. F(4x4) rounds worse (see [`F4X4`]), still well inside what f32 training
/// and the PyTorch parity tests allow (1e-4 relative).
pub fn algorithm_for(g: &ConvGeometry) -> &'static Algorithm {
    match g.output_hw() {
        Some((oh, ow))
            if oh * ow >= F4X4_MIN_OUTPUT_PIXELS && g.in_channels <= F4X4_MAX_IN_CHANNELS =>
        {
            &F4X4
        }
        _ => &F2X2,
    }
}

/// Whether a convolution is one Winograd handles here and it pays: 3x3, stride 1, no dilation, and
/// enough channels and pixels that the small GEMMs stay efficient.
pub fn applies(g: &ConvGeometry) -> bool {
    g.kernel_h == 3
        && g.kernel_w == 3
        && g.stride == 1
        && g.dilation == 1
        && g.in_channels >= 64
        && g.out_channels >= 64
        && g.output_hw()
            .is_some_and(|(oh, ow)| oh * ow >= MIN_OUTPUT_PIXELS)
}

/// `U[k][o][c]` for the n² positions `k` of the transformed filter.
///
/// With `flipped`, `w` holds the filters of the convolution whose input gradient this one is, as
/// `(in_channels, out_channels, 3, 3)`, and each is used rotated by 180°: the input gradient of a
/// stride-1 convolution is the convolution of the output gradient with these flipped, transposed
/// filters, read here in place instead of copied.
pub fn transform_filters(
    alg: &Algorithm,
    w: &[f32],
    out_channels: usize,
    in_channels: usize,
    flipped: bool,
) -> Vec<f32> {
    use rayon::prelude::*;
    let (m, c, n) = (out_channels, in_channels, alg.n);
    let mut u = vec![0.0f32; n * n * m * c];
    let shared = SharedMut::new(&mut u);
    (0..m).into_par_iter().for_each(|o| {
        with_scratch(9 * c, |taps| {
            // Tap-major copy of this output channel's filters, so the transform runs along channels.
            for ci in 0..c {
                let filter = if flipped { ci * m + o } else { o * c + ci };
                let f = &w[filter * 9..(filter + 1) * 9];
                for p in 0..9 {
                    taps[p * c + ci] = f[if flipped { 8 - p } else { p }];
                }
            }
            for k in 0..n * n {
                // SAFETY: output channel `o` owns row `o` of each of the n² matrices.
                let row = unsafe { shared.slice((k * m + o) * c, c) };
                let (gi, gj) = (
                    &alg.g[(k / n) * 3..(k / n) * 3 + 3],
                    &alg.g[(k % n) * 3..(k % n) * 3 + 3],
                );
                transform_filter_row(taps, gi, gj, row);
            }
        });
    });
    u
}

dispatch_avx512! {
    /// `row[c] = Σ_pq gi[p] gj[q] f_c[p][q]`: one entry of `G f Gᵀ` for every input channel.
    fn transform_filter_row(taps: &[f32], gi: &[f32], gj: &[f32], row: &mut [f32]) {
        let c = row.len();
        row.fill(0.0);
        for p in 0..3 {
            for q in 0..3 {
                let coef = gi[p] * gj[q];
                if coef != 0.0 {
                    axpy(row, coef, &taps[(3 * p + q) * c..(3 * p + q + 1) * c]);
                }
            }
        }
    }
}

/// `dst += a * src`.
#[inline(always)]
fn axpy(dst: &mut [f32], a: f32, src: &[f32]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d += a * s;
    }
}

/// `outs = Bᵀ ins`, elementwise over `len` positions: the input transform along one direction.
#[inline(always)]
fn input_1d(m: usize, ins: &[&[f32]], outs: &mut [&mut [f32]], len: usize) {
    if m == 2 {
        let [d0, d1, d2, d3] = [
            &ins[0][..len],
            &ins[1][..len],
            &ins[2][..len],
            &ins[3][..len],
        ];
        let [o0, o1, o2, o3] = outs else {
            unreachable!()
        };
        let (o0, o1, o2, o3) = (
            &mut o0[..len],
            &mut o1[..len],
            &mut o2[..len],
            &mut o3[..len],
        );
        for t in 0..len {
            o0[t] = d0[t] - d2[t];
            o1[t] = d1[t] + d2[t];
            o2[t] = d2[t] - d1[t];
            o3[t] = d1[t] - d3[t];
        }
    } else {
        let [d0, d1, d2, d3, d4, d5] = [
            &ins[0][..len],
            &ins[1][..len],
            &ins[2][..len],
            &ins[3][..len],
            &ins[4][..len],
            &ins[5][..len],
        ];
        let [o0, o1, o2, o3, o4, o5] = outs else {
            unreachable!()
        };
        let (o0, o1, o2) = (&mut o0[..len], &mut o1[..len], &mut o2[..len]);
        let (o3, o4, o5) = (&mut o3[..len], &mut o4[..len], &mut o5[..len]);
        for t in 0..len {
            let (a, b) = (d1[t] + d2[t], d1[t] - d2[t]);
            let (c, e) = (d4[t] - d2[t], 2.0 * (d1[t] - d3[t]));
            o0[t] = 4.0 * d0[t] - 5.0 * d2[t] + d4[t];
            o1[t] = d3[t] + d4[t] - 4.0 * a;
            o2[t] = d4[t] - d3[t] + 4.0 * b;
            o3[t] = c - e;
            o4[t] = c + e;
            o5[t] = 4.0 * d1[t] - 5.0 * d3[t] + d5[t];
        }
    }
}

/// `outs = Aᵀ ins`, elementwise over `len` positions: the output transform along one direction.
#[inline(always)]
fn output_1d(m: usize, ins: &[&[f32]], outs: &mut [&mut [f32]], len: usize) {
    if m == 2 {
        let [d0, d1, d2, d3] = [
            &ins[0][..len],
            &ins[1][..len],
            &ins[2][..len],
            &ins[3][..len],
        ];
        let [o0, o1] = outs else { unreachable!() };
        let (o0, o1) = (&mut o0[..len], &mut o1[..len]);
        for t in 0..len {
            o0[t] = d0[t] + d1[t] + d2[t];
            o1[t] = d1[t] - d2[t] - d3[t];
        }
    } else {
        let [d0, d1, d2, d3, d4, d5] = [
            &ins[0][..len],
            &ins[1][..len],
            &ins[2][..len],
            &ins[3][..len],
            &ins[4][..len],
            &ins[5][..len],
        ];
        let [o0, o1, o2, o3] = outs else {
            unreachable!()
        };
        let (o0, o1, o2, o3) = (
            &mut o0[..len],
            &mut o1[..len],
            &mut o2[..len],
            &mut o3[..len],
        );
        for t in 0..len {
            let (sp, sm) = (d1[t] + d2[t], d1[t] - d2[t]);
            let (qp, qm) = (d3[t] + d4[t], d3[t] - d4[t]);
            o0[t] = d0[t] + sp + qp;
            o1[t] = sm + 2.0 * qm;
            o2[t] = sp + 4.0 * qp;
            o3[t] = sm + 8.0 * qm + d5[t];
        }
    }
}

/// `epilogue(conv(x, w) + bias)` for a geometry that [`applies`], by the algorithm [`algorithm_for`]
/// picks.
pub fn conv2d_winograd(
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    g: &ConvGeometry,
    epilogue: Epilogue,
) -> Vec<f32> {
    conv2d_winograd_with(algorithm_for(g), x, w, bias, g, epilogue)
}

/// [`conv2d_winograd`] by a chosen algorithm; any 3x3 stride-1 undilated geometry.
pub fn conv2d_winograd_with(
    alg: &Algorithm,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    g: &ConvGeometry,
    epilogue: Epilogue,
) -> Vec<f32> {
    let u = transform_filters(alg, w, g.out_channels, g.in_channels, false);
    conv2d_transformed(alg, x, None, &u, bias, g, epilogue)
}

/// The input gradient of the stride-1 3x3 convolution with filters `w: (M, C, 3, 3)`, as the forward
/// convolution `as_conv` (`ConvGeometry::transposed_as_conv`, which must [`applies`]) of the output
/// gradient `gy` with the flipped, transposed filters. With `relu_output`, `gy` first goes back
/// through the fused ReLU that produced it.
pub fn input_gradient(
    gy: &[f32],
    relu_output: Option<&[f32]>,
    w: &[f32],
    as_conv: &ConvGeometry,
) -> Vec<f32> {
    let alg = algorithm_for(as_conv);
    let u = transform_filters(alg, w, as_conv.out_channels, as_conv.in_channels, true);
    conv2d_transformed(alg, gy, relu_output, &u, &[], as_conv, Epilogue::None)
}

/// A 3x3 convolution's filters transformed once, both ways: for its forward pass and, flipped and
/// transposed, for its input gradient. For frozen networks that run many passes with the same weights
/// (style transfer, deep dreaming): the transform is otherwise redone, and its n² x M x C buffer allocated
/// and zeroed, on every pass. The F(2x2, 3x3) transforms are made at once (16/9 of the weights' memory per
/// direction); the F(4x4, 3x3) ones (4x the weights) only for a direction that is run on a map wide
/// enough for [`algorithm_for`] to pick it, the first time it is, so a network run on small images never
/// holds them.
pub struct Prepacked {
    weights: Vec<f32>,
    forward: Vec<f32>,
    flipped: Vec<f32>,
    forward_f4: OnceLock<Vec<f32>>,
    flipped_f4: OnceLock<Vec<f32>>,
    out_channels: usize,
    in_channels: usize,
}

impl Prepacked {
    /// From `w: (M, C, 3, 3)`, row-major.
    pub fn new(w: &[f32], out_channels: usize, in_channels: usize) -> Self {
        assert_eq!(
            w.len(),
            out_channels * in_channels * 9,
            "prepacked: not 3x3 filters"
        );
        Prepacked {
            weights: w.to_vec(),
            forward: transform_filters(&F2X2, w, out_channels, in_channels, false),
            flipped: transform_filters(&F2X2, w, in_channels, out_channels, true),
            forward_f4: OnceLock::new(),
            flipped_f4: OnceLock::new(),
            out_channels,
            in_channels,
        }
    }

    /// The algorithm for `g` and these filters transformed by it, one direction.
    fn filters_for(&self, g: &ConvGeometry, flipped: bool) -> (&'static Algorithm, &[f32]) {
        let alg = algorithm_for(g);
        if alg.m == F2X2.m {
            return (
                alg,
                if flipped {
                    &self.flipped
                } else {
                    &self.forward
                },
            );
        }
        let (cell, rows, cols) = if flipped {
            (&self.flipped_f4, self.in_channels, self.out_channels)
        } else {
            (&self.forward_f4, self.out_channels, self.in_channels)
        };
        let u = cell.get_or_init(|| transform_filters(alg, &self.weights, rows, cols, flipped));
        (alg, u)
    }

    /// [`conv2d_winograd`] with these filters; `g` must [`applies`] and match them.
    pub fn conv2d(
        &self,
        x: &[f32],
        bias: &[f32],
        g: &ConvGeometry,
        epilogue: Epilogue,
    ) -> Vec<f32> {
        assert!(
            (g.out_channels, g.in_channels) == (self.out_channels, self.in_channels),
            "prepacked filters for another convolution"
        );
        let (alg, u) = self.filters_for(g, false);
        conv2d_transformed(alg, x, None, u, bias, g, epilogue)
    }

    /// [`input_gradient`] with these filters; `as_conv` (the transposed geometry) must [`applies`].
    pub fn input_gradient(
        &self,
        gy: &[f32],
        relu_output: Option<&[f32]>,
        as_conv: &ConvGeometry,
    ) -> Vec<f32> {
        assert!(
            (as_conv.out_channels, as_conv.in_channels) == (self.in_channels, self.out_channels),
            "prepacked filters for another convolution"
        );
        let (alg, u) = self.filters_for(as_conv, true);
        conv2d_transformed(alg, gy, relu_output, u, &[], as_conv, Epilogue::None)
    }
}

/// The convolution with filters already transformed by [`transform_filters`].
/// With `relu_output`, `x` is an output gradient that first passes back through the ReLU whose output
/// that is (`x * (relu_output > 0)`), applied while the input is copied.
#[allow(clippy::too_many_arguments)]
fn conv2d_transformed(
    alg: &Algorithm,
    x: &[f32],
    relu_output: Option<&[f32]>,
    u: &[f32],
    bias: &[f32],
    g: &ConvGeometry,
    epilogue: Epilogue,
) -> Vec<f32> {
    use rayon::prelude::*;
    let (oh, ow) = g.output_hw().expect("checked geometry");
    let (m, c, n, step) = (g.out_channels, g.in_channels, alg.n, alg.m);
    let nn = n * n;
    let (th, tw) = (oh.div_ceil(step), ow.div_ceil(step));
    let mut y = vec![0.0f32; g.output_len()];
    let shared = SharedMut::new(&mut y);

    // Tile rows per band: ~2 MB of transformed tiles, and at least MIN_WORK_ITEMS items (the geometry's
    // alone: the band sets the products' widths).
    let per_tile_row = nn * c * tw;
    let mut rows = ((1usize << 19) / per_tile_row.max(1)).clamp(1, th);
    let wanted = MIN_WORK_ITEMS;
    if g.batch * th.div_ceil(rows) < wanted {
        rows = rows
            .min(th.div_ceil(wanted.div_ceil(g.batch).min(th)))
            .max(1);
    }
    let items: Vec<(usize, usize, usize)> = (0..g.batch)
        .flat_map(|b| {
            (0..th)
                .step_by(rows)
                .map(move |r| (b, r, (r + rows).min(th)))
        })
        .collect();

    let image_len = c * g.height * g.width;
    let inner = band_threads(items.len());
    items.into_par_iter().for_each(|(b, tr0, tr1)| {
        let tiles = (tr1 - tr0) * tw;
        // The band's zero-padded input rows (step * tile rows + 2 of step * tw + 2 columns), one
        // channel at a time; tile row `tr` reads n of them from row step * (tr - tr0).
        let pc = step * tw + 2;
        let pr = step * (tr1 - tr0) + 2;
        let out_work_len = (step * n + step) * OUTPUT_CHUNK;
        with_scratch(
            nn * c * tiles + pr * pc + n * pc + n * tw + out_work_len,
            |buf| {
                let (v, rest) = buf.split_at_mut(nn * c * tiles);
                let (out_work, rest) = rest.split_at_mut(out_work_len);
                let (padded, work) = rest.split_at_mut(pr * pc);
                for ci in 0..c {
                    let at = b * image_len + ci * g.height * g.width;
                    let plane = &x[at..at + g.height * g.width];
                    let mask = relu_output.map(|y| &y[at..at + g.height * g.width]);
                    for (r, dst) in padded.chunks_exact_mut(pc).enumerate() {
                        padded_row(plane, mask, g, step * tr0 + r, dst);
                    }
                    for tr in tr0..tr1 {
                        let t = (tr - tr0) * tw;
                        let rows = &padded[step * (tr - tr0) * pc..];
                        input_transform(alg, rows, work, tw, &mut v[ci * tiles + t..], c * tiles);
                    }
                }
                with_second_scratch(nn * m * tiles, |prod| {
                    let v = &*v;
                    let product = |k: usize, dst: &mut [f32]| {
                        let uk = Mat::rows(&u[k * m * c..(k + 1) * m * c], m, c);
                        let vk = Mat::rows(&v[k * c * tiles..(k + 1) * c * tiles], c, tiles);
                        sgemm(MatMut::rows(dst, m, tiles), false, uk, vk, Threads::One);
                    };
                    let prod = &mut prod[..nn * m * tiles];
                    // Too few bands for the threads: the n² independent products share them instead.
                    match inner {
                        Threads::One => prod
                            .chunks_mut(m * tiles)
                            .enumerate()
                            .for_each(|(k, d)| product(k, d)),
                        Threads::Pool(_) => prod
                            .par_chunks_mut(m * tiles)
                            .enumerate()
                            .for_each(|(k, d)| product(k, d)),
                    }
                    for o in 0..m {
                        let bo = match epilogue {
                            Epilogue::None => 0.0,
                            _ => bias.get(o).copied().unwrap_or(0.0),
                        };
                        let plane = (b * m + o) * oh * ow;
                        for tr in tr0..tr1 {
                            let off = o * tiles + (tr - tr0) * tw;
                            let out_rows = (oh - step * tr).min(step);
                            // SAFETY: each (image, output row) belongs to one band, each channel to one loop.
                            let dst =
                                unsafe { shared.slice(plane + step * tr * ow, out_rows * ow) };
                            output_transform(
                                alg,
                                prod,
                                m * tiles,
                                off,
                                tw,
                                bo,
                                epilogue == Epilogue::BiasRelu,
                                dst,
                                ow,
                                out_work,
                            );
                        }
                    }
                });
            },
        );
    });
    y
}

/// Row `r` of the zero-padded input, `dst.len()` columns starting at column `-padding`.
fn padded_row(plane: &[f32], mask: Option<&[f32]>, g: &ConvGeometry, r: usize, dst: &mut [f32]) {
    let ih = r as isize - g.padding as isize;
    if ih < 0 || ih >= g.height as isize {
        dst.fill(0.0);
        return;
    }
    let src = &plane[ih as usize * g.width..(ih as usize + 1) * g.width];
    let n = g.width.min(dst.len().saturating_sub(g.padding));
    dst[..g.padding].fill(0.0);
    let inside = &mut dst[g.padding..g.padding + n];
    match mask {
        None => inside.copy_from_slice(&src[..n]),
        Some(mask) => {
            let mask = &mask[ih as usize * g.width..ih as usize * g.width + n];
            for ((d, &v), &y) in inside.iter_mut().zip(src).zip(mask) {
                *d = if y > 0.0 { v } else { 0.0 };
            }
        }
    }
    dst[g.padding + n..].fill(0.0);
}

dispatch_avx512! {
    /// `V[k][t] = (Bᵀ d B)[k]` for the tiles `d` of one tile row, given its n padded input rows; `v`
    /// starts at the row's first tile and `stride` separates the n² positions. `Bᵀ d` combines whole
    /// rows; `(Bᵀ d) B` then combines the columns gathered at tile stride.
    fn input_transform(alg: &Algorithm, padded: &[f32], work: &mut [f32], tw: usize, v: &mut [f32], stride: usize) {
        let (n, step) = (alg.n, alg.m);
        let pc = step * tw + 2;
        let (combos, gathered) = work.split_at_mut(n * pc);
        {
            let rows: [&[f32]; 6] = std::array::from_fn(|r| if r < n { &padded[r * pc..(r + 1) * pc] } else { &[] });
            let mut outs = views(combos, pc, pc, n);
            input_1d(step, &rows[..n], &mut outs[..n], pc);
        }
        for i in 0..n {
            let e = &combos[i * pc..(i + 1) * pc];
            if n == 4 {
                gather_columns::<4>(e, step, tw, gathered);
            } else {
                gather_columns::<6>(e, step, tw, gathered);
            }
            let cols: [&[f32]; 6] = std::array::from_fn(|q| if q < n { &gathered[q * tw..(q + 1) * tw] } else { &[] });
            let mut outs = views(&mut v[i * n * stride..], tw, stride, n);
            input_1d(step, &cols[..n], &mut outs[..n], tw);
        }
    }
}

dispatch_avx512! {
    /// `Y = Aᵀ M A` for one output channel and one tile row (`tw` tiles at `off` in each of the n²
    /// products, `plane` apart), plus bias and ReLU, written to the tile row's output rows `dst`.
    #[allow(clippy::too_many_arguments)]
    fn output_transform(
        alg: &Algorithm,
        prod: &[f32],
        plane: usize,
        off: usize,
        tw: usize,
        bias: f32,
        relu: bool,
        dst: &mut [f32],
        ow: usize,
        work: &mut [f32],
    ) {
        let (n, step) = (alg.n, alg.m);
        let out_rows = dst.len() / ow;
        // partial[a * n + j]: row a of Aᵀ M, column j; then the m output columns of one output row.
        let (partial, y) = work.split_at_mut(step * n * OUTPUT_CHUNK);
        let mut partial: [&mut [f32]; 24] = {
            let mut it = partial.chunks_exact_mut(OUTPUT_CHUNK);
            std::array::from_fn(|_| it.next().unwrap_or_default())
        };
        let mut y_views = views(y, OUTPUT_CHUNK, OUTPUT_CHUNK, step);
        let y = &mut y_views[..step];
        for c0 in (0..tw).step_by(OUTPUT_CHUNK) {
            let l = OUTPUT_CHUNK.min(tw - c0);
            for j in 0..n {
                let ins: [&[f32]; 6] = std::array::from_fn(|i| {
                    let k = i * n + j;
                    if i < n { &prod[k * plane + off + c0..k * plane + off + c0 + l] } else { &[] }
                });
                let mut outs: [&mut [f32]; 4] = Default::default();
                for (o, row) in outs.iter_mut().zip(partial.chunks_exact_mut(n)) {
                    *o = &mut row[j][..];
                }
                output_1d(step, &ins[..n], &mut outs[..step], l);
            }
            for a in 0..out_rows {
                let ins: [&[f32]; 6] = std::array::from_fn(|j| if j < n { &partial[a * n + j][..] } else { &[] });
                output_1d(step, &ins[..n], y, l);
                let row = &mut dst[a * ow..(a + 1) * ow];
                for yb in y.iter_mut() {
                    for v in &mut yb[..l] {
                        *v += bias;
                        if relu {
                            *v = v.max(0.0);
                        }
                    }
                }
                let ys: [&[f32]; 4] = std::array::from_fn(|b| if b < step { &y[b][..l] } else { &[] });
                if step == 2 {
                    scatter_columns::<2>(&ys[..2], c0, l, row);
                } else {
                    scatter_columns::<4>(&ys, c0, l, row);
                }
            }
        }
    }
}

/// `count` (at most 6) windows of `len` floats, `stride` apart, from the start of `buf`; the rest empty.
#[inline(always)]
fn views(buf: &mut [f32], len: usize, stride: usize, count: usize) -> [&mut [f32]; 6] {
    let mut it = buf.chunks_mut(stride).take(count);
    std::array::from_fn(|_| it.next().map_or(&mut [][..], |w| &mut w[..len]))
}

/// `cols[q][t] = e[step t + q]` for the N columns of every tile (tiles start `step` apart).
#[inline(always)]
fn gather_columns<const N: usize>(e: &[f32], step: usize, tw: usize, cols: &mut [f32]) {
    let mut it = cols.chunks_exact_mut(tw);
    let mut outs: [&mut [f32]; N] = std::array::from_fn(|_| it.next().expect("N columns"));
    for t in 0..tw {
        let window: &[f32; N] = e[step * t..step * t + N].try_into().expect("window");
        for (out, &v) in outs.iter_mut().zip(window) {
            // SAFETY: every column holds `tw` entries and t < tw.
            unsafe { *out.get_unchecked_mut(t) = v };
        }
    }
}

/// `row[S (c0 + t) + b] = ys[b][t]` for the S output columns of `l` tiles starting at tile `c0`,
/// stopping at the row's end (a last tile may be cut by the output width).
#[inline(always)]
fn scatter_columns<const S: usize>(ys: &[&[f32]], c0: usize, l: usize, row: &mut [f32]) {
    let start = S * c0;
    let whole = ((row.len() - start) / S).min(l);
    for (t, dst) in row[start..].chunks_exact_mut(S).take(whole).enumerate() {
        for b in 0..S {
            dst[b] = ys[b][t];
        }
    }
    if whole < l {
        for (b, d) in row[start + S * whole..].iter_mut().enumerate() {
            *d = ys[b][whole];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::conv2d::conv2d_forward_im2col;

    #[test]
    fn the_unrolled_transforms_are_the_matrices() {
        for alg in [&F2X2, &F4X4] {
            let (n, m) = (alg.n, alg.m);
            let ins: Vec<Vec<f32>> = (0..n)
                .map(|i| vec![(i as f32 * 1.7).sin(), (i as f32).cos()])
                .collect();
            let refs: Vec<&[f32]> = ins.iter().map(|v| &v[..]).collect();
            type Transform1d = fn(usize, &[&[f32]], &mut [&mut [f32]], usize);
            let check = |rows: usize, matrix: &[f32], f: Transform1d| {
                let mut outs = vec![vec![0.0f32; 2]; rows];
                let mut views: Vec<&mut [f32]> = outs.iter_mut().map(|v| &mut v[..]).collect();
                f(m, &refs, &mut views, 2);
                for (r, out) in outs.iter().enumerate() {
                    for (t, &got) in out.iter().enumerate() {
                        let want: f32 = (0..n).map(|i| matrix[r * n + i] * ins[i][t]).sum();
                        assert!((got - want).abs() < 1e-5, "F{m} row {r}: {got} vs {want}");
                    }
                }
            };
            check(n, alg.bt, input_1d);
            check(m, alg.at, output_1d);
        }
    }

    #[test]
    fn flipped_filters_are_read_in_place() {
        let (m, c) = (5, 3);
        let w: Vec<f32> = (0..m * c * 9).map(|i| (i as f32 * 0.37).sin()).collect();
        // w'[ci, o, 8 - p] = w[o, ci, p]: the flipped, transposed copy.
        let mut copy = vec![0.0f32; w.len()];
        for o in 0..m {
            for ci in 0..c {
                for p in 0..9 {
                    copy[(ci * m + o) * 9 + 8 - p] = w[(o * c + ci) * 9 + p];
                }
            }
        }
        for alg in [&F2X2, &F4X4] {
            assert_eq!(
                transform_filters(alg, &w, c, m, true),
                transform_filters(alg, &copy, c, m, false)
            );
        }
    }

    #[test]
    fn applies_to_wide_3x3_layers_only() {
        let layer = |c: usize, hw: usize, stride: usize| ConvGeometry {
            batch: 1,
            in_channels: c,
            height: hw,
            width: hw,
            out_channels: c,
            kernel_h: 3,
            kernel_w: 3,
            padding: 1,
            stride,
            dilation: 1,
        };
        assert!(applies(&layer(64, 224, 1)));
        assert!(applies(&layer(512, 28, 1)));
        assert!(!applies(&layer(512, 14, 1)));
        assert!(!applies(&layer(32, 224, 1)));
        assert!(!applies(&layer(64, 224, 2)));
    }

    #[test]
    fn matches_the_im2col_convolution() {
        for (b, c, h, w, m, p) in [
            (2, 32, 9, 7, 33, 1),
            (1, 40, 14, 14, 32, 1),
            (3, 32, 8, 11, 48, 0),
            (1, 32, 6, 6, 32, 2),
        ] {
            let g = ConvGeometry {
                batch: b,
                in_channels: c,
                height: h,
                width: w,
                out_channels: m,
                kernel_h: 3,
                kernel_w: 3,
                padding: p,
                stride: 1,
                dilation: 1,
            };
            let x: Vec<f32> = (0..g.input_len())
                .map(|i| ((i as f32) * 0.731).sin())
                .collect();
            let wt: Vec<f32> = (0..g.weight_len())
                .map(|i| ((i as f32) * 0.377).cos() * 0.2)
                .collect();
            let bias: Vec<f32> = (0..m).map(|i| (i as f32 * 0.1).sin()).collect();
            for epilogue in [Epilogue::None, Epilogue::Bias, Epilogue::BiasRelu] {
                for alg in [&F2X2, &F4X4] {
                    let fast = conv2d_winograd_with(alg, &x, &wt, &bias, &g, epilogue);
                    let reference = conv2d_forward_im2col(&x, &wt, &bias, &g, epilogue);
                    let scale =
                        reference.iter().map(|v| v.abs()).sum::<f32>() / reference.len() as f32;
                    // F(4x4, 3x3) rounds a few times worse than the direct sum (coefficients up to 8).
                    let tolerance = if alg.m == 2 { 1e-5 } else { 5e-5 };
                    for (a, r) in fast.iter().zip(&reference) {
                        assert!(
                            (a - r).abs() <= tolerance * (r.abs() + scale),
                            "F{} {g:?} {epilogue:?}: {a} vs {r}",
                            alg.m
                        );
                    }
                }
            }
        }
    }

    /// Prepacked filters give exactly what transforming them on every pass gives, both directions, with
    /// F(2x2, 3x3) on a small map and F(4x4, 3x3) on a wide one, whose transforms are made only then.
    #[test]
    fn prepacked_filters_change_nothing() {
        let geometry = |height: usize, width: usize| ConvGeometry {
            batch: 1,
            in_channels: 64,
            height,
            width,
            out_channels: 72,
            kernel_h: 3,
            kernel_w: 3,
            padding: 1,
            stride: 1,
            dilation: 1,
        };
        let (small, wide) = (geometry(30, 28), geometry(113, 112));
        assert_eq!(algorithm_for(&small).m, F2X2.m);
        assert_eq!(algorithm_for(&wide).m, F4X4.m);
        let wt: Vec<f32> = (0..small.weight_len())
            .map(|i| ((i as f32) * 0.17).cos() * 0.1)
            .collect();
        let bias: Vec<f32> = (0..small.out_channels)
            .map(|i| (i as f32 * 0.2).sin())
            .collect();
        let packed = Prepacked::new(&wt, small.out_channels, small.in_channels);
        for g in [small, wide] {
            let x: Vec<f32> = (0..g.input_len())
                .map(|i| ((i as f32) * 0.31).sin())
                .collect();
            assert!(applies(&g));
            let y = conv2d_winograd(&x, &wt, &bias, &g, Epilogue::BiasRelu);
            assert_eq!(packed.conv2d(&x, &bias, &g, Epilogue::BiasRelu), y);
            let as_conv = g
                .transposed_as_conv()
                .filter(applies)
                .expect("Winograd's input gradient");
            let gy: Vec<f32> = (0..g.output_len())
                .map(|i| ((i as f32) * 0.07).cos())
                .collect();
            assert_eq!(
                packed.input_gradient(&gy, Some(&y), &as_conv),
                input_gradient(&gy, Some(&y), &wt, &as_conv)
            );
            // The F(4x4) transforms exist once a wide map has been run, not before.
            let made = packed.forward_f4.get().is_some() && packed.flipped_f4.get().is_some();
            assert_eq!(made, g.height > 100, "{g:?}");
            // And the result is the convolution: against im2col within F(4x4)'s rounding.
            if g.height > 100 {
                let reference = conv2d_forward_im2col(&x, &wt, &bias, &g, Epilogue::BiasRelu);
                let scale = reference.iter().map(|v| v.abs()).sum::<f32>() / reference.len() as f32;
                for (a, r) in y.iter().zip(&reference) {
                    assert!((a - r).abs() <= 5e-5 * (r.abs() + scale), "{a} vs {r}");
                }
            }
        }
    }
}
