//! How an RGB image in `0..=255` becomes a network's input, and back.
//!
//! - torchvision: `(x / 255 - mean) / std`, mean `(0.485, 0.456, 0.406)`, std `(0.229, 0.224, 0.225)`,
//!   computed in that order (a division by 255, not a multiplication by its reciprocal), as `ToTensor` then
//!   `Normalize` do.
//! - caffe: `x - (123.68, 116.779, 103.939)`, in RGB order, no scaling.

use candle_core::Tensor;

use crate::assets::manifest::Preprocessing;
use crate::{Error, Result};

/// A per-channel affine normalization of RGB images: `(x / scale - mean) / std`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normalization {
    /// The divisor that brings `0..=255` to the range the mean and std are expressed in (255 or 1).
    pub scale: f32,
    /// Per-channel mean (R, G, B) subtracted after scaling.
    pub mean: [f32; 3],
    /// Per-channel standard deviation divided by after subtracting the mean (1 for none).
    pub std: [f32; 3],
}

impl Normalization {
    /// torchvision's ImageNet normalization.
    pub const TORCHVISION: Normalization = Normalization {
        scale: 255.0,
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
    };

    /// Caffe's (and the original VGG's) mean subtraction, in RGB order, in `0..=255`.
    pub const CAFFE: Normalization = Normalization {
        scale: 1.0,
        mean: [123.68, 116.779, 103.939],
        std: [1.0, 1.0, 1.0],
    };

    /// The normalization of a model manifest's `preprocessing`.
    pub fn of(preprocessing: Preprocessing) -> Self {
        match preprocessing {
            Preprocessing::Torchvision => Self::TORCHVISION,
            Preprocessing::Caffe => Self::CAFFE,
        }
    }

    /// `(3, H, W)` or `(N, 3, H, W)` in `0..=255` to the network's input, same shape, device and dtype.
    pub fn normalize(&self, images: &Tensor) -> Result<Tensor> {
        let (scale, mean, std) = self.constants(images)?;
        let x = if self.scale == 1.0 {
            images.clone()
        } else {
            images.broadcast_div(&scale)?
        };
        let x = x.broadcast_sub(&mean)?;
        Ok(if self.std == [1.0; 3] {
            x
        } else {
            x.broadcast_div(&std)?
        })
    }

    /// The inverse of [`normalize`](Self::normalize): back to `0..=255` (not clamped), for viewing and saving.
    pub fn denormalize(&self, inputs: &Tensor) -> Result<Tensor> {
        let (scale, mean, std) = self.constants(inputs)?;
        let x = inputs.broadcast_mul(&std)?.broadcast_add(&mean)?;
        Ok(if self.scale == 1.0 {
            x
        } else {
            x.broadcast_mul(&scale)?
        })
    }

    /// The scale (a scalar) and the mean and std shaped `(3, 1, 1)`, on the device and in the dtype of `x`,
    /// after checking that `x` is `(3, H, W)` or `(N, 3, H, W)`.
    fn constants(&self, x: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
        let channels = match *x.dims() {
            [c, _, _] | [_, c, _, _] => c,
            _ => 0,
        };
        if channels != 3 {
            return Err(Error::invalid(
                "image tensor shape for normalization",
                format!("{:?}", x.dims()),
                "(3, H, W) or (N, 3, H, W), RGB in 0..=255",
            ));
        }
        let (device, dtype) = (x.device(), x.dtype());
        let column = |v: [f32; 3]| -> Result<Tensor> {
            Ok(Tensor::from_slice(&v, (3, 1, 1), device)?.to_dtype(dtype)?)
        };
        let scale = Tensor::new(self.scale, device)?.to_dtype(dtype)?;
        Ok((scale, column(self.mean)?, column(self.std)?))
    }
}

impl From<Preprocessing> for Normalization {
    fn from(preprocessing: Preprocessing) -> Self {
        Self::of(preprocessing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    fn pixel(r: f32, g: f32, b: f32) -> Tensor {
        Tensor::new(&[[[r]], [[g]], [[b]]], &Device::Cpu).unwrap()
    }

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }

    fn close(a: &[f32], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            // f32 precision: about 1e-7 of the magnitude.
            assert!(
                (*x as f64 - y).abs() < 1e-6 * y.abs().max(1.0),
                "{a:?} vs {b:?}"
            );
        }
    }

    #[test]
    fn torchvision_values_by_hand() {
        let n = Normalization::TORCHVISION;
        // 0 -> -mean / std.
        close(
            &values(&n.normalize(&pixel(0.0, 0.0, 0.0)).unwrap()),
            &[-0.485 / 0.229, -0.456 / 0.224, -0.406 / 0.225],
        );
        // 255 -> (1 - mean) / std: 2.248908..., 2.428571..., 2.64.
        close(
            &values(&n.normalize(&pixel(255.0, 255.0, 255.0)).unwrap()),
            &[0.515 / 0.229, 0.544 / 0.224, 0.594 / 0.225],
        );
        close(
            &values(&n.normalize(&pixel(255.0, 255.0, 255.0)).unwrap()),
            &[2.2489082969, 2.4285714286, 2.64],
        );
        // 128, 64, 32: (128/255 - 0.485)/0.229 = 0.07406456..., (64/255 - 0.456)/0.224 = -0.91526611...,
        // (32/255 - 0.406)/0.225 = -1.24671024...
        close(
            &values(&n.normalize(&pixel(128.0, 64.0, 32.0)).unwrap()),
            &[0.07406456, -0.91526611, -1.24671024],
        );
        // Exactly PyTorch's float32 arithmetic: x / 255, then - mean, then / std, each rounded to f32.
        let exact = |x: f32, c: usize| (x / 255.0 - n.mean[c]) / n.std[c];
        assert_eq!(
            values(&n.normalize(&pixel(128.0, 64.0, 32.0)).unwrap()),
            [exact(128.0, 0), exact(64.0, 1), exact(32.0, 2)]
        );
    }

    #[test]
    fn caffe_values_by_hand() {
        let n = Normalization::CAFFE;
        close(
            &values(&n.normalize(&pixel(0.0, 255.0, 103.939)).unwrap()),
            &[-123.68, 138.221, 0.0],
        );
        close(
            &values(&n.normalize(&pixel(123.68, 116.779, 200.0)).unwrap()),
            &[0.0, 0.0, 96.061],
        );
    }

    #[test]
    fn from_the_manifest() {
        assert_eq!(
            Normalization::from(Preprocessing::Torchvision),
            Normalization::TORCHVISION
        );
        assert_eq!(
            Normalization::of(Preprocessing::Caffe),
            Normalization::CAFFE
        );
    }

    #[test]
    fn batches_and_round_trips() {
        let data: Vec<f32> = (0..2 * 3 * 2 * 2).map(|i| (i * 11 % 256) as f32).collect();
        let x = Tensor::from_vec(data.clone(), (2, 3, 2, 2), &Device::Cpu).unwrap();
        for n in [Normalization::TORCHVISION, Normalization::CAFFE] {
            let y = n.normalize(&x).unwrap();
            assert_eq!(y.dims(), &[2, 3, 2, 2]);
            let back = values(&n.denormalize(&y).unwrap());
            for (a, b) in back.iter().zip(&data) {
                assert!((a - b).abs() < 1e-3, "{a} vs {b}");
            }
        }
        // Channel 1 of the second image is normalized with the green constants.
        let y = values(&Normalization::TORCHVISION.normalize(&x).unwrap());
        let i = 4 * 3 + 4; // (n=1, c=1, 0, 0)
        close(&y[i..i + 1], &[(data[i] as f64 / 255.0 - 0.456) / 0.224]);
    }

    #[test]
    fn keeps_the_dtype_and_refuses_other_shapes() {
        let x = Tensor::zeros((3, 2, 2), DType::F64, &Device::Cpu).unwrap();
        assert_eq!(
            Normalization::TORCHVISION.normalize(&x).unwrap().dtype(),
            DType::F64
        );
        let gray = Tensor::zeros((1, 2, 2), DType::F32, &Device::Cpu).unwrap();
        let err = Normalization::TORCHVISION.normalize(&gray).unwrap_err();
        assert!(err.to_string().contains("[1, 2, 2]"), "{err}");
        let flat = Tensor::zeros(12, DType::F32, &Device::Cpu).unwrap();
        assert!(Normalization::CAFFE.denormalize(&flat).is_err());
    }
}
