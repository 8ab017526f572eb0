//! Output sizes: valid, same, full, strided and transposed convolutions, computed by
//! [`output_shape`] and checked by running candle on each.

use candle_core::{DType, Device, Tensor};
use glassbox_core::imaging::{heatmap, side_by_side, upscale, Colormap, Scale};
use image::RgbImage;
use serde::Serialize;

use crate::conv::apply::{conv_transpose_by_hand, convolve, insert_zeros};
use crate::conv::shape::{output_shape, ConvSpec, Padding};
use crate::Result;

/// One line of the sizes table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SizeRow {
    /// What the row shows, in words.
    pub case: String,
    /// Input (height, width).
    pub input: (usize, usize),
    /// The convolution.
    pub spec: ConvSpec,
    /// Rings of zeros on each side.
    pub rings: usize,
    /// From [`output_shape`].
    pub output: (usize, usize),
    /// The height and width of candle's `conv2d` / `conv_transpose2d` result.
    pub candle: (usize, usize),
}

/// The course's worked examples and a few more combinations.
pub fn cases() -> Vec<(String, (usize, usize), ConvSpec)> {
    let k3 = ConvSpec::new(3, 3);
    vec![
        ("5x5, 3x3 filter, valid".into(), (5, 5), k3),
        ("7x7, 3x3 filter, valid".into(), (7, 7), k3),
        (
            "5x5, one ring of zeros".into(),
            (5, 5),
            k3.padding(Padding::Explicit(1)),
        ),
        ("5x5, same".into(), (5, 5), k3.padding(Padding::Same)),
        ("5x5, full".into(), (5, 5), k3.padding(Padding::Full)),
        ("5x5, stride 2".into(), (5, 5), k3.stride(2)),
        (
            "7x7, stride 2, same".into(),
            (7, 7),
            k3.stride(2).padding(Padding::Same),
        ),
        ("7x7, stride 3".into(), (7, 7), k3.stride(3)),
        ("7x7, dilation 2".into(), (7, 7), k3.dilation(2)),
        (
            "3x3, transposed, stride 2".into(),
            (3, 3),
            k3.stride(2).transposed(0),
        ),
        (
            "3x3, transposed, stride 2, output padding 1".into(),
            (3, 3),
            k3.stride(2).transposed(1),
        ),
        (
            "4x4, transposed, stride 2, same".into(),
            (4, 4),
            k3.stride(2).padding(Padding::Same).transposed(1),
        ),
        (
            "12x12, 5x5 filter, same".into(),
            (12, 12),
            ConvSpec::new(5, 5).padding(Padding::Same),
        ),
        ("6x8, 1x3 filter, valid".into(), (6, 8), ConvSpec::new(1, 3)),
    ]
}

/// Every case of [`cases`] with its output shape, from the formula and from candle.
pub fn table() -> Result<Vec<SizeRow>> {
    let dev = Device::Cpu;
    cases()
        .into_iter()
        .map(|(case, input, spec)| {
            let output = output_shape(input, &spec)?;
            let rings = spec.rings()?;
            let x = Tensor::ones((1, 1, input.0, input.1), DType::F32, &dev)?;
            let k = Tensor::ones((1, 1, spec.kernel.0, spec.kernel.1), DType::F32, &dev)?;
            let y = if spec.transposed {
                x.conv_transpose2d(&k, rings, spec.output_padding, spec.stride, spec.dilation)?
            } else {
                x.conv2d(&k, rings, spec.stride, spec.dilation, 1)?
            };
            let (_, _, h, w) = y.dims4()?;
            Ok(SizeRow {
                case,
                input,
                spec,
                rings,
                output,
                candle: (h, w),
            })
        })
        .collect()
}

/// Cells drawn 24 pixels wide, viridis from 0 to `hi`.
fn cells(map: &Tensor, hi: f32) -> Result<RgbImage> {
    Ok(upscale(
        &heatmap(map, Colormap::Viridis, Scale::Fixed(0.0, hi))?,
        24,
    ))
}

/// A 5x5 input of ones (with its rings of zeros) and the valid, same, full and stride-2 outputs of a 3x3
/// filter of ones: each output cell counts the input pixels under the filter.
pub fn padding_figure() -> Result<RgbImage> {
    let dev = Device::Cpu;
    let x = Tensor::ones((5, 5), DType::F32, &dev)?;
    let bank = Tensor::ones((1, 1, 3, 3), DType::F32, &dev)?;
    let k3 = ConvSpec::new(3, 3);
    let out = |spec: ConvSpec| -> Result<Tensor> {
        Ok(convolve(&x.unsqueeze(0)?, &bank, &spec)?.squeeze(0)?)
    };
    let panels = vec![
        cells(&x, 1.0)?,
        cells(&out(k3)?, 9.0)?,
        cells(&insert_zeros(&x, 0, 1)?, 1.0)?,
        cells(&out(k3.padding(Padding::Same))?, 9.0)?,
        cells(&insert_zeros(&x, 0, 2)?, 1.0)?,
        cells(&out(k3.padding(Padding::Full))?, 9.0)?,
        cells(&out(k3.stride(2))?, 9.0)?,
    ];
    Ok(side_by_side(
        &panels,
        &[
            "5x5 input",
            "valid: 3x3",
            "one ring:\n7x7 field",
            "same: 5x5",
            "two rings:\n9x9 field",
            "full: 7x7",
            "stride 2:\n2x2",
        ],
    )?)
}

/// Transposed convolution by hand: a 3x3 input, a zero between elements and two rings of zeros (9x9),
/// then a 3x3 filter of ones: 7x7.
pub fn transposed_figure() -> Result<RgbImage> {
    let dev = Device::Cpu;
    let x = Tensor::ones((3, 3), DType::F32, &dev)?;
    let field = insert_zeros(&x, 1, 2)?;
    let k = Tensor::ones((3, 3), DType::F32, &dev)?;
    let out = conv_transpose_by_hand(&x, &k, 2)?;
    Ok(side_by_side(
        &[
            cells(&x, 1.0)?,
            cells(&field, 1.0)?,
            cells(&k, 1.0)?,
            cells(&out, 4.0)?,
        ],
        &[
            "3x3 input",
            "zeros between,\ntwo rings: 9x9",
            "3x3 filter",
            "output: 7x7\n(0 to 4 overlaps)",
        ],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_agrees_with_candle_and_holds_the_worked_examples() {
        let t = table().unwrap();
        for row in &t {
            assert_eq!(row.output, row.candle, "{}", row.case);
        }
        let by = |c: &str| t.iter().find(|r| r.case == c).unwrap().output;
        assert_eq!(by("5x5, 3x3 filter, valid"), (3, 3));
        assert_eq!(by("7x7, 3x3 filter, valid"), (5, 5));
        assert_eq!(by("5x5, one ring of zeros"), (5, 5));
        assert_eq!(by("3x3, transposed, stride 2"), (7, 7));
        assert_eq!(by("3x3, transposed, stride 2, output padding 1"), (8, 8));
        assert_eq!(by("4x4, transposed, stride 2, same"), (8, 8));
        assert_eq!(by("7x7, dilation 2"), (3, 3));
    }

    #[test]
    fn transposed_ones_count_overlaps() {
        let dev = Device::Cpu;
        let x = Tensor::ones((3, 3), DType::F32, &dev).unwrap();
        let k = Tensor::ones((3, 3), DType::F32, &dev).unwrap();
        let out = conv_transpose_by_hand(&x, &k, 2)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(out[0], vec![1.0, 1.0, 2.0, 1.0, 2.0, 1.0, 1.0]);
        assert_eq!(out[2], vec![2.0, 2.0, 4.0, 2.0, 4.0, 2.0, 2.0]);
        padding_figure().unwrap();
        transposed_figure().unwrap();
    }
}
