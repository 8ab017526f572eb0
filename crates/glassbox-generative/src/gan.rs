//! Generative adversarial networks on MNIST (Goodfellow et al., 2014): a generator draws digits from noise,
//! a discriminator tells them from real ones, and each trains against the other. Images are scaled to
//! [-1, 1] (the generator ends in tanh); the discriminator outputs a logit.
//!
//! The course's networks (jacobgil's keras-dcgan, which the course runs on 1,000 digits with SGD lr 0.0005,
//! momentum 0.9, Nesterov, for both players):
//!
//! ```text
//! generator       100 -> Dense(1024) tanh -> Dense(128*7*7) -> BatchNorm -> tanh -> 7x7x128
//!                 -> UpSampling -> Conv(64, 5x5, same) tanh -> UpSampling -> Conv(1, 5x5, same) tanh
//! discriminator   28x28x1 -> Conv(64, 5x5, same) tanh -> MaxPool -> Conv(128, 5x5) tanh -> MaxPool
//!                 -> Dense(1024) tanh -> Dense(1) (sigmoid in the loss)
//! ```
//!
//! The stable default (Radford et al., "Unsupervised Representation Learning with Deep Convolutional
//! GANs", 2015: strided convolutions instead of pooling, batch normalization, ReLU in the generator and
//! LeakyReLU 0.2 in the discriminator, weights from N(0, 0.02), Adam lr 2e-4 with beta1 0.5):
//!
//! ```text
//! generator       100 -> Dense(128*7*7, no bias) -> BatchNorm -> ReLU -> 7x7x128
//!                 -> ConvTranspose(64, 4x4, stride 2) -> BatchNorm -> ReLU -> 14x14x64
//!                 -> ConvTranspose(1, 4x4, stride 2) -> tanh -> 28x28x1
//! discriminator   28x28x1 -> Conv(64, 4x4, stride 2) LeakyReLU -> Conv(128, 4x4, stride 2) -> BatchNorm
//!                 -> LeakyReLU -> Dense(1)
//! ```

use candle_core::{Module, Result, Tensor};
use candle_nn::{Init, Linear, VarBuilder};
use glassbox_tensor::nn::{
    keras, BatchNorm, BatchNormConfig, Conv2d, Conv2dConfig, ConvTranspose2d,
    ConvTranspose2dConfig, MaxPool2d, UpsampleNearest2d,
};
use glassbox_tensor::ops::{flatten_linear, linear, tanh};
use serde::Serialize;

/// The size of the generator's noise input.
pub const NOISE: usize = 100;

/// Which pair of networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GanArch {
    /// The course's networks (pooling, upsampling, tanh everywhere).
    Course,
    /// The DCGAN-style stable default.
    Dcgan,
}

impl GanArch {
    /// The name checkpoints and metrics carry: `course` or `dcgan`.
    pub fn name(self) -> &'static str {
        match self {
            GanArch::Course => "course",
            GanArch::Dcgan => "dcgan",
        }
    }
}

/// The generator: noise `(N, 100)` to images `(N, 1, 28, 28)` in [-1, 1].
pub enum Generator {
    /// The course's: dense layers to a 7x7x128 map, then upsampling and 5x5 convolutions, tanh throughout.
    Course {
        /// Noise to 1024.
        dense0: Linear,
        /// 1024 to the 7x7x128 map.
        dense1: Linear,
        /// Batch norm of that map.
        bn: BatchNorm,
        /// 5x5, 128 to 64 channels at 14x14.
        conv0: Conv2d,
        /// 5x5, 64 channels to the image at 28x28.
        conv1: Conv2d,
    },
    /// DCGAN's: a dense layer to a 7x7x128 map, then two strided transposed convolutions.
    Dcgan {
        /// Noise to the 7x7x128 map (no bias: batch norm follows).
        dense: Linear,
        /// Batch norm of that map.
        bn0: BatchNorm,
        /// 4x4 stride 2, 128 to 64 channels at 14x14.
        up0: ConvTranspose2d,
        /// Batch norm after it.
        bn1: BatchNorm,
        /// 4x4 stride 2, 64 channels to the image at 28x28.
        up1: ConvTranspose2d,
    },
}

/// The discriminator: images `(N, 1, 28, 28)` in [-1, 1] to one logit each, `(N, 1)`.
pub enum Discriminator {
    /// The course's: two 5x5 convolutions with pooling, then two dense layers, tanh throughout.
    Course {
        /// 5x5, the image to 64 channels.
        conv0: Conv2d,
        /// 5x5, 64 to 128 channels.
        conv1: Conv2d,
        /// The 5x5x128 map to 1024.
        dense0: Linear,
        /// 1024 to the logit.
        dense1: Linear,
    },
    /// DCGAN's: two strided convolutions with leaky ReLU, then one dense layer.
    Dcgan {
        /// 4x4 stride 2, the image to 64 channels at 14x14.
        conv0: Conv2d,
        /// 4x4 stride 2, 64 to 128 channels at 7x7.
        conv1: Conv2d,
        /// Batch norm after it.
        bn: BatchNorm,
        /// The 7x7x128 map to the logit.
        dense: Linear,
    },
}

/// DCGAN's initialization: N(0, 0.02).
const DCGAN_INIT: Init = Init::Randn {
    mean: 0.0,
    stdev: 0.02,
};

/// Keras's BatchNormalization defaults: eps 1e-3, momentum 0.99 (0.01 in PyTorch's convention).
const KERAS_BN: BatchNormConfig = BatchNormConfig {
    eps: 1e-3,
    momentum: 0.01,
};

impl Generator {
    /// Creates or reads the generator of `arch` under `vb`.
    pub fn new(arch: GanArch, vb: VarBuilder) -> Result<Self> {
        let same5 = Conv2dConfig {
            padding: 2,
            ..Default::default()
        };
        Ok(match arch {
            GanArch::Course => Generator::Course {
                dense0: keras::dense(NOISE, 1024, vb.pp("dense0"))?,
                dense1: keras::dense(1024, 128 * 7 * 7, vb.pp("dense1"))?,
                bn: BatchNorm::new(128 * 7 * 7, KERAS_BN, vb.pp("bn"))?,
                conv0: keras::conv2d(128, 64, 5, same5, vb.pp("conv0"))?,
                conv1: keras::conv2d(64, 1, 5, same5, vb.pp("conv1"))?,
            },
            GanArch::Dcgan => {
                let up = |i: usize, o: usize, name: &str| -> Result<ConvTranspose2d> {
                    let w = vb
                        .pp(name)
                        .get_with_hints((i, o, 4, 4), "weight", DCGAN_INIT)?;
                    let b = vb.pp(name).get_with_hints(o, "bias", Init::Const(0.0))?;
                    let cfg = ConvTranspose2dConfig {
                        padding: 1,
                        stride: 2,
                        ..Default::default()
                    };
                    Ok(ConvTranspose2d::from_tensors(w, Some(b), cfg))
                };
                let w =
                    vb.pp("dense")
                        .get_with_hints((128 * 7 * 7, NOISE), "weight", DCGAN_INIT)?;
                Generator::Dcgan {
                    dense: Linear::new(w, None),
                    bn0: BatchNorm::new(128 * 7 * 7, BatchNormConfig::default(), vb.pp("bn0"))?,
                    up0: up(128, 64, "up0")?,
                    bn1: BatchNorm::new(64, BatchNormConfig::default(), vb.pp("bn1"))?,
                    up1: up(64, 1, "up1")?,
                }
            }
        })
    }

    /// Images for noise `z`; `train` selects batch statistics (and updates the running averages).
    pub fn forward_t(&self, z: &Tensor, train: bool) -> Result<Tensor> {
        let n = z.dim(0)?;
        match self {
            Generator::Course {
                dense0,
                dense1,
                bn,
                conv0,
                conv1,
            } => {
                let up = UpsampleNearest2d { scale: 2 };
                let h = dense0.forward(z)?.tanh()?;
                let h = bn.forward_t(&dense1.forward(&h)?, train)?.tanh()?;
                let h = h.reshape((n, 128, 7, 7))?;
                let h = conv0.forward(&up.forward(&h)?)?.tanh()?;
                conv1.forward(&up.forward(&h)?)?.tanh()
            }
            Generator::Dcgan {
                dense,
                bn0,
                up0,
                bn1,
                up1,
            } => {
                // Batch norm and ReLU as one op (slope 0).
                let h = bn0.forward_t_leaky_relu(
                    &linear(z, dense.weight(), dense.bias())?,
                    train,
                    0.0,
                )?;
                let h = h.reshape((n, 128, 7, 7))?;
                let h = bn1.forward_t_leaky_relu(&up0.forward(&h)?, train, 0.0)?;
                // The op's backward pass is one element-wise pass where candle's is four, each on
                // one thread (`glassbox_tensor::ops::tanh`).
                tanh(&up1.forward(&h)?)
            }
        }
    }
}

impl Discriminator {
    /// Creates or reads the discriminator of `arch` under `vb`.
    pub fn new(arch: GanArch, vb: VarBuilder) -> Result<Self> {
        Ok(match arch {
            GanArch::Course => {
                let same5 = Conv2dConfig {
                    padding: 2,
                    ..Default::default()
                };
                Discriminator::Course {
                    conv0: keras::conv2d(1, 64, 5, same5, vb.pp("conv0"))?,
                    conv1: keras::conv2d(64, 128, 5, Conv2dConfig::default(), vb.pp("conv1"))?,
                    dense0: keras::dense(128 * 5 * 5, 1024, vb.pp("dense0"))?,
                    dense1: keras::dense(1024, 1, vb.pp("dense1"))?,
                }
            }
            GanArch::Dcgan => {
                let strided = Conv2dConfig {
                    padding: 1,
                    stride: 2,
                    ..Default::default()
                };
                let conv = |i: usize, o: usize, name: &str| -> Result<Conv2d> {
                    let w = vb
                        .pp(name)
                        .get_with_hints((o, i, 4, 4), "weight", DCGAN_INIT)?;
                    let b = vb.pp(name).get_with_hints(o, "bias", Init::Const(0.0))?;
                    Ok(Conv2d::from_tensors(w, Some(b), strided))
                };
                let w = vb
                    .pp("dense")
                    .get_with_hints((1, 128 * 7 * 7), "weight", DCGAN_INIT)?;
                let b = vb.pp("dense").get_with_hints(1, "bias", Init::Const(0.0))?;
                Discriminator::Dcgan {
                    conv0: conv(1, 64, "conv0")?,
                    conv1: conv(64, 128, "conv1")?,
                    bn: BatchNorm::new(128, BatchNormConfig::default(), vb.pp("bn"))?,
                    dense: Linear::new(w, Some(b)),
                }
            }
        })
    }

    /// The same discriminator with constant weights: the generator's step needs gradients through it to
    /// the images, not for its weights (its running averages are shared and still update).
    pub fn frozen(&self) -> Discriminator {
        let linear = |l: &Linear| Linear::new(l.weight().detach(), l.bias().map(Tensor::detach));
        match self {
            Discriminator::Course {
                conv0,
                conv1,
                dense0,
                dense1,
            } => Discriminator::Course {
                conv0: conv0.detached(),
                conv1: conv1.detached(),
                dense0: linear(dense0),
                dense1: linear(dense1),
            },
            Discriminator::Dcgan {
                conv0,
                conv1,
                bn,
                dense,
            } => Discriminator::Dcgan {
                conv0: conv0.detached(),
                conv1: conv1.detached(),
                bn: bn.detached(),
                dense: linear(dense),
            },
        }
    }

    /// One logit per image, `(N, 1)`; `train` selects batch statistics where there is batch norm.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        match self {
            Discriminator::Course {
                conv0,
                conv1,
                dense0,
                dense1,
            } => {
                let pool = MaxPool2d::new(2);
                let h = pool.forward(&conv0.forward(x)?.tanh()?)?;
                let h = pool.forward(&conv1.forward(&h)?.tanh()?)?;
                let h = dense0.forward(&h.flatten_from(1)?)?.tanh()?;
                dense1.forward(&h)
            }
            Discriminator::Dcgan {
                conv0,
                conv1,
                bn,
                dense,
            } => {
                let h = conv0.forward_leaky_relu(x, 0.2)?;
                let h = bn.forward_t_leaky_relu(&conv1.forward(&h)?, train, 0.2)?;
                // The flattened maps are no node of their own (`ops::flatten_linear`).
                flatten_linear(&h, dense.weight(), dense.bias())
            }
        }
    }
}

/// Both players, their variables under `generator.` and `discriminator.`.
pub struct Gan {
    /// Noise to images.
    pub generator: Generator,
    /// Images to a logit of "real".
    pub discriminator: Discriminator,
    /// Which networks both are.
    pub arch: GanArch,
}

impl Gan {
    /// Creates or reads both players of `arch` under `vb.pp("generator")` and `vb.pp("discriminator")`.
    pub fn new(arch: GanArch, vb: VarBuilder) -> Result<Self> {
        Ok(Gan {
            generator: Generator::new(arch, vb.pp("generator"))?,
            discriminator: Discriminator::new(arch, vb.pp("discriminator"))?,
            arch,
        })
    }

    /// The name checkpoints carry.
    pub fn model_name(&self) -> String {
        format!("gan-{}", self.arch.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;
    use glassbox_core::checkpoint::trainable_vars_under;
    use glassbox_core::seed::{Seed, SeededInit};

    fn count(vars: &[candle_core::Var]) -> usize {
        vars.iter().map(|v| v.elem_count()).sum()
    }

    /// Keras's summaries of keras-dcgan: the generator 103,424 + 6,428,800 + 2 * 6,272 (BN scale and
    /// shift; its running averages are not trained) + 204,864 + 1,601 = 6,751,233 trainable; the
    /// discriminator 1,664 + 204,928 + 3,277,824 + 1,025 = 3,485,441.
    #[test]
    fn shapes_and_trainable_counts() {
        for (arch, generator, discriminator) in [
            (GanArch::Course, 6_751_233, 3_485_441),
            // 627,200 + 2 * 6,272 + 131,136 + 128 + 1,025 = 772,033; 1,088 + 131,200 + 256 + 6,273 = 138,817.
            (GanArch::Dcgan, 772_033, 138_817),
        ] {
            let vm = VarMap::new();
            let vb = SeededInit::var_builder(&vm, Seed(4), DType::F32, &Device::Cpu);
            let gan = Gan::new(arch, vb).unwrap();
            assert_eq!(
                count(&trainable_vars_under(&vm, "generator.")),
                generator,
                "{arch:?}"
            );
            assert_eq!(
                count(&trainable_vars_under(&vm, "discriminator.")),
                discriminator,
                "{arch:?}"
            );
            let z = Tensor::randn(0f32, 1f32, (3, NOISE), &Device::Cpu).unwrap();
            let images = gan.generator.forward_t(&z, true).unwrap();
            assert_eq!(images.dims(), [3, 1, 28, 28]);
            let v: Vec<f32> = images.flatten_all().unwrap().to_vec1().unwrap();
            assert!(v.iter().all(|p| p.is_finite() && (-1.0..=1.0).contains(p)));
            let logits = gan.discriminator.forward_t(&images, true).unwrap();
            assert_eq!(logits.dims(), [3, 1]);
            assert_eq!(
                gan.generator.forward_t(&z, false).unwrap().dims(),
                [3, 1, 28, 28]
            );
        }
    }
}
