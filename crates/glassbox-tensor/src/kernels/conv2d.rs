//! 2-D convolution (NCHW, f32, one group) as im2col + GEMM, forward and both gradients.
//!
//! Work is cut into (image, band of output rows) items, each lowered with im2col into a per-thread buffer
//! of at most about 2 MB and multiplied single-threaded; that keeps the lowered matrix in cache and uses
//! every core even at batch 1 (VGG on one photo). The input gradient of a stride-1 convolution is itself a
//! forward convolution of the output gradient with the flipped, transposed filters (no col2im, no write
//! conflicts); other strides use GEMM + col2im per image. The weight gradient sums partial products over
//! a partition that follows the geometry alone, so it is the same on every run, whatever the thread count.

use super::bias::lanes_sum;
use super::gemm::{sgemm, Mat, MatMut, Threads};
use super::parallel::{
    band_threads, for_parts, reduction_parts, with_scratch, SharedMut, MIN_WORK_ITEMS,
};

/// Work items per partial weight gradient, at least, and the most partials (`conv2d_backward_weight`).
/// Every partial is a whole gradient to zero and add: 8 partials instead of 2 made a DCGAN training step
/// 5% slower on 2 cores (kernels_bench's `dcgan_train`, old and new side by side). With fewer partials
/// than threads the products inside them use the pool.
const ITEMS_PER_PARTIAL: usize = 16;
const MAX_PARTIALS: usize = 4;

/// The sizes of one convolution. Padding, stride and dilation apply to both spatial axes, as in candle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvGeometry {
    /// Images.
    pub batch: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Filters.
    pub out_channels: usize,
    /// Kernel rows.
    pub kernel_h: usize,
    /// Kernel columns.
    pub kernel_w: usize,
    /// Zeros on each side, both axes.
    pub padding: usize,
    /// Stride, both axes.
    pub stride: usize,
    /// Dilation, both axes.
    pub dilation: usize,
}

impl ConvGeometry {
    /// The output size, or `None` when the (dilated) kernel does not fit the padded input or the stride
    /// or dilation is zero.
    pub fn output_hw(&self) -> Option<(usize, usize)> {
        if self.stride == 0 || self.dilation == 0 || self.kernel_h == 0 || self.kernel_w == 0 {
            return None;
        }
        let span_h = self.dilation * (self.kernel_h - 1) + 1;
        let span_w = self.dilation * (self.kernel_w - 1) + 1;
        let (ph, pw) = (
            self.height + 2 * self.padding,
            self.width + 2 * self.padding,
        );
        if ph < span_h || pw < span_w {
            return None;
        }
        Some((
            (ph - span_h) / self.stride + 1,
            (pw - span_w) / self.stride + 1,
        ))
    }

    fn out_hw(&self) -> (usize, usize) {
        self.output_hw()
            .expect("ConvGeometry checked by the caller")
    }

    /// Rows of the lowered matrix: one per (input channel, kernel row, kernel column).
    pub fn patch_len(&self) -> usize {
        self.in_channels * self.kernel_h * self.kernel_w
    }

    /// Floats of the input, `(batch, in_channels, height, width)`.
    pub fn input_len(&self) -> usize {
        self.batch * self.in_channels * self.height * self.width
    }

    /// Floats of the output, `(batch, out_channels, out_h, out_w)`.
    pub fn output_len(&self) -> usize {
        let (oh, ow) = self.out_hw();
        self.batch * self.out_channels * oh * ow
    }

    /// Floats of the filters, `(out_channels, in_channels, kernel_h, kernel_w)`.
    pub fn weight_len(&self) -> usize {
        self.out_channels * self.patch_len()
    }

    fn is_pointwise(&self) -> bool {
        self.kernel_h == 1 && self.kernel_w == 1 && self.stride == 1 && self.padding == 0
    }

    /// The input gradient of a stride-1 convolution is a convolution of the output gradient with the
    /// flipped filters and padding `dilation * (k - 1) - padding`, which must not be negative.
    pub(crate) fn transposed_as_conv(&self) -> Option<ConvGeometry> {
        let need_h = self.dilation * (self.kernel_h - 1);
        let need_w = self.dilation * (self.kernel_w - 1);
        if self.stride != 1 || need_h != need_w || self.padding > need_h {
            return None;
        }
        let (oh, ow) = self.out_hw();
        Some(ConvGeometry {
            batch: self.batch,
            in_channels: self.out_channels,
            height: oh,
            width: ow,
            out_channels: self.in_channels,
            kernel_h: self.kernel_h,
            kernel_w: self.kernel_w,
            padding: need_h - self.padding,
            stride: 1,
            dilation: self.dilation,
        })
    }

    /// Output rows per work item: bands whose lowered matrix stays near 2 MB, and at least
    /// [`MIN_WORK_ITEMS`] items. The bands group the weight gradient's sums and set each product's width,
    /// so they follow the geometry alone, not the thread count.
    pub(crate) fn band_rows(&self) -> usize {
        let (oh, ow) = self.out_hw();
        let target_cols = ((1 << 19) / self.patch_len().max(1)).max(256);
        let mut rows = (target_cols / ow.max(1)).clamp(1, oh.max(1));
        if self.batch * oh.div_ceil(rows) < MIN_WORK_ITEMS {
            let bands_per_image = MIN_WORK_ITEMS.div_ceil(self.batch).min(oh.max(1));
            rows = rows.min(oh.div_ceil(bands_per_image)).max(1);
        }
        rows
    }
}

/// What follows the convolution in the same pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Epilogue {
    /// The convolution only.
    None,
    /// Plus a bias per output channel.
    Bias,
    /// Plus a bias, then a ReLU.
    BiasRelu,
}

/// Writes rows `oh0..oh1` of the lowered matrix of one image: `col[(c, ki, kj), (oh, ow)]`.
fn im2col(x: &[f32], g: &ConvGeometry, oh0: usize, oh1: usize, col: &mut [f32]) {
    let (_, ow) = g.out_hw();
    let n = (oh1 - oh0) * ow;
    let (h, w) = (g.height, g.width);
    let (s, d, p) = (g.stride, g.dilation, g.padding as isize);
    for c in 0..g.in_channels {
        let plane = &x[c * h * w..(c + 1) * h * w];
        for ki in 0..g.kernel_h {
            for kj in 0..g.kernel_w {
                let row = (c * g.kernel_h + ki) * g.kernel_w + kj;
                let dst = &mut col[row * n..(row + 1) * n];
                let off = (kj * d) as isize - p;
                let (lo, hi) = strided_span(ow, w, s, off);
                for (r, oh) in (oh0..oh1).enumerate() {
                    let out = &mut dst[r * ow..(r + 1) * ow];
                    let ih = (oh * s + ki * d) as isize - p;
                    if ih < 0 || ih >= h as isize {
                        out.fill(0.0);
                        continue;
                    }
                    let src = &plane[ih as usize * w..(ih as usize + 1) * w];
                    // Output columns lo..hi read input columns o s + off, all inside the row.
                    out[..lo].fill(0.0);
                    if hi > lo {
                        let base = (lo as isize * s as isize + off) as usize;
                        let (out, src) =
                            (&mut out[lo..hi], &src[base..base + (hi - lo - 1) * s + 1]);
                        if s == 1 {
                            out.copy_from_slice(src);
                        } else {
                            for (j, v) in out.iter_mut().enumerate() {
                                *v = src[j * s];
                            }
                        }
                    }
                    out[hi..].fill(0.0);
                }
            }
        }
    }
}

/// The output columns `lo..hi` (of `ow`) whose input column `o s + off` lies inside a row of `w`; `lo ==
/// hi` when none does.
fn strided_span(ow: usize, w: usize, s: usize, off: isize) -> (usize, usize) {
    let s = s as isize;
    // The first o with o s + off >= 0, and one past the last with o s + off < w.
    let lo = ((-off).max(0) + s - 1) / s;
    let hi = (w as isize - off + s - 1).div_euclid(s).max(0);
    let (lo, hi) = (lo.min(ow as isize) as usize, hi.min(ow as isize) as usize);
    (lo, hi.max(lo))
}

/// Adds the lowered matrix `col` (all output rows of one image) back into the image gradient `dx`.
fn col2im_add(col: &[f32], g: &ConvGeometry, dx: &mut [f32]) {
    let (oh, ow) = g.out_hw();
    let n = oh * ow;
    let (h, w) = (g.height, g.width);
    let (s, d, p) = (g.stride, g.dilation, g.padding as isize);
    for c in 0..g.in_channels {
        let plane = &mut dx[c * h * w..(c + 1) * h * w];
        for ki in 0..g.kernel_h {
            for kj in 0..g.kernel_w {
                let row = (c * g.kernel_h + ki) * g.kernel_w + kj;
                let src = &col[row * n..(row + 1) * n];
                let off = (kj * d) as isize - p;
                let (lo, hi) = strided_span(ow, w, s, off);
                for r in 0..oh {
                    let ih = (r * s + ki * d) as isize - p;
                    if ih < 0 || ih >= h as isize {
                        continue;
                    }
                    let dst = &mut plane[ih as usize * w..(ih as usize + 1) * w];
                    let vals = &src[r * ow..(r + 1) * ow];
                    // Output columns lo..hi land on input columns o s + off.
                    if hi > lo {
                        let base = (lo as isize * s as isize + off) as usize;
                        let dst = &mut dst[base..base + (hi - lo - 1) * s + 1];
                        if s == 1 {
                            for (d, v) in dst.iter_mut().zip(&vals[lo..hi]) {
                                *d += v;
                            }
                        } else {
                            for (j, v) in vals[lo..hi].iter().enumerate() {
                                dst[j * s] += v;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The (image, output-row band) work items of a geometry.
fn work_items(g: &ConvGeometry, rows: usize) -> Vec<(usize, usize, usize)> {
    let (oh, _) = g.out_hw();
    let mut items = Vec::with_capacity(g.batch * oh.div_ceil(rows));
    for b in 0..g.batch {
        let mut r = 0;
        while r < oh {
            items.push((b, r, (r + rows).min(oh)));
            r += rows;
        }
    }
    items
}

/// Runs `f(b, oh0, oh1, lowered, threads)` for every work item in parallel; `lowered` is the `K x N`
/// operand of the band (the input itself for pointwise convolutions), and `threads` says how the band's
/// product is threaded ([`band_threads`]).
pub(crate) fn for_each_band(
    x: &[f32],
    g: &ConvGeometry,
    rows: usize,
    f: impl Fn(usize, usize, usize, Mat<'_>, Threads) + Sync,
) {
    use rayon::prelude::*;
    let (_, ow) = g.out_hw();
    let k = g.patch_len();
    let image_len = g.in_channels * g.height * g.width;
    let items = work_items(g, rows);
    let inner = band_threads(items.len());
    items.into_par_iter().for_each(|(b, oh0, oh1)| {
        let xb = &x[b * image_len..(b + 1) * image_len];
        let n = (oh1 - oh0) * ow;
        if g.is_pointwise() {
            let start = oh0 * ow;
            let lowered = Mat {
                data: &xb[start..],
                rows: k,
                cols: n,
                rs: g.height * g.width,
                cs: 1,
            };
            f(b, oh0, oh1, lowered, inner);
        } else {
            with_scratch(k * n, |col| {
                im2col(xb, g, oh0, oh1, col);
                f(b, oh0, oh1, Mat::rows(col, k, n), inner);
            });
        }
    });
}

/// `y = epilogue(w * x + bias)`. `w` is `(out, in, kh, kw)`, `bias` has `out` entries (ignored for
/// [`Epilogue::None`]). 3x3 stride-1 convolutions with enough channels go through Winograd's F(2x2, 3x3)
/// ([`super::winograd`]), the rest through im2col + GEMM.
pub fn conv2d_forward(
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    g: &ConvGeometry,
    epilogue: Epilogue,
) -> Vec<f32> {
    conv2d_forward_prepacked(x, w, None, bias, g, epilogue)
}

/// [`conv2d_forward`] with Winograd's filters already transformed, where Winograd applies.
pub fn conv2d_forward_prepacked(
    x: &[f32],
    w: &[f32],
    prepacked: Option<&super::winograd::Prepacked>,
    bias: &[f32],
    g: &ConvGeometry,
    epilogue: Epilogue,
) -> Vec<f32> {
    if super::winograd::applies(g) {
        return match prepacked {
            Some(p) => p.conv2d(x, bias, g, epilogue),
            None => super::winograd::conv2d_winograd(x, w, bias, g, epilogue),
        };
    }
    conv2d_forward_im2col(x, w, bias, g, epilogue)
}

/// [`conv2d_forward`] by im2col + GEMM, for any geometry.
pub fn conv2d_forward_im2col(
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    g: &ConvGeometry,
    epilogue: Epilogue,
) -> Vec<f32> {
    let (oh, ow) = g.out_hw();
    let (m, k) = (g.out_channels, g.patch_len());
    let plane = oh * ow;
    let mut y = vec![0.0f32; g.output_len()];
    let shared = SharedMut::new(&mut y);
    let wm = Mat::rows(w, m, k);
    for_each_band(x, g, g.band_rows(), |b, oh0, oh1, lowered, inner| {
        let start = b * m * plane + oh0 * ow;
        let n = (oh1 - oh0) * ow;
        // SAFETY: work items cover disjoint (image, row band) blocks of `y`.
        let dst = unsafe { MatMut::shared(shared, start, m, n, plane) };
        sgemm(dst, false, wm, lowered, inner);
        if epilogue != Epilogue::None {
            for (o, &bo) in bias.iter().enumerate().take(m) {
                // SAFETY: the same block as above, one output channel at a time.
                let row = unsafe { shared.slice(start + o * plane, n) };
                if epilogue == Epilogue::BiasRelu {
                    row.iter_mut().for_each(|v| *v = (*v + bo).max(0.0));
                } else {
                    row.iter_mut().for_each(|v| *v += bo);
                }
            }
        }
    });
    y
}

/// The weight gradient `(out, in, kh, kw)` followed by the bias gradient `(out)`, from the output
/// gradient `gy` (already masked by the ReLU where there was one).
pub fn conv2d_backward_weight(x: &[f32], gy: &[f32], g: &ConvGeometry) -> Vec<f32> {
    weight_gradient_pass(x, gy, g, None)
}

/// The convolution of `x` by `w` (no bias, im2col + GEMM) and [`conv2d_backward_weight`] of `x` and
/// `gy`, from one lowering of `x`: a transposed convolution's input and weight gradients, which both
/// lower its output gradient the same way (done apart, they lowered it twice, a fifth of the DCGAN
/// generator's backward pass).
pub fn conv2d_forward_and_backward_weight(
    x: &[f32],
    w: &[f32],
    gy: &[f32],
    g: &ConvGeometry,
) -> (Vec<f32>, Vec<f32>) {
    let len = g.output_len();
    let mut y = Vec::with_capacity(len);
    let spare = SharedMut::spare(&mut y, len);
    let both = weight_gradient_pass(x, gy, g, Some((w, spare)));
    // SAFETY: the work items cover every (image, row band) block of the output, and each block's
    // product wrote all of it (`sgemm` without accumulation writes every element).
    unsafe { y.set_len(len) };
    (y, both)
}

/// [`conv2d_backward_weight`], and with `forward = (w, y)` also `y = w * x` into `y` (the convolution's
/// output, written in full), each work item's lowered matrix used for both products.
fn weight_gradient_pass(
    x: &[f32],
    gy: &[f32],
    g: &ConvGeometry,
    forward: Option<(&[f32], SharedMut)>,
) -> Vec<f32> {
    let (oh, ow) = g.out_hw();
    let (m, k) = (g.out_channels, g.patch_len());
    let plane = oh * ow;
    let items = work_items(g, g.band_rows());
    let image_len = g.in_channels * g.height * g.width;
    // The parts, and so how the sums over the items are grouped, follow the item count only: the same
    // gradient bit for bit with any number of threads. Each part zeroes and adds a whole partial
    // gradient, so it takes a few items.
    let parts = reduction_parts(items.len(), ITEMS_PER_PARTIAL).min(MAX_PARTIALS);
    let inner = band_threads(parts);
    let partials = for_parts(items.len(), parts, |_, range| {
        let mut acc = vec![0.0f32; m * k + m];
        let (dw, db) = acc.split_at_mut(m * k);
        for &(b, oh0, oh1) in &items[range] {
            let xb = &x[b * image_len..(b + 1) * image_len];
            let n = (oh1 - oh0) * ow;
            let start = b * m * plane + oh0 * ow;
            let gm = Mat {
                data: &gy[start..],
                rows: m,
                cols: n,
                rs: plane,
                cs: 1,
            };
            for (o, dbo) in db.iter_mut().enumerate() {
                *dbo += lanes_sum(&gy[start + o * plane..start + o * plane + n]);
            }
            let mut products = |lowered: Mat<'_>| {
                sgemm(MatMut::rows(dw, m, k), true, gm, lowered.t(), inner);
                if let Some((w, y)) = forward {
                    // SAFETY: work items cover disjoint (image, row band) blocks of `y`.
                    let dst = unsafe { MatMut::shared(y, start, m, n, plane) };
                    sgemm(dst, false, Mat::rows(w, m, k), lowered, inner);
                }
            };
            if g.is_pointwise() {
                products(Mat {
                    data: &xb[oh0 * ow..],
                    rows: k,
                    cols: n,
                    rs: g.height * g.width,
                    cs: 1,
                });
            } else {
                with_scratch(k * n, |col| {
                    im2col(xb, g, oh0, oh1, col);
                    products(Mat::rows(col, k, n));
                });
            }
        }
        acc
    });
    let mut total = partials.into_iter();
    let mut sum = total.next().unwrap_or_else(|| vec![0.0; m * k + m]);
    for part in total {
        sum.iter_mut().zip(&part).for_each(|(s, p)| *s += p);
    }
    sum
}

/// The input gradient from the output gradient `gy`.
pub fn conv2d_backward_input(gy: &[f32], w: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let as_conv = g.transposed_as_conv();
    // Stride 1: the input gradient is a forward convolution of the output gradient (flipped filters),
    // which Winograd does with 2.25x fewer multiply-adds where it applies. Elsewhere GEMM + col2im does
    // fewer multiply-adds (no zero padding around the gradient).
    if let Some(tg) = as_conv.filter(super::winograd::applies) {
        return super::winograd::input_gradient(gy, None, w, &tg);
    }
    conv_transpose_by_col2im(gy, w, g)
}

/// The input gradient through a fused ReLU whose output is `y`: [`conv2d_backward_input`] of
/// `gy * (y > 0)`, with the mask applied on the fly where Winograd runs (no masked copy).
pub fn conv2d_backward_input_through_relu(
    gy: &[f32],
    y: &[f32],
    w: &[f32],
    g: &ConvGeometry,
) -> Vec<f32> {
    conv2d_backward_input_through_relu_prepacked(gy, y, w, None, g)
}

/// [`conv2d_backward_input_through_relu`] with Winograd's filters already transformed, where Winograd
/// applies.
pub fn conv2d_backward_input_through_relu_prepacked(
    gy: &[f32],
    y: &[f32],
    w: &[f32],
    prepacked: Option<&super::winograd::Prepacked>,
    g: &ConvGeometry,
) -> Vec<f32> {
    if let Some(tg) = g.transposed_as_conv().filter(super::winograd::applies) {
        return match prepacked {
            Some(p) => p.input_gradient(gy, Some(y), &tg),
            None => super::winograd::input_gradient(gy, Some(y), w, &tg),
        };
    }
    conv2d_backward_input(&relu_mask(gy, y), w, g)
}

/// `dx = col2im(w^T gy)` per image: any stride, padding and dilation. This is also the forward pass of
/// a transposed convolution.
pub fn conv_transpose_by_col2im(gy: &[f32], w: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let (oh, ow) = g.out_hw();
    let (m, k) = (g.out_channels, g.patch_len());
    let plane = oh * ow;
    let image_len = g.in_channels * g.height * g.width;
    let wt = Mat::rows(w, m, k).t();
    let inner = band_threads(g.batch);
    super::parallel::zeros_accumulated_in_parallel(g.input_len(), image_len, |b, dxb| {
        let gm = Mat::rows(&gy[b * m * plane..(b + 1) * m * plane], m, plane);
        with_scratch(k * plane, |col| {
            sgemm(MatMut::rows(col, k, plane), false, wt, gm, inner);
            col2im_add(col, g, dxb);
        });
    })
}

/// `gy * (y > 0)`: the output gradient through a fused ReLU.
pub fn relu_mask(gy: &[f32], y: &[f32]) -> Vec<f32> {
    use rayon::prelude::*;
    let mut out = vec![0.0f32; gy.len()];
    out.par_chunks_mut(1 << 14)
        .zip(gy.par_chunks(1 << 14).zip(y.par_chunks(1 << 14)))
        .for_each(|(o, (g, y))| {
            for ((o, g), y) in o.iter_mut().zip(g).zip(y) {
                *o = if *y > 0.0 { *g } else { 0.0 };
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::too_many_arguments)]
    fn geometry(
        b: usize,
        c: usize,
        h: usize,
        w: usize,
        m: usize,
        k: usize,
        p: usize,
        s: usize,
        d: usize,
    ) -> ConvGeometry {
        ConvGeometry {
            batch: b,
            in_channels: c,
            height: h,
            width: w,
            out_channels: m,
            kernel_h: k,
            kernel_w: k,
            padding: p,
            stride: s,
            dilation: d,
        }
    }

    fn naive_forward(x: &[f32], w: &[f32], g: &ConvGeometry) -> Vec<f32> {
        let (oh, ow) = g.out_hw();
        let mut y = vec![0.0; g.output_len()];
        for b in 0..g.batch {
            for o in 0..g.out_channels {
                for r in 0..oh {
                    for q in 0..ow {
                        let mut acc = 0.0;
                        for c in 0..g.in_channels {
                            for i in 0..g.kernel_h {
                                for j in 0..g.kernel_w {
                                    let ih = (r * g.stride + i * g.dilation) as isize
                                        - g.padding as isize;
                                    let iw = (q * g.stride + j * g.dilation) as isize
                                        - g.padding as isize;
                                    if ih >= 0
                                        && iw >= 0
                                        && (ih as usize) < g.height
                                        && (iw as usize) < g.width
                                    {
                                        acc += x[((b * g.in_channels + c) * g.height
                                            + ih as usize)
                                            * g.width
                                            + iw as usize]
                                            * w[((o * g.in_channels + c) * g.kernel_h + i)
                                                * g.kernel_w
                                                + j];
                                    }
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

    fn data(n: usize, seed: f32) -> Vec<f32> {
        (0..n).map(|i| ((i as f32 + seed) * 0.7311).sin()).collect()
    }

    #[test]
    fn forward_and_both_gradients_match_a_naive_convolution() {
        for g in [
            geometry(2, 3, 7, 9, 5, 3, 1, 1, 1),
            geometry(1, 2, 8, 6, 3, 3, 0, 2, 1),
            geometry(3, 4, 9, 9, 2, 3, 2, 1, 2),
            geometry(2, 5, 6, 5, 7, 1, 0, 1, 1),
            geometry(1, 3, 10, 7, 4, 5, 2, 2, 1),
        ] {
            let x = data(g.input_len(), 1.0);
            let w = data(g.weight_len(), 2.0);
            let y = conv2d_forward(&x, &w, &[], &g, Epilogue::None);
            let reference = naive_forward(&x, &w, &g);
            for (a, b) in y.iter().zip(&reference) {
                assert!((a - b).abs() < 1e-4, "{g:?}: forward {a} vs {b}");
            }
            // Gradients of L = sum(y * gy) checked by linearity: dL/dx . x = L and dL/dw . w = L.
            let gy = data(g.output_len(), 3.0);
            let loss: f32 = y.iter().zip(&gy).map(|(a, b)| a * b).sum();
            let dx = conv2d_backward_input(&gy, &w, &g);
            let dw = conv2d_backward_weight(&x, &gy, &g);
            let via_x: f32 = dx.iter().zip(&x).map(|(a, b)| a * b).sum();
            let via_w: f32 = dw[..g.weight_len()]
                .iter()
                .zip(&w)
                .map(|(a, b)| a * b)
                .sum();
            assert!(
                (via_x - loss).abs() < 1e-3 * loss.abs().max(1.0),
                "{g:?}: dx {via_x} vs {loss}"
            );
            assert!(
                (via_w - loss).abs() < 1e-3 * loss.abs().max(1.0),
                "{g:?}: dw {via_w} vs {loss}"
            );
            let db_sum: f32 = dw[g.weight_len()..].iter().sum();
            let gy_sum: f32 = gy.iter().sum();
            assert!((db_sum - gy_sum).abs() < 1e-3, "{g:?}: db");
            // Both from one lowering: the same products, so the same bits as apart.
            let (y_both, dw_both) = conv2d_forward_and_backward_weight(&x, &w, &gy, &g);
            assert_eq!(
                y_both,
                conv2d_forward_im2col(&x, &w, &[], &g, Epilogue::None),
                "{g:?}"
            );
            assert_eq!(dw_both, dw, "{g:?}");
        }
    }
}
