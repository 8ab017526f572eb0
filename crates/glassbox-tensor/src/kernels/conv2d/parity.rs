//! 4x4 convolutions of stride 2 and padding 1 (the DCGAN discriminator's) and their transposes (its
//! generator's upsampling, and the discriminator's input gradient) by Winograd's F(4x4, 2x2) on parity
//! planes.
//!
//! A stride-2 convolution reads the even and odd rows and columns of its padded input apart. With the
//! four parity planes `P_ab[i][j] = x_pad[2i + a][2j + b]` of each channel, output `(y, x)` is the sum
//! over parities and `dy, dx` in {0, 1} of `P_ab[y + dy][x + dx] * w[2dy + a][2dx + b]`: a stride-1
//! 2x2 correlation over 4C planes ([`forward`]). A transposed convolution writes each parity of its
//! output from one 2x2 window of its padded input: output `(2p - e, 2q - f)` is the sum over `dy, dx` of
//! `in_pad[p + dy][q + dx] * w[3 - e - 2dy][3 - f - 2dx]`, a stride-1 2x2 correlation with four filters
//! per output channel ([`transposed`]). Either way there is nothing to lower, and F(4x4, 2x2) makes each
//! 4x4 block of outputs from a 5x5 block of inputs with 25 products per channel pair instead of 64.
//! Where the map is 7x7 (the DCGAN's 14x14 -> 7x7 layer and its generator's input gradient), the
//! forward pass takes F(7x7, 2x2) instead: one tile of 64 products, not four of 25 (`tiled::cheapest_2x2`;
//! 4.9-5.2 against 5.8-6.2 ms for the generator's input gradient, `conv_transpose_parts`). The windows of
//! the transposed pass make an 8x8 grid for a 14x14 output; one output parity at a time, each is a 7x7 map
//! of its own, which F(7x7, 2x2) covers with 64 products where the grid took 100 (`by_output_parity`;
//! `kernels_bench --case conv_transpose_train` 23.6 -> 22.5 ms, alternated builds). The weight gradient
//! keeps F(4x4, 2x2): F(7x7, 2x2)'s 64 transformed matrices a partial cost as much to sum as its products
//! save.
//! All run on the channel-innermost tiles of `super::tiled`, the weight gradient as their adjoint
//! ([`weight_gradient`]). F(4x4, 2x2)'s rounding is about F(4x4, 3x3)'s, F(7x7, 2x2)'s about 3.5 times
//! that: tests compare with im2col at 2e-4 and 4e-4 of the output's mean magnitude.

use rayon::prelude::*;

use super::tiled::{
    channels_last, cheapest_2x2, correlate, emit_cropped, finish_channels, grid_planes, place_rows,
    positions_first, transform_filters, weight_gradient_taps, Tiles, F4X4_2X2,
};
use super::{ConvGeometry, Epilogue};
use crate::kernels::bias::channel_sums;
use crate::kernels::gemm::{transpose_into, Mat};
use crate::kernels::parallel::{elementwise, with_third_scratch, written_in_full, SharedMut};

/// Channels on each side, at least: the products are `tiles x 4C` by `4C x out` (forward) and
/// `tiles x out` by `out x 4C` (transposed), too thin below this.
const MIN_CHANNELS: usize = 16;

/// Whether the path can run a convolution (and its transpose): 4x4 filters, stride 2, padding 1, no
/// dilation, and at least `MIN_CHANNELS` channels in and out.
pub fn applies(g: &ConvGeometry) -> bool {
    g.kernel_h == 4
        && g.kernel_w == 4
        && g.stride == 2
        && g.padding == 1
        && g.dilation == 1
        && g.in_channels >= MIN_CHANNELS
        && g.out_channels >= MIN_CHANNELS
        && g.output_hw().is_some()
}

/// Whether the kernels choose the path for a convolution (its transpose, its weight gradient):
/// [`applies`] and enough tiles in the call (`super::tiled::enough_tiles`; 64 images of 7x7).
pub fn pays(g: &ConvGeometry) -> bool {
    applies(g)
        && g.output_hw()
            .is_some_and(|(oh, ow)| super::tiled::enough_tiles(oh, ow, g.batch))
}

/// `y = epilogue(conv(x, w) + bias)` for a convolution that [`applies`]; `capacity` reserves room after
/// the output (a caller that appends the weight gradient).
pub fn forward(
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    g: &ConvGeometry,
    epilogue: Epilogue,
    capacity: usize,
) -> Vec<f32> {
    assert!(applies(g), "parity convolution: unsupported geometry {g:?}");
    let (oh, ow) = g.output_hw().expect("checked geometry");
    let (c, m) = (g.in_channels, g.out_channels);
    let k = 4 * c;
    // Gathered in parallel, each tap from its weight, where they had been scattered on one thread
    // (`conv_transpose_parts`' input gradient, which runs this pass: 4.22-4.31 ms before, 4.00-4.03 after).
    let taps = elementwise(4 * k * m, |range, out| {
        // Tap row by tap row: a row's weights are `16 c` apart.
        let (mut j, mut rest) = (range.start, out);
        while !rest.is_empty() {
            let (piece, tail) = rest.split_at_mut(rest.len().min(m - j % m));
            let first = weight_of_tap(j, c, m);
            for (d, at) in piece.iter_mut().zip((first..).step_by(16 * c)) {
                *d = w[at];
            }
            j += piece.len();
            rest = tail;
        }
    });
    let scheme = cheapest_2x2(oh, ow);
    let u = transform_filters(scheme, &taps, k, m);
    let tiles = Tiles::covering(scheme, oh, ow);
    let (_, iw) = tiles.input_hw();
    let (gh, gw) = tiles.grid_hw();
    let (h, wd) = (g.height, g.width);
    let (image_len, plane) = (c * h * wd, oh * ow);
    let fill = |b: usize, padded: &mut [f32]| {
        parity_planes(&x[b * image_len..(b + 1) * image_len], c, h, wd, iw, padded)
    };
    let write = |shared: SharedMut| {
        let emit = |b: usize, grid: &[f32], work: &mut [f32]| {
            // SAFETY: each image's output belongs to the one work item that emits it.
            let dst = unsafe { shared.slice(b * m * plane, m * plane) };
            emit_cropped(grid, m, gh, gw, oh, ow, dst, work);
            finish_channels(dst, plane, bias, epilogue);
        };
        correlate(scheme, g.batch, k, m, tiles, &u, fill, emit);
    };
    // SAFETY: every image's planes are written in full (all `oh` rows of `ow` columns of each channel).
    unsafe { written_in_full(g.output_len(), capacity, write) }
}

/// The transposed convolution of `x` (the input gradient of `g` from an output gradient `x`) plus `bias`
/// per channel (`g.in_channels` of them; empty for none), for a `g` that [`applies`]: by output parity
/// where that takes fewer products (`by_output_parity`), else all four parities from one grid of
/// windows.
pub fn transposed(x: &[f32], w: &[f32], bias: &[f32], g: &ConvGeometry) -> Vec<f32> {
    assert!(applies(g), "parity convolution: unsupported geometry {g:?}");
    let (h, wd) = (g.height, g.width);
    let products = |rows: usize, cols: usize| {
        let scheme = cheapest_2x2(rows, cols);
        Tiles::covering(scheme, rows, cols).count() * scheme.nn()
    };
    // One grid of windows makes 4 outputs (one per parity) a window; by parity, one each.
    let one_grid = 4 * products(h / 2 + 1, wd / 2 + 1);
    let parities: usize = (0..4)
        .map(|ab| products((h - ab / 2).div_ceil(2), (wd - ab % 2).div_ceil(2)))
        .sum();
    if parities < one_grid {
        return by_output_parity(x, w, bias, g);
    }
    let (oh, ow) = g.output_hw().expect("checked geometry");
    let (h, wd) = (g.height, g.width);
    // `k` channels in (the convolution's outputs), `m` = 4 parities x `c` channels out, output parity
    // (e, f) at (2 (1 - f) + e) c, so that a row's columns are one stride apart in the grid (`emit`).
    let (k, c) = (g.out_channels, g.in_channels);
    let m = 4 * c;
    let mut taps = vec![0.0f32; 4 * k * m];
    for ki in 0..k {
        for o in 0..c {
            for (t, &v) in w[(ki * c + o) * 16..(ki * c + o + 1) * 16]
                .iter()
                .enumerate()
            {
                let (ry, rx) = (3 - t / 4, 3 - t % 4);
                let (e, dy, f, dx) = (ry % 2, ry / 2, rx % 2, rx / 2);
                taps[((dy * 2 + dx) * k + ki) * m + (2 * (1 - f) + e) * c + o] = v;
            }
        }
    }
    // Window (p, q) makes outputs (2p - e, 2q - f): p up to h / 2.
    let (wr, wc) = (h / 2 + 1, wd / 2 + 1);
    let scheme = cheapest_2x2(wr, wc);
    let u = transform_filters(scheme, &taps, k, m);
    let tiles = Tiles::covering(scheme, wr, wc);
    let (_, iw) = tiles.input_hw();
    let (_, gw) = tiles.grid_hw();
    let (in_len, plane) = (k * oh * ow, h * wd);
    // Input row r is padded row r + 1, column q padded column q + 1.
    let fill = |b: usize, padded: &mut [f32]| {
        channels_last(
            &x[b * in_len..(b + 1) * in_len],
            k,
            oh,
            ow,
            padded,
            iw,
            iw + 1,
        )
    };
    let emit = |shared: SharedMut, b: usize, grid: &[f32], work: &mut [f32]| {
        // SAFETY: each image's output belongs to the one work item that emits it.
        let dst = unsafe { shared.slice(b * c * plane, c * plane) };
        for p in 0..wr {
            for e in 0..2 {
                let Some(row) = (2 * p).checked_sub(e).filter(|&r| r < h) else {
                    continue;
                };
                // Column `j` is window `(j + 1) / 2` of parity `f = (j + 1) % 2`: with the parities'
                // channels ordered as below, at `2c (j + 1) + e c` in the window row, a single stride.
                // Whole 8x8 blocks into `work` (the last ones read past the row, or past the grid into
                // its spare row, for columns that are dropped), then the row's `wd` columns.
                let cols = wd.next_multiple_of(8);
                let windows = Mat {
                    data: &grid[p * gw * m + 2 * c + e * c..],
                    rows: c,
                    cols,
                    rs: 1,
                    cs: 2 * c,
                };
                transpose_into(windows, work, cols);
                for (o, src) in work.chunks_exact(cols).take(c).enumerate() {
                    dst[o * plane + row * wd..][..wd].copy_from_slice(&src[..wd]);
                }
            }
        }
        if !bias.is_empty() {
            finish_channels(dst, plane, bias, Epilogue::Bias);
        }
    };
    let write = |shared: SharedMut| {
        let emit = |b: usize, grid: &[f32], work: &mut [f32]| emit(shared, b, grid, work);
        correlate(scheme, g.batch, k, m, tiles, &u, fill, emit);
    };
    // SAFETY: every output row `2p - e` (all of 0..h) and column `2q - f` (all of 0..wd) of every
    // channel is written.
    unsafe { written_in_full(g.input_len(), 0, write) }
}

/// [`transposed`] one output parity at a time: output `(2i + a, 2j + b)` is the 2x2 correlation of the
/// padded input from `(i + a, j + b)` with taps `w[3 - a - 2dy][3 - b - 2dx]`, so each parity is a map
/// of its own (7x7 for the DCGAN's 14x14 output: one F(7x7, 2x2) tile of 64 products, where the grid of
/// windows that serves all four parities at once is 8x8, four F(4x4, 2x2) tiles of 25 products). The
/// input is copied into each parity's tiles shifted by `(a, b)`.
fn by_output_parity(x: &[f32], w: &[f32], bias: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let (oh, ow) = g.output_hw().expect("checked geometry");
    let (h, wd) = (g.height, g.width);
    let (k, c) = (g.out_channels, g.in_channels);
    let (in_len, plane) = (k * oh * ow, h * wd);
    // Each image with channels innermost once, for the four parities' copies.
    let image_last = |shared: SharedMut| {
        (0..g.batch).into_par_iter().for_each(|img| {
            // SAFETY: image `img`'s block is this iteration's alone.
            let out = unsafe { shared.slice(img * in_len, in_len) };
            positions_first(&x[img * in_len..(img + 1) * in_len], k, oh * ow, out);
        })
    };
    // SAFETY: every image's block is written in full by its transpose.
    let xt = unsafe { written_in_full(x.len(), 0, image_last) };
    let write = |shared: SharedMut| {
        for (a, b) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            let (rows, cols) = ((h - a).div_ceil(2), (wd - b).div_ceil(2));
            let scheme = cheapest_2x2(rows, cols);
            let mut taps = vec![0.0f32; 4 * k * c];
            for ki in 0..k {
                for o in 0..c {
                    let filter = &w[(ki * c + o) * 16..(ki * c + o + 1) * 16];
                    for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                        let tap = (3 - a - 2 * dy) * 4 + (3 - b - 2 * dx);
                        taps[((dy * 2 + dx) * k + ki) * c + o] = filter[tap];
                    }
                }
            }
            let u = transform_filters(scheme, &taps, k, c);
            let tiles = Tiles::covering(scheme, rows, cols);
            let (_, iw) = tiles.input_hw();
            let (gh, gw) = tiles.grid_hw();
            // Tile position (r, q) reads padded input (r + a, q + b), input row r + a - 1.
            let fill = |img: usize, padded: &mut [f32]| {
                let image = &xt[img * in_len..(img + 1) * in_len];
                place_rows(image, k, ow, padded, iw, (1 - a) * iw + (1 - b))
            };
            let emit = |img: usize, grid: &[f32], work: &mut [f32]| {
                grid_planes(grid, c, gh * gw, work);
                // SAFETY: each image's output belongs to the one work item that emits it, and each
                // parity's positions to its own call.
                let dst = unsafe { shared.slice(img * c * plane, c * plane) };
                let parity = Parity {
                    a,
                    b,
                    rows,
                    cols,
                    width: wd,
                };
                for (o, cells) in work.chunks_exact(gh * gw).take(c).enumerate() {
                    let bo = bias.get(o).copied().unwrap_or(0.0);
                    let out = &mut dst[o * plane..(o + 1) * plane];
                    every_other(out, parity, cells, gw, bo);
                }
            };
            correlate(scheme, g.batch, k, c, tiles, &u, fill, emit);
        }
    };
    // SAFETY: the four parities' rows `2i + a` and columns `2j + b` cover all of every channel.
    unsafe { written_in_full(g.input_len(), 0, write) }
}

/// Where one output parity's values go in a channel's plane `width` wide: rows `2i + a`, columns
/// `2j + b`, for `i < rows` and `j < cols`.
#[derive(Clone, Copy, Debug)]
struct Parity {
    a: usize,
    b: usize,
    rows: usize,
    cols: usize,
    width: usize,
}

/// `plane[(2i + a) width + b + 2j] = cells[i stride + j] + bias` over `p`'s rows and columns: one output
/// parity of one channel into the transposed convolution's output. With AVX-512, eight values at a
/// time spread to every other lane and stored under a mask, where single stores two floats apart had
/// been (`examples/conv_transpose_parts.rs`, the generator's 128 -> 64 layer: the transposed forward
/// 5.12-5.21 ms before, 4.88-4.97 after). The same sums either way.
fn every_other(plane: &mut [f32], p: Parity, cells: &[f32], stride: usize, bias: f32) {
    if p.rows == 0 || p.cols == 0 {
        return;
    }
    assert!(
        (2 * (p.rows - 1) + p.a) * p.width + p.b + 2 * (p.cols - 1) < plane.len()
            && p.b + 2 * (p.cols - 1) < p.width
            && (p.rows - 1) * stride + p.cols <= cells.len(),
        "every_other: {p:?} does not fit a plane of {} or {} cells {stride} apart",
        plane.len(),
        cells.len()
    );
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::activation::has_avx512f() {
        // SAFETY: the CPU has AVX-512F, and every lane stored is inside `plane` (asserted above).
        unsafe { every_other_avx512(plane, p, cells, stride, bias) };
        return;
    }
    for i in 0..p.rows {
        let row = &mut plane[(2 * i + p.a) * p.width..][..p.width];
        let src = &cells[i * stride..][..p.cols];
        for (d, &v) in row[p.b..].iter_mut().step_by(2).zip(src) {
            *d = v + bias;
        }
    }
}

/// [`every_other`] with AVX-512F.
///
/// # Safety
/// The CPU must have AVX-512F, and `p` must fit `plane` and `cells` as [`every_other`] asserts.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn every_other_avx512(
    plane: &mut [f32],
    p: Parity,
    cells: &[f32],
    stride: usize,
    bias: f32,
) {
    use std::arch::x86_64::*;
    let add = _mm512_set1_ps(bias);
    for i in 0..p.rows {
        let base = plane.as_mut_ptr().add((2 * i + p.a) * p.width + p.b);
        let src = cells.as_ptr().add(i * stride);
        for j in (0..p.cols).step_by(8) {
            let n = (p.cols - j).min(8) as u32;
            let values = _mm512_add_ps(_mm512_maskz_loadu_ps((1 << n) - 1, src.add(j)), add);
            // Values 0..n to the even lanes 0..2n-2, stored there alone.
            let spread = _mm512_maskz_expand_ps(0x5555, values);
            let lanes = (0x5555 & ((1u32 << (2 * n - 1)) - 1)) as __mmask16;
            _mm512_mask_storeu_ps(base.add(2 * j), lanes, spread);
        }
    }
}

/// Where weight `i` of `(m, c, 4, 4)` filters goes among [`forward`]'s taps: tap `(dy, dx)` is a
/// `4c x m` matrix whose row `(2a + b) c + ci` reads parity plane `(a, b)` of input channel `ci`.
fn forward_tap(i: usize, c: usize, m: usize) -> usize {
    let (o, ci, ky, kx) = (i / (16 * c), i / 16 % c, i / 4 % 4, i % 4);
    let (dy, a, dx, b) = (ky / 2, ky % 2, kx / 2, kx % 2);
    ((dy * 2 + dx) * 4 * c + (2 * a + b) * c + ci) * m + o
}

/// The weight at tap `j` of [`forward`]'s taps: the inverse of [`forward_tap`].
fn weight_of_tap(j: usize, c: usize, m: usize) -> usize {
    let (row, o) = (j / m, j % m);
    let (t, r) = (row / (4 * c), row % (4 * c));
    let (parity, ci) = (r / c, r % c);
    let (ky, kx) = (2 * (t / 2) + parity / 2, 2 * (t % 2) + parity % 2);
    ((o * c + ci) * 4 + ky) * 4 + kx
}

/// The parity planes of one zero-padded image `(c, h, w)` into `padded`: position `(i, j)` (rows `iw`
/// positions long) holds `x_pad[2i + a][2j + b]` of channel `ci` at `(2a + b) c + ci`, zeros elsewhere.
/// Uses [`with_third_scratch`].
fn parity_planes(image: &[f32], c: usize, h: usize, w: usize, iw: usize, padded: &mut [f32]) {
    padded.fill(0.0);
    let k = 4 * c;
    with_third_scratch(h * w * c, |xt| {
        positions_first(image, c, h * w, xt);
        // Padded row 2i + a is input row 2i + a - 1.
        for (sy, py) in (0..h).zip(1..) {
            let (i, a) = (py / 2, py % 2);
            for (sx, px) in (0..w).zip(1..) {
                let (j, b) = (px / 2, px % 2);
                let at = (i * iw + j) * k + (2 * a + b) * c;
                padded[at..at + c].copy_from_slice(&xt[(sy * w + sx) * c..][..c]);
            }
        }
    });
}

/// The weight gradient `(m, c, 4, 4)` followed by the bias gradient `(m)` of a convolution that
/// [`applies`], from its input `x` and output gradient `gy`: the adjoint of [`forward`]
/// (`weight_gradient_taps`).
pub fn weight_gradient(x: &[f32], gy: &[f32], g: &ConvGeometry) -> Vec<f32> {
    assert!(applies(g), "parity convolution: unsupported geometry {g:?}");
    let (oh, ow) = g.output_hw().expect("checked geometry");
    let (c, m, h, wd) = (g.in_channels, g.out_channels, g.height, g.width);
    // F(4x4, 2x2) whatever the map: F(7x7, 2x2)'s 64 transformed matrices a partial (8.4 MB for the
    // DCGAN's 64 -> 128 layer) cost as much to write and sum as its fewer products save
    // (`conv_transpose_parts`: 6.2-6.5 against 6.1-6.2 ms).
    let scheme = &F4X4_2X2;
    let tiles = Tiles::covering(scheme, oh, ow);
    let (_, iw) = tiles.input_hw();
    let (_, gw) = tiles.grid_hw();
    let (image_len, plane) = (c * h * wd, oh * ow);
    let fill_x = |b: usize, padded: &mut [f32]| {
        parity_planes(&x[b * image_len..(b + 1) * image_len], c, h, wd, iw, padded)
    };
    let fill_gy = |b: usize, grid: &mut [f32]| {
        channels_last(
            &gy[b * m * plane..(b + 1) * m * plane],
            m,
            oh,
            ow,
            grid,
            gw,
            0,
        )
    };
    let dtaps = weight_gradient_taps(scheme, g.batch, 4 * c, m, tiles, fill_x, fill_gy);
    let mut out = elementwise(g.weight_len(), |range, out| {
        // Filter by filter: weight `(o, ci, ky, kx)` is tap `offsets[ky][kx]` past filter `(o, ci)`'s
        // first, one division a filter instead of four a weight.
        let offsets: [usize; 16] = std::array::from_fn(|t| forward_tap(t, c, m));
        let (mut i, mut rest) = (range.start, out);
        while !rest.is_empty() {
            let (piece, tail) = rest.split_at_mut(rest.len().min(16 - i % 16));
            let (o, ci) = (i / 16 / c, i / 16 % c);
            let first = ci * m + o;
            for (d, t) in piece.iter_mut().zip(i % 16..) {
                *d = dtaps[first + offsets[t]];
            }
            i += piece.len();
            rest = tail;
        }
    });
    out.extend_from_slice(&channel_sums(gy, m, plane));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each weight has one tap and each tap one weight, both ways round.
    #[test]
    fn taps_and_weights_correspond_one_to_one() {
        for (c, m) in [(1, 1), (3, 5), (16, 32)] {
            let n = 16 * c * m;
            let mut seen = vec![false; n];
            for i in 0..n {
                let j = forward_tap(i, c, m);
                assert_eq!(weight_of_tap(j, c, m), i, "c {c} m {m} weight {i}");
                assert!(!std::mem::replace(&mut seen[j], true), "tap {j} twice");
            }
        }
    }

    /// One parity's rows and columns, bias added, and nothing else written, for row lengths up to two
    /// vectors' worth and all four parities, on whichever instruction set the machine has.
    #[test]
    fn every_other_writes_one_parity_of_a_plane() {
        for cols in 0..=17 {
            for (a, b) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                let (rows, stride) = (3, cols + 2);
                let width = 2 * cols + 1;
                let cells: Vec<f32> = (0..rows * stride).map(|j| j as f32 * 1.5 - 3.0).collect();
                let mut plane = vec![f32::NAN; (2 * rows + 1) * width];
                let p = Parity {
                    a,
                    b,
                    rows,
                    cols,
                    width,
                };
                every_other(&mut plane, p, &cells, stride, 0.25);
                for (at, v) in plane.iter().enumerate() {
                    let (r, q) = (at / width, at % width);
                    let ours = r % 2 == a && r / 2 < rows && q >= b && (q - b) % 2 == 0;
                    if ours && (q - b) / 2 < cols {
                        let want = cells[r / 2 * stride + (q - b) / 2] + 0.25;
                        assert_eq!(*v, want, "cols {cols} parity {a}{b} at {r},{q}");
                    } else {
                        assert!(v.is_nan(), "cols {cols} parity {a}{b}: {r},{q} written");
                    }
                }
            }
        }
    }
    use crate::kernels::conv2d::test_support::{relative_error, values as data};
    use crate::kernels::conv2d::{conv2d_forward_im2col, conv_transpose_by_col2im};

    /// 4x4 filters, stride 2, padding 1.
    fn geometry(batch: usize, c: usize, h: usize, w: usize, m: usize) -> ConvGeometry {
        crate::kernels::conv2d::test_support::geometry(batch, c, (h, w), m, 4, 1, 2)
    }

    /// The DCGAN's shape, odd and unequal sides, one image and many.
    const SHAPES: [(usize, usize, usize, usize, usize); 5] = [
        (9, 64, 14, 14, 128),
        (3, 16, 7, 7, 72),
        (2, 32, 6, 10, 16),
        (1, 16, 9, 5, 16),
        (5, 24, 28, 28, 16),
    ];

    /// F(7x7, 2x2) rounds about 3.5 times as far as F(4x4, 2x2): on the DCGAN's shape 1.5e-4, and 2.9e-4
    /// where a ReLU halves the outputs' mean magnitude, where F(4x4, 2x2) had read 4.1e-5 and 8.3e-5 (this
    /// test with that scheme pinned, while ee71841 was written). `-- --nocapture` prints each shape's error.
    #[test]
    fn forward_matches_im2col() {
        for (batch, c, h, w, m) in SHAPES {
            let g = geometry(batch, c, h, w, m);
            let (oh, ow) = g.output_hw().expect("valid shape");
            let tolerance = if cheapest_2x2(oh, ow).step == 7 {
                4e-4
            } else {
                2e-4
            };
            let (x, wt, bias) = (data(g.input_len(), 1), data(g.weight_len(), 2), data(m, 3));
            for epilogue in [Epilogue::None, Epilogue::Bias, Epilogue::BiasRelu] {
                let got = forward(&x, &wt, &bias, &g, epilogue, 0);
                let want = conv2d_forward_im2col(&x, &wt, &bias, &g, epilogue);
                let err = relative_error(&got, &want);
                eprintln!("{g:?} {epilogue:?}: relative error {err:.2e} (tolerance {tolerance})");
                assert!(err < tolerance, "{g:?} {epilogue:?}: relative error {err}");
            }
        }
    }

    #[test]
    fn transposed_matches_col2im() {
        for (batch, c, h, w, m) in SHAPES {
            let g = geometry(batch, c, h, w, m);
            let (gy, wt) = (data(g.output_len(), 4), data(g.weight_len(), 5));
            let bias = data(c, 6);
            let got = transposed(&gy, &wt, &bias, &g);
            let mut want = conv_transpose_by_col2im(&gy, &wt, &g);
            let plane = h * w;
            for (i, v) in want.iter_mut().enumerate() {
                *v += bias[(i / plane) % c];
            }
            let err = relative_error(&got, &want);
            assert!(err < 2e-4, "{g:?}: relative error {err}");
        }
    }

    #[test]
    fn weight_gradient_matches_im2col() {
        for (batch, c, h, w, m) in SHAPES {
            let g = geometry(batch, c, h, w, m);
            let (x, gy) = (data(g.input_len(), 7), data(g.output_len(), 8));
            let got = weight_gradient(&x, &gy, &g);
            let want = super::super::weight_gradient_pass(&x, &gy, &g, None);
            let err = relative_error(&got, &want[..got.len()]);
            assert!(err < 2e-4, "{g:?}: relative error {err}");
        }
    }

    #[test]
    fn only_4x4_stride_2_padding_1_with_enough_channels_applies() {
        let g = geometry(2, 64, 14, 14, 128);
        assert!(applies(&g));
        assert!(!applies(&ConvGeometry {
            in_channels: 1,
            ..g
        }));
        assert!(!applies(&ConvGeometry {
            out_channels: 8,
            ..g
        }));
        assert!(!applies(&ConvGeometry { padding: 0, ..g }));
        assert!(!applies(&ConvGeometry { stride: 1, ..g }));
        assert!(!applies(&ConvGeometry {
            kernel_h: 3,
            kernel_w: 3,
            ..g
        }));
    }
}
