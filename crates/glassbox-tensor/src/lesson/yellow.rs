//! The yellow detector: a 1x1 filter with weights red +1, green +1, blue -1, summed, on a photo.
//!
//! Colours are taken in `0..=1`, so the response runs from -1 (pure blue) to 2 (pure yellow). The figures
//! draw 0 as black and 2 as white (negative values are clamped to black); the ReLU version sets negative
//! responses to 0 before drawing, and a third panel shows the raw response on a blue-white-red scale so the
//! negative values the ReLU removes are visible.

use candle_core::Tensor;
use glassbox_core::imaging::{heatmap, side_by_side, tensor_to_rgb, Colormap, Scale};
use image::RgbImage;
use serde::Serialize;

use crate::conv::apply::convolve_filters;
use crate::conv::filters;
use crate::conv::Padding;
use crate::{Error, Result};

/// The yellow detector's response to a `(3, H, W)` image with values in `0..=255`: `(H, W)`, `r + g - b`
/// with colours scaled to `0..=1`.
pub fn response(image: &Tensor) -> Result<Tensor> {
    if image.rank() != 3 || image.dim(0)? != 3 {
        return Err(Error::shape(
            "yellow detector input",
            image.dims(),
            "(3, H, W) RGB",
        ));
    }
    let scaled = (image.to_dtype(candle_core::DType::F32)? / 255.0)?;
    Ok(convolve_filters(&scaled, &[filters::yellow()], Padding::Valid)?.squeeze(0)?)
}

/// A response as gray levels: 0 = black, 2 = white (values outside are clamped when drawn).
pub fn to_display(response: &Tensor) -> Result<Tensor> {
    Ok((response * 127.5)?)
}

/// Numbers that describe a response.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stats {
    /// The smallest response.
    pub min: f32,
    /// The largest response.
    pub max: f32,
    /// The mean response.
    pub mean: f32,
    /// The fraction of pixels with a negative response (what the ReLU sets to 0).
    pub fraction_negative: f32,
    /// The fraction of pixels above 1.5 (strongly yellow).
    pub fraction_above_1_5: f32,
}

/// The numbers of a response `(1, H, W)` (or any shape).
pub fn stats(response: &Tensor) -> Result<Stats> {
    let v = response.flatten_all()?.to_vec1::<f32>()?;
    let n = v.len().max(1) as f32;
    Ok(Stats {
        min: v.iter().copied().fold(f32::INFINITY, f32::min),
        max: v.iter().copied().fold(f32::NEG_INFINITY, f32::max),
        mean: v.iter().sum::<f32>() / n,
        fraction_negative: v.iter().filter(|x| **x < 0.0).count() as f32 / n,
        fraction_above_1_5: v.iter().filter(|x| **x > 1.5).count() as f32 / n,
    })
}

/// The two figures of the lesson and the numbers: input beside its yellow response, and input beside
/// the ReLU'd response and the raw response on a diverging scale.
pub struct Yellow {
    /// The input beside its yellow response.
    pub plain: RgbImage,
    /// The input beside the ReLU'd response and the raw one on a diverging scale.
    pub relu: RgbImage,
    /// The raw response's numbers.
    pub raw: Stats,
    /// The numbers after the ReLU.
    pub after_relu: Stats,
}

/// The yellow detector on an RGB image `(3, H, W)` in 0..255: its figures and numbers.
pub fn run(image: &Tensor) -> Result<Yellow> {
    let r = response(image)?;
    let relu = r.relu()?;
    let input = tensor_to_rgb(image)?;
    let plain = side_by_side(
        &[input.clone(), tensor_to_rgb(&to_display(&r)?)?],
        &["input", "yellow filter (R + G - B)\n0 = black, 2 = white"],
    )?;
    let relu_fig = side_by_side(
        &[
            input,
            tensor_to_rgb(&to_display(&relu)?)?,
            heatmap(&r, Colormap::BlueWhiteRed, Scale::Fixed(-2.0, 2.0))?,
        ],
        &[
            "input",
            "ReLU(yellow)\n0 = black, 2 = white",
            "before the ReLU\nblue < 0 < red",
        ],
    )?;
    Ok(Yellow {
        plain,
        relu: relu_fig,
        raw: stats(&r)?,
        after_relu: stats(&relu)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Yellow, white, black, blue, red pixels in a row.
    fn pixels() -> Tensor {
        let r: [f32; 5] = [255.0, 255.0, 0.0, 0.0, 255.0];
        let g: [f32; 5] = [255.0, 255.0, 0.0, 0.0, 0.0];
        let b: [f32; 5] = [0.0, 255.0, 0.0, 255.0, 0.0];
        Tensor::from_vec([r, g, b].concat(), (3, 1, 5), &Device::Cpu).unwrap()
    }

    #[test]
    fn yellow_is_2_white_and_red_1_black_0_blue_minus_1() {
        let r = response(&pixels()).unwrap();
        assert_eq!(
            r.to_vec2::<f32>().unwrap(),
            vec![vec![2.0, 1.0, 0.0, -1.0, 1.0]]
        );
        assert_eq!(
            r.relu().unwrap().to_vec2::<f32>().unwrap(),
            vec![vec![2.0, 1.0, 0.0, 0.0, 1.0]]
        );
        let d = to_display(&r).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(d, vec![vec![255.0, 127.5, 0.0, -127.5, 127.5]]);
        let s = stats(&r).unwrap();
        assert_eq!(
            (s.min, s.max, s.fraction_negative, s.fraction_above_1_5),
            (-1.0, 2.0, 0.2, 0.2)
        );
        let y = run(&pixels()).unwrap();
        assert!(y.plain.width() > 10 && y.relu.width() > y.plain.width());
        assert_eq!(y.after_relu.min, 0.0);
    }

    #[test]
    fn refuses_gray_input() {
        let g = Tensor::zeros((1, 2, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(response(&g).unwrap_err().to_string().contains("(3, H, W)"));
    }
}
