//! The work items of a convolution and their lowered matrices: im2col, and col2im's way back.

use super::ConvGeometry;
use std::ops::Range;

/// One work item: output rows `rows` of the images `images`. Either a band of one image's rows, or,
/// where a whole image's output is small, several whole images whose lowered columns sit side by side,
/// image after image. One image of a 7x7 output was a 49-column product, too narrow to pay for packing
/// its 512 KB of filters: the DCGAN generator's first transposed convolution ran its three products at
/// 81-93 GFLOP/s a core one image at a time and at 99-105 eight at a time (`examples/conv_shapes.rs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Band {
    /// Images, consecutive.
    pub images: Range<usize>,
    /// Output rows of each image.
    pub rows: Range<usize>,
}

impl Band {
    /// Lowered columns of one image: its rows times the output width.
    pub fn image_cols(&self, ow: usize) -> usize {
        self.rows.len() * ow
    }

    /// Lowered columns of the whole item.
    pub fn cols(&self, ow: usize) -> usize {
        self.images.len() * self.image_cols(ow)
    }

    /// The item's images with the column where each one's part starts.
    pub fn parts(&self, ow: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        let n = self.image_cols(ow);
        self.images
            .clone()
            .enumerate()
            .map(move |(i, b)| (b, i * n))
    }
}

/// The work items of `g` in order: bands of `rows` output rows, and where a band is a whole image,
/// [`ConvGeometry::band_images`] images an item.
pub(crate) fn bands(g: &ConvGeometry, rows: usize) -> Vec<Band> {
    let (oh, _) = g.output_hw().expect("ConvGeometry checked by the caller");
    let images = g.band_images(rows);
    let mut items = Vec::new();
    if images > 1 {
        let mut b = 0;
        while b < g.batch {
            let end = (b + images).min(g.batch);
            items.push(Band {
                images: b..end,
                rows: 0..oh,
            });
            b = end;
        }
        return items;
    }
    for b in 0..g.batch {
        let mut r = 0;
        while r < oh {
            items.push(Band {
                images: b..b + 1,
                rows: r..(r + rows).min(oh),
            });
            r += rows;
        }
    }
    items
}

/// Writes the lowered matrix of output rows `rows` of one image, `col[(c, ki, kj), (oh, ow)]`, with
/// `ld` floats from one row of `col` to the next.
pub(crate) fn im2col(x: &[f32], g: &ConvGeometry, rows: Range<usize>, col: &mut [f32], ld: usize) {
    if g.stride > 1 {
        return im2col_padded(x, g, rows, col, ld);
    }
    let (_, ow) = g.output_hw().expect("ConvGeometry checked by the caller");
    let n = rows.len() * ow;
    let (h, w) = (g.height, g.width);
    let (s, d, p) = (g.stride, g.dilation, g.padding as isize);
    for c in 0..g.in_channels {
        let plane = &x[c * h * w..(c + 1) * h * w];
        for ki in 0..g.kernel_h {
            for kj in 0..g.kernel_w {
                let row = (c * g.kernel_h + ki) * g.kernel_w + kj;
                let dst = &mut col[row * ld..row * ld + n];
                let off = (kj * d) as isize - p;
                let (lo, hi) = strided_span(ow, w, s, off);
                for (r, oh) in rows.clone().enumerate() {
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
pub(crate) fn strided_span(ow: usize, w: usize, s: usize, off: isize) -> (usize, usize) {
    let s = s as isize;
    // The first o with o s + off >= 0, and one past the last with o s + off < w.
    let lo = ((-off).max(0) + s - 1) / s;
    let hi = (w as isize - off + s - 1).div_euclid(s).max(0);
    let (lo, hi) = (lo.min(ow as isize) as usize, hi.min(ow as isize) as usize);
    (lo, hi.max(lo))
}

/// Adds the lowered matrix `col` of all output rows of one image (`ld` floats from one row to the next)
/// back into the image gradient `dx`.
pub(crate) fn col2im_add(col: &[f32], ld: usize, g: &ConvGeometry, dx: &mut [f32]) {
    if g.stride > 1 {
        return col2im_padded(col, ld, g, dx, None);
    }
    let (oh, ow) = g.output_hw().expect("ConvGeometry checked by the caller");
    let n = oh * ow;
    let (h, w) = (g.height, g.width);
    let (s, d, p) = (g.stride, g.dilation, g.padding as isize);
    for c in 0..g.in_channels {
        let plane = &mut dx[c * h * w..(c + 1) * h * w];
        for ki in 0..g.kernel_h {
            for kj in 0..g.kernel_w {
                let row = (c * g.kernel_h + ki) * g.kernel_w + kj;
                let src = &col[row * ld..row * ld + n];
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

/// Where each output position's window starts in a channel plane padded on every side: `(oh s) wp + ow
/// s` for output rows `rows`, `wp` the padded width. Kernel tap `(ki, kj)` of that position is `ki d wp
/// + kj d` further on, inside the padded plane for every position.
fn window_origins(g: &ConvGeometry, rows: Range<usize>) -> Vec<u32> {
    let (_, ow) = g.output_hw().expect("ConvGeometry checked by the caller");
    let (hp, wp) = (g.height + 2 * g.padding, g.width + 2 * g.padding);
    let origins: Vec<u32> = rows
        .flat_map(|r| (0..ow).map(move |c| (r * g.stride * wp + c * g.stride) as u32))
        .collect();
    // The last tap of the last window: what makes the unchecked reads of the callers sound.
    let last_tap = (g.kernel_h - 1) * g.dilation * wp + (g.kernel_w - 1) * g.dilation;
    assert!(
        origins.iter().all(|&o| o as usize + last_tap < hp * wp),
        "window_origins: a window reaches past the padded plane"
    );
    origins
}

/// [`im2col`] for strides above 1, whose rows are gathers, not copies. Each channel is first copied
/// into a zero-padded plane, so that every lowered row is the same gather at another offset, without
/// bounds to test: the per-row bounds and short strided loops had made the lowering of a 4x4 stride-2
/// convolution of 7x7 outputs run at about a float a nanosecond.
fn im2col_padded(x: &[f32], g: &ConvGeometry, rows: Range<usize>, col: &mut [f32], ld: usize) {
    let origins = window_origins(g, rows);
    let (h, w, p, d) = (g.height, g.width, g.padding, g.dilation);
    let wp = w + 2 * p;
    let mut padded = vec![0.0f32; (h + 2 * p) * wp];
    for c in 0..g.in_channels {
        let plane = &x[c * h * w..(c + 1) * h * w];
        for (i, src) in plane.chunks_exact(w).enumerate() {
            padded[(i + p) * wp + p..(i + p) * wp + p + w].copy_from_slice(src);
        }
        for ki in 0..g.kernel_h {
            for kj in 0..g.kernel_w {
                let row = (c * g.kernel_h + ki) * g.kernel_w + kj;
                let tap = &padded[ki * d * wp + kj * d..];
                let dst = &mut col[row * ld..row * ld + origins.len()];
                for (v, &o) in dst.iter_mut().zip(&origins) {
                    // SAFETY: `window_origins` checked every tap of every window against the plane.
                    *v = unsafe { *tap.get_unchecked(o as usize) };
                }
            }
        }
    }
}

/// [`col2im_add`], but `dx` is written, not added to, with `bias[c]` (none where `bias` is empty) on each
/// channel `c`: a transposed convolution's output, whose memory needs no zeroing first.
pub(crate) fn col2im_set(col: &[f32], ld: usize, g: &ConvGeometry, dx: &mut [f32], bias: &[f32]) {
    if g.stride > 1 {
        return col2im_padded(col, ld, g, dx, Some(bias));
    }
    let plane = g.height * g.width;
    for (c, channel) in dx[..g.in_channels * plane]
        .chunks_exact_mut(plane)
        .enumerate()
    {
        channel.fill(bias.get(c).copied().unwrap_or(0.0));
    }
    col2im_add(col, ld, g, dx);
}

/// [`col2im_add`] for strides above 1: each channel's sums gathered in a zero-padded plane (see
/// [`im2col_padded`]), whose interior is then added to the gradient, or with `set = Some(bias)` written
/// to it plus the channel's bias ([`col2im_set`]).
fn col2im_padded(col: &[f32], ld: usize, g: &ConvGeometry, dx: &mut [f32], set: Option<&[f32]>) {
    let (oh, _) = g.output_hw().expect("ConvGeometry checked by the caller");
    let origins = window_origins(g, 0..oh);
    let (h, w, p, d) = (g.height, g.width, g.padding, g.dilation);
    let wp = w + 2 * p;
    let mut padded = vec![0.0f32; (h + 2 * p) * wp];
    for c in 0..g.in_channels {
        padded.fill(0.0);
        for ki in 0..g.kernel_h {
            for kj in 0..g.kernel_w {
                let row = (c * g.kernel_h + ki) * g.kernel_w + kj;
                let tap = &mut padded[ki * d * wp + kj * d..];
                let src = &col[row * ld..row * ld + origins.len()];
                // The origins of one row are distinct (stride >= 1), so no sum here meets another.
                for (&v, &o) in src.iter().zip(&origins) {
                    // SAFETY: `window_origins` checked every tap of every window against the plane.
                    unsafe { *tap.get_unchecked_mut(o as usize) += v };
                }
            }
        }
        let plane = &mut dx[c * h * w..(c + 1) * h * w];
        for (i, dst) in plane.chunks_exact_mut(w).enumerate() {
            let src = &padded[(i + p) * wp + p..(i + p) * wp + p + w];
            match set {
                None => dst.iter_mut().zip(src).for_each(|(d, s)| *d += s),
                Some(bias) => {
                    let b = bias.get(c).copied().unwrap_or(0.0);
                    dst.iter_mut().zip(src).for_each(|(d, s)| *d = s + b);
                }
            }
        }
    }
}

/// Copies the `m` rows of `plane` floats of each of `images` (image `b`'s block of `m * plane` floats
/// starting at `b * m * plane` in `src`) side by side into `dst`, `m x (images * plane)`: the operand of
/// a grouped product, where an image's channels are not one stride apart.
pub(crate) fn gather_images(
    src: &[f32],
    images: Range<usize>,
    m: usize,
    plane: usize,
    dst: &mut [f32],
) {
    let ld = images.len() * plane;
    for (i, b) in images.enumerate() {
        let block = &src[b * m * plane..(b + 1) * m * plane];
        for (o, row) in block.chunks_exact(plane).enumerate() {
            dst[o * ld + i * plane..o * ld + (i + 1) * plane].copy_from_slice(row);
        }
    }
}
