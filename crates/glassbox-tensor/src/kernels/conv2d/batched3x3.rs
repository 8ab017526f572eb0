//! 3x3 stride-1 convolutions of batches by Winograd's F(4x4, 3x3) on channel-innermost tiles
//! (`super::tiled`): 36 products per 4x4 block of outputs instead of 144, and the products of a work
//! item take all its tiles at once. The MNIST network's second layer runs here forward (with ReLU and
//! pooling, `kernels::conv_pool`) and for its input gradient, which the direct AVX-512 kernel
//! ([`super::direct`]) had run at the FMA peak in 14 and 17 ms; so do 64-channel layers of batches on
//! 56x56 maps, where [`super::super::winograd`]'s bands of one image ran the same algorithm along rows
//! more slowly. Batch-1 work (VGG16 on a photo) stays with [`super::super::winograd`] and im2col.

use super::tiled::{
    channels_last, correlate, emit_cropped, finish_channels, grid_planes, transform_filters,
    weight_gradient_taps, Tiles, F4X4_3X3,
};
use super::{ConvGeometry, Epilogue};
use crate::kernels::bias::channel_sums;
use crate::kernels::parallel::{written_in_full, SharedMut, MIN_WORK_ITEMS};

/// Channels on each side, at least: the products are `tiles x in` by `in x out`.
const MIN_CHANNELS: usize = 32;

/// Channels on each side, at most, where the path is chosen: measured on 32 and 64 (the MNIST layer,
/// `conv64`); VGG16's 512-channel layers would transform 38 MB of filters a call.
const MAX_CHANNELS: usize = 128;

/// Whether the path can run a convolution: 3x3, stride 1, no dilation, at least `MIN_CHANNELS`
/// channels in and out.
pub fn applies(g: &ConvGeometry) -> bool {
    g.kernel_h == 3
        && g.kernel_w == 3
        && g.stride == 1
        && g.dilation == 1
        && g.in_channels >= MIN_CHANNELS
        && g.out_channels >= MIN_CHANNELS
        && g.output_hw().is_some()
}

/// Whether the kernels choose the path for a convolution: [`applies`], at most `MAX_CHANNELS` a side,
/// a batch of at least [`MIN_WORK_ITEMS`] images (work items are whole images) and enough tiles in the
/// call (`super::tiled::enough_tiles`).
pub fn pays(g: &ConvGeometry) -> bool {
    applies(g)
        && g.in_channels.max(g.out_channels) <= MAX_CHANNELS
        && g.batch >= MIN_WORK_ITEMS
        && g.output_hw()
            .is_some_and(|(oh, ow)| super::tiled::enough_tiles(oh, ow, g.batch))
}

/// `y = epilogue(conv(x, w) + bias)`, `w` as `(out, in, 3, 3)`, for a convolution that [`applies`].
pub fn forward(
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    g: &ConvGeometry,
    epilogue: Epilogue,
) -> Vec<f32> {
    convolve(x, &forward_taps(w, g), bias, g, epilogue)
}

/// Runs the convolution of `x` with `w` (no bias) and calls `emit(image, planes, row)` for each image:
/// `planes` holds its `out` channels one after another, each `planes.len() / out` floats of rows `row`
/// floats apart, valid in the first output rows and columns (for the caller's epilogue, such as pooling).
pub fn for_each_image(
    x: &[f32],
    w: &[f32],
    g: &ConvGeometry,
    emit: impl Fn(usize, &[f32], usize) + Sync,
) {
    let taps = forward_taps(w, g);
    correlate_images(x, &taps, g, |b, grid, work, (gh, gw)| {
        let cells = gh * gw;
        grid_planes(grid, g.out_channels, cells, work);
        emit(b, &work[..g.out_channels * cells], gw);
    });
}

/// The filters `(out, in, 3, 3)` tap by tap (tap `(i, j)` the `in x out` matrix at `taps[(3i + j) in
/// out..]`).
fn forward_taps(w: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let (k, m) = (g.in_channels, g.out_channels);
    let mut taps = vec![0.0f32; 9 * k * m];
    for (i, &v) in w.iter().enumerate() {
        let (o, c, t) = (i / (9 * k), i / 9 % k, i % 9);
        taps[(t * k + c) * m + o] = v;
    }
    taps
}

/// The input gradient of the stride-1 convolution `g` (filters `w`, `(out, in, 3, 3)`) from its output
/// gradient `gy`: the convolution `tg` (`g.transposed_as_conv()`, which must [`applies`]) of `gy` with
/// the flipped, transposed filters.
pub fn input_gradient(gy: &[f32], w: &[f32], tg: &ConvGeometry) -> Vec<f32> {
    // `tg` reads `g`'s outputs (`k` channels) and makes its inputs (`m`).
    let (k, m) = (tg.in_channels, tg.out_channels);
    let mut taps = vec![0.0f32; 9 * k * m];
    for (i, &v) in w.iter().enumerate() {
        let (c, o, t) = (i / (9 * m), i / 9 % m, i % 9);
        taps[((8 - t) * k + c) * m + o] = v;
    }
    convolve(gy, &taps, &[], tg, Epilogue::None)
}

/// The weight gradient `(out, in, 3, 3)` followed by the bias gradient `(out)` of a convolution that
/// [`applies`], from its input `x` and output gradient `gy`: the adjoint of [`forward`]
/// (`weight_gradient_taps`).
pub fn weight_gradient(x: &[f32], gy: &[f32], g: &ConvGeometry) -> Vec<f32> {
    assert!(
        applies(g),
        "batched 3x3 convolution: unsupported geometry {g:?}"
    );
    let (oh, ow) = g.output_hw().expect("checked geometry");
    let (k, m, h, wd, p) = (g.in_channels, g.out_channels, g.height, g.width, g.padding);
    let tiles = Tiles::covering(&F4X4_3X3, oh, ow);
    let (_, iw) = tiles.input_hw();
    let (_, gw) = tiles.grid_hw();
    let (image_len, plane) = (k * h * wd, oh * ow);
    let fill_x = |b: usize, padded: &mut [f32]| {
        channels_last(
            &x[b * image_len..(b + 1) * image_len],
            k,
            h,
            wd,
            padded,
            iw,
            p * iw + p,
        )
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
    let dtaps = weight_gradient_taps(&F4X4_3X3, g.batch, k, m, tiles, fill_x, fill_gy);
    let mut out = vec![0.0f32; g.weight_len()];
    for (i, d) in out.iter_mut().enumerate() {
        let (o, c, t) = (i / (9 * k), i / 9 % k, i % 9);
        *d = dtaps[(t * k + c) * m + o];
    }
    out.extend_from_slice(&channel_sums(gy, m, plane));
    out
}

/// The convolution with filters given tap by tap (tap `(i, j)` the `in x out` matrix at
/// `taps[(3i + j) in out..]`).
fn convolve(
    x: &[f32],
    taps: &[f32],
    bias: &[f32],
    g: &ConvGeometry,
    epilogue: Epilogue,
) -> Vec<f32> {
    let (oh, ow) = g.output_hw().expect("checked geometry");
    let (m, plane) = (g.out_channels, oh * ow);
    let write = |shared: SharedMut| {
        correlate_images(x, taps, g, |b, grid, work, (gh, gw)| {
            // SAFETY: each image's output belongs to the one work item that emits it.
            let dst = unsafe { shared.slice(b * m * plane, m * plane) };
            emit_cropped(grid, m, gh, gw, oh, ow, dst, work);
            finish_channels(dst, plane, bias, epilogue);
        });
    };
    // SAFETY: every image's planes are written in full (all `oh` rows of `ow` columns of each channel).
    unsafe { written_in_full(g.output_len(), 0, write) }
}

/// [`correlate`] for `g`: each image zero-padded, channels innermost, and `emit(image, grid, work,
/// grid_hw)`.
fn correlate_images(
    x: &[f32],
    taps: &[f32],
    g: &ConvGeometry,
    emit: impl Fn(usize, &[f32], &mut [f32], (usize, usize)) + Sync,
) {
    assert!(
        applies(g),
        "small 3x3 convolution: unsupported geometry {g:?}"
    );
    let (oh, ow) = g.output_hw().expect("checked geometry");
    let (k, m, h, wd, p) = (g.in_channels, g.out_channels, g.height, g.width, g.padding);
    let u = transform_filters(&F4X4_3X3, taps, k, m);
    let tiles = Tiles::covering(&F4X4_3X3, oh, ow);
    let (_, iw) = tiles.input_hw();
    let grid_hw = tiles.grid_hw();
    let image_len = k * h * wd;
    let fill = |b: usize, padded: &mut [f32]| {
        let image = &x[b * image_len..(b + 1) * image_len];
        channels_last(image, k, h, wd, padded, iw, p * iw + p);
    };
    let emit = |b: usize, grid: &[f32], work: &mut [f32]| emit(b, grid, work, grid_hw);
    correlate(&F4X4_3X3, g.batch, k, m, tiles, &u, fill, emit);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::conv2d::test_support::{relative_error, values as data};
    use crate::kernels::conv2d::{conv2d_forward_im2col, conv_transpose_by_col2im};

    /// 3x3 filters, stride 1.
    fn geometry(batch: usize, c: usize, h: usize, w: usize, m: usize, p: usize) -> ConvGeometry {
        crate::kernels::conv2d::test_support::geometry(batch, c, (h, w), m, 3, p, 1)
    }

    /// The MNIST network's second layer and its input gradient, odd and unequal sides, a wide map.
    const SHAPES: [(usize, usize, usize, usize, usize, usize); 5] = [
        (3, 32, 26, 26, 64, 0),
        (2, 64, 57, 56, 64, 1),
        (2, 64, 24, 24, 32, 2),
        (5, 32, 7, 9, 40, 1),
        (1, 48, 13, 6, 32, 1),
    ];

    #[test]
    fn forward_matches_im2col() {
        for (batch, c, h, w, m, p) in SHAPES {
            let g = geometry(batch, c, h, w, m, p);
            let (x, wt, bias) = (data(g.input_len(), 1), data(g.weight_len(), 2), data(m, 3));
            for epilogue in [Epilogue::None, Epilogue::Bias, Epilogue::BiasRelu] {
                let got = forward(&x, &wt, &bias, &g, epilogue);
                let want = conv2d_forward_im2col(&x, &wt, &bias, &g, epilogue);
                let err = relative_error(&got, &want);
                assert!(err < 2e-4, "{g:?} {epilogue:?}: relative error {err}");
            }
        }
    }

    #[test]
    fn input_gradient_matches_col2im() {
        for (batch, c, h, w, m, p) in SHAPES {
            let g = geometry(batch, c, h, w, m, p);
            let tg = g.transposed_as_conv().expect("stride 1");
            let (gy, wt) = (data(g.output_len(), 4), data(g.weight_len(), 5));
            let got = input_gradient(&gy, &wt, &tg);
            let want = conv_transpose_by_col2im(&gy, &wt, &g);
            let err = relative_error(&got, &want);
            assert!(err < 2e-4, "{g:?}: relative error {err}");
        }
    }

    #[test]
    fn weight_gradient_matches_im2col() {
        for (batch, c, h, w, m, p) in SHAPES {
            let g = geometry(batch, c, h, w, m, p);
            let (x, gy) = (data(g.input_len(), 7), data(g.output_len(), 8));
            let got = weight_gradient(&x, &gy, &g);
            let want = super::super::weight_gradient_pass(&x, &gy, &g, None);
            let err = relative_error(&got, &want);
            assert!(err < 2e-4, "{g:?}: relative error {err}");
        }
    }

    #[test]
    fn only_3x3_stride_1_layers_with_enough_channels_apply() {
        let g = geometry(2, 32, 26, 26, 64, 0);
        assert!(applies(&g));
        assert!(!applies(&ConvGeometry {
            in_channels: 16,
            ..g
        }));
        assert!(!applies(&ConvGeometry { stride: 2, ..g }));
        assert!(!applies(&ConvGeometry {
            kernel_h: 4,
            kernel_w: 4,
            ..g
        }));
        // Chosen with enough tiles and images in the call, and not for wide layers.
        assert!(!pays(&g) && pays(&ConvGeometry { batch: 128, ..g }));
        assert!(!pays(&ConvGeometry {
            batch: 128,
            in_channels: 512,
            ..g
        }));
        let photo = ConvGeometry {
            height: 224,
            width: 224,
            padding: 1,
            ..g
        };
        assert!(!pays(&photo) && pays(&ConvGeometry { batch: 8, ..photo }));
    }
}
