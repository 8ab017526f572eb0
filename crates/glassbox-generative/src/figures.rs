//! The autoencoder lessons' figures: rows of digits (input, noisy, output), the 2-D code of the test set,
//! digits decoded from a lattice over the code plane, and blends in code space beside blends of pixels.

use std::path::Path;

use candle_core::{Device, Tensor};
use glassbox_core::imaging::{grid, save_rgb_png, side_by_side, tensor_to_rgb, upscale};
use glassbox_core::plot::{scatter, Scatter};
use image::{Rgb, RgbImage};

use crate::autoencoder::Autoencoder;
use crate::Result;

const BACKGROUND: Rgb<u8> = Rgb([255, 255, 255]);

/// Images `(N, C, H, W)` with pixels in 0..1 as RGB images magnified `scale` times.
pub fn to_images(pixels: &Tensor, scale: u32) -> Result<Vec<RgbImage>> {
    let pixels = (pixels.to_device(&Device::Cpu)? * 255.0)?;
    (0..pixels.dim(0)?)
        .map(|i| Ok(upscale(&tensor_to_rgb(&pixels.get(i)?)?, scale)))
        .collect()
}

/// One captioned row per `(caption, images)`, stacked top to bottom.
pub fn rows(path: &Path, rows: &[(&str, Tensor)], scale: u32) -> Result<()> {
    let rendered = rows
        .iter()
        .map(|(caption, pixels)| {
            let row = grid(&to_images(pixels, scale)?, pixels.dim(0)?, 2, BACKGROUND);
            Ok(side_by_side(&[row], &[caption])?)
        })
        .collect::<Result<Vec<_>>>()?;
    save_rgb_png(path, &grid(&rendered, 1, 0, BACKGROUND))?;
    Ok(())
}

/// The 2-D codes `(N, 2)` of labelled images, one colour per digit.
pub fn code_scatter(path: &Path, codes: &Tensor, labels: &[u8], title: &str) -> Result<()> {
    let codes: Vec<Vec<f32>> = codes.to_device(&Device::Cpu)?.to_vec2()?;
    let points = codes
        .iter()
        .zip(labels)
        .map(|(c, &l)| (f64::from(c[0]), f64::from(c[1]), usize::from(l)))
        .collect();
    scatter(
        path,
        &Scatter {
            title: title.into(),
            points,
            class_names: (0..10).map(|d| d.to_string()).collect(),
        },
    )?;
    Ok(())
}

/// `steps x steps` codes evenly spaced over `[x0, x1] x [y0, y1]`, row by row from the top (largest y).
pub fn lattice(x: (f32, f32), y: (f32, f32), steps: usize, device: &Device) -> Result<Tensor> {
    let at = |(a, b): (f32, f32), i: usize| {
        if steps == 1 {
            (a + b) / 2.0
        } else {
            a + (b - a) * i as f32 / (steps - 1) as f32
        }
    };
    let mut codes = Vec::with_capacity(2 * steps * steps);
    for row in 0..steps {
        for col in 0..steps {
            codes.extend([at(x, col), at(y, steps - 1 - row)]);
        }
    }
    Ok(Tensor::from_vec(codes, (steps * steps, 2), device)?)
}

/// The digits a decoder draws over a lattice of 2-D codes.
pub fn decoded_lattice(
    path: &Path,
    model: &dyn Autoencoder,
    x: (f32, f32),
    y: (f32, f32),
    steps: usize,
    device: &Device,
) -> Result<()> {
    let pixels = model.decode(&lattice(x, y, steps, device)?)?;
    save_rgb_png(path, &grid(&to_images(&pixels, 1)?, steps, 0, BACKGROUND))?;
    Ok(())
}

/// `a + (b - a) t` for `t` = 0, 1/(steps-1), ..., 1, stacked along a new first dimension.
pub fn blend(a: &Tensor, b: &Tensor, steps: usize) -> Result<Tensor> {
    let steps = steps.max(2);
    let parts = (0..steps)
        .map(|i| {
            let t = i as f64 / (steps - 1) as f64;
            Ok(((a * (1.0 - t))? + (b * t)?)?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Tensor::stack(&parts, 0)?)
}

/// For each pair of images (`(1, C, H, W)` each), a row blended in code space above a row blended in
/// pixels, `steps` images from one end to the other.
pub fn blends(
    path: &Path,
    model: &dyn Autoencoder,
    pairs: &[(Tensor, Tensor)],
    steps: usize,
) -> Result<()> {
    let mut all = Vec::new();
    for (a, b) in pairs {
        let (za, zb) = (model.encode(a)?.squeeze(0)?, model.encode(b)?.squeeze(0)?);
        let decoded = model.decode(&blend(&za, &zb, steps)?)?;
        let pixels = blend(&a.squeeze(0)?, &b.squeeze(0)?, steps)?;
        all.push(("blended codes, decoded", decoded));
        all.push(("blended pixels", pixels));
    }
    rows(path, &all, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lattice_runs_row_by_row_from_the_top() {
        let codes: Vec<Vec<f32>> = lattice((-1.0, 1.0), (0.0, 4.0), 3, &Device::Cpu)
            .unwrap()
            .to_vec2()
            .unwrap();
        assert_eq!(codes.len(), 9);
        assert_eq!(codes[0], [-1.0, 4.0]);
        assert_eq!(codes[1], [0.0, 4.0]);
        assert_eq!(codes[5], [1.0, 2.0]);
        assert_eq!(codes[8], [1.0, 0.0]);
    }

    #[test]
    fn blends_run_from_one_end_to_the_other() {
        let a = Tensor::new(&[0f32, 10.0], &Device::Cpu).unwrap();
        let b = Tensor::new(&[4f32, 2.0], &Device::Cpu).unwrap();
        let m: Vec<Vec<f32>> = blend(&a, &b, 5).unwrap().to_vec2().unwrap();
        assert_eq!(
            m,
            [[0.0, 10.0], [1.0, 8.0], [2.0, 6.0], [3.0, 4.0], [4.0, 2.0]]
        );
    }
}
