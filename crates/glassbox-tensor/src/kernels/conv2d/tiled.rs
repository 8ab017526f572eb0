//! Winograd's minimal filtering F(m x m, r x r) on tiles with channels innermost, for small maps and many
//! images: the DCGAN's 4x4 stride-2 layers as 2x2 correlations over parity planes ([`super::parity`])
//! and 3x3 stride-1 layers on maps of at most 32x32 ([`super::batched3x3`]).
//!
//! [`super::super::winograd`] cuts one image into bands of tile rows and runs its transforms along rows,
//! which suits wide maps. A 7x7 or 24x24 map has too few tiles a row for that, so here every map
//! position holds its channels contiguously: the transforms run along channels, and the products of a
//! work item (`n²` GEMMs, `tiles x k` by `k x m`) take the tiles of several images at once. Maps are
//! copied into this layout once per image and back once ([`channels_last`], [`emit_cropped`]).
//!
//! Interpolation points 0, 1, -1 and infinity, plus 2 for F(4x4, 2x2) and 2, -2 for F(4x4, 3x3)
//! (Lavin & Gray's), and 2, -2, 1/2, -1/2 for F(7x7, 2x2), whose one tile covers a 7x7 map (the
//! DCGAN's parity planes) with 64 products per channel pair where F(4x4, 2x2) needs four tiles of 25.
//! The tests hold the unrolled transforms equal to the matrices and the matrices to a correlation.

use rayon::prelude::*;

use crate::kernels::activation::dispatch_avx512;
use crate::kernels::gemm::{sgemm, transpose_into, Mat, MatMut};
use crate::kernels::parallel::{
    band_threads, with_scratch, with_second_scratch, with_third_scratch, written_in_full,
    SharedMut, MIN_WORK_ITEMS,
};

/// Floats of a transformed filter matrix made at a time ([`transform_filters`]).
const FILTER_CHUNK: usize = 1024;

/// Tiles a work item aims for: the rows of its products (several images when maps are small).
const TILES_PER_ITEM: usize = 64;

/// The transform of one tile's inputs: `(padded, at, row, k, work, v, t, t_n)`, see [`tile_transforms`].
type InputTile = fn(&[f32], usize, usize, usize, &mut [f32], &mut [f32], usize, usize);
/// The transform of one tile's products: `(prod, t, t_n, m, work, grid, at, row)`, see
/// [`tile_transforms`].
type OutputTile = fn(&[f32], usize, usize, usize, &mut [f32], &mut [f32], usize, usize);

/// The adjoint of [`OutputTile`] on one tile's output gradient: `(grid, at, row, m, work, dm, t, t_n)`,
/// see [`tile_transforms`].
type GradientTile = fn(&[f32], usize, usize, usize, &mut [f32], &mut [f32], usize, usize);

/// One algorithm F(step x step, r x r).
pub(crate) struct Scheme {
    /// Outputs per tile side.
    pub step: usize,
    /// Inputs per tile side, `step + r - 1`.
    pub n: usize,
    /// Filter taps per side.
    pub r: usize,
    /// `G`, `n x r` row-major: the filter transform `U = G f Gᵀ`.
    pub g: &'static [f32],
    input_tile: InputTile,
    output_tile: OutputTile,
    gradient_tile: GradientTile,
}

/// F(4x4, 2x2): 25 products per 4x4 outputs instead of 64.
pub(crate) const F4X4_2X2: Scheme = Scheme {
    step: 4,
    n: 5,
    r: 2,
    g: &[
        0.5,
        0.0,
        -0.5,
        -0.5,
        -1.0 / 6.0,
        1.0 / 6.0,
        1.0 / 6.0,
        1.0 / 3.0,
        0.0,
        1.0,
    ],
    input_tile: input_tile_2x2,
    output_tile: output_tile_2x2,
    gradient_tile: gradient_tile_2x2,
};

/// F(4x4, 3x3): 36 products per 4x4 outputs instead of 144.
pub(crate) const F4X4_3X3: Scheme = Scheme {
    step: 4,
    n: 6,
    r: 3,
    g: &[
        1. / 4.,
        0.,
        0.,
        -1. / 6.,
        -1. / 6.,
        -1. / 6.,
        -1. / 6.,
        1. / 6.,
        -1. / 6.,
        1. / 24.,
        1. / 12.,
        1. / 6.,
        1. / 24.,
        -1. / 12.,
        1. / 6.,
        0.,
        0.,
        1.,
    ],
    input_tile: input_tile_3x3,
    output_tile: output_tile_3x3,
    gradient_tile: gradient_tile_3x3,
};

/// F(7x7, 2x2): 64 products per 7x7 outputs instead of 196. Its rounding error is about 3.5 times
/// F(4x4, 2x2)'s (see `parity::tests::forward_matches_im2col`: 1.5e-4 against 4.1e-5 of the outputs' mean
/// magnitude on the DCGAN's shape), the price of points as far apart as ±2 and ±1/2.
pub(crate) const F7X7_2X2: Scheme = Scheme {
    step: 7,
    n: 8,
    r: 2,
    g: &[
        1.0,
        0.0,
        -2.0 / 9.0,
        -2.0 / 9.0,
        -2.0 / 9.0,
        2.0 / 9.0,
        1.0 / 90.0,
        1.0 / 45.0,
        1.0 / 90.0,
        -1.0 / 45.0,
        1.0 / 90.0,
        1.0 / 180.0,
        1.0 / 90.0,
        -1.0 / 180.0,
        0.0,
        1.0,
    ],
    input_tile: input_tile_7x2,
    output_tile: output_tile_7x2,
    gradient_tile: gradient_tile_7x2,
};

impl Scheme {
    /// Products per tile.
    pub fn nn(&self) -> usize {
        self.n * self.n
    }
}

/// The 2x2 scheme with the fewest products for `rows x cols` outputs: F(7x7, 2x2) for a 7x7 map,
/// F(4x4, 2x2) for an 8x8 one.
pub(crate) fn cheapest_2x2(rows: usize, cols: usize) -> &'static Scheme {
    let products = |s: &Scheme| Tiles::covering(s, rows, cols).count() * s.nn();
    if products(&F7X7_2X2) < products(&F4X4_2X2) {
        &F7X7_2X2
    } else {
        &F4X4_2X2
    }
}

/// One image's tiles: `th x tw` blocks of `step x step` outputs, read from `(step th + n - step) x
/// (step tw + n - step)` inputs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tiles {
    pub th: usize,
    pub tw: usize,
    step: usize,
    halo: usize,
}

impl Tiles {
    /// The tiles covering `rows x cols` outputs.
    pub fn covering(scheme: &Scheme, rows: usize, cols: usize) -> Tiles {
        Tiles {
            th: rows.div_ceil(scheme.step),
            tw: cols.div_ceil(scheme.step),
            step: scheme.step,
            halo: scheme.n - scheme.step,
        }
    }

    pub fn count(&self) -> usize {
        self.th * self.tw
    }

    /// Input positions: rows, columns.
    pub fn input_hw(&self) -> (usize, usize) {
        (
            self.step * self.th + self.halo,
            self.step * self.tw + self.halo,
        )
    }

    /// Output positions: rows, columns.
    pub fn grid_hw(&self) -> (usize, usize) {
        (self.step * self.th, self.step * self.tw)
    }

    /// Tiles of 4x4 outputs that cover as much ([`tiles_of_4x4`]).
    pub fn as_4x4(&self) -> usize {
        let (rows, cols) = self.grid_hw();
        tiles_of_4x4(rows, cols)
    }

    /// `f(t0 + tile, position)` for each tile, row by row, with the position of its first input in
    /// the input rows ([`Tiles::input_hw`]).
    fn each(&self, t0: usize, f: impl FnMut(usize, usize)) {
        self.each_in(self.input_hw().1, t0, f)
    }

    /// The same with the position of its first output in the grid ([`Tiles::grid_hw`]).
    fn each_output(&self, t0: usize, f: impl FnMut(usize, usize)) {
        self.each_in(self.grid_hw().1, t0, f)
    }

    fn each_in(&self, row: usize, t0: usize, mut f: impl FnMut(usize, usize)) {
        for ty in 0..self.th {
            for tx in 0..self.tw {
                f(t0 + ty * self.tw + tx, self.step * (ty * row + tx));
            }
        }
    }
}

/// `U[a * n + b]` (`k x m`, row-major) from filters given tap by tap: tap `(i, j)` is the `k x m`
/// matrix at `taps[(i r + j) k m..]`.
pub(crate) fn transform_filters(scheme: &Scheme, taps: &[f32], k: usize, m: usize) -> Vec<f32> {
    let (n, r, len) = (scheme.n, scheme.r, k * m);
    let sources: Vec<&[f32]> = taps.chunks_exact(len).collect();
    let terms: Vec<Vec<(f32, usize)>> = (0..n * n)
        .map(|ab| {
            let (a, b) = (ab / n, ab % n);
            (0..r * r)
                .map(|t| (scheme.g[a * r + t / r] * scheme.g[b * r + t % r], t))
                .filter(|&(coef, _)| coef != 0.0)
                .collect()
        })
        .collect();
    combine(&sources, len, &terms)
}

/// `out[j] = Σ coef * sources[i]` over `(coef, i)` in `terms[j]`: linear combinations of matrices of
/// `len` floats, made a chunk of every matrix at a time, so that the sources' chunks stay in cache
/// across the outputs and each output is written once, not zeroed and added to.
fn combine(sources: &[&[f32]], len: usize, terms: &[Vec<(f32, usize)>]) -> Vec<f32> {
    let fill = |shared: SharedMut| {
        (0..len.div_ceil(FILTER_CHUNK))
            .into_par_iter()
            .for_each(|c| {
                let at = c * FILTER_CHUNK;
                let width = FILTER_CHUNK.min(len - at);
                for (j, terms) in terms.iter().enumerate() {
                    // SAFETY: chunk `c` of every output is this iteration's alone.
                    let dst = unsafe { shared.slice(j * len + at, width) };
                    let mut terms = terms.iter();
                    match terms.next() {
                        Some(&(coef, i)) => scaled(dst, coef, &sources[i][at..at + width]),
                        None => dst.fill(0.0),
                    }
                    for &(coef, i) in terms {
                        axpy(dst, coef, &sources[i][at..at + width]);
                    }
                }
            });
    };
    // SAFETY: every chunk of every output is written above.
    unsafe { written_in_full(terms.len() * len, 0, fill) }
}

dispatch_avx512! {
    /// `dst = a * src`.
    fn scaled(dst: &mut [f32], a: f32, src: &[f32]) {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = a * s;
        }
    }
}

dispatch_avx512! {
    /// `dst += a * src`.
    pub(crate) fn axpy(dst: &mut [f32], a: f32, src: &[f32]) {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d += a * s;
        }
    }
}

/// Tiles a call needs, at least, for a tiled path to pay: the filters are transformed on every call
/// (`n²` matrices `in x out`), which one image's few tiles do not repay (batch-1 inference stays on
/// im2col).
pub(crate) const MIN_TILES: usize = 256;

/// Whether a call of `batch` maps of `rows x cols` outputs has enough of them to pay for its transforms,
/// counted in tiles of 4x4 outputs whatever the scheme (so that a 7x7 map counts as much as under
/// F(4x4, 2x2)).
pub(crate) fn enough_tiles(rows: usize, cols: usize, batch: usize) -> bool {
    tiles_of_4x4(rows, cols) * batch >= MIN_TILES
}

/// Tiles of 4x4 outputs covering `rows x cols`: the unit of the work thresholds, whatever the scheme.
fn tiles_of_4x4(rows: usize, cols: usize) -> usize {
    rows.div_ceil(4) * cols.div_ceil(4)
}

/// Images per work item: enough tiles for the products' rows, at least [`MIN_WORK_ITEMS`] items where
/// the batch allows, the same for any thread count (the products' sums do not depend on it).
pub(crate) fn images_per_item(tiles: &Tiles, batch: usize) -> usize {
    TILES_PER_ITEM
        .div_ceil(tiles.count())
        .clamp(1, batch.div_ceil(MIN_WORK_ITEMS).max(1))
}

/// The correlation of each image's `k` zero-padded input channels with the filters transformed into
/// `u` (`n²` matrices `k x m`, [`transform_filters`]), on the image's grid of `tiles`.
/// `fill(b, padded)` writes image `b`'s padded input ([`Tiles::input_hw`] positions row-major, `k`
/// channels innermost; it may use [`with_third_scratch`]); `emit(b, grid, work)` gets its outputs
/// ([`Tiles::grid_hw`] positions of `m` channels, plus one row of garbage) and a work buffer as large.
#[allow(clippy::too_many_arguments)]
pub(crate) fn correlate(
    scheme: &Scheme,
    batch: usize,
    k: usize,
    m: usize,
    tiles: Tiles,
    u: &[f32],
    fill: impl Fn(usize, &mut [f32]) + Sync,
    emit: impl Fn(usize, &[f32], &mut [f32]) + Sync,
) {
    let nn = scheme.nn();
    let (ih, iw) = tiles.input_hw();
    let (gh, gw) = tiles.grid_hw();
    let per_image = tiles.count();
    let images = images_per_item(&tiles, batch);
    let items = batch.div_ceil(images);
    let inner = band_threads(items);
    (0..items).into_par_iter().for_each(|item| {
        let first = item * images;
        let count = images.min(batch - first);
        let t_n = count * per_image;
        with_scratch(nn * t_n * k + nn * k.max(m), |buf| {
            let (v, work) = buf.split_at_mut(nn * t_n * k);
            with_second_scratch(ih * iw * k, |padded| {
                for i in 0..count {
                    fill(first + i, padded);
                    input_tiles(scheme, &tiles, padded, k, work, v, i * per_image, t_n);
                }
            });
            with_third_scratch(nn * t_n * m, |prod| {
                for kk in 0..nn {
                    sgemm(
                        MatMut::rows(&mut prod[kk * t_n * m..(kk + 1) * t_n * m], t_n, m),
                        false,
                        Mat::rows(&v[kk * t_n * k..(kk + 1) * t_n * k], t_n, k),
                        Mat::rows(&u[kk * k * m..(kk + 1) * k * m], k, m),
                        inner,
                    );
                }
                // One spare grid row: `emit` may read past the last row into columns it drops.
                with_second_scratch((2 * gh + 1) * gw * m, |grid| {
                    let (grid, emit_work) = grid.split_at_mut((gh + 1) * gw * m);
                    for i in 0..count {
                        tiles.each_output(i * per_image, |t, at| {
                            (scheme.output_tile)(prod, t, t_n, m, work, grid, at * m, gw * m)
                        });
                        emit(first + i, grid, emit_work);
                    }
                });
            });
        });
    });
}

/// Every tile of one image's `padded` input into `v` (rows `t0..` of the `n²` matrices `t_n x k`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn input_tiles(
    scheme: &Scheme,
    tiles: &Tiles,
    padded: &[f32],
    k: usize,
    work: &mut [f32],
    v: &mut [f32],
    t0: usize,
    t_n: usize,
) {
    let (_, iw) = tiles.input_hw();
    tiles.each(t0, |t, at| {
        (scheme.input_tile)(padded, at * k, iw * k, k, work, v, t, t_n)
    });
}

/// One image `(k, rows, cols)` into `dst` with channels innermost: position `(r, q)` at `at + r * iw +
/// q` (positions of `k` floats), zeros elsewhere. The image is transposed whole (one map row is too short
/// for 8x8 blocks), in [`with_third_scratch`].
pub(crate) fn channels_last(
    image: &[f32],
    k: usize,
    rows: usize,
    cols: usize,
    dst: &mut [f32],
    iw: usize,
    at: usize,
) {
    with_third_scratch(rows * cols * k, |t| {
        positions_first(image, k, rows * cols, t);
        place_rows(t, k, cols, dst, iw, at);
    });
}

/// `image` (`k` planes of `positions` floats) as `positions` runs of `k` channels in `out`.
pub(crate) fn positions_first(image: &[f32], k: usize, positions: usize, out: &mut [f32]) {
    let whole = Mat {
        data: image,
        rows: positions,
        cols: k,
        rs: 1,
        cs: positions,
    };
    transpose_into(whole, out, k);
}

/// Rows of `cols` positions of `k` channels from `src` (channels innermost, as [`positions_first`]
/// writes them) into `dst` with row `r` at position `at + r * iw`, zeros elsewhere.
pub(crate) fn place_rows(
    src: &[f32],
    k: usize,
    cols: usize,
    dst: &mut [f32],
    iw: usize,
    at: usize,
) {
    dst.fill(0.0);
    for (r, row) in src.chunks_exact(cols * k).enumerate() {
        dst[(at + r * iw) * k..][..cols * k].copy_from_slice(row);
    }
}

/// A grid of `cells` positions of `m` channels as `m` planes of `cells` floats in `planes`, transposed
/// in 8x8 blocks.
pub(crate) fn grid_planes(grid: &[f32], m: usize, cells: usize, planes: &mut [f32]) {
    let whole = Mat {
        data: grid,
        rows: m,
        cols: cells,
        rs: 1,
        cs: m,
    };
    transpose_into(whole, planes, cells);
}

/// The top-left `oh x ow` of a grid (`gh x gw` positions of `m` channels) into `dst`, `(m, oh, ow)`:
/// the whole grid as planes in `work` ([`grid_planes`]), then the valid part of each row.
#[allow(clippy::too_many_arguments)]
pub(crate) fn emit_cropped(
    grid: &[f32],
    m: usize,
    gh: usize,
    gw: usize,
    oh: usize,
    ow: usize,
    dst: &mut [f32],
    work: &mut [f32],
) {
    let cells = gh * gw;
    grid_planes(grid, m, cells, work);
    for (out, cells) in dst.chunks_exact_mut(oh * ow).zip(work.chunks_exact(cells)) {
        for (out, src) in out.chunks_exact_mut(ow).zip(cells.chunks_exact(gw)) {
            out.copy_from_slice(&src[..ow]);
        }
    }
}

/// The epilogue of each of `dst`'s channels (`plane` floats each) with its bias.
pub(crate) fn finish_channels(
    dst: &mut [f32],
    plane: usize,
    bias: &[f32],
    epilogue: super::Epilogue,
) {
    if epilogue == super::Epilogue::None {
        return;
    }
    for (o, out) in dst.chunks_exact_mut(plane).enumerate() {
        let bo = bias.get(o).copied().unwrap_or(0.0);
        out.iter_mut().for_each(|v| *v = epilogue.apply(*v, bo));
    }
}

/// `N` rows of `len` floats, `stride` apart, from `data[first..]` (a plain loop, not `array::from_fn`,
/// which did not inline into the AVX-512 builds of the transforms).
#[inline(always)]
fn rows<const N: usize>(data: &[f32], first: usize, stride: usize, len: usize) -> [&[f32]; N] {
    let mut out: [&[f32]; N] = [&[]; N];
    for (i, row) in out.iter_mut().enumerate() {
        *row = &data[first + i * stride..][..len];
    }
    out
}

/// `N` mutable rows of `len` floats, `stride` apart, from the start of `out`.
#[inline(always)]
pub(crate) fn rows_mut<const N: usize>(
    out: &mut [f32],
    stride: usize,
    len: usize,
) -> [&mut [f32]; N] {
    let mut rows: [&mut [f32]; N] = [(); N].map(|_| Default::default());
    let mut rest = out;
    for (i, row) in rows.iter_mut().enumerate() {
        let taken = std::mem::take(&mut rest);
        if i + 1 < N {
            let (head, tail) = taken.split_at_mut(stride);
            *row = &mut head[..len];
            rest = tail;
        } else {
            *row = &mut taken[..len];
        }
    }
    rows
}

/// The two tile transforms of one scheme, `$input_tile` and `$output_tile` (the 1-D transforms called
/// by name, so that they inline into the AVX-512 and AVX2 builds of the loops):
///
/// - `$input_tile(padded, at, row, k, work, v, t, t_n)`: `V[a * n + b]` row `t` (`k` floats; the `n²`
///   matrices `t_n x k`, row-major, one after another) = `(Bᵀ d B)[a][b]`, `d` the `n x n` block of
///   `padded` from position `at` (rows `row` floats apart, channels innermost). `work`: `n² k` floats.
/// - `$output_tile(prod, t, t_n, m, work, grid, at, row)`: the `step x step` outputs of tile `t`,
///   `Aᵀ M A` of the products' row `t` (`prod`: `n²` matrices `t_n x m`), into `grid` from `at` (rows
///   `row` floats apart, channels innermost). `work`: `step n m` floats.
macro_rules! tile_transforms {
    (
        $input_tile:ident, $output_tile:ident, $gradient_tile:ident, $step:literal, $n:literal,
        $input_1d:ident, $output_1d:ident, $gradient_1d:ident
    ) => {
        dispatch_avx512! {
            #[allow(clippy::too_many_arguments)]
            fn $input_tile(
                padded: &[f32], at: usize, row: usize, k: usize, work: &mut [f32], v: &mut [f32],
                t: usize, t_n: usize,
            ) {
                for s in 0..$n {
                    let d = rows::<$n>(padded, at + s * k, row, k);
                    $input_1d(d, &mut work[s * k..], $n * k, k);
                }
                for r in 0..$n {
                    let d = rows::<$n>(work, r * $n * k, k, k);
                    $input_1d(d, &mut v[(r * $n * t_n + t) * k..], t_n * k, k);
                }
            }
        }

        dispatch_avx512! {
            #[allow(clippy::too_many_arguments)]
            fn $output_tile(
                prod: &[f32], t: usize, t_n: usize, m: usize, work: &mut [f32], grid: &mut [f32],
                at: usize, row: usize,
            ) {
                for s in 0..$n {
                    let p = rows::<$n>(prod, (s * t_n + t) * m, $n * t_n * m, m);
                    $output_1d(p, &mut work[s * m..], $n * m, m);
                }
                for i in 0..$step {
                    let p = rows::<$n>(work, i * $n * m, m, m);
                    $output_1d(p, &mut grid[at + i * row..], m, m);
                }
            }
        }

        dispatch_avx512! {
            #[allow(clippy::too_many_arguments)]
            fn $gradient_tile(
                grid: &[f32], at: usize, row: usize, m: usize, work: &mut [f32], dm: &mut [f32],
                t: usize, t_n: usize,
            ) {
                for j in 0..$step {
                    let y = rows::<$step>(grid, at + j * m, row, m);
                    $gradient_1d(y, &mut work[j * m..], $step * m, m);
                }
                for r in 0..$n {
                    let y = rows::<$step>(work, r * $step * m, m, m);
                    $gradient_1d(y, &mut dm[(r * $n * t_n + t) * m..], t_n * m, m);
                }
            }
        }
    };
}

tile_transforms!(
    input_tile_2x2,
    output_tile_2x2,
    gradient_tile_2x2,
    4,
    5,
    input_1d_2x2,
    output_1d_2x2,
    gradient_1d_2x2
);
tile_transforms!(
    input_tile_3x3,
    output_tile_3x3,
    gradient_tile_3x3,
    4,
    6,
    input_1d_3x3,
    output_1d_3x3,
    gradient_1d_3x3
);
tile_transforms!(
    input_tile_7x2,
    output_tile_7x2,
    gradient_tile_7x2,
    7,
    8,
    input_1d_7x2,
    output_1d_7x2,
    gradient_1d_7x2
);

/// `outs[j][i] = f(ins[..][i])[j]` for `i < len`, 16 lanes at a time through local arrays: every load of
/// a block comes before its stores, so the compiler vectorizes without checking the rows for overlap
/// (it had run the plain loop scalar behind such checks).
#[inline(always)]
pub(crate) fn by_lanes<const I: usize, const O: usize>(
    ins: [&[f32]; I],
    mut outs: [&mut [f32]; O],
    len: usize,
    f: impl Fn([f32; I]) -> [f32; O],
) {
    const LANES: usize = 16;
    let mut i = 0;
    while i + LANES <= len {
        let mut a = [[0.0f32; LANES]; I];
        for (lanes, src) in a.iter_mut().zip(&ins) {
            lanes.copy_from_slice(&src[i..i + LANES]);
        }
        let mut y = [[0.0f32; LANES]; O];
        for l in 0..LANES {
            let mut x = [0.0f32; I];
            for (v, lanes) in x.iter_mut().zip(&a) {
                *v = lanes[l];
            }
            for (lanes, v) in y.iter_mut().zip(f(x)) {
                lanes[l] = v;
            }
        }
        for (dst, lanes) in outs.iter_mut().zip(&y) {
            dst[i..i + LANES].copy_from_slice(lanes);
        }
        i += LANES;
    }
    for i in i..len {
        let mut x = [0.0f32; I];
        for (v, src) in x.iter_mut().zip(&ins) {
            *v = src[i];
        }
        for (dst, v) in outs.iter_mut().zip(f(x)) {
            dst[i] = v;
        }
    }
}

/// F(4x4, 2x2)'s `Bᵀ` on `k` channels: `out[j * stride..] = Σ_i Bᵀ[j][i] d[i]`.
#[inline(always)]
fn input_1d_2x2(d: [&[f32]; 5], out: &mut [f32], stride: usize, k: usize) {
    by_lanes(
        d,
        rows_mut::<5>(out, stride, k),
        k,
        |[a0, a1, a2, a3, a4]| {
            [
                2.0 * (a0 - a2) - a1 + a3,
                a3 - a2 - 2.0 * a1,
                2.0 * a1 - 3.0 * a2 + a3,
                a3 - a1,
                2.0 * (a1 - a3) - a2 + a4,
            ]
        },
    );
}

/// F(4x4, 2x2)'s `Aᵀ` on `m` channels: `out[j * stride..] = Σ_i Aᵀ[j][i] p[i]`.
#[inline(always)]
fn output_1d_2x2(p: [&[f32]; 5], out: &mut [f32], stride: usize, m: usize) {
    by_lanes(
        p,
        rows_mut::<4>(out, stride, m),
        m,
        |[a0, a1, a2, a3, a4]| {
            let (sum, diff) = (a1 + a2, a1 - a2);
            [
                a0 + sum + a3,
                diff + 2.0 * a3,
                sum + 4.0 * a3,
                diff + 8.0 * a3 + a4,
            ]
        },
    );
}

/// F(4x4, 3x3)'s `Bᵀ` on `k` channels.
#[inline(always)]
fn input_1d_3x3(d: [&[f32]; 6], out: &mut [f32], stride: usize, k: usize) {
    by_lanes(
        d,
        rows_mut::<6>(out, stride, k),
        k,
        |[a0, a1, a2, a3, a4, a5]| {
            let (p, q) = (a4 - 4.0 * a2, a3 - 4.0 * a1);
            let (s, t) = (a4 - a2, 2.0 * (a3 - a1));
            [
                4.0 * a0 - 5.0 * a2 + a4,
                p + q,
                p - q,
                s + t,
                s - t,
                4.0 * a1 - 5.0 * a3 + a5,
            ]
        },
    );
}

/// F(4x4, 3x3)'s `Aᵀ` on `m` channels.
#[inline(always)]
fn output_1d_3x3(p: [&[f32]; 6], out: &mut [f32], stride: usize, m: usize) {
    by_lanes(
        p,
        rows_mut::<4>(out, stride, m),
        m,
        |[a0, a1, a2, a3, a4, a5]| {
            let (s12, d12, s34, d34) = (a1 + a2, a1 - a2, a3 + a4, a3 - a4);
            [
                a0 + s12 + s34,
                d12 + 2.0 * d34,
                s12 + 4.0 * s34,
                d12 + 8.0 * d34 + a5,
            ]
        },
    );
}

/// F(4x4, 2x2)'s `A` (the adjoint of `Aᵀ`) on `m` channels: `out[r * stride..] = Σ_i Aᵀ[i][r] y[i]`.
#[inline(always)]
fn gradient_1d_2x2(y: [&[f32]; 4], out: &mut [f32], stride: usize, m: usize) {
    by_lanes(y, rows_mut::<5>(out, stride, m), m, |[a0, a1, a2, a3]| {
        let (even, odd) = (a0 + a2, a1 + a3);
        [
            a0,
            even + odd,
            even - odd,
            a0 + 2.0 * a1 + 4.0 * a2 + 8.0 * a3,
            a3,
        ]
    });
}

/// F(4x4, 3x3)'s `A` on `m` channels.
#[inline(always)]
fn gradient_1d_3x3(y: [&[f32]; 4], out: &mut [f32], stride: usize, m: usize) {
    by_lanes(y, rows_mut::<6>(out, stride, m), m, |[a0, a1, a2, a3]| {
        let (even, odd) = (a0 + a2, a1 + a3);
        let (even4, odd2) = (a0 + 4.0 * a2, 2.0 * a1 + 8.0 * a3);
        [a0, even + odd, even - odd, even4 + odd2, even4 - odd2, a3]
    });
}

/// F(7x7, 2x2)'s `Bᵀ` on `k` channels (points 0, 1, -1, 2, -2, 1/2, -1/2 and infinity: rows 1-2, 3-4
/// and 5-6 are the sum and difference of an even and an odd part).
#[inline(always)]
fn input_1d_7x2(d: [&[f32]; 8], out: &mut [f32], stride: usize, k: usize) {
    by_lanes(
        d,
        rows_mut::<8>(out, stride, k),
        k,
        |[a0, a1, a2, a3, a4, a5, a6, a7]| {
            let (e1, o1) = (a2 - 4.25 * a4 + a6, a1 - 4.25 * a3 + a5);
            let (e2, o2) = (0.25 * a2 - 1.25 * a4 + a6, 0.5 * a1 - 2.5 * a3 + 2.0 * a5);
            let (e3, o3) = (4.0 * a2 - 5.0 * a4 + a6, 2.0 * a1 - 2.5 * a3 + 0.5 * a5);
            [
                a0 - a6 + 5.25 * (a4 - a2),
                e1 + o1,
                e1 - o1,
                e2 + o2,
                e2 - o2,
                e3 + o3,
                e3 - o3,
                a7 - a1 + 5.25 * (a3 - a5),
            ]
        },
    );
}

/// F(7x7, 2x2)'s `Aᵀ` on `m` channels, its columns for ±1/2 scaled by 64 (and `G`'s rows by 1/64).
#[inline(always)]
fn output_1d_7x2(p: [&[f32]; 8], out: &mut [f32], stride: usize, m: usize) {
    by_lanes(
        p,
        rows_mut::<7>(out, stride, m),
        m,
        |[a0, a1, a2, a3, a4, a5, a6, a7]| {
            let (s1, d1, s2, d2) = (a1 + a2, a1 - a2, a3 + a4, a3 - a4);
            let (s3, d3) = (a5 + a6, a5 - a6);
            [
                a0 + s1 + s2 + 64.0 * s3,
                d1 + 2.0 * d2 + 32.0 * d3,
                s1 + 4.0 * s2 + 16.0 * s3,
                d1 + 8.0 * (d2 + d3),
                s1 + 16.0 * s2 + 4.0 * s3,
                d1 + 32.0 * d2 + 2.0 * d3,
                s1 + 64.0 * s2 + s3 + a7,
            ]
        },
    );
}

/// F(7x7, 2x2)'s `A` on `m` channels.
#[inline(always)]
fn gradient_1d_7x2(y: [&[f32]; 7], out: &mut [f32], stride: usize, m: usize) {
    by_lanes(
        y,
        rows_mut::<8>(out, stride, m),
        m,
        |[a0, a1, a2, a3, a4, a5, a6]| {
            let (e1, o1) = (a0 + a2 + a4 + a6, a1 + a3 + a5);
            let (e2, o2) = (
                a0 + 4.0 * a2 + 16.0 * a4 + 64.0 * a6,
                2.0 * a1 + 8.0 * a3 + 32.0 * a5,
            );
            let (e3, o3) = (
                64.0 * a0 + 16.0 * a2 + 4.0 * a4 + a6,
                32.0 * a1 + 8.0 * a3 + 2.0 * a5,
            );
            [a0, e1 + o1, e1 - o1, e2 + o2, e2 - o2, e3 + o3, e3 - o3, a6]
        },
    );
}

/// Tiles per partial weight gradient, at least, and the most partials ([`weight_gradient_taps`]);
/// each partial is the `n²` transformed matrices (3.3 MB for the DCGAN's 64 -> 128 layer). Counted in
/// tiles of 4x4 outputs ([`Tiles::as_4x4`]), not images: 8 images of 56x56 make two partials, and so
/// would 128 of 7x7 under F(7x7, 2x2) (one tile each), so that both cores transform.
const TILES_PER_PARTIAL: usize = 256;
const MAX_PARTIALS: usize = 2;

/// The weight gradient, tap by tap (`r²` matrices `k x m`), of the correlation [`correlate`] computes
/// from inputs written by `fill_x` (as [`correlate`]'s `fill`), given output gradients written by
/// `fill_gy(b, grid)` ([`Tiles::grid_hw`] positions of `m` channels, zeros past the outputs): the
/// adjoint of its transforms. Each tile's output gradient goes through `A dY Aᵀ`, the transformed
/// gradients `dU = Σ_tiles Vᵀ (A dY Aᵀ)` are GEMMs over tiles, summed in partials that follow the batch
/// size alone (so the result does not depend on the thread count), and `dW = Gᵀ dU G`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn weight_gradient_taps(
    scheme: &Scheme,
    batch: usize,
    k: usize,
    m: usize,
    tiles: Tiles,
    fill_x: impl Fn(usize, &mut [f32]) + Sync,
    fill_gy: impl Fn(usize, &mut [f32]) + Sync,
) -> Vec<f32> {
    use crate::kernels::parallel::{for_parts, reduction_parts};
    let (nn, len) = (scheme.nn(), k * m);
    let images = images_per_item(&tiles, batch);
    let parts = reduction_parts(batch * tiles.as_4x4(), TILES_PER_PARTIAL).min(MAX_PARTIALS);
    let inner = band_threads(parts);
    let partials = for_parts(batch, parts, |_, range| {
        let fill = |du: SharedMut| {
            for (n, first) in range.clone().step_by(images).enumerate() {
                let item = first..(first + images).min(range.end);
                // SAFETY: this part alone holds `du`, and its items run one after another.
                let product = |kk: usize| unsafe { MatMut::shared(du, kk * len, k, m, m) };
                let fills = (&fill_x, &fill_gy);
                item_gradient(scheme, &tiles, item, k, m, fills, product, n > 0, inner);
            }
        };
        // SAFETY: the part's first item's products write all of the buffer (a part holds at least one
        // image); the others add to it.
        unsafe { written_in_full(nn * len, 0, fill) }
    });
    // dtaps[(i, j)] = Σ_ab G[a][i] G[b][j] dU[a n + b], dU the partials' sum.
    let (n, r) = (scheme.n, scheme.r);
    let sources: Vec<&[f32]> = partials.iter().flat_map(|p| p.chunks_exact(len)).collect();
    let terms: Vec<Vec<(f32, usize)>> = (0..r * r)
        .map(|t| {
            (0..sources.len())
                .map(|i| {
                    let ab = i % nn;
                    let coef = scheme.g[(ab / n) * r + t / r] * scheme.g[(ab % n) * r + t % r];
                    (coef, i)
                })
                .filter(|&(coef, _)| coef != 0.0)
                .collect()
        })
        .collect();
    combine(&sources, len, &terms)
}

/// One work item's share of [`weight_gradient_taps`]: the input and output-gradient tiles of images
/// `item`, and the `n²` products `dU[kk] (+)= Vᵀ (A dY Aᵀ)` into `product(kk)`, added to with `accumulate`.
#[allow(clippy::too_many_arguments)]
fn item_gradient<'a>(
    scheme: &Scheme,
    tiles: &Tiles,
    item: std::ops::Range<usize>,
    k: usize,
    m: usize,
    (fill_x, fill_gy): (&impl Fn(usize, &mut [f32]), &impl Fn(usize, &mut [f32])),
    product: impl Fn(usize) -> MatMut<'a>,
    accumulate: bool,
    inner: crate::kernels::gemm::Threads,
) {
    let nn = scheme.nn();
    let (ih, iw) = tiles.input_hw();
    let (gh, gw) = tiles.grid_hw();
    let per_image = tiles.count();
    let t_n = item.len() * per_image;
    with_scratch(nn * t_n * (k + m) + nn * k.max(m), |buf| {
        let (v, rest) = buf.split_at_mut(nn * t_n * k);
        let (dm, work) = rest.split_at_mut(nn * t_n * m);
        with_second_scratch((ih * iw * k).max(gh * gw * m), |padded| {
            for (i, b) in item.clone().enumerate() {
                fill_x(b, &mut padded[..ih * iw * k]);
                input_tiles(scheme, tiles, padded, k, work, v, i * per_image, t_n);
                let grid = &mut padded[..gh * gw * m];
                fill_gy(b, grid);
                tiles.each_output(i * per_image, |t, at| {
                    (scheme.gradient_tile)(grid, at * m, gw * m, m, work, dm, t, t_n)
                });
            }
        });
        for kk in 0..nn {
            sgemm(
                product(kk),
                accumulate,
                Mat::rows(&v[kk * t_n * k..(kk + 1) * t_n * k], t_n, k).t(),
                Mat::rows(&dm[kk * t_n * m..(kk + 1) * t_n * m], t_n, m),
                inner,
            );
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// F(4x4, 2x2)'s `Bᵀ` and `Aᵀ` (points 0, 1, -1, 2, infinity).
    const BT_2X2: [[f32; 5]; 5] = [
        [2.0, -1.0, -2.0, 1.0, 0.0],
        [0.0, -2.0, -1.0, 1.0, 0.0],
        [0.0, 2.0, -3.0, 1.0, 0.0],
        [0.0, -1.0, 0.0, 1.0, 0.0],
        [0.0, 2.0, -1.0, -2.0, 1.0],
    ];
    const AT_2X2: [[f32; 5]; 4] = [
        [1.0, 1.0, 1.0, 1.0, 0.0],
        [0.0, 1.0, -1.0, 2.0, 0.0],
        [0.0, 1.0, 1.0, 4.0, 0.0],
        [0.0, 1.0, -1.0, 8.0, 1.0],
    ];
    /// F(4x4, 3x3)'s (points 0, 1, -1, 2, -2, infinity).
    const BT_3X3: [[f32; 6]; 6] = [
        [4., 0., -5., 0., 1., 0.],
        [0., -4., -4., 1., 1., 0.],
        [0., 4., -4., -1., 1., 0.],
        [0., -2., -1., 2., 1., 0.],
        [0., 2., -1., -2., 1., 0.],
        [0., 4., 0., -5., 0., 1.],
    ];
    const AT_3X3: [[f32; 6]; 4] = [
        [1., 1., 1., 1., 1., 0.],
        [0., 1., -1., 2., -2., 0.],
        [0., 1., 1., 4., 4., 0.],
        [0., 1., -1., 8., -8., 1.],
    ];

    /// F(7x7, 2x2)'s (points 0, 1, -1, 2, -2, 1/2, -1/2, infinity; `Aᵀ`'s columns for ±1/2 times 64).
    const BT_7X2: [[f32; 8]; 8] = [
        [1., 0., -5.25, 0., 5.25, 0., -1., 0.],
        [0., 1., 1., -4.25, -4.25, 1., 1., 0.],
        [0., -1., 1., 4.25, -4.25, -1., 1., 0.],
        [0., 0.5, 0.25, -2.5, -1.25, 2., 1., 0.],
        [0., -0.5, 0.25, 2.5, -1.25, -2., 1., 0.],
        [0., 2., 4., -2.5, -5., 0.5, 1., 0.],
        [0., -2., 4., 2.5, -5., -0.5, 1., 0.],
        [0., -1., 0., 5.25, 0., -5.25, 0., 1.],
    ];
    const AT_7X2: [[f32; 8]; 7] = [
        [1., 1., 1., 1., 1., 64., 64., 0.],
        [0., 1., -1., 2., -2., 32., -32., 0.],
        [0., 1., 1., 4., 4., 16., 16., 0.],
        [0., 1., -1., 8., -8., 8., -8., 0.],
        [0., 1., 1., 16., 16., 4., 4., 0.],
        [0., 1., -1., 32., -32., 2., -2., 0.],
        [0., 1., 1., 64., 64., 1., 1., 1.],
    ];

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7 + seed * 13) as f32 * 0.731).sin())
            .collect()
    }

    /// `transform` applied to `N` rows of 3 channels against `Σ_i matrix[j][i] row[i]`.
    fn check_1d<const N: usize>(
        what: &str,
        transform: impl Fn([&[f32]; N], &mut [f32], usize, usize),
        matrix: &[[f32; N]],
    ) {
        let d: Vec<Vec<f32>> = (0..N).map(|i| values(3, 10 + i)).collect();
        let mut out = vec![0.0f32; matrix.len() * 3];
        transform(std::array::from_fn(|i| &d[i][..]), &mut out, 3, 3);
        for (j, row) in matrix.iter().enumerate() {
            for c in 0..3 {
                let want: f32 = (0..N).map(|i| row[i] * d[i][c]).sum();
                assert!(
                    (out[j * 3 + c] - want).abs() < 1e-4,
                    "{what} row {j}: {} against {want}",
                    out[j * 3 + c]
                );
            }
        }
    }

    #[test]
    fn the_unrolled_transforms_are_the_matrices() {
        let transposed = |at: &[[f32; 4]]| -> Vec<[f32; 4]> { at.to_vec() };
        let a_2x2: Vec<[f32; 4]> = (0..5)
            .map(|r| std::array::from_fn(|i| AT_2X2[i][r]))
            .collect();
        let a_3x3: Vec<[f32; 4]> = (0..6)
            .map(|r| std::array::from_fn(|i| AT_3X3[i][r]))
            .collect();
        let a_7x2: Vec<[f32; 7]> = (0..8)
            .map(|r| std::array::from_fn(|i| AT_7X2[i][r]))
            .collect();
        check_1d("F(7x7, 2x2) A", gradient_1d_7x2, &a_7x2);
        check_1d("F(7x7, 2x2) Bᵀ", input_1d_7x2, &BT_7X2);
        check_1d("F(7x7, 2x2) Aᵀ", output_1d_7x2, &AT_7X2);
        check_1d("F(4x4, 2x2) A", gradient_1d_2x2, &transposed(&a_2x2));
        check_1d("F(4x4, 3x3) A", gradient_1d_3x3, &transposed(&a_3x3));
        check_1d("F(4x4, 2x2) Bᵀ", input_1d_2x2, &BT_2X2);
        check_1d("F(4x4, 2x2) Aᵀ", output_1d_2x2, &AT_2X2);
        check_1d("F(4x4, 3x3) Bᵀ", input_1d_3x3, &BT_3X3);
        check_1d("F(4x4, 3x3) Aᵀ", output_1d_3x3, &AT_3X3);
    }

    /// `Aᵀ [(G g) ⊙ (Bᵀ d)] = (Σ_k g[k] d[i + k])_i`: unit filters and inputs, every pair.
    #[allow(clippy::needless_range_loop)]
    fn check_correlation<const N: usize>(scheme: &Scheme, bt: &[[f32; N]], at: &[[f32; N]]) {
        let r = scheme.r;
        for tap in 0..r {
            for s in 0..N {
                for (i, at_row) in at.iter().enumerate() {
                    let got: f32 = (0..N)
                        .map(|j| at_row[j] * scheme.g[j * r + tap] * bt[j][s])
                        .sum();
                    let want = if s == i + tap { 1.0 } else { 0.0 };
                    assert!(
                        (got - want).abs() < 1e-6,
                        "r {r}: tap {tap}, input {s}, output {i}: {got}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_matrices_make_a_correlation() {
        check_correlation(&F4X4_2X2, &BT_2X2, &AT_2X2);
        check_correlation(&F4X4_3X3, &BT_3X3, &AT_3X3);
        check_correlation(&F7X7_2X2, &BT_7X2, &AT_7X2);
    }

    /// The cheaper 2x2 scheme by products: one 7x7 tile (64) against four 4x4 ones (100), but for an
    /// 8x8 map four 7x7 tiles (256) against four 4x4 ones.
    #[test]
    fn the_cheapest_2x2_scheme_follows_the_map() {
        assert_eq!(cheapest_2x2(7, 7).step, 7);
        assert_eq!(cheapest_2x2(14, 14).step, 7);
        assert_eq!(cheapest_2x2(8, 8).step, 4);
        assert_eq!(cheapest_2x2(4, 4).step, 4);
    }
}
