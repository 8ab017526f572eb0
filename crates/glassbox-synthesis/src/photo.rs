//! Photos in and out for the lessons that paint on them: `(1, 3, H, W)` RGB in `0..=255`, any PNG or
//! JPEG (gray and RGBA files are turned into RGB by glassbox-core's loader, alpha composited on white).

use std::path::Path;

use candle_core::Tensor;
use glassbox_core::imaging::{load_image, LoadOptions, Resize};

use crate::Result;

/// The largest image side a dream or a style transfer works at. VGG16's saved activations for the input
/// gradient grow with the pixel count: about 1.5 GB at 512x512 and four times that at 1024x1024, so
/// larger sizes would not fit a 24 GB machine with room to spare.
pub const MAX_SIDE: usize = 1024;

/// The smallest: VGG16's five pools need 32 pixels to leave one.
pub const MIN_SIDE: usize = 32;

/// `size` if it is within [`MIN_SIDE`]..=[`MAX_SIDE`], else an error that states the limits.
pub fn check_side(what: &str, size: usize) -> Result<usize> {
    if (MIN_SIDE..=MAX_SIDE).contains(&size) {
        Ok(size)
    } else {
        Err(glassbox_core::Error::invalid(
            what,
            size,
            format!("{MIN_SIDE} to {MAX_SIDE} pixels (VGG16's memory grows with the pixel count)"),
        )
        .into())
    }
}

/// Loads `path` as `(1, 3, H, W)` with its longer side `longer_side` pixels (the aspect ratio kept), or
/// at its own size when `None` (then each side must be within the limits).
pub fn load_photo(path: &Path, longer_side: Option<usize>) -> Result<Tensor> {
    let options = match longer_side {
        Some(side) => LoadOptions::rgb()
            .with_resize(Resize::LongerSide(check_side("image size", side)? as u32)),
        None => LoadOptions::rgb(),
    };
    let image = load_image(path, &options)?;
    let (_, h, w) = image.dims3()?;
    if longer_side.is_none() && (h.max(w) > MAX_SIDE || h.min(w) < MIN_SIDE) {
        return Err(glassbox_core::Error::format(
            path,
            format!(
                "the image is {w}x{h}; give a size ({MIN_SIDE} to {MAX_SIDE} pixels for the longer side) to resize it"
            ),
        )
        .into());
    }
    Ok(image.unsqueeze(0)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, image: image::DynamicImage) -> std::path::PathBuf {
        let path = dir.join(name);
        image.save(&path).unwrap();
        path
    }

    #[test]
    fn gray_and_rgba_files_become_rgb_at_the_size_asked() {
        let dir = tempfile::tempdir().unwrap();
        let gray = write(
            dir.path(),
            "gray.png",
            image::DynamicImage::ImageLuma8(image::GrayImage::from_fn(80, 40, |x, _| {
                image::Luma([x as u8])
            })),
        );
        let rgba = write(
            dir.path(),
            "rgba.png",
            image::DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
                40,
                80,
                image::Rgba([200, 10, 10, 255]),
            )),
        );
        let g = load_photo(&gray, Some(64)).unwrap();
        assert_eq!(g.dims(), [1, 3, 32, 64]);
        // Gray copies one value into all three channels.
        let d = (g.narrow(1, 0, 1).unwrap() - g.narrow(1, 2, 1).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(d, 0.0);
        let c = load_photo(&rgba, None).unwrap();
        assert_eq!(c.dims(), [1, 3, 80, 40]);
        let red = c
            .narrow(1, 0, 1)
            .unwrap()
            .mean_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(red, 200.0);
    }

    #[test]
    fn sizes_outside_the_limits_are_refused_with_the_limits() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "small.png",
            image::DynamicImage::ImageRgb8(image::RgbImage::new(20, 20)),
        );
        let err = load_photo(&p, Some(4096)).unwrap_err().to_string();
        assert!(err.contains("4096") && err.contains("1024"), "{err}");
        let err = load_photo(&p, None).unwrap_err().to_string();
        assert!(err.contains("small.png") && err.contains("20x20"), "{err}");
        let missing = load_photo(&dir.path().join("none.png"), Some(64)).unwrap_err();
        assert!(missing.to_string().contains("none.png"), "{missing}");
    }
}
