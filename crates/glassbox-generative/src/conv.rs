//! Convolutional autoencoders, as the course builds them in Keras (3x3 'same' convolutions, 2x2 pooling,
//! nearest upsampling):
//!
//! ```text
//!                 28x28x1
//! Conv c1, relu   28x28xc1 -> MaxPool -> 14x14xc1
//! Conv c2, relu   14x14xc2 -> MaxPool ->  7x7xc2
//! Conv c3, relu    7x7xc3                          the code
//! UpSampling       14x14xc3
//! Conv c4, relu    14x14xc4 -> UpSampling -> 28x28xc4
//! Conv 1, sigmoid  28x28x1                         binary cross-entropy
//! ```
//!
//! The course's autoencoder has (c1, c2, c3, c4) = (16, 8, 3, 16), a 7x7x3 code of 147 numbers, trained
//! with Adadelta (course: loss 0.0762, val 0.0762 after 50 epochs). The denoising one has 32 everywhere,
//! a 7x7x32 code, trained on noisy digits against clean ones (course: 0.0945 / val 0.0938 after 100
//! epochs). Each convolution + ReLU + pooling of the encoder runs as one fused kernel.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;
use glassbox_tensor::nn::{keras, Conv2d, Conv2dConfig, UpsampleNearest2d};
use glassbox_tensor::ops::{conv2d_relu_pool, ConvParams};
use serde::Serialize;

use crate::autoencoder::{Autoencoder, Reconstruction};

/// The channel counts of a convolutional autoencoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ConvConfig {
    /// `(channels, height, width)` of the images; height and width divisible by 4.
    pub image: (usize, usize, usize),
    /// The encoder's three convolutions; the last is the code's depth.
    pub encoder: [usize; 3],
    /// The decoder's hidden convolution.
    pub decoder: usize,
}

impl ConvConfig {
    /// The course's autoencoder: 16, 8, 3 | 16.
    pub fn course() -> Self {
        ConvConfig {
            image: (1, 28, 28),
            encoder: [16, 8, 3],
            decoder: 16,
        }
    }

    /// The course's denoising autoencoder: 32, 32, 32 | 32.
    pub fn denoising() -> Self {
        ConvConfig {
            image: (1, 28, 28),
            encoder: [32, 32, 32],
            decoder: 32,
        }
    }
}

/// The convolutional autoencoder: 3x3 convolutions with 2x2 pooling down to a 7x7 code, upsampling and
/// convolutions back (see the module documentation, and [`ConvConfig`] for the course's and the denoising sizes).
pub struct ConvAutoencoder {
    encoder: [Conv2d; 3],
    decoder: [Conv2d; 2],
    config: ConvConfig,
}

impl ConvAutoencoder {
    /// Creates or reads the weights under `vb`; an invalid configuration is refused.
    pub fn new(config: ConvConfig, vb: VarBuilder) -> Result<Self> {
        let (c, h, w) = config.image;
        if c == 0 || h == 0 || w == 0 || h % 4 != 0 || w % 4 != 0 {
            candle_core::bail!(
                "convolutional autoencoder: images must be non-empty with sides divisible by 4, got {:?}",
                config.image
            );
        }
        if config.encoder.contains(&0) || config.decoder == 0 {
            candle_core::bail!(
                "convolutional autoencoder: every layer needs at least one channel ({:?} | {})",
                config.encoder,
                config.decoder
            );
        }
        let same = Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        let relu = Conv2dConfig { relu: true, ..same };
        let [c1, c2, c3] = config.encoder;
        let conv = |name: &str, i: usize, o: usize, cfg: Conv2dConfig| {
            keras::conv2d(i, o, 3, cfg, vb.pp(name))
        };
        Ok(ConvAutoencoder {
            encoder: [
                conv("encoder.0", c, c1, relu)?,
                conv("encoder.1", c1, c2, relu)?,
                conv("encoder.2", c2, c3, relu)?,
            ],
            decoder: [
                conv("decoder.0", c3, config.decoder, relu)?,
                conv("decoder.1", config.decoder, c, same)?,
            ],
            config,
        })
    }

    /// The sizes it was built with.
    pub fn config(&self) -> &ConvConfig {
        &self.config
    }
}

/// Convolution (padding 1), ReLU and 2x2 max pooling in one pass.
fn conv_relu_pool(x: &Tensor, conv: &Conv2d) -> Result<Tensor> {
    let params = ConvParams {
        padding: 1,
        ..Default::default()
    };
    conv2d_relu_pool(x, conv.weight(), conv.bias(), params, 2)
}

impl Autoencoder for ConvAutoencoder {
    fn model_name(&self) -> String {
        let [c1, c2, c3] = self.config.encoder;
        format!("conv-autoencoder-{c1}-{c2}-{c3}-{}", self.config.decoder)
    }

    fn encode(&self, x: &Tensor) -> Result<Tensor> {
        let h = conv_relu_pool(x, &self.encoder[0])?;
        let h = conv_relu_pool(&h, &self.encoder[1])?;
        self.encoder[2].forward(&h)
    }

    fn decode_raw(&self, code: &Tensor) -> Result<Tensor> {
        let up = UpsampleNearest2d { scale: 2 };
        let h = self.decoder[0].forward(&up.forward(code)?)?;
        self.decoder[1].forward(&up.forward(&h)?)
    }

    fn reconstruction(&self) -> Reconstruction {
        Reconstruction::BinaryCrossEntropy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;
    use glassbox_core::seed::{Seed, SeededInit};

    /// Keras's summary of the course's model: 160 + 1,160 + 219 + 448 + 145 = 2,132 parameters; the
    /// denoising one 320 + 9,248 * 3 + 289 = 28,353.
    #[test]
    fn parameter_counts_and_code_shapes() {
        for (config, params, code) in [
            (ConvConfig::course(), 2_132, [2, 3, 7, 7]),
            (ConvConfig::denoising(), 28_353, [2, 32, 7, 7]),
        ] {
            let vm = VarMap::new();
            let vb = SeededInit::var_builder(&vm, Seed(3), DType::F32, &Device::Cpu);
            let model = ConvAutoencoder::new(config, vb).unwrap();
            let total: usize = vm.all_vars().iter().map(|v| v.elem_count()).sum();
            assert_eq!(total, params, "{config:?}");
            let x = Tensor::rand(0f32, 1f32, (2, 1, 28, 28), &Device::Cpu).unwrap();
            assert_eq!(model.encode(&x).unwrap().dims(), code);
            let y = model.reconstruct(&x).unwrap();
            assert_eq!(y.dims(), [2, 1, 28, 28]);
            let v: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
            assert!(v.iter().all(|p| p.is_finite() && (0.0..=1.0).contains(p)));
        }
        let bad = ConvConfig {
            image: (1, 30, 30),
            ..ConvConfig::course()
        };
        let vb = candle_nn::VarBuilder::zeros(DType::F32, &Device::Cpu);
        assert!(ConvAutoencoder::new(bad, vb).is_err());
    }
}
