//! 2-D convolution (NCHW, f32, one group) as im2col + GEMM, forward and both gradients.
//!
//! Work is cut into (image, band of output rows) items, each lowered with im2col into a per-thread buffer
//! of at most about 2 MB and multiplied single-threaded; that keeps the lowered matrix in cache and uses
//! every core even at batch 1 (VGG on one photo). Small deep outputs (a DCGAN's 7x7) put a few whole images
//! in one item instead, side by side (`lowering::Band`). The input gradient of a stride-1 convolution is
//! itself a forward convolution of the output gradient with the flipped, transposed filters (no col2im,
//! no write conflicts); other strides use GEMM + col2im. The weight gradient sums partial products over
//! a partition that follows the geometry alone, so it is the same on every run, whatever the thread count.
//! Two special paths: small stride-1 maps convolve directly on AVX-512 ([`direct`]), and 4x4 stride-2
//! layers with padding 1 (the DCGAN's), forward, transposed and weight gradient, run as Winograd
//! F(4x4, 2x2) over parity planes, or F(7x7, 2x2) where that covers a 7x7 map in one tile ([`parity`]).

pub mod batched3x3;
pub mod direct;
mod lowering;
pub mod parity;
#[cfg(test)]
pub(crate) mod test_support;
mod tiled;

use super::bias::lanes_sum;
use super::gemm::{sgemm, transpose_into, Mat, MatMut, Threads};
use super::parallel::{
    band_threads, for_parts, reduction_parts, sum_in_order, with_scratch, with_second_scratch,
    with_third_scratch, SharedMut, MIN_WORK_ITEMS,
};
pub(crate) use lowering::Band;
use lowering::{bands, col2im_set, gather_images, im2col};

/// Work items per partial weight gradient, at least, and the most partials (`conv2d_backward_weight`).
/// Every partial is a whole gradient to zero and add: 8 partials instead of 2 made a DCGAN training step
/// 5% slower on 2 cores (kernels_bench's `dcgan_train`, old and new side by side). With fewer partials
/// than threads the products inside them use the pool.
const ITEMS_PER_PARTIAL: usize = 16;
const MAX_PARTIALS: usize = 4;

/// Output planes smaller than this group images in a work item ([`ConvGeometry::band_images`]) when
/// their lowered matrix has at least [`DEEP_PATCH`] rows. Grouping them from 64 rows made the course's
/// convolutional autoencoder (3x3 filters, 8 and 16 channels at 7x7 and 14x14: 72 and 144 rows) 5-6%
/// slower in `kernels_bench` (`conv_ae_train`, alternated runs): shallow products cost less than the
/// copies in and out of a group. The DCGAN's 4x4 stride-2 layers of 64 channels (1,024 rows) gain.
const NARROW_PLANE: usize = 256;

/// Lowered rows from which the weight gradient is computed transposed (`weight_gradient_pass`).
const TRANSPOSED_GRADIENT_ROWS: usize = 64;
const DEEP_PATCH: usize = 256;

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
        let mut rows = (self.target_cols() / ow.max(1)).clamp(1, oh.max(1));
        if self.batch * oh.div_ceil(rows) < MIN_WORK_ITEMS {
            let bands_per_image = MIN_WORK_ITEMS.div_ceil(self.batch).min(oh.max(1));
            rows = rows.min(oh.div_ceil(bands_per_image)).max(1);
        }
        rows
    }

    /// Images a work item lowers side by side where its bands of `rows` output rows are whole images
    /// and an image's product is narrow (under [`NARROW_PLANE`] columns) but deep (at least
    /// [`DEEP_PATCH`] rows), where packing the filters for each image costs more than gathering the
    /// images' operands and scattering their outputs: as many as keep the lowered matrix near 2 MB,
    /// and at least [`MIN_WORK_ITEMS`] items. Like the bands, this follows the geometry alone.
    /// Pointwise convolutions read their input in place, one image an item.
    pub(crate) fn band_images(&self, rows: usize) -> usize {
        let (oh, ow) = self.out_hw();
        if rows < oh
            || self.is_pointwise()
            || oh * ow >= NARROW_PLANE
            || self.patch_len() < DEEP_PATCH
        {
            return 1;
        }
        let fit = (self.target_cols() / (oh * ow).max(1)).max(1);
        // Items in a multiple of MIN_WORK_ITEMS, equal but for the last, so that 2 or 4 threads share
        // them evenly: 13 items of 10 images (a DCGAN batch of 128) left one thread a tenth of the
        // products idle at the end; 16 of 8 do not.
        let items = self
            .batch
            .div_ceil(fit)
            .next_multiple_of(MIN_WORK_ITEMS)
            .min(self.batch);
        self.batch.div_ceil(items)
    }

    /// Columns of a work item's lowered matrix, aimed for: about 2 MB of it.
    fn target_cols(&self) -> usize {
        ((1 << 19) / self.patch_len().max(1)).max(256)
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

impl Epilogue {
    /// The epilogue of one output `v` of a channel whose bias is `bias`.
    #[inline]
    pub(crate) fn apply(self, v: f32, bias: f32) -> f32 {
        match self {
            Epilogue::None => v,
            Epilogue::Bias => v + bias,
            Epilogue::BiasRelu => (v + bias).max(0.0),
        }
    }
}

/// Runs `f(band, lowered, threads)` for every work item ([`Band`]) in parallel; `lowered` is the `K x N`
/// operand of the item (the input itself for pointwise convolutions), and `threads` says how the item's
/// product is threaded ([`band_threads`]).
pub(crate) fn for_each_band(
    x: &[f32],
    g: &ConvGeometry,
    rows: usize,
    f: impl Fn(&Band, Mat<'_>, Threads) + Sync,
) {
    use rayon::prelude::*;
    let items = bands(g, rows);
    let inner = band_threads(items.len());
    items
        .into_par_iter()
        .for_each(|band| with_lowered(x, g, &band, |lowered| f(&band, lowered, inner)));
}

/// Runs `f` on the `K x N` lowered matrix of one work item: the input itself for pointwise convolutions
/// (one image an item, `band_images`, its rows read in place), else im2col of the item's images side by
/// side in a per-thread buffer.
fn with_lowered(x: &[f32], g: &ConvGeometry, band: &Band, f: impl FnOnce(Mat<'_>)) {
    let (_, ow) = g.out_hw();
    let (k, n) = (g.patch_len(), band.cols(ow));
    let image_len = g.in_channels * g.height * g.width;
    if g.is_pointwise() {
        let xb = &x[band.images.start * image_len..];
        return f(Mat {
            data: &xb[band.rows.start * ow..],
            rows: k,
            cols: n,
            rs: g.height * g.width,
            cs: 1,
        });
    }
    with_scratch(k * n, |col| {
        for (b, at) in band.parts(ow) {
            let xb = &x[b * image_len..(b + 1) * image_len];
            im2col(xb, g, band.rows.clone(), &mut col[at..], n);
        }
        f(Mat::rows(col, k, n));
    });
}

/// Writes a grouped item's product `out` (`m x cols`, its images side by side) to each image's `m`
/// planes of `y`, through the epilogue (`bias` may be empty for [`Epilogue::None`]): the way back of
/// `gather_images`.
fn scatter_images(
    out: &[f32],
    band: &Band,
    g: &ConvGeometry,
    y: SharedMut,
    bias: &[f32],
    epilogue: Epilogue,
) {
    let (oh, ow) = g.out_hw();
    let (m, plane, n) = (g.out_channels, oh * ow, band.cols(ow));
    for (b, at) in band.parts(ow) {
        for o in 0..m {
            let bo = bias.get(o).copied().unwrap_or(0.0);
            // SAFETY: each image belongs to one work item.
            let dst = unsafe { y.slice((b * m + o) * plane, plane) };
            let src = &out[o * n + at..o * n + at + plane];
            for (d, &v) in dst.iter_mut().zip(src) {
                *d = epilogue.apply(v, bo);
            }
        }
    }
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
    match forward_path(g) {
        ForwardPath::Batched3x3 => batched3x3::forward(x, w, bias, g, epilogue),
        ForwardPath::Winograd => match prepacked {
            Some(p) => p.conv2d(x, bias, g, epilogue),
            None => super::winograd::conv2d_winograd(x, w, bias, g, epilogue),
        },
        ForwardPath::Direct => direct::forward(x, w, bias, g, epilogue),
        ForwardPath::Parity => parity::forward(x, w, bias, g, epilogue, 0),
        ForwardPath::Im2col => conv2d_forward_im2col(x, w, bias, g, epilogue),
    }
}

/// The kernel that runs a forward convolution on the CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForwardPath {
    /// Winograd F(4x4, 3x3) on channel-innermost tiles ([`batched3x3`]).
    Batched3x3,
    /// Winograd by bands of one image (`kernels::winograd`).
    Winograd,
    /// The direct AVX-512 kernel ([`direct`]).
    Direct,
    /// Winograd F(4x4, 2x2) or F(7x7, 2x2) on parity planes ([`parity`]).
    Parity,
    /// im2col + the matrix product.
    Im2col,
}

/// Which kernel [`conv2d_forward`] runs for `g`, in the order the dispatch tries them.
pub fn forward_path(g: &ConvGeometry) -> ForwardPath {
    if batched3x3::pays(g) {
        ForwardPath::Batched3x3
    } else if super::winograd::applies(g) {
        ForwardPath::Winograd
    } else if direct::applies(g) {
        ForwardPath::Direct
    } else if parity::pays(g) {
        ForwardPath::Parity
    } else {
        ForwardPath::Im2col
    }
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
    // Not zeroed first: the bands' products write every element (a serial `memset` of the MNIST
    // network's 11 MB first activation, with the other core idle).
    let len = g.output_len();
    let mut y = Vec::with_capacity(len);
    let shared = SharedMut::spare(&mut y, len);
    let wm = Mat::rows(w, m, k);
    for_each_band(x, g, g.band_rows(), |band, lowered, inner| {
        let n = band.cols(ow);
        if band.images.len() == 1 {
            let start = band.images.start * m * plane + band.rows.start * ow;
            // SAFETY: work items cover disjoint (image, row band) blocks of `y`.
            let dst = unsafe { MatMut::shared(shared, start, m, n, plane) };
            sgemm(dst, false, wm, lowered, inner);
            if epilogue != Epilogue::None {
                for (o, &bo) in bias.iter().enumerate().take(m) {
                    // SAFETY: the same block as above, one output channel at a time.
                    let row = unsafe { shared.slice(start + o * plane, n) };
                    row.iter_mut().for_each(|v| *v = epilogue.apply(*v, bo));
                }
            }
            return;
        }
        // Whole images side by side: the product into a buffer, then each image's planes to `y`.
        with_second_scratch(m * n, |out| {
            sgemm(MatMut::rows(out, m, n), false, wm, lowered, inner);
            scatter_images(out, band, g, shared, bias, epilogue);
        });
    });
    // SAFETY: the work items cover every (image, row band) block of `y`, each written in full by its
    // product (`sgemm` without accumulation) or by the copy out of a group's buffer.
    unsafe { y.set_len(len) };
    y
}

/// The weight gradient `(out, in, kh, kw)` followed by the bias gradient `(out)`, from the output
/// gradient `gy` (already masked by the ReLU where there was one).
pub fn conv2d_backward_weight(x: &[f32], gy: &[f32], g: &ConvGeometry) -> Vec<f32> {
    if batched3x3::pays(g) {
        return batched3x3::weight_gradient(x, gy, g);
    }
    if direct::gradient_applies(g) {
        return direct::weight_gradient(x, gy, g);
    }
    if parity::pays(g) {
        return parity::weight_gradient(x, gy, g);
    }
    weight_gradient_pass(x, gy, g, None)
}

/// The convolution of `x` by `w` (no bias, im2col + GEMM) and the weight gradient of
/// [`conv2d_backward_weight`] of `x` and `gy`, from one lowering of `x`: a transposed convolution's
/// input and weight gradients, which both lower its output gradient the same way (done apart, they
/// lowered it twice, a fifth of the DCGAN generator's backward pass). One buffer, the output
/// (`g.output_len()` floats) then the weight gradient (`g.weight_len()`), as the transposed
/// convolution's backward op hands them to candle: appending the gradient to a full-size output had
/// copied the output (6.4 MB for the DCGAN generator's second layer).
pub fn conv2d_forward_and_backward_weight(
    x: &[f32],
    w: &[f32],
    gy: &[f32],
    g: &ConvGeometry,
) -> Vec<f32> {
    if parity::pays(g) {
        // Nothing to share: the forward convolution lowers nothing there.
        let mut y = parity::forward(x, w, &[], g, Epilogue::None, g.weight_len());
        y.extend_from_slice(&parity::weight_gradient(x, gy, g)[..g.weight_len()]);
        return y;
    }
    let len = g.output_len();
    let mut y = Vec::with_capacity(len + g.weight_len());
    let spare = SharedMut::spare(&mut y, len);
    let both = weight_gradient_pass(x, gy, g, Some((w, spare)));
    // SAFETY: the work items cover every (image, row band) block of the output, and each block's
    // product wrote all of it (`sgemm` without accumulation writes every element).
    unsafe { y.set_len(len) };
    y.extend_from_slice(&both[..g.weight_len()]);
    y
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
    let items = bands(g, g.band_rows());
    // The parts, and so how the sums over the items are grouped, follow the items only: the same
    // gradient bit for bit with any number of threads. Each part zeroes and adds a whole partial
    // gradient, so it takes a few images.
    let per_item = items.first().map_or(1, |band| band.images.len());
    let parts =
        reduction_parts(items.len(), ITEMS_PER_PARTIAL.div_ceil(per_item)).min(MAX_PARTIALS);
    let inner = band_threads(parts);
    let transposed = k >= TRANSPOSED_GRADIENT_ROWS;
    let partials = for_parts(items.len(), parts, |_, range| {
        // The weight gradient (transposed, `k x m`, where `transposed`), then the bias gradient.
        let mut acc = vec![0.0f32; m * k + m];
        let (dwt, db) = acc.split_at_mut(m * k);
        for band in &items[range] {
            let n = band.cols(ow);
            // The output gradient's rows of the item, `m x n`, and where the forward product goes.
            // `dw += gm lowered^T` would read the lowered matrix transposed, a strided operand that the
            // gemm crate packs slowly (as for the dense layers, `kernels::gemm::sgemm_new_deep`);
            // `dw^T += lowered gm^T` with `gm` transposed first (`n x m`
            // floats, a thousandth of the product's work for a 1,024-row lowering) reads both in rows.
            // Shallow lowerings (the MNIST network's first layer: 9 rows) keep `dw += gm lowered^T`, whose
            // product is `m` rows tall where the other would be 9: MNIST training lost 2-4% the other way.
            let products = |lowered: Mat<'_>, gm: Mat<'_>, db: &mut [f32], dwt: &mut [f32]| {
                for (o, dbo) in db.iter_mut().enumerate() {
                    *dbo += lanes_sum(&gm.data[o * gm.rs..o * gm.rs + n]);
                }
                if !transposed {
                    return sgemm(MatMut::rows(dwt, m, k), true, gm, lowered.t(), inner);
                }
                with_third_scratch(n * m, |gmt| {
                    transpose_into(gm.t(), gmt, m);
                    sgemm(
                        MatMut::rows(dwt, k, m),
                        true,
                        lowered,
                        Mat::rows(gmt, n, m),
                        inner,
                    );
                });
            };
            if band.images.len() == 1 {
                let start = band.images.start * m * plane + band.rows.start * ow;
                let gm = Mat {
                    data: &gy[start..],
                    rows: m,
                    cols: n,
                    rs: plane,
                    cs: 1,
                };
                with_lowered(x, g, band, |lowered| {
                    products(lowered, gm, db, dwt);
                    if let Some((w, y)) = forward {
                        // SAFETY: work items cover disjoint (image, row band) blocks of `y`.
                        let dst = unsafe { MatMut::shared(y, start, m, n, plane) };
                        sgemm(dst, false, Mat::rows(w, m, k), lowered, inner);
                    }
                });
                continue;
            }
            // Whole images side by side: their output gradients gathered into one operand, which
            // then takes the forward product before it goes to each image's planes of `y`.
            with_second_scratch(m * n, |buf| {
                gather_images(gy, band.images.clone(), m, plane, buf);
                with_lowered(x, g, band, |lowered| {
                    products(lowered, Mat::rows(buf, m, n), db, dwt);
                    if let Some((w, y)) = forward {
                        sgemm(
                            MatMut::rows(buf, m, n),
                            false,
                            Mat::rows(w, m, k),
                            lowered,
                            inner,
                        );
                        scatter_images(buf, band, g, y, &[], Epilogue::None);
                    }
                });
            });
        }
        acc
    });
    let sum = sum_in_order(partials, || vec![0.0; m * k + m]);
    if !transposed {
        return sum;
    }
    let mut out = vec![0.0f32; m * k + m];
    transpose_into(Mat::rows(&sum[..m * k], k, m).t(), &mut out, k);
    out[m * k..].copy_from_slice(&sum[m * k..]);
    out
}

/// The input gradient from the output gradient `gy`.
pub fn conv2d_backward_input(gy: &[f32], w: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let as_conv = g.transposed_as_conv();
    // Stride 1: the input gradient is a forward convolution of the output gradient (flipped filters),
    // which Winograd does with 2.25x fewer multiply-adds where it applies. Elsewhere GEMM + col2im does
    // fewer multiply-adds (no zero padding around the gradient).
    if let Some(tg) = as_conv.filter(batched3x3::pays) {
        return batched3x3::input_gradient(gy, w, &tg);
    }
    if let Some(tg) = as_conv.filter(super::winograd::applies) {
        return super::winograd::input_gradient(gy, None, w, &tg);
    }
    if let Some(tg) = as_conv.filter(direct::applies) {
        return direct::input_gradient(gy, w, g, &tg);
    }
    if parity::pays(g) {
        return parity::transposed(gy, w, &[], g);
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
    if let Some(tg) = g.transposed_as_conv().filter(batched3x3::pays) {
        return batched3x3::input_gradient(&relu_mask(gy, y), w, &tg);
    }
    if let Some(tg) = g.transposed_as_conv().filter(super::winograd::applies) {
        return match prepacked {
            Some(p) => p.input_gradient(gy, Some(y), &tg),
            None => super::winograd::input_gradient(gy, Some(y), w, &tg),
        };
    }
    conv2d_backward_input(&relu_mask(gy, y), w, g)
}

/// `dx = col2im(w^T gy)` per image (small planes: a few images a product): any stride, padding and
/// dilation.
pub fn conv_transpose_by_col2im(gy: &[f32], w: &[f32], g: &ConvGeometry) -> Vec<f32> {
    by_col2im(gy, w, &[], g)
}

/// The forward pass of a transposed convolution, the input gradient of the convolution `g` applied to
/// `x`, plus `bias` on each of its output channels (`g.in_channels` of them; empty for none). Where it
/// goes through col2im, each image's output is written once, bias included, with no zeroing first.
pub fn conv_transpose_forward(x: &[f32], w: &[f32], bias: &[f32], g: &ConvGeometry) -> Vec<f32> {
    if g.transposed_as_conv()
        .filter(super::winograd::applies)
        .is_some()
    {
        let mut y = conv2d_backward_input(x, w, g);
        if !bias.is_empty() {
            super::bias::add_to_channels_in_place(&mut y, bias, g.height * g.width);
        }
        return y;
    }
    if parity::pays(g) {
        return parity::transposed(x, w, bias, g);
    }
    by_col2im(x, w, bias, g)
}

/// [`conv_transpose_by_col2im`] plus `bias` per channel (empty for none).
fn by_col2im(gy: &[f32], w: &[f32], bias: &[f32], g: &ConvGeometry) -> Vec<f32> {
    use rayon::prelude::*;
    let (oh, ow) = g.out_hw();
    let (m, k) = (g.out_channels, g.patch_len());
    let plane = oh * ow;
    let image_len = g.in_channels * g.height * g.width;
    let wt = Mat::rows(w, m, k).t();
    // Small planes: several images' products side by side, as the forward pass lowers them.
    let images = g.band_images(oh);
    let groups = g.batch.div_ceil(images);
    let inner = band_threads(groups);
    let len = g.input_len();
    let mut dx = Vec::with_capacity(len);
    let shared = SharedMut::spare(&mut dx, len);
    (0..groups).into_par_iter().for_each(|i| {
        let first = i * images;
        let count = images.min(g.batch - first);
        let n = count * plane;
        // SAFETY: the groups' images are disjoint; each image is written in full below.
        let dxs = unsafe { shared.slice(first * image_len, count * image_len) };
        with_scratch(k * n, |col| {
            let dst = MatMut::rows(col, k, n);
            if count == 1 {
                let gm = Mat::rows(&gy[first * m * plane..(first + 1) * m * plane], m, plane);
                sgemm(dst, false, wt, gm, inner);
            } else {
                with_second_scratch(m * n, |buf| {
                    gather_images(gy, first..first + count, m, plane, buf);
                    sgemm(dst, false, wt, Mat::rows(buf, m, n), inner);
                });
            }
            for (j, dxb) in dxs.chunks_exact_mut(image_len).enumerate() {
                col2im_set(&col[j * plane..], n, g, dxb, bias);
            }
        });
    });
    // SAFETY: every image of `dx` was written in full by its group (`col2im_set` writes each channel).
    unsafe { dx.set_len(len) };
    dx
}

/// `gy * (y > 0)`: the output gradient through a fused ReLU.
pub fn relu_mask(gy: &[f32], y: &[f32]) -> Vec<f32> {
    const CHUNK: usize = 1 << 14;
    assert_eq!(
        gy.len(),
        y.len(),
        "relu_mask: gradient and output lengths differ"
    );
    super::parallel::zeros_accumulated_in_parallel(gy.len(), CHUNK, |i, o| {
        let at = i * CHUNK..i * CHUNK + o.len();
        mask_chunk(o, &gy[at.clone()], &y[at]);
    })
}

super::activation::dispatch_avx512! {
    /// `out = gy * (y > 0)` over slices of one length, as compares and masks in vector registers: the
    /// loop over zipped slices of unknown lengths stayed scalar, 4% of an MNIST training step's samples
    /// (`perf annotate` of `kernels_bench --case mnist_train`).
    fn mask_chunk(out: &mut [f32], gy: &[f32], y: &[f32]) {
        let n = out.len().min(gy.len()).min(y.len());
        for ((o, g), y) in out[..n].iter_mut().zip(&gy[..n]).zip(&y[..n]) {
            *o = if *y > 0.0 { *g } else { 0.0 };
        }
    }
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
            // Batches whose small outputs put several images in a work item (`band_images`), strided
            // (the padded lowering) and not, with a ragged last item.
            geometry(9, 16, 6, 6, 4, 4, 1, 2, 1),
            geometry(11, 32, 9, 8, 3, 3, 1, 2, 2),
            geometry(10, 32, 5, 5, 3, 3, 1, 1, 1),
        ] {
            if g.batch > 8 {
                assert!(
                    g.band_images(g.band_rows()) > 1,
                    "{g:?} tests one image an item"
                );
            }
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
            let both = conv2d_forward_and_backward_weight(&x, &w, &gy, &g);
            let (y_both, dw_both) = both.split_at(g.output_len());
            assert_eq!(
                y_both,
                conv2d_forward_im2col(&x, &w, &[], &g, Epilogue::None),
                "{g:?}"
            );
            assert_eq!(dw_both, &dw[..g.weight_len()], "{g:?}");
        }
    }
}
