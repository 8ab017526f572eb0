//! Small helpers for the lessons' figures: one map as an enlarged image, marked positions.

use candle_core::Tensor;
use glassbox_core::imaging::{heatmap, upscale, Colormap, Scale};
use image::{Rgb, RgbImage};

use crate::Result;

/// A `(H, W)` or `(1, H, W)` map coloured with `colormap` after `scale`, enlarged (nearest neighbour, by an
/// integer factor) until its longer side is at least `min_side` pixels. Returns the image and the factor.
pub fn map_image(
    map: &Tensor,
    colormap: Colormap,
    scale: Scale,
    min_side: u32,
) -> Result<(RgbImage, u32)> {
    let image = heatmap(map, colormap, scale)?;
    let longer = image.width().max(image.height());
    let factor = min_side.div_ceil(longer).max(1);
    Ok((upscale(&image, factor), factor))
}

/// Draws a one-pixel frame of `color` around the cells at `positions` (row, column) of an image enlarged
/// by `factor`.
pub fn mark_cells(image: &mut RgbImage, positions: &[(usize, usize)], factor: u32, color: Rgb<u8>) {
    for &(r, c) in positions {
        let (x0, y0) = (c as u32 * factor, r as u32 * factor);
        for i in 0..factor {
            for (x, y) in [
                (x0 + i, y0),
                (x0 + i, y0 + factor - 1),
                (x0, y0 + i),
                (x0 + factor - 1, y0 + i),
            ] {
                if x < image.width() && y < image.height() {
                    image.put_pixel(x, y, color);
                }
            }
        }
    }
}

/// Red, for marks.
pub const RED: Rgb<u8> = Rgb([230, 30, 30]);
