//! Image files to and from candle tensors (feature `candle`), and the decoding and PNG writing beneath
//! them, which need no tensors ([`read_image`], [`save_rgb_png`]).
//!
//! [`load_image`] reads only the header first and refuses images above a pixel limit before anything is
//! decoded (a guard against decompression bombs and accidental 100-megapixel inputs). It returns a `(C, H, W)`
//! f32 tensor with values in `0..=255` (exact integers for 8-bit files), `C` = 3 for [`Color::Rgb`] or 1 for
//! [`Color::Gray`].
//!
//! Conventions, chosen to match what the PyTorch originals of the lessons see through PIL:
//! - **Alpha** is composited over a white background (a transparent pixel looks as in an image viewer),
//!   rounded to the source's bit depth. Opaque pixels are unchanged, so for the usual RGB photos this is the
//!   same as dropping the alpha channel.
//! - **Gray from colour** uses ITU-R 601 luma, `0.299 R + 0.587 G + 0.114 B`, rounded (PIL's `convert("L")`,
//!   torchvision's `Grayscale`). A gray file read as [`Color::Rgb`] has its channel repeated three times.
//! - **16-bit files** are scaled to `0..=255` (`v * 255 / 65535`, not rounded).
//! - **Resizing** happens in the file's bit depth (8-bit in, 8-bit rounded out, as PIL does) with a bicubic
//!   Catmull-Rom filter, antialiased when shrinking. Sizes and crop offsets follow torchvision's `Resize(int)`
//!   and `CenterCrop`.

use std::path::Path;

#[cfg(feature = "candle")]
use candle_core::{DType, Device, Tensor};
use image::codecs::png::PngEncoder;
use image::imageops::FilterType;
use image::{
    DynamicImage, ExtendedColorType, GrayImage, ImageBuffer, ImageEncoder, ImageReader, Luma, Rgb,
    RgbImage,
};

use crate::{Error, Result};

/// The default pixel limit of [`LoadOptions`]: 50 megapixels (for example 8660 x 5773).
pub const DEFAULT_MAX_PIXELS: u64 = 50_000_000;

/// The filter of every resize: bicubic (Catmull-Rom, like PIL's `BICUBIC`), antialiased when shrinking.
const FILTER: FilterType = FilterType::CatmullRom;

/// Which channels [`load_image`] returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Color {
    /// Three channels, R, G, B.
    #[default]
    Rgb,
    /// One channel of luma.
    Gray,
}

/// How [`load_image`] resizes the decoded image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resize {
    /// Exactly `width` x `height`; the aspect ratio is not kept.
    Exact {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// The shorter side becomes this many pixels, the longer one keeps the aspect ratio (rounded down, as in
    /// torchvision's `Resize(int)`).
    ShorterSide(u32),
    /// The longer side becomes this many pixels, the shorter one keeps the aspect ratio (rounded). For "at
    /// most N pixels wide or high", as in style transfer.
    LongerSide(u32),
    /// The shorter side becomes `shorter` pixels, then the central `crop` x `crop` square is kept
    /// (torchvision's `Resize(shorter)` then `CenterCrop(crop)`). `crop` must not exceed `shorter`.
    ShorterSideCrop {
        /// The shorter side after resizing.
        shorter: u32,
        /// The side of the central square kept.
        crop: u32,
    },
}

impl Resize {
    /// The shorter side to `size`, then the central `size` x `size` square: `Resize::center_crop(224)` is the
    /// usual path of an arbitrary photo into an ImageNet network.
    pub fn center_crop(size: u32) -> Self {
        Resize::ShorterSideCrop {
            shorter: size,
            crop: size,
        }
    }

    /// torchvision's ImageNet evaluation transform: shorter side 256, central 224 x 224.
    pub fn imagenet_eval() -> Self {
        Resize::ShorterSideCrop {
            shorter: 256,
            crop: 224,
        }
    }
}

/// What [`load_image`] returns and what it accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// Gray (one channel) or RGB (three).
    pub color: Color,
    /// Images with more pixels (width x height) are refused before decoding with
    /// [`Error::ImageTooLarge`].
    pub max_pixels: u64,
    /// How to resize after decoding; `None` keeps the size.
    pub resize: Option<Resize>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            color: Color::Rgb,
            max_pixels: DEFAULT_MAX_PIXELS,
            resize: None,
        }
    }
}

impl LoadOptions {
    /// RGB, the default limit, no resize.
    pub fn rgb() -> Self {
        Self::default()
    }

    /// Gray, the default limit, no resize.
    pub fn gray() -> Self {
        LoadOptions {
            color: Color::Gray,
            ..Self::default()
        }
    }

    /// These options, resizing as `resize` says.
    pub fn with_resize(self, resize: Resize) -> Self {
        LoadOptions {
            resize: Some(resize),
            ..self
        }
    }

    /// These options with another pixel limit.
    pub fn with_max_pixels(self, max_pixels: u64) -> Self {
        LoadOptions { max_pixels, ..self }
    }
}

#[cfg(feature = "candle")]
/// Loads an image file (PNG or JPEG, recognised by content) as a `(C, H, W)` f32 tensor on the CPU with
/// values in `0..=255`. See the [module documentation](self) for alpha, gray and resizing.
///
/// Errors, each naming the file: [`Error::Io`] if it cannot be opened, [`Error::Format`] if it is empty or
/// has no pixels, [`Error::ImageTooLarge`] above `options.max_pixels` (checked from the header, before
/// decoding), [`Error::Image`] if it is not a readable image; [`Error::InvalidOption`] for a resize to zero
/// pixels or a crop larger than the resized image.
pub fn load_image(path: impl AsRef<Path>, options: &LoadOptions) -> Result<Tensor> {
    let image = read_image(path.as_ref(), options)?;
    dynamic_to_tensor(&image)
}

/// Decodes, flattens (alpha, gray) and resizes: an `Rgb8`, `Rgb16`, `Luma8` or `Luma16` image, with the
/// checks and errors of [`load_image`] but no tensor (this one is there without the `candle` feature).
pub fn read_image(path: &Path, options: &LoadOptions) -> Result<DynamicImage> {
    let image = decode(path, options.max_pixels)?;
    let image = flatten(image, options.color);
    match options.resize {
        Some(resize) => apply_resize(image, resize),
        None => Ok(image),
    }
}

fn open(path: &Path) -> Result<ImageReader<std::io::BufReader<std::fs::File>>> {
    ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| Error::io(path, e))
}

fn decode(path: &Path, max_pixels: u64) -> Result<DynamicImage> {
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    if len == 0 {
        return Err(Error::format(
            path,
            "the file is empty (0 bytes), not an image",
        ));
    }
    let (width, height) = open(path)?
        .into_dimensions()
        .map_err(|source| image_error(path, source))?;
    if width == 0 || height == 0 {
        return Err(Error::format(
            path,
            format!("invalid image dimensions {width}x{height}: the image has no pixels"),
        ));
    }
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(Error::ImageTooLarge {
            path: path.to_path_buf(),
            width,
            height,
            limit: max_pixels,
        });
    }
    let mut reader = open(path)?;
    // The file may change between the two reads: hold the decoder to the size that was checked.
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    reader.limits(limits);
    reader.decode().map_err(|source| image_error(path, source))
}

fn image_error(path: &Path, source: image::ImageError) -> Error {
    Error::Image {
        path: path.to_path_buf(),
        cause: source,
    }
}

/// Composites alpha over white and converts to the requested channels, keeping 8 or 16 bits.
fn flatten(image: DynamicImage, color: Color) -> DynamicImage {
    let kind = image.color();
    let eight_bit = matches!(
        image,
        DynamicImage::ImageLuma8(_)
            | DynamicImage::ImageLumaA8(_)
            | DynamicImage::ImageRgb8(_)
            | DynamicImage::ImageRgba8(_)
    );
    let opaque = !kind.has_alpha();
    let (width, height) = (image.width(), image.height());
    match (color, eight_bit) {
        (Color::Rgb, true) if opaque => DynamicImage::ImageRgb8(image.into_rgb8()),
        (Color::Rgb, false) if opaque => DynamicImage::ImageRgb16(image.into_rgb16()),
        (Color::Gray, true) if opaque && !kind.has_color() => {
            DynamicImage::ImageLuma8(image.into_luma8())
        }
        (Color::Gray, false) if opaque && !kind.has_color() => {
            DynamicImage::ImageLuma16(image.into_luma16())
        }
        (Color::Rgb, true) => {
            let data = composite(image.to_rgba8().as_raw(), 255.0, false, |v| v as u8);
            DynamicImage::ImageRgb8(RgbImage::from_raw(width, height, data).expect("sized"))
        }
        (Color::Rgb, false) => {
            let data = composite(image.to_rgba16().as_raw(), 65535.0, false, |v| v as u16);
            let buffer: ImageBuffer<Rgb<u16>, _> =
                ImageBuffer::from_raw(width, height, data).expect("sized");
            DynamicImage::ImageRgb16(buffer)
        }
        (Color::Gray, true) => {
            let data = composite(image.to_rgba8().as_raw(), 255.0, true, |v| v as u8);
            DynamicImage::ImageLuma8(GrayImage::from_raw(width, height, data).expect("sized"))
        }
        (Color::Gray, false) => {
            let data = composite(image.to_rgba16().as_raw(), 65535.0, true, |v| v as u16);
            let buffer: ImageBuffer<Luma<u16>, _> =
                ImageBuffer::from_raw(width, height, data).expect("sized");
            DynamicImage::ImageLuma16(buffer)
        }
    }
}

/// RGBA samples (`0..=max`) over white, as RGB or ITU-R 601 luma, rounded; `cast` receives a value already
/// rounded and within `0..=max`.
fn composite<T: Copy + Into<f64>, U>(
    rgba: &[T],
    max: f64,
    gray: bool,
    cast: impl Fn(f64) -> U,
) -> Vec<U> {
    let channels = if gray { 1 } else { 3 };
    let mut out = Vec::with_capacity(rgba.len() / 4 * channels);
    for p in rgba.chunks_exact(4) {
        let a: f64 = p[3].into();
        let over_white = |c: T| (c.into() * a + max * (max - a)) / max;
        let (r, g, b) = (over_white(p[0]), over_white(p[1]), over_white(p[2]));
        let put = |v: f64| cast(v.round().clamp(0.0, max));
        if gray {
            out.push(put(0.299 * r + 0.587 * g + 0.114 * b));
        } else {
            out.extend([put(r), put(g), put(b)]);
        }
    }
    out
}

/// The size after resizing, and the square crop `(x, y, size)` that follows, if any.
type ResizePlan = ((u32, u32), Option<(u32, u32, u32)>);

/// The output size of a resize and the crop that follows it.
fn plan_resize(resize: Resize, width: u32, height: u32) -> Result<ResizePlan> {
    let positive = |name: &str, v: u32| {
        if v == 0 {
            Err(Error::invalid(name, v, "at least 1 pixel"))
        } else {
            Ok(v)
        }
    };
    let shorter_to = |n: u32| -> (u32, u32) {
        let (short, long) = (width.min(height) as u64, width.max(height) as u64);
        // torchvision: int(size * long / short), rounded down.
        let new_long = ((n as u64 * long) / short).max(1) as u32;
        if width <= height {
            (n, new_long)
        } else {
            (new_long, n)
        }
    };
    match resize {
        Resize::Exact {
            width: w,
            height: h,
        } => Ok((
            (positive("resize width", w)?, positive("resize height", h)?),
            None,
        )),
        Resize::ShorterSide(n) => Ok((shorter_to(positive("resize shorter side", n)?), None)),
        Resize::LongerSide(n) => {
            let n = positive("resize longer side", n)?;
            let (short, long) = (width.min(height) as f64, width.max(height) as f64);
            let new_short = ((n as f64 * short / long).round() as u32).max(1);
            Ok((
                if width >= height {
                    (n, new_short)
                } else {
                    (new_short, n)
                },
                None,
            ))
        }
        Resize::ShorterSideCrop { shorter, crop } => {
            let shorter = positive("resize shorter side", shorter)?;
            let crop = positive("crop size", crop)?;
            if crop > shorter {
                return Err(Error::invalid(
                    "crop size",
                    crop,
                    format!("at most the resized shorter side ({shorter})"),
                ));
            }
            let (w, h) = shorter_to(shorter);
            Ok((
                (w, h),
                Some((center_offset(w, crop), center_offset(h, crop), crop)),
            ))
        }
    }
}

/// torchvision's `CenterCrop` offset: `int(round((size - crop) / 2))`, Python's round (half to even).
fn center_offset(size: u32, crop: u32) -> u32 {
    let diff = size - crop;
    let half = diff / 2;
    if diff % 2 == 1 && half % 2 == 1 {
        half + 1
    } else {
        half
    }
}

fn apply_resize(image: DynamicImage, resize: Resize) -> Result<DynamicImage> {
    let ((w, h), crop) = plan_resize(resize, image.width(), image.height())?;
    let resized = if (w, h) == (image.width(), image.height()) {
        image
    } else {
        image.resize_exact(w, h, FILTER)
    };
    Ok(match crop {
        Some((x, y, size)) => resized.crop_imm(x, y, size, size),
        None => resized,
    })
}

#[cfg(feature = "candle")]
/// An `Rgb8` / `Luma8` / `Rgb16` / `Luma16` image as `(C, H, W)` f32 in `0..=255`.
fn dynamic_to_tensor(image: &DynamicImage) -> Result<Tensor> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let scale16 = 255.0 / 65535.0;
    let (channels, data) = match image {
        DynamicImage::ImageRgb8(b) => (3, planar(b.as_raw(), 3, f32::from)),
        DynamicImage::ImageLuma8(b) => (1, b.as_raw().iter().map(|&v| f32::from(v)).collect()),
        DynamicImage::ImageRgb16(b) => (3, planar(b.as_raw(), 3, |v| f32::from(v) * scale16)),
        DynamicImage::ImageLuma16(b) => (
            1,
            b.as_raw().iter().map(|&v| f32::from(v) * scale16).collect(),
        ),
        other => (3, planar(other.to_rgb8().as_raw(), 3, f32::from)),
    };
    Ok(Tensor::from_vec(data, (channels, h, w), &Device::Cpu)?)
}

#[cfg(feature = "candle")]
/// Interleaved `HWC` samples to planar `CHW`.
fn planar<T: Copy>(interleaved: &[T], channels: usize, f: impl Fn(T) -> f32) -> Vec<f32> {
    let n = interleaved.len() / channels;
    let mut out = vec![0f32; interleaved.len()];
    for (i, px) in interleaved.chunks_exact(channels).enumerate() {
        for (c, &v) in px.iter().enumerate() {
            out[c * n + i] = f(v);
        }
    }
    out
}

#[cfg(feature = "candle")]
/// An RGB image as a `(3, H, W)` f32 tensor in `0..=255` on the CPU.
pub fn rgb_to_tensor(image: &RgbImage) -> Result<Tensor> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let data = planar(image.as_raw(), 3, f32::from);
    Ok(Tensor::from_vec(data, (3, h, w), &Device::Cpu)?)
}

#[cfg(feature = "candle")]
/// A gray image as a `(1, H, W)` f32 tensor in `0..=255` on the CPU.
pub fn gray_to_tensor(image: &GrayImage) -> Result<Tensor> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let data = image.as_raw().iter().map(|&v| f32::from(v)).collect();
    Ok(Tensor::from_vec(data, (1, h, w), &Device::Cpu)?)
}

#[cfg(feature = "candle")]
/// The channels, height, width and values (CHW order, on the CPU) of an image tensor: `(C, H, W)` with
/// `C` = 1 or 3, or `(H, W)`.
fn image_values(tensor: &Tensor) -> Result<(usize, usize, usize, Vec<f32>)> {
    let (c, h, w) = match *tensor.dims() {
        [h, w] => (1, h, w),
        [c, h, w] if c == 1 || c == 3 => (c, h, w),
        _ => {
            return Err(Error::invalid(
                "image tensor shape",
                format!("{:?}", tensor.dims()),
                "(C, H, W) with C = 1 or 3, or (H, W)",
            ))
        }
    };
    if h == 0 || w == 0 || h > u32::MAX as usize || w > u32::MAX as usize {
        return Err(Error::invalid(
            "image tensor shape",
            format!("{:?}", tensor.dims()),
            "at least 1x1 pixel and at most u32::MAX on a side",
        ));
    }
    let values = tensor
        .to_device(&Device::Cpu)?
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    Ok((c, h, w, values))
}

#[cfg(feature = "candle")]
/// `0..=255`, rounded; values outside are clamped and NaN becomes 0.
fn to_u8(v: f32) -> u8 {
    v.clamp(0.0, 255.0).round() as u8
}

#[cfg(feature = "candle")]
/// A `(3, H, W)`, `(1, H, W)` or `(H, W)` tensor with values in `0..=255` as an RGB image (one channel is
/// repeated). Values are clamped and rounded.
pub fn tensor_to_rgb(tensor: &Tensor) -> Result<RgbImage> {
    let (c, h, w, v) = image_values(tensor)?;
    let n = h * w;
    let mut data = Vec::with_capacity(3 * n);
    for i in 0..n {
        if c == 3 {
            data.extend([to_u8(v[i]), to_u8(v[n + i]), to_u8(v[2 * n + i])]);
        } else {
            let g = to_u8(v[i]);
            data.extend([g, g, g]);
        }
    }
    Ok(RgbImage::from_raw(w as u32, h as u32, data).expect("sized"))
}

#[cfg(feature = "candle")]
/// A `(1, H, W)` or `(H, W)` tensor with values in `0..=255` as a gray image, clamped and rounded.
pub fn tensor_to_gray(tensor: &Tensor) -> Result<GrayImage> {
    let (c, h, w, v) = image_values(tensor)?;
    if c != 1 {
        return Err(Error::invalid(
            "gray image tensor shape",
            format!("{:?}", tensor.dims()),
            "(1, H, W) or (H, W)",
        ));
    }
    Ok(GrayImage::from_raw(w as u32, h as u32, v.into_iter().map(to_u8).collect()).expect("sized"))
}

#[cfg(feature = "candle")]
/// Saves a `(3, H, W)` tensor as an RGB PNG, a `(1, H, W)` or `(H, W)` one as a gray PNG. Values are
/// expected in `0..=255`; they are clamped and rounded. The file is written atomically (a reader never sees
/// half of it) and its directory is created.
pub fn save_png(path: impl AsRef<Path>, tensor: &Tensor) -> Result<()> {
    let (c, _, _, _) = image_values(tensor)?;
    if c == 3 {
        save_rgb_png(path, &tensor_to_rgb(tensor)?)
    } else {
        save_gray_png(path, &tensor_to_gray(tensor)?)
    }
}

/// Saves an RGB image as a PNG, atomically.
pub fn save_rgb_png(path: impl AsRef<Path>, image: &RgbImage) -> Result<()> {
    write_png(
        path.as_ref(),
        image.as_raw(),
        image.width(),
        image.height(),
        ExtendedColorType::Rgb8,
    )
}

/// Saves a gray image as a PNG, atomically.
pub fn save_gray_png(path: impl AsRef<Path>, image: &GrayImage) -> Result<()> {
    write_png(
        path.as_ref(),
        image.as_raw(),
        image.width(),
        image.height(),
        ExtendedColorType::L8,
    )
}

/// Encodes in memory (so an encoding error names the target, not a temporary file), then writes atomically.
pub(crate) fn write_png(
    path: &Path,
    data: &[u8],
    width: u32,
    height: u32,
    color: ExtendedColorType,
) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(Error::invalid(
            "image size",
            format!("{width}x{height}"),
            "at least 1x1 pixel to save a PNG",
        ));
    }
    let mut bytes = Vec::new();
    PngEncoder::new(&mut bytes)
        .write_image(data, width, height, color)
        .map_err(|source| image_error(path, source))?;
    crate::assets::atomic::write_bytes_atomic(path, &bytes)?;
    Ok(())
}

#[cfg(all(test, feature = "candle"))]
mod tests {
    use super::*;
    use image::{Rgba, RgbaImage};
    use std::path::PathBuf;

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }

    #[test]
    fn round_trip_rgb_and_gray_is_exact() {
        let dir = tempfile::tempdir().unwrap();
        // Values 0..=255 in a (3, 4, 5) tensor, plus out-of-range values that must clamp.
        let data: Vec<f32> = (0..60).map(|i| ((i * 37) % 256) as f32).collect();
        let t = Tensor::from_vec(data.clone(), (3, 4, 5), &Device::Cpu).unwrap();
        let path = dir.path().join("sub/rgb.png");
        save_png(&path, &t).unwrap();
        let back = load_image(&path, &LoadOptions::rgb()).unwrap();
        assert_eq!(back.dims(), &[3, 4, 5]);
        assert_eq!(values(&back), data);

        let g: Vec<f32> = (0..20).map(|i| (i * 13) as f32).collect();
        let t = Tensor::from_vec(g.clone(), (4, 5), &Device::Cpu).unwrap();
        let path = dir.path().join("gray.png");
        save_png(&path, &t).unwrap();
        let back = load_image(&path, &LoadOptions::gray()).unwrap();
        assert_eq!(back.dims(), &[1, 4, 5]);
        assert_eq!(values(&back), g);
        // A gray file read as RGB repeats its channel.
        let rgb = load_image(&path, &LoadOptions::rgb()).unwrap();
        assert_eq!(rgb.dims(), &[3, 4, 5]);
        assert_eq!(values(&rgb), [g.clone(), g.clone(), g].concat());
    }

    #[test]
    fn saving_clamps_and_rounds() {
        let t = Tensor::new(
            &[[[-5.0f32, 0.4, 0.6, 254.5, 300.0, f32::NAN]]],
            &Device::Cpu,
        )
        .unwrap();
        let img = tensor_to_gray(&t).unwrap();
        assert_eq!(img.as_raw(), &[0, 0, 1, 255, 255, 0]);
        let rgb = tensor_to_rgb(&t).unwrap();
        assert_eq!(rgb.get_pixel(2, 0), &Rgb([1, 1, 1]));
    }

    #[test]
    fn tensor_and_image_helpers_agree() {
        let img = RgbImage::from_fn(3, 2, |x, y| Rgb([x as u8, y as u8, 200]));
        let t = rgb_to_tensor(&img).unwrap();
        assert_eq!(t.dims(), &[3, 2, 3]);
        assert_eq!(
            values(&t),
            [0., 1., 2., 0., 1., 2., 0., 0., 0., 1., 1., 1., 200., 200., 200., 200., 200., 200.]
        );
        assert_eq!(tensor_to_rgb(&t).unwrap(), img);
        let gray = GrayImage::from_fn(2, 2, |x, y| Luma([(x + 2 * y) as u8]));
        let t = gray_to_tensor(&gray).unwrap();
        assert_eq!(t.dims(), &[1, 2, 2]);
        assert_eq!(tensor_to_gray(&t).unwrap(), gray);
    }

    #[test]
    fn bad_tensor_shapes_are_refused() {
        let t = Tensor::zeros((2, 3, 3), DType::F32, &Device::Cpu).unwrap();
        let err = save_png("/nonexistent/x.png", &t).unwrap_err();
        assert!(err.to_string().contains("[2, 3, 3]"), "{err}");
        let t = Tensor::zeros((3, 2, 2), DType::F32, &Device::Cpu).unwrap();
        assert!(tensor_to_gray(&t).is_err());
        let t = Tensor::zeros((1, 0, 2), DType::F32, &Device::Cpu).unwrap();
        assert!(tensor_to_rgb(&t).is_err());
    }

    #[test]
    fn not_an_image_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("garbage.png");
        std::fs::write(&path, b"this is certainly not a PNG file, just some bytes").unwrap();
        let err = load_image(&path, &LoadOptions::default()).unwrap_err();
        assert!(matches!(err, Error::Image { .. }), "{err:?}");
        assert!(err.to_string().contains("garbage.png"), "{err}");
    }

    #[test]
    fn a_missing_file_is_an_io_error_naming_it() {
        let err = load_image("/nonexistent/dir/cat.png", &LoadOptions::default()).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("cat.png"), "{err}");
    }

    #[test]
    fn empty_and_zero_size_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.png");
        std::fs::write(&empty, b"").unwrap();
        let err = load_image(&empty, &LoadOptions::default()).unwrap_err();
        assert!(matches!(err, Error::Format { .. }), "{err:?}");
        assert!(
            err.to_string().contains("empty.png") && err.to_string().contains("empty"),
            "{err}"
        );

        // A PNG whose header says 1 x 0 pixels (valid signature, valid CRC).
        let zero = dir.path().join("zero.png");
        std::fs::write(&zero, png_header(1, 0)).unwrap();
        let err = load_image(&zero, &LoadOptions::default()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("zero.png") && msg.contains("dimensions"),
            "{msg}"
        );
        assert!(
            matches!(err, Error::Format { .. } | Error::Image { .. }),
            "{err:?}"
        );
    }

    /// The PNG signature, an IHDR chunk (8-bit RGB), an empty IDAT chunk and an IEND chunk, with correct CRCs:
    /// a header that claims a size but holds no pixels.
    fn png_header(width: u32, height: u32) -> Vec<u8> {
        fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
            out.extend((data.len() as u32).to_be_bytes());
            let mut crc = flate2::Crc::new();
            crc.update(kind);
            crc.update(data);
            out.extend(kind);
            out.extend(data);
            out.extend(crc.sum().to_be_bytes());
        }
        let mut out = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
        let mut ihdr = Vec::new();
        ihdr.extend(width.to_be_bytes());
        ihdr.extend(height.to_be_bytes());
        ihdr.extend([8, 2, 0, 0, 0]);
        chunk(&mut out, b"IHDR", &ihdr);
        chunk(&mut out, b"IDAT", &[]);
        chunk(&mut out, b"IEND", &[]);
        out
    }

    #[test]
    fn too_many_pixels_are_refused_before_decoding() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.png");
        save_rgb_png(&path, &RgbImage::new(20, 20)).unwrap();
        let options = LoadOptions::default().with_max_pixels(100);
        let err = load_image(&path, &options).unwrap_err();
        assert!(
            matches!(
                err,
                Error::ImageTooLarge {
                    width: 20,
                    height: 20,
                    limit: 100,
                    ..
                }
            ),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("big.png")
                && msg.contains("20x20")
                && msg.contains("400")
                && msg.contains("100"),
            "{msg}"
        );
        // The header alone is checked: a 1 x 200000 header with no pixel data is refused with the size too.
        let header_only = dir.path().join("header-only.png");
        std::fs::write(&header_only, png_header(1, 200_000)).unwrap();
        let err = load_image(&header_only, &options).unwrap_err();
        assert!(
            matches!(
                err,
                Error::ImageTooLarge {
                    height: 200_000,
                    ..
                }
            ),
            "{err:?}"
        );
        // At the limit it loads.
        let ok = load_image(&path, &LoadOptions::default().with_max_pixels(400)).unwrap();
        assert_eq!(ok.dims(), &[3, 20, 20]);
    }

    #[test]
    fn rgba_is_composited_over_white() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rgba.png");
        let img = RgbaImage::from_fn(3, 1, |x, _| match x {
            0 => Rgba([10, 20, 30, 255]),
            1 => Rgba([0, 0, 0, 0]),
            _ => Rgba([100, 0, 200, 128]),
        });
        img.save(&path).unwrap();
        let t = load_image(&path, &LoadOptions::default()).unwrap();
        assert_eq!(t.dims(), &[3, 1, 3]);
        // 50%-ish alpha: (c * 128 + 255 * 127) / 255.
        let half = |c: f64| ((c * 128.0 + 255.0 * 127.0) / 255.0).round() as f32;
        assert_eq!(
            values(&t),
            [
                10.,
                255.,
                half(100.),
                20.,
                255.,
                half(0.),
                30.,
                255.,
                half(200.)
            ]
        );
        let g = load_image(&path, &LoadOptions::gray()).unwrap();
        assert_eq!(g.dims(), &[1, 1, 3]);
        let luma = (0.299f64 * 10.0 + 0.587 * 20.0 + 0.114 * 30.0).round() as f32;
        assert_eq!(values(&g)[..2], [luma, 255.0]);
    }

    #[test]
    fn gray_from_colour_uses_itu_601() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.png");
        let img = RgbImage::from_fn(3, 1, |x, _| match x {
            0 => Rgb([255, 0, 0]),
            1 => Rgb([0, 255, 0]),
            _ => Rgb([0, 0, 255]),
        });
        save_rgb_png(&path, &img).unwrap();
        let g = load_image(&path, &LoadOptions::gray()).unwrap();
        // 0.299 * 255 = 76.245, 0.587 * 255 = 149.685, 0.114 * 255 = 29.07.
        assert_eq!(values(&g), [76.0, 150.0, 29.0]);
    }

    #[test]
    fn resize_plans_follow_torchvision() {
        // 451 x 300 (chelsea.png): shorter side 256 -> int(256 * 451 / 300) = 384 wide.
        assert_eq!(
            plan_resize(Resize::ShorterSide(256), 451, 300).unwrap(),
            ((384, 256), None)
        );
        assert_eq!(
            plan_resize(Resize::ShorterSide(224), 300, 451).unwrap(),
            ((224, 336), None)
        );
        // Crop offsets: (384 - 224) / 2 = 80, (256 - 224) / 2 = 16.
        assert_eq!(
            plan_resize(Resize::imagenet_eval(), 451, 300).unwrap(),
            ((384, 256), Some((80, 16, 224)))
        );
        // Python's round: (5 - 2) / 2 = 1.5 -> 2, (7 - 2) / 2 = 2.5 -> 2.
        assert_eq!(center_offset(5, 2), 2);
        assert_eq!(center_offset(7, 2), 2);
        assert_eq!(center_offset(9, 2), 4);
        assert_eq!(
            plan_resize(Resize::LongerSide(512), 1000, 872).unwrap(),
            ((512, 446), None)
        );
        assert_eq!(
            plan_resize(Resize::LongerSide(100), 3, 400).unwrap(),
            ((1, 100), None)
        );
        assert_eq!(
            plan_resize(
                Resize::Exact {
                    width: 7,
                    height: 9
                },
                1,
                1
            )
            .unwrap(),
            ((7, 9), None)
        );
        assert!(plan_resize(
            Resize::Exact {
                width: 0,
                height: 9
            },
            1,
            1
        )
        .is_err());
        let err = plan_resize(
            Resize::ShorterSideCrop {
                shorter: 200,
                crop: 224,
            },
            10,
            10,
        )
        .unwrap_err();
        assert!(err.to_string().contains("224"), "{err}");
    }

    #[test]
    fn resize_and_crop_give_the_requested_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wide.png");
        // Left half black, right half white: the centre crop keeps both, the resize stays in range.
        let img = RgbImage::from_fn(90, 40, |x, _| {
            if x < 45 {
                Rgb([0, 0, 0])
            } else {
                Rgb([255, 255, 255])
            }
        });
        save_rgb_png(&path, &img).unwrap();
        let t = load_image(
            &path,
            &LoadOptions::default().with_resize(Resize::center_crop(20)),
        )
        .unwrap();
        assert_eq!(t.dims(), &[3, 20, 20]);
        let v = values(&t);
        assert!(v
            .iter()
            .all(|&x| (0.0..=255.0).contains(&x) && x.fract() == 0.0));
        assert_eq!(v[0], 0.0);
        assert_eq!(v[19], 255.0);
        let t = load_image(
            &path,
            &LoadOptions::gray().with_resize(Resize::Exact {
                width: 9,
                height: 4,
            }),
        )
        .unwrap();
        assert_eq!(t.dims(), &[1, 4, 9]);
    }

    /// A real photo (`GLASSBOX_DATA/images/photos/NAME`), or `None` to skip (a failure under CI).
    fn photo(name: &str) -> Option<PathBuf> {
        crate::testdata::data_file(&format!("images/photos/{name}"))
    }

    fn mean(t: &Tensor) -> f32 {
        t.mean_all().unwrap().to_scalar::<f32>().unwrap()
    }

    #[test]
    fn real_rgb_png_chelsea() {
        let Some(path) = photo("chelsea.png") else {
            return;
        };
        let t = load_image(&path, &LoadOptions::default()).unwrap();
        assert_eq!(t.dims(), &[3, 300, 451]);
        let m = mean(&t);
        assert!(m > 40.0 && m < 220.0, "mean {m}");
        let c = load_image(
            &path,
            &LoadOptions::default().with_resize(Resize::center_crop(224)),
        )
        .unwrap();
        assert_eq!(c.dims(), &[3, 224, 224]);
        assert!((mean(&c) - m).abs() < 40.0);
        let e = load_image(
            &path,
            &LoadOptions::default().with_resize(Resize::imagenet_eval()),
        )
        .unwrap();
        assert_eq!(e.dims(), &[3, 224, 224]);
        let g = load_image(&path, &LoadOptions::gray()).unwrap();
        assert_eq!(g.dims(), &[1, 300, 451]);
    }

    #[test]
    fn real_gray_png_camera() {
        let Some(path) = photo("camera.png") else {
            return;
        };
        let t = load_image(&path, &LoadOptions::gray()).unwrap();
        assert_eq!(t.dims(), &[1, 512, 512]);
        let rgb = load_image(&path, &LoadOptions::rgb()).unwrap();
        assert_eq!(rgb.dims(), &[3, 512, 512]);
        let channels: Vec<f32> = (0..3).map(|c| mean(&rgb.get(c).unwrap())).collect();
        assert!(channels.iter().all(|&m| m == channels[0]), "{channels:?}");
    }

    #[test]
    fn real_jpeg_rocket() {
        let Some(path) = photo("rocket.jpg") else {
            return;
        };
        let t = load_image(&path, &LoadOptions::default()).unwrap();
        assert_eq!(t.dims(), &[3, 427, 640]);
        let c = load_image(
            &path,
            &LoadOptions::default().with_resize(Resize::center_crop(224)),
        )
        .unwrap();
        assert_eq!(c.dims(), &[3, 224, 224]);
    }

    #[test]
    fn real_gray_jpeg_tiger() {
        let Some(path) = photo("tiger-bw-100.jpg") else {
            return;
        };
        let t = load_image(&path, &LoadOptions::gray()).unwrap();
        assert_eq!(t.dims(), &[1, 100, 100]);
        let m = mean(&t);
        assert!(m > 10.0 && m < 245.0, "mean {m}");
    }

    #[test]
    fn real_large_jpeg_is_refused_under_a_low_limit() {
        let Some(path) = photo("hubble_deep_field.jpg") else {
            return;
        };
        let err = load_image(&path, &LoadOptions::default().with_max_pixels(500_000)).unwrap_err();
        assert!(err.to_string().contains("1000x872"), "{err}");
        let t = load_image(
            &path,
            &LoadOptions::default().with_resize(Resize::LongerSide(512)),
        )
        .unwrap();
        assert_eq!(t.dims(), &[3, 446, 512]);
    }
}
