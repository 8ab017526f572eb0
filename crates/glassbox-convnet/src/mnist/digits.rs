//! Any image of one handwritten digit, turned into an MNIST digit the way MNIST was made (LeCun et al.):
//! white ink on black, the digit's bounding box scaled (keeping its aspect ratio) to fit 20x20 with
//! anti-aliasing, then placed in a 28x28 field so that its centre of mass is at the centre.
//!
//! The photo or scan may be any size, dark ink on light paper or light on dark, colour or gray, with or
//! without transparency (composited over white first, as an image viewer shows it).

use std::path::Path;

use glassbox_core::imaging::{load_image, LoadOptions};
use image::imageops::{self, FilterType};
use image::{GrayImage, Luma};

use crate::{Error, Result};

/// MNIST's field and the box the digit is scaled into.
pub const SIDE: usize = 28;
const BOX: u32 = 20;
/// Pixels above this share of the ink's range count as ink for the bounding box.
const INK: f32 = 0.15;

/// Reads `path` and returns its digit as 784 bytes, row-major, 0 = background, 255 = ink.
///
/// Errors name the file: not an image, empty or above the pixel limit (glassbox-core's checks), or an image
/// with no contrast (blank: no digit to find).
pub fn digit_from_file(path: &Path) -> Result<Vec<u8>> {
    let gray = load_image(path, &LoadOptions::gray())?;
    let (_, h, w) = gray.dims3()?;
    let values: Vec<f32> = gray.flatten_all()?.to_vec1()?;
    digit_from_gray(&values, w, h).map_err(|problem| Error::Input {
        path: path.to_path_buf(),
        problem,
    })
}

/// `values` (0..=255, `width` x `height`, row-major) as an MNIST digit; `Err` says why not.
pub fn digit_from_gray(
    values: &[f32],
    width: usize,
    height: usize,
) -> std::result::Result<Vec<u8>, String> {
    assert_eq!(values.len(), width * height, "digit_from_gray: size");
    let (lo, hi) = values
        .iter()
        .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if hi - lo < 16.0 {
        return Err(format!(
            "the image is blank (gray levels {lo:.0} to {hi:.0}): no digit to read"
        ));
    }
    // The background is whatever the border mostly is; ink is the other end of the range.
    let border: Vec<f32> = (0..width)
        .flat_map(|x| [values[x], values[(height - 1) * width + x]])
        .chain((0..height).flat_map(|y| [values[y * width], values[y * width + width - 1]]))
        .collect();
    let mean_border = border.iter().sum::<f32>() / border.len() as f32;
    let dark_ink = mean_border > (lo + hi) / 2.0;
    let ink: Vec<f32> = values
        .iter()
        .map(|&v| {
            let t = (v - lo) / (hi - lo);
            if dark_ink {
                1.0 - t
            } else {
                t
            }
        })
        .collect();
    // The ink's bounding box.
    let (mut x0, mut y0, mut x1, mut y1) = (width, height, 0, 0);
    for y in 0..height {
        for x in 0..width {
            if ink[y * width + x] > INK {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x + 1);
                y1 = y1.max(y + 1);
            }
        }
    }
    let (bw, bh) = (x1 - x0, y1 - y0);
    let cropped = GrayImage::from_fn(bw as u32, bh as u32, |x, y| {
        let v = ink[(y0 + y as usize) * width + x0 + x as usize];
        Luma([(v * 255.0).round() as u8])
    });
    let scale = f64::from(BOX) / bw.max(bh) as f64;
    let (sw, sh) = (
        ((bw as f64 * scale).round() as u32).clamp(1, BOX),
        ((bh as f64 * scale).round() as u32).clamp(1, BOX),
    );
    let boxed = imageops::resize(&cropped, sw, sh, FilterType::Triangle);
    // Centre of mass of the scaled digit, moved to the centre of the 28x28 field.
    let (mut mass, mut cx, mut cy) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y, p) in boxed.enumerate_pixels() {
        let m = f64::from(p.0[0]);
        mass += m;
        cx += m * (f64::from(x) + 0.5);
        cy += m * (f64::from(y) + 0.5);
    }
    let (cx, cy) = if mass > 0.0 {
        (cx / mass, cy / mass)
    } else {
        (f64::from(sw) / 2.0, f64::from(sh) / 2.0)
    };
    let half = SIDE as f64 / 2.0;
    let ox = (half - cx).round() as i64;
    let oy = (half - cy).round() as i64;
    let mut field = GrayImage::new(SIDE as u32, SIDE as u32);
    imageops::replace(&mut field, &boxed, ox, oy);
    Ok(field.into_raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 60x90 image of a dark vertical bar (a "1") off-centre on light paper.
    fn bar(dark_on_light: bool) -> Vec<f32> {
        let (w, h) = (60, 90);
        (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                let ink = (10..16).contains(&x) && (20..80).contains(&y);
                match (ink, dark_on_light) {
                    (true, true) | (false, false) => 20.0,
                    _ => 235.0,
                }
            })
            .collect()
    }

    #[test]
    fn a_bar_becomes_a_centred_white_stroke_20_pixels_tall() {
        for dark in [true, false] {
            let d = digit_from_gray(&bar(dark), 60, 90).unwrap();
            assert_eq!(d.len(), 784);
            let rows: Vec<usize> = (0..28)
                .filter(|&y| (0..28).any(|x| d[y * 28 + x] > 128))
                .collect();
            assert_eq!(rows.len(), 20, "{rows:?}");
            assert_eq!((rows[0], rows[19]), (4, 23));
            // Background black, ink white, centred horizontally.
            assert_eq!(d[0], 0);
            let cols: Vec<usize> = (0..28).filter(|&x| d[14 * 28 + x] > 128).collect();
            let mid = (cols[0] + cols[cols.len() - 1]) as f64 / 2.0;
            assert!((mid - 13.5).abs() <= 1.0, "{cols:?}");
        }
    }

    #[test]
    fn a_blank_image_is_refused() {
        let err = digit_from_gray(&vec![200.0; 100], 10, 10).unwrap_err();
        assert!(err.contains("blank"), "{err}");
    }
}
