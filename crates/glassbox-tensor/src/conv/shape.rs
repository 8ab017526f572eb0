//! The output size of a convolution, for every combination the course shows: valid, same (zero padding),
//! full, strided, dilated and transposed.
//!
//! For an input of `n` pixels along one axis, a kernel of `k`, stride `s`, padding `p` on each side and
//! dilation `d` (the kernel spans `d (k - 1) + 1` pixels):
//!
//! - convolution: `(n + 2p - d (k - 1) - 1) / s + 1` (rounded down: the last positions that do not fit a
//!   whole stride are dropped), defined when the padded input is at least as large as the kernel's span;
//! - transposed convolution: `(n - 1) s - 2p + d (k - 1) + output_padding + 1`: the input with `s - 1`
//!   zeros inserted between neighbours, surrounded by `d (k - 1) - p` rings of zeros, convolved (valid)
//!   with the flipped kernel.
//!
//! These are the formulas of candle's `conv2d` and `conv_transpose2d` (and PyTorch's); the tests check
//! [`output_shape`] against candle's output dimensions over many combinations.

use serde::Serialize;

use crate::{Error, Result};

/// How many rings of zeros surround the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Padding {
    /// No padding: the kernel stays inside the input ("valid" positions only).
    Valid,
    /// `d (k - 1) / 2` rings, so a stride-1 convolution keeps the input size (the kernel's span must be
    /// odd).
    Same,
    /// `d (k - 1)` rings: every position where the kernel overlaps the input at least by one pixel.
    Full,
    /// This many rings.
    Explicit(usize),
}

impl Padding {
    /// The number of rings of zeros on each side for a kernel of `kernel` pixels and `dilation`.
    pub fn rings(self, kernel: usize, dilation: usize) -> Result<usize> {
        let span = dilation * (kernel.max(1) - 1);
        Ok(match self {
            Padding::Valid => 0,
            Padding::Same => {
                if !span.is_multiple_of(2) {
                    return Err(Error::conv(format!(
                        "\"same\" padding needs an odd kernel span, got kernel {kernel} with dilation {dilation} (span {})",
                        span + 1
                    )));
                }
                span / 2
            }
            Padding::Full => span,
            Padding::Explicit(p) => p,
        })
    }

    /// A short name for tables: `valid`, `same`, `full`, `pad=N`.
    pub fn label(self) -> String {
        match self {
            Padding::Valid => "valid".into(),
            Padding::Same => "same".into(),
            Padding::Full => "full".into(),
            Padding::Explicit(p) => format!("pad={p}"),
        }
    }
}

/// Everything that decides a convolution's output size besides the input size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ConvSpec {
    /// Kernel height and width.
    pub kernel: (usize, usize),
    /// Steps between applications, on both axes.
    pub stride: usize,
    /// Zeros added around the input.
    pub padding: Padding,
    /// Spacing of the kernel's taps (1: adjacent).
    pub dilation: usize,
    /// A transposed convolution ("deconvolution"): the input is spread out by the stride.
    pub transposed: bool,
    /// Extra rows and columns added on one side of a transposed convolution's output (0 otherwise).
    pub output_padding: usize,
}

impl ConvSpec {
    /// A stride-1, undilated, valid convolution with a `kh` x `kw` kernel.
    pub fn new(kh: usize, kw: usize) -> Self {
        ConvSpec {
            kernel: (kh, kw),
            stride: 1,
            padding: Padding::Valid,
            dilation: 1,
            transposed: false,
            output_padding: 0,
        }
    }

    /// This spec with another stride.
    pub fn stride(self, stride: usize) -> Self {
        ConvSpec { stride, ..self }
    }

    /// This spec with another padding.
    pub fn padding(self, padding: Padding) -> Self {
        ConvSpec { padding, ..self }
    }

    /// This spec with another dilation.
    pub fn dilation(self, dilation: usize) -> Self {
        ConvSpec { dilation, ..self }
    }

    /// Makes it a transposed convolution with this output padding.
    pub fn transposed(self, output_padding: usize) -> Self {
        ConvSpec {
            transposed: true,
            output_padding,
            ..self
        }
    }

    /// The padding in rings of zeros, which must be the same along both axes (candle takes one number).
    pub fn rings(&self) -> Result<usize> {
        let ph = self.padding.rings(self.kernel.0, self.dilation)?;
        let pw = self.padding.rings(self.kernel.1, self.dilation)?;
        if ph != pw {
            return Err(Error::conv(format!(
                "{} padding of a {}x{} kernel differs between height ({ph}) and width ({pw})",
                self.padding.label(),
                self.kernel.0,
                self.kernel.1
            )));
        }
        Ok(ph)
    }
}

/// The output size along one axis of `input` pixels, for a kernel of `kernel` pixels along that axis.
pub fn output_size(input: usize, kernel: usize, spec: &ConvSpec) -> Result<usize> {
    if input == 0 || kernel == 0 || spec.stride == 0 || spec.dilation == 0 {
        return Err(Error::conv(format!(
            "input {input}, kernel {kernel}, stride {}, dilation {}: all must be at least 1",
            spec.stride, spec.dilation
        )));
    }
    let p = spec.padding.rings(kernel, spec.dilation)?;
    let span = spec.dilation * (kernel - 1) + 1;
    if spec.transposed {
        if spec.output_padding >= spec.stride && spec.output_padding >= spec.dilation {
            return Err(Error::conv(format!(
                "output padding {} must be smaller than the stride ({}) or the dilation ({})",
                spec.output_padding, spec.stride, spec.dilation
            )));
        }
        let grown = (input - 1) * spec.stride + span + spec.output_padding;
        if grown <= 2 * p {
            return Err(Error::conv(format!(
                "transposed convolution of {input} pixels with kernel {kernel}, stride {}: padding {p} removes the whole output ({grown} pixels)",
                spec.stride
            )));
        }
        Ok(grown - 2 * p)
    } else {
        if spec.output_padding != 0 {
            return Err(Error::conv(
                "output padding applies only to transposed convolutions",
            ));
        }
        let padded = input + 2 * p;
        if padded < span {
            return Err(Error::conv(format!(
                "kernel span {span} (kernel {kernel}, dilation {}) is larger than the padded input {padded} ({input} + 2 x {p})",
                spec.dilation
            )));
        }
        Ok((padded - span) / spec.stride + 1)
    }
}

/// The output `(height, width)` of a convolution of an `input` = `(height, width)` image.
pub fn output_shape(input: (usize, usize), spec: &ConvSpec) -> Result<(usize, usize)> {
    spec.rings()?;
    Ok((
        output_size(input.0, spec.kernel.0, spec)?,
        output_size(input.1, spec.kernel.1, spec)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    fn square(n: usize, spec: ConvSpec) -> (usize, usize) {
        output_shape((n, n), &spec).unwrap()
    }

    #[test]
    fn the_course_worked_examples() {
        let k3 = ConvSpec::new(3, 3);
        // A 5x5 input and a 3x3 filter give 3x3; 7x7 gives 5x5.
        assert_eq!(square(5, k3), (3, 3));
        assert_eq!(square(7, k3), (5, 5));
        // One ring of zeros keeps 5x5 at 5x5.
        assert_eq!(square(5, k3.padding(Padding::Explicit(1))), (5, 5));
        assert_eq!(square(5, k3.padding(Padding::Same)), (5, 5));
        // Full: every overlapping position.
        assert_eq!(square(5, k3.padding(Padding::Full)), (7, 7));
        // Stride 2 on 5x5 visits positions 0, 2, 4 of the 5 - 3 + 1 = 3 valid ones: 2x2.
        assert_eq!(square(5, k3.stride(2)), (2, 2));
        assert_eq!(square(7, k3.stride(2)), (3, 3));
        // 3x3, a zero between elements (5x5), two rings of zeros (9x9), a 3x3 filter: 7x7.
        assert_eq!(square(3, k3.stride(2).transposed(0)), (7, 7));
        assert_eq!(square(5, ConvSpec::new(3, 3)), (3, 3));
        assert_eq!(square(9, k3), (7, 7));
    }

    #[test]
    fn rejects_what_does_not_fit() {
        assert!(output_shape((2, 2), &ConvSpec::new(3, 3)).is_err());
        assert!(output_shape((5, 5), &ConvSpec::new(2, 2).padding(Padding::Same)).is_err());
        assert!(output_shape((5, 5), &ConvSpec::new(3, 3).stride(0)).is_err());
        assert!(output_shape((5, 5), &ConvSpec::new(3, 3).transposed(1)).is_err());
        let e = output_shape((2, 2), &ConvSpec::new(3, 3))
            .unwrap_err()
            .to_string();
        assert!(e.contains("larger than the padded input"), "{e}");
    }

    #[test]
    fn agrees_with_candle_conv2d_and_conv_transpose2d() {
        let dev = Device::Cpu;
        let mut checked = (0, 0);
        let paddings = [
            Padding::Valid,
            Padding::Same,
            Padding::Full,
            Padding::Explicit(1),
            Padding::Explicit(2),
        ];
        for h in 1..=9 {
            for w in [1, 4, 7] {
                let x = Tensor::zeros((1, 2, h, w), candle_core::DType::F32, &dev).unwrap();
                for (kh, kw) in [(1, 1), (3, 3), (2, 2), (3, 5), (1, 3)] {
                    for stride in 1..=3 {
                        for dilation in 1..=2 {
                            for padding in paddings {
                                let spec = ConvSpec::new(kh, kw)
                                    .stride(stride)
                                    .dilation(dilation)
                                    .padding(padding);
                                if let Ok(shape) = output_shape((h, w), &spec) {
                                    let k = Tensor::zeros(
                                        (3, 2, kh, kw),
                                        candle_core::DType::F32,
                                        &dev,
                                    )
                                    .unwrap();
                                    let p = spec.rings().unwrap();
                                    let y = x.conv2d(&k, p, stride, dilation, 1).unwrap();
                                    assert_eq!(
                                        y.dims(),
                                        &[1, 3, shape.0, shape.1],
                                        "{h}x{w} {spec:?}"
                                    );
                                    checked.0 += 1;
                                }
                                for output_padding in 0..stride.max(dilation) {
                                    let spec = spec.transposed(output_padding);
                                    if let Ok(shape) = output_shape((h, w), &spec) {
                                        let k = Tensor::zeros(
                                            (2, 3, kh, kw),
                                            candle_core::DType::F32,
                                            &dev,
                                        )
                                        .unwrap();
                                        let p = spec.rings().unwrap();
                                        let y = x
                                            .conv_transpose2d(
                                                &k,
                                                p,
                                                output_padding,
                                                stride,
                                                dilation,
                                            )
                                            .unwrap();
                                        assert_eq!(
                                            y.dims(),
                                            &[1, 3, shape.0, shape.1],
                                            "{h}x{w} {spec:?}"
                                        );
                                        checked.1 += 1;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(checked.0 > 500 && checked.1 > 500, "{checked:?}");
    }
}
