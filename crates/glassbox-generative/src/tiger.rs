//! The course's tiny autoencoder on a photo: 10,000 pixels of a 100x100 gray tiger squeezed through 20
//! numbers (Dense 10000 -> 20, ReLU -> Dense 10000, mean squared error, Adam, batch 128).
//!
//! Trained on the tiger alone, it reproduces the tiger, but it has not learned to compress photos: it
//! has memorized one. Fed another photo, or a black square, it still draws the tiger (its output is far
//! closer to the tiger than to its input). Trained on 26 photos and their quarter turns, the same 20
//! numbers no longer reproduce any of them well. Helpers here load and cut the photos; the training is
//! [`crate::train::train`] on [`crate::dense::DenseConfig::tiger`].

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use glassbox_core::imaging::{load_image, LoadOptions, Resize};
use glassbox_core::seed::Seed;
use rand::Rng;

use crate::Result;

/// The side of the lesson's images.
pub const SIDE: usize = 100;

/// A photo as the lesson takes it: gray, its shorter side scaled to 100 and the central 100x100 kept,
/// pixels in 0..1, shape `(1, 1, 100, 100)`.
pub fn load_photo(path: &Path) -> Result<Tensor> {
    let options = LoadOptions::gray().with_resize(Resize::center_crop(SIDE as u32));
    Ok((load_image(path, &options)? / 255.0)?.unsqueeze(0)?)
}

/// `count` crops of 100x100 from `photos` (gray, each photo's shorter side first scaled to 200), taken in
/// turn from each photo at seeded positions: `(count, 1, 100, 100)`.
pub fn crops(photos: &[PathBuf], count: usize, seed: Seed) -> Result<Tensor> {
    if photos.is_empty() {
        return Err(
            glassbox_core::Error::invalid("photos to crop", 0, "at least one photo").into(),
        );
    }
    let mut rng = seed.stream("tiger/crops");
    let options = LoadOptions::gray().with_resize(Resize::ShorterSide(2 * SIDE as u32));
    let loaded = photos
        .iter()
        .map(|p| Ok((load_image(p, &options)? / 255.0)?))
        .collect::<Result<Vec<Tensor>>>()?;
    let mut out = Vec::with_capacity(count);
    for k in 0..count {
        let photo = &loaded[k % loaded.len()];
        let (_, h, w) = photo.dims3()?;
        let top = rng.random_range(0..=h - SIDE);
        let left = rng.random_range(0..=w - SIDE);
        out.push(photo.narrow(1, top, SIDE)?.narrow(2, left, SIDE)?);
    }
    Ok(Tensor::stack(&out, 0)?)
}

/// Each image followed by its three quarter turns (counter-clockwise): `(4 N, C, H, W)` for square images.
pub fn with_rotations(images: &Tensor) -> Result<Tensor> {
    let (n, _, h, w) = images.dims4()?;
    if h != w {
        return Err(candle_core::Error::Msg(format!(
            "with_rotations: the images must be square, got {h}x{w}"
        ))
        .into());
    }
    let reversed = Tensor::new((0..w as u32).rev().collect::<Vec<_>>(), images.device())?;
    // A quarter turn counter-clockwise: transpose, then flip the rows.
    let turn = |x: &Tensor| -> candle_core::Result<Tensor> {
        x.transpose(2, 3)?.contiguous()?.index_select(&reversed, 2)
    };
    let mut all = Vec::with_capacity(4 * n);
    for i in 0..n {
        let mut x = images.narrow(0, i, 1)?;
        for _ in 0..4 {
            all.push(x.clone());
            x = turn(&x)?;
        }
    }
    Ok(Tensor::cat(&all, 0)?)
}

/// The mean squared difference of two images (or batches) of the same shape.
pub fn mse(a: &Tensor, b: &Tensor) -> Result<f64> {
    Ok(f64::from((a - b)?.sqr()?.mean_all()?.to_scalar::<f32>()?))
}

/// The Pearson correlation of two images' pixels: 1 for the same pattern at any brightness and contrast.
pub fn correlation(a: &Tensor, b: &Tensor) -> Result<f64> {
    let a: Vec<f32> = a.flatten_all()?.to_vec1()?;
    let b: Vec<f32> = b.flatten_all()?.to_vec1()?;
    let n = a.len().min(b.len()) as f64;
    let mean = |v: &[f32]| v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let (ma, mb) = (mean(&a), mean(&b));
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(&b) {
        let (x, y) = (f64::from(x) - ma, f64::from(y) - mb);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    Ok(if saa == 0.0 || sbb == 0.0 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    })
}

/// The photos of a directory (PNG and JPEG by extension), in name order, without `except`.
pub fn photos_in(dir: &Path, except: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| glassbox_core::Error::io(dir, e))?;
    let mut photos: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let ext = p
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg"))
                && p.file_name() != except.file_name()
        })
        .collect();
    photos.sort();
    Ok(photos)
}

/// A black 100x100 image.
pub fn black(device: &Device) -> Result<Tensor> {
    Ok(Tensor::zeros(
        (1, 1, SIDE, SIDE),
        candle_core::DType::F32,
        device,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarter_turns_by_hand() {
        // [[0, 1], [2, 3]] turned counter-clockwise is [[1, 3], [0, 2]].
        let x = Tensor::new(&[[[[0f32, 1.0], [2.0, 3.0]]]], &Device::Cpu).unwrap();
        let all = with_rotations(&x).unwrap();
        assert_eq!(all.dims(), [4, 1, 2, 2]);
        let v: Vec<Vec<f32>> = (0..4)
            .map(|i| {
                all.get(i)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1()
                    .unwrap()
            })
            .collect();
        assert_eq!(v[0], [0.0, 1.0, 2.0, 3.0]);
        assert_eq!(v[1], [1.0, 3.0, 0.0, 2.0]);
        assert_eq!(v[2], [3.0, 2.0, 1.0, 0.0]);
        assert_eq!(v[3], [2.0, 0.0, 3.0, 1.0]);
    }

    #[test]
    fn correlation_ignores_brightness_and_contrast() {
        let a = Tensor::new(&[0.1f32, 0.5, 0.2, 0.9], &Device::Cpu).unwrap();
        let dim = ((&a * 0.1).unwrap() + 0.01).unwrap();
        assert!((correlation(&a, &dim).unwrap() - 1.0).abs() < 1e-6);
        let inverted = (1.0 - &a).unwrap();
        assert!((correlation(&a, &inverted).unwrap() + 1.0).abs() < 1e-6);
        let flat = Tensor::zeros(4, candle_core::DType::F32, &Device::Cpu).unwrap();
        assert_eq!(correlation(&a, &flat).unwrap(), 0.0);
    }

    #[test]
    fn a_non_image_is_a_clear_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiger.jpg");
        std::fs::write(&path, b"not a picture").unwrap();
        let err = load_photo(&path).err().unwrap().to_string();
        assert!(err.contains("tiger.jpg"), "{err}");
    }
}
