//! Direct convolution (stride 1, no dilation) on AVX-512, for small maps, where im2col + GEMM spends as
//! long lowering and packing as multiplying: the MNIST network's second convolution (32 -> 64 channels,
//! 24x24 out) lowered 288 x 576 floats per image, and the gemm crate packed them again, about a fifth of
//! an inference pass (`perf record` of `kernels_bench --case mnist_infer`, 2026-12-05).
//!
//! Each image is copied once with its zero padding into a per-thread buffer of `hp x wp` planes. Seen as
//! one long row, output position `p = r * wp + c` (for `c < ow`) is then the sum over (channel, kernel
//! row, kernel column) of a weight times the input at `p + channel * hp * wp + kernel_row * wp +
//! kernel_col`: for every term a run of consecutive outputs reads a run of consecutive inputs. The
//! micro-kernel makes [`TILE`] such positions of [`CO`] output channels with plain vector loads, one
//! broadcast weight per channel and term, and nothing lowered. Positions with `c >= ow` wrap into the
//! next row and are computed and dropped (2 of 26 columns for MNIST); the result is written into a
//! "wide" plane of `wp` columns a row, whose valid columns the caller reads. The input gradient is the
//! same convolution of the output gradient with the flipped filters ([`input_gradient`]), and the weight
//! gradient the same view turned around ([`weight_gradient`]).

use std::ops::Range;

use super::ConvGeometry;
use crate::kernels::parallel::{with_scratch, with_second_scratch, MIN_WORK_ITEMS};

/// Output channels per tile: 8 broadcasts a term.
pub const CO: usize = 8;
/// Vectors of 16 positions per tile.
const VECS: usize = 3;
/// Output positions per tile.
pub const TILE: usize = 16 * VECS;

/// Largest output plane the direct path takes: past it the lowered matrix of a band is wide enough for
/// the GEMM to pay for its packing, and Winograd takes 3x3 layers from 28x28 with 64 channels.
const MAX_OUTPUT_PIXELS: usize = 32 * 32;

/// Deepest patch the direct path takes. Each tile reads its positions' whole patch from the padded
/// image, so deep inputs stream through L1 once per tile: VGG16's 512 -> 512 layers at 14x14 ran in
/// 7.8 ms direct against 5.9 by im2col (`examples/conv_layers.rs`, AMD Zen 4, 2026-12-05), while the
/// MNIST network's 288- and 576-deep patches gain.
const MAX_PATCH: usize = 1024;

/// Shallowest patch the direct path takes: the autoencoder's 3 -> 16 layer (27 deep) ran in 0.3 ms
/// direct against 0.4 by im2col, its 1 -> 16 layer (9 deep) in 0.8 against 0.5 (`examples/conv_layers.rs`,
/// AMD Zen 4, 2026-12-05).
const MIN_PATCH: usize = 16;

/// Whether the direct path runs `g` forward (and as an input gradient): the CPU has AVX-512 (and
/// `GLASSBOX_CPU` allows it), stride 1, no dilation, a small output plane and patches neither too
/// shallow for the tiles' loads nor too deep for L1. Fewer than [`CO`] output channels leave part of
/// each tile idle and still win (the autoencoder's 8 -> 3 and 16 -> 1 layers).
pub fn applies(g: &ConvGeometry) -> bool {
    crate::kernels::activation::has_avx512f()
        && g.stride == 1
        && g.dilation == 1
        && (MIN_PATCH..=MAX_PATCH).contains(&g.patch_len())
        && g.output_hw()
            .is_some_and(|(oh, ow)| oh * ow <= MAX_OUTPUT_PIXELS)
}

/// Whether [`weight_gradient`] runs `g`'s weight gradient: [`applies`], and output channels that fill
/// whole vectors (its tiles are vectors of channels; one channel would use a sixteenth of each).
pub fn gradient_applies(g: &ConvGeometry) -> bool {
    applies(g) && g.out_channels.is_multiple_of(16)
}

/// The layout of one image's padded input and wide output.
#[derive(Clone, Copy, Debug)]
pub struct Wide {
    /// Padded input height.
    pub hp: usize,
    /// Padded input width, which is also the wide output's row stride.
    pub wp: usize,
    /// Output rows.
    pub oh: usize,
    /// Output columns that are valid in each wide row.
    pub ow: usize,
    /// Floats between consecutive channels of the wide output: `oh * wp` rounded up to whole tiles.
    pub stride: usize,
}

impl Wide {
    fn new(g: &ConvGeometry) -> Wide {
        let (oh, ow) = g.output_hw().expect("checked geometry");
        let (hp, wp) = (g.height + 2 * g.padding, g.width + 2 * g.padding);
        Wide {
            hp,
            wp,
            oh,
            ow,
            stride: (oh * wp).next_multiple_of(TILE),
        }
    }

    /// Floats of the padded input, with room for the last tile's reads past the last plane.
    fn input_len(&self, channels: usize) -> usize {
        channels * self.hp * self.wp + TILE + self.wp
    }
}

/// The filters `(out, in, kh, kw)` as groups of [`CO`] output channels, each `patch_len x CO` with the
/// channels innermost (zeros past the last channel).
fn pack_filters(w: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let (m, k) = (g.out_channels, g.patch_len());
    let groups = m.div_ceil(CO);
    let mut packed = vec![0.0f32; groups * k * CO];
    for o in 0..m {
        let (group, j) = (o / CO, o % CO);
        for (kk, &v) in w[o * k..(o + 1) * k].iter().enumerate() {
            packed[(group * k + kk) * CO + j] = v;
        }
    }
    packed
}

/// The filters of the convolution whose input gradient `g`'s transpose is, `(out, in, kh, kw)`, as
/// filters of that transposed convolution: `(in, out, kh, kw)`, each rotated by 180 degrees.
fn flipped_transposed(w: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let (o_n, c_n, kh, kw) = (g.out_channels, g.in_channels, g.kernel_h, g.kernel_w);
    let area = kh * kw;
    let mut out = vec![0.0f32; w.len()];
    for o in 0..o_n {
        for c in 0..c_n {
            let src = &w[(o * c_n + c) * area..(o * c_n + c + 1) * area];
            let dst = &mut out[(c * o_n + o) * area..(c * o_n + o + 1) * area];
            for (d, s) in dst.iter_mut().zip(src.iter().rev()) {
                *d = *s;
            }
        }
    }
    out
}

/// Where each term of a patch reads, relative to the output position, in the padded image.
fn term_offsets(g: &ConvGeometry, wide: &Wide) -> Vec<u32> {
    let plane = wide.hp * wide.wp;
    let mut offsets = Vec::with_capacity(g.patch_len());
    for c in 0..g.in_channels {
        for i in 0..g.kernel_h {
            for j in 0..g.kernel_w {
                offsets.push((c * plane + i * wide.wp + j) as u32);
            }
        }
    }
    offsets
}

/// Runs the convolution of `x` (`(batch, in, h, w)`) with `w` and calls `emit(image, groups, wide)` for
/// each work item: `wide` holds the wide output of [`CO`] channels per group of `groups` (group `q`'s
/// channel `j` at `wide[((q - groups.start) * CO + j) * layout.stride..]`), for the caller's epilogue.
/// Items are whole images, or groups of channels of one image when there are few images; the sums are
/// the same either way (each output's terms in patch order), so results do not depend on threads.
pub fn for_each_item(
    x: &[f32],
    w: &[f32],
    g: &ConvGeometry,
    emit: impl Fn(usize, Range<usize>, &Wide, &[f32]) + Sync,
) {
    use rayon::prelude::*;
    assert!(
        crate::kernels::activation::has_avx512f() && g.stride == 1 && g.dilation == 1,
        "direct convolution: needs AVX-512F, stride 1 and dilation 1 ({g:?})"
    );
    let wide = Wide::new(g);
    let filters = pack_filters(w, g);
    let offsets = term_offsets(g, &wide);
    let groups = g.out_channels.div_ceil(CO);
    let splits = MIN_WORK_ITEMS.div_ceil(g.batch).clamp(1, groups);
    let items: Vec<(usize, Range<usize>)> = (0..g.batch)
        .flat_map(|b| {
            crate::kernels::parallel::partition(groups, splits)
                .into_iter()
                .map(move |r| (b, r))
        })
        .collect();
    let image_len = g.in_channels * g.height * g.width;
    let k = g.patch_len();
    items.into_par_iter().for_each(|(b, range)| {
        with_scratch(wide.input_len(g.in_channels), |padded| {
            pad_image(&x[b * image_len..(b + 1) * image_len], g, &wide, padded);
            with_second_scratch(range.len() * CO * wide.stride, |out| {
                for (i, q) in range.clone().enumerate() {
                    let panel = &filters[q * k * CO..(q + 1) * k * CO];
                    let dst = &mut out[i * CO * wide.stride..(i + 1) * CO * wide.stride];
                    group_tiles(padded, &offsets, panel, dst, &wide);
                }
                emit(b, range, &wide, out);
            });
        });
    });
}

/// Copies one image into `padded` (`in` planes of `hp x wp`, zero borders, zero tail).
fn pad_image(image: &[f32], g: &ConvGeometry, wide: &Wide, padded: &mut [f32]) {
    let (h, w, p) = (g.height, g.width, g.padding);
    let plane = wide.hp * wide.wp;
    if p == 0 {
        padded[..image.len()].copy_from_slice(image);
        padded[image.len()..].fill(0.0);
        return;
    }
    padded.fill(0.0);
    for c in 0..g.in_channels {
        for r in 0..h {
            let src = &image[(c * h + r) * w..(c * h + r + 1) * w];
            let at = c * plane + (r + p) * wide.wp + p;
            padded[at..at + w].copy_from_slice(src);
        }
    }
}

/// Every tile of one group's wide output.
fn group_tiles(padded: &[f32], offsets: &[u32], panel: &[f32], out: &mut [f32], wide: &Wide) {
    debug_assert!(offsets
        .iter()
        .all(|&o| o as usize + wide.stride <= padded.len()));
    debug_assert_eq!(panel.len(), offsets.len() * CO);
    for p0 in (0..wide.stride).step_by(TILE) {
        // SAFETY: `applies` checked AVX-512F; every read is at most `offsets[k] + stride` into
        // `padded` (asserted above for debug builds, by `Wide::input_len` in general), and the tile's
        // stores are inside `out`, `CO` rows of `stride` floats.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            avx512::tile(
                padded.as_ptr().add(p0),
                offsets,
                panel.as_ptr(),
                out.as_mut_ptr().add(p0),
                wide.stride,
            )
        };
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("the direct path needs AVX-512 ({p0}, {})", out.len());
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{CO, VECS};
    use std::arch::x86_64::*;

    /// `TILE` positions of `CO` channels: `out[j * stride + t] = sum_k panel[k * CO + j] * x[offsets[k] + t]`.
    ///
    /// # Safety
    /// AVX-512F; `x` valid for reading `offsets[k] + TILE` floats for every `k`, `panel` for
    /// `offsets.len() * CO`, `out` for writing `(CO - 1) * stride + TILE`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn tile(
        x: *const f32,
        offsets: &[u32],
        panel: *const f32,
        out: *mut f32,
        stride: usize,
    ) {
        let mut acc = [[_mm512_setzero_ps(); VECS]; CO];
        let mut wk = panel;
        for &off in offsets {
            let p = x.add(off as usize);
            let v = [
                _mm512_loadu_ps(p),
                _mm512_loadu_ps(p.add(16)),
                _mm512_loadu_ps(p.add(32)),
            ];
            for (j, row) in acc.iter_mut().enumerate() {
                let b = _mm512_set1_ps(*wk.add(j));
                for (a, &v) in row.iter_mut().zip(&v) {
                    *a = _mm512_fmadd_ps(b, v, *a);
                }
            }
            wk = wk.add(CO);
        }
        for (j, row) in acc.iter().enumerate() {
            for (i, &a) in row.iter().enumerate() {
                _mm512_storeu_ps(out.add(j * stride + i * 16), a);
            }
        }
    }

    /// For every block of `KT` terms: `dwt[t][c] += sum_q x[offsets[t] + q] * gyt[q][c]` over `c <
    /// 16 MV` (row strides `ld`), `q < positions`. The last block is padded with its last offset and
    /// its extra rows are not stored.
    ///
    /// # Safety
    /// AVX-512F; `x` valid for reading `offsets[t] + positions` floats, `gyt` for `positions` rows of
    /// `16 MV` floats `ld` apart, `dwt` for reading and writing `offsets.len()` such rows.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn gradient<const MV: usize, const KT: usize>(
        x: *const f32,
        offsets: &[u32],
        gyt: *const f32,
        ld: usize,
        positions: usize,
        dwt: *mut f32,
    ) {
        for (block, offs) in offsets.chunks(KT).enumerate() {
            let t0 = block * KT;
            let kt = offs.len();
            let at: [usize; KT] = std::array::from_fn(|t| offs[t.min(kt - 1)] as usize);
            let mut acc = [[_mm512_setzero_ps(); MV]; KT];
            for (t, row) in acc.iter_mut().enumerate().take(kt) {
                for (j, a) in row.iter_mut().enumerate() {
                    *a = _mm512_loadu_ps(dwt.add((t0 + t) * ld + 16 * j));
                }
            }
            for q in 0..positions {
                let g: [__m512; MV] =
                    std::array::from_fn(|j| _mm512_loadu_ps(gyt.add(q * ld + 16 * j)));
                for (t, row) in acc.iter_mut().enumerate() {
                    let b = _mm512_set1_ps(*x.add(at[t] + q));
                    for (a, &g) in row.iter_mut().zip(&g) {
                        *a = _mm512_fmadd_ps(b, g, *a);
                    }
                }
            }
            for (t, row) in acc.iter().enumerate().take(kt) {
                for (j, &a) in row.iter().enumerate() {
                    _mm512_storeu_ps(dwt.add((t0 + t) * ld + 16 * j), a);
                }
            }
        }
    }
}

/// `y = epilogue(w * x + bias)` by the direct path (see [`applies`]).
///
/// Panics without AVX-512F or on a stride or dilation other than 1 (programming errors: callers check
/// [`applies`]).
pub fn forward(
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    g: &ConvGeometry,
    epilogue: super::Epilogue,
) -> Vec<f32> {
    use crate::kernels::parallel::{written_in_full, SharedMut};
    let (oh, ow) = g.output_hw().expect("checked geometry");
    let (m, plane) = (g.out_channels, oh * ow);
    let fill = |shared: SharedMut| {
        for_each_item(x, w, g, |b, groups, wide, out| {
            for (i, o) in (groups.start * CO..(groups.end * CO).min(m)).enumerate() {
                let bo = bias.get(o).copied().unwrap_or(0.0);
                let src = &out[i * wide.stride..];
                // SAFETY: each (image, channel) plane belongs to one work item.
                let dst = unsafe { shared.slice((b * m + o) * plane, plane) };
                for (r, row) in dst.chunks_exact_mut(ow).enumerate() {
                    for (d, &v) in row.iter_mut().zip(&src[r * wide.wp..r * wide.wp + ow]) {
                        *d = epilogue.apply(v, bo);
                    }
                }
            }
        });
    };
    // SAFETY: the items write every plane of every image.
    unsafe { written_in_full(g.output_len(), 0, fill) }
}

/// The input gradient of the stride-1 convolution `g` from its output gradient `gy`, as the direct
/// forward convolution `tg` (`g.transposed_as_conv()`) of `gy` with the flipped, transposed filters.
pub fn input_gradient(gy: &[f32], w: &[f32], g: &ConvGeometry, tg: &ConvGeometry) -> Vec<f32> {
    forward(
        gy,
        &flipped_transposed(w, g),
        &[],
        tg,
        super::Epilogue::None,
    )
}

/// Images per partial weight gradient, at least, and the most partials ([`weight_gradient`]).
const IMAGES_PER_PARTIAL: usize = 16;
const MAX_PARTIALS: usize = 4;

/// Output channels of one pass of the weight gradient's tiles: 4 vectors.
const GRADIENT_CHANNELS: usize = 64;

/// The weight gradient `(out, in, kh, kw)` followed by the bias gradient `(out)` of the direct path's
/// convolution `g` (see [`applies`]), from its input `x` and output gradient `gy`.
///
/// The same view as [`forward`], turned around: the gradient of the weight of term `k` and output
/// channel `o` is the sum over wide positions `q` of `gy[o][q] * padded[offsets[k] + q]` (`gy` zero in
/// the dropped columns). Each image's `gy` is transposed once to `(q, channel)`, so a tile keeps a block
/// of terms of 64 channels (4 vectors) in registers and, for each position, loads the 4 vectors and
/// broadcasts one input per term: no lowered matrix, no packing, no sums across lanes. Images are summed
/// in a few partial gradients that follow the batch size alone, so the result does not depend on the
/// thread count. Im2col + GEMM spent a third of its time lowering and packing on the MNIST network's
/// second convolution (`perf record` of `kernels_bench --case mnist_train`).
pub fn weight_gradient(x: &[f32], gy: &[f32], g: &ConvGeometry) -> Vec<f32> {
    use crate::kernels::bias::lanes_sum;
    use crate::kernels::gemm::{transpose_into, Mat};
    use crate::kernels::parallel::{for_parts, reduction_parts, sum_in_order};
    assert!(
        crate::kernels::activation::has_avx512f() && g.stride == 1 && g.dilation == 1,
        "direct convolution: needs AVX-512F, stride 1 and dilation 1 ({g:?})"
    );
    let wide = Wide::new(g);
    let offsets = term_offsets(g, &wide);
    let (m, k) = (g.out_channels, g.patch_len());
    let (oh, ow) = (wide.oh, wide.ow);
    let plane = oh * ow;
    let mp = m.next_multiple_of(16);
    let positions = oh * wide.wp;
    let image_len = g.in_channels * g.height * g.width;
    let parts = reduction_parts(g.batch, IMAGES_PER_PARTIAL).min(MAX_PARTIALS);
    let partials = for_parts(g.batch, parts, |_, images| {
        // The weight gradient transposed, `(k, mp)`, then the bias gradient.
        let mut acc = vec![0.0f32; k * mp + m];
        let (dwt, db) = acc.split_at_mut(k * mp);
        for b in images {
            let gy_image = &gy[b * m * plane..(b + 1) * m * plane];
            for (o, dbo) in db.iter_mut().enumerate() {
                *dbo += lanes_sum(&gy_image[o * plane..(o + 1) * plane]);
            }
            with_scratch(wide.input_len(g.in_channels), |padded| {
                pad_image(&x[b * image_len..(b + 1) * image_len], g, &wide, padded);
                with_second_scratch(positions * mp, |gyt| {
                    if mp > m {
                        gyt.fill(0.0);
                    }
                    for r in 0..oh {
                        let rows = Mat {
                            data: &gy_image[r * ow..],
                            rows: ow,
                            cols: m,
                            rs: 1,
                            cs: plane,
                        };
                        let at = r * wide.wp * mp;
                        transpose_into(rows, &mut gyt[at..], mp);
                        gyt[at + ow * mp..at + wide.wp * mp].fill(0.0);
                    }
                    gradient_tiles(padded, &offsets, gyt, mp, positions, dwt);
                });
            });
        }
        acc
    });
    let sum = sum_in_order(partials, || unreachable!("at least one partial"));
    let mut out = vec![0.0f32; m * k + m];
    let dwt = Mat {
        data: &sum[..k * mp],
        rows: k,
        cols: m,
        rs: mp,
        cs: 1,
    };
    transpose_into(dwt.t(), &mut out, k);
    out[m * k..].copy_from_slice(&sum[k * mp..]);
    out
}

/// Adds one image's terms to `dwt` (`(k, mp)`): every block of terms, 64 channels at a time.
fn gradient_tiles(
    padded: &[f32],
    offsets: &[u32],
    gyt: &[f32],
    mp: usize,
    positions: usize,
    dwt: &mut [f32],
) {
    debug_assert!(offsets
        .iter()
        .all(|&o| o as usize + positions <= padded.len()));
    debug_assert!(gyt.len() >= positions * mp && dwt.len() >= offsets.len() * mp);
    for c0 in (0..mp).step_by(GRADIENT_CHANNELS) {
        let vecs = (mp - c0).min(GRADIENT_CHANNELS) / 16;
        // SAFETY: `applies` checked AVX-512F; each tile reads `padded` at `offsets[t] + q` for
        // `q < positions` (inside it: `Wide::input_len`), `gyt` rows `q < positions` of `mp` floats at
        // `c0 + 16 * vecs <= mp`, and reads and writes rows of `dwt` likewise.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            let (x, g, d) = (
                padded.as_ptr(),
                gyt.as_ptr().add(c0),
                dwt.as_mut_ptr().add(c0),
            );
            match vecs {
                4 => avx512::gradient::<4, 6>(x, offsets, g, mp, positions, d),
                3 => avx512::gradient::<3, 8>(x, offsets, g, mp, positions, d),
                2 => avx512::gradient::<2, 12>(x, offsets, g, mp, positions, d),
                _ => avx512::gradient::<1, 24>(x, offsets, g, mp, positions, d),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("the direct path needs AVX-512 ({vecs}, {})", dwt.len());
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::values;
    use super::super::{conv_transpose_by_col2im, ConvGeometry, Epilogue};
    use super::*;
    use crate::kernels::activation::has_avx512f;

    /// Stride 1.
    fn geometry(
        b: usize,
        c: usize,
        hw: (usize, usize),
        m: usize,
        k: usize,
        p: usize,
    ) -> ConvGeometry {
        super::super::test_support::geometry(b, c, hw, m, k, p, 1)
    }

    /// Whether this CPU (or `GLASSBOX_CPU`) lacks AVX-512F, said on stderr: the direct path cannot run.
    fn skipped_without_avx512() -> bool {
        let skip = !has_avx512f();
        if skip {
            eprintln!(
                "skipped: the direct path needs AVX-512F, which this CPU (or GLASSBOX_CPU) lacks"
            );
        }
        skip
    }

    /// The convolution summed in f64, straight from its definition.
    fn reference(x: &[f32], w: &[f32], g: &ConvGeometry) -> Vec<f64> {
        let (oh, ow) = g.output_hw().unwrap();
        let (c_n, k) = (g.in_channels, g.kernel_h);
        let mut y = vec![0.0f64; g.output_len()];
        for b in 0..g.batch {
            for o in 0..g.out_channels {
                for r in 0..oh {
                    for q in 0..ow {
                        let mut acc = 0.0f64;
                        for c in 0..c_n {
                            for i in 0..k {
                                for j in 0..k {
                                    let (ih, iw) = (r + i, q + j);
                                    if ih < g.padding || iw < g.padding {
                                        continue;
                                    }
                                    let (ih, iw) = (ih - g.padding, iw - g.padding);
                                    if ih >= g.height || iw >= g.width {
                                        continue;
                                    }
                                    acc += x[((b * c_n + c) * g.height + ih) * g.width + iw] as f64
                                        * w[((o * c_n + c) * k + i) * k + j] as f64;
                                }
                            }
                        }
                        y[((b * g.out_channels + o) * oh + r) * ow + q] = acc;
                    }
                }
            }
        }
        y
    }

    fn assert_close(got: &[f32], want: &[f64], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        let scale = want.iter().map(|v| v.abs()).sum::<f64>() / want.len() as f64;
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!(
                ((g as f64) - w).abs() <= 1e-5 * scale.max(1e-3),
                "{what}: element {i} is {g}, the f64 sum {w}"
            );
        }
    }

    /// Shapes that end tiles mid-row and mid-image, channel counts that leave a group part-empty, a
    /// single image split by channel groups, kernels of 2, 3 and 5 and paddings of 0 to 2.
    fn shapes() -> Vec<ConvGeometry> {
        vec![
            geometry(2, 32, (26, 26), 64, 3, 0),
            geometry(3, 5, (9, 7), 11, 3, 1),
            geometry(1, 16, (14, 14), 20, 3, 1),
            geometry(2, 8, (7, 7), 8, 2, 0),
            geometry(2, 3, (11, 13), 9, 5, 2),
            geometry(1, 1, (3, 3), 8, 3, 2),
        ]
    }

    #[test]
    fn matches_the_definition_with_every_epilogue() {
        if skipped_without_avx512() {
            return;
        }
        for (n, g) in shapes().into_iter().enumerate() {
            let x = values(g.input_len(), 1 + n as u64);
            let w = values(g.weight_len(), 100 + n as u64);
            let bias = values(g.out_channels, 200 + n as u64);
            let want = reference(&x, &w, &g);
            let plane = want.len() / g.batch / g.out_channels;
            let with_bias = |relu: bool| -> Vec<f64> {
                want.iter()
                    .enumerate()
                    .map(|(i, &v)| {
                        let v = v + bias[i / plane % g.out_channels] as f64;
                        if relu {
                            v.max(0.0)
                        } else {
                            v
                        }
                    })
                    .collect()
            };
            let none = forward(&x, &w, &[], &g, Epilogue::None);
            assert_close(&none, &want, &format!("{g:?} without bias"));
            let biased = forward(&x, &w, &bias, &g, Epilogue::Bias);
            assert_close(&biased, &with_bias(false), &format!("{g:?} with bias"));
            let relu = forward(&x, &w, &bias, &g, Epilogue::BiasRelu);
            assert_close(
                &relu,
                &with_bias(true),
                &format!("{g:?} with bias and ReLU"),
            );
        }
    }

    /// The weight and bias gradients against their definition summed in f64, on shapes whose output
    /// channels fill 1 to 5 vectors (the 64-channel passes and every tile width) and whose terms end in
    /// a part-filled block.
    #[test]
    fn weight_gradient_matches_the_definition() {
        if skipped_without_avx512() {
            return;
        }
        let mut cases = shapes();
        cases.push(geometry(3, 4, (6, 5), 72, 3, 1));
        cases.push(geometry(2, 6, (5, 9), 40, 3, 0));
        for (n, g) in cases.into_iter().enumerate() {
            let (oh, ow) = g.output_hw().unwrap();
            let (m, k, plane) = (g.out_channels, g.patch_len(), oh * ow);
            let x = values(g.input_len(), 500 + n as u64);
            let gy = values(g.batch * m * plane, 600 + n as u64);
            let got = weight_gradient(&x, &gy, &g);
            assert_eq!(got.len(), m * k + m, "{g:?}");
            let (c_n, kh, kw, p) = (g.in_channels, g.kernel_h, g.kernel_w, g.padding);
            let mut want = vec![0.0f64; m * k + m];
            let mut scale = 0.0f64;
            for b in 0..g.batch {
                for o in 0..m {
                    for r in 0..oh {
                        for q in 0..ow {
                            let d = gy[(b * m + o) * plane + r * ow + q] as f64;
                            want[m * k + o] += d;
                            for c in 0..c_n {
                                for i in 0..kh {
                                    for j in 0..kw {
                                        let (ih, iw) = (r + i, q + j);
                                        if ih < p
                                            || iw < p
                                            || ih - p >= g.height
                                            || iw - p >= g.width
                                        {
                                            continue;
                                        }
                                        let v = x
                                            [((b * c_n + c) * g.height + ih - p) * g.width + iw - p]
                                            as f64;
                                        want[o * k + (c * kh + i) * kw + j] += d * v;
                                        scale += (d * v).abs();
                                    }
                                }
                            }
                        }
                    }
                }
            }
            let tol = 1e-6 * scale / (m * k) as f64 + 1e-5;
            for (i, (&g_, &w_)) in got.iter().zip(&want).enumerate() {
                assert!(
                    ((g_ as f64) - w_).abs() <= tol,
                    "{g:?}: element {i} is {g_}, the f64 sum {w_}"
                );
            }
        }
    }

    #[test]
    fn input_gradient_matches_col2im() {
        if skipped_without_avx512() {
            return;
        }
        for (n, g) in shapes().into_iter().enumerate() {
            let Some(tg) = g.transposed_as_conv() else {
                continue;
            };
            let (oh, ow) = g.output_hw().unwrap();
            let gy = values(g.batch * g.out_channels * oh * ow, 300 + n as u64);
            let w = values(g.weight_len(), 400 + n as u64);
            let want: Vec<f64> = conv_transpose_by_col2im(&gy, &w, &g)
                .into_iter()
                .map(f64::from)
                .collect();
            assert_close(&input_gradient(&gy, &w, &g, &tg), &want, &format!("{g:?}"));
        }
    }

    #[test]
    fn flipped_transposed_filters_by_hand() {
        // Two filters (out) of one channel (in), 2x2: out 0 = [1 2; 3 4], out 1 = [5 6; 7 8].
        let g = geometry(1, 1, (4, 4), 2, 2, 0);
        let w = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        // One filter of two channels, each rotated by 180 degrees.
        assert_eq!(
            flipped_transposed(&w, &g),
            [4.0, 3.0, 2.0, 1.0, 8.0, 7.0, 6.0, 5.0]
        );
        let g = geometry(1, 2, (4, 4), 1, 1, 0);
        // (out 1, in 2) -> (in 2 as out, out 1 as in): the order of the filters follows the channels.
        assert_eq!(flipped_transposed(&[1.0, 2.0], &g), [1.0, 2.0]);
    }
}
