//! Dense autoencoders, as the course builds them in Keras:
//!
//! ```text
//! shallow   784 -> Dense(20, relu) -> Dense(784, sigmoid)                     binary cross-entropy
//!           (course: loss 0.118, val 0.116 after 50 epochs)
//! deep      784 -> 512 -> 256 -> 2 -> 256 -> 512 -> 784 (relu; the 2-D code linear, so it can spread
//!           over the plane; sigmoid out)                                      binary cross-entropy
//!           (course: loss 0.1866, val 0.1870 after 50 epochs)
//! tiger     10000 -> Dense(20, relu) -> Dense(10000)                          mean squared error
//! ```
//!
//! The decoder mirrors the encoder. Weights start as Keras starts them (Glorot-uniform, zero biases);
//! tensors are named `encoder.K.weight` / `decoder.K.bias` with PyTorch's `(out, in)` layout.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};
use glassbox_tensor::nn::keras;
use serde::Serialize;

use crate::autoencoder::{Autoencoder, Reconstruction};

/// The sizes of a dense autoencoder.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DenseConfig {
    /// `(channels, height, width)` of the images.
    pub image: (usize, usize, usize),
    /// The encoder's layer widths; the last is the code's size. The decoder runs them backwards.
    pub widths: Vec<usize>,
    /// A ReLU on the code (the course's shallow model has one; a 2-D code for plotting does not).
    pub code_relu: bool,
    /// The output's activation and loss.
    pub reconstruction: Reconstruction,
}

impl DenseConfig {
    /// 784-20-784 with a ReLU code and a sigmoid output.
    pub fn shallow() -> Self {
        DenseConfig {
            image: (1, 28, 28),
            widths: vec![20],
            code_relu: true,
            reconstruction: Reconstruction::BinaryCrossEntropy,
        }
    }

    /// 784-512-256-2-256-512-784 with a linear 2-D code.
    pub fn deep() -> Self {
        DenseConfig {
            image: (1, 28, 28),
            widths: vec![512, 256, 2],
            code_relu: false,
            reconstruction: Reconstruction::BinaryCrossEntropy,
        }
    }

    /// The tiger's 10000-20-10000, linear output, mean squared error.
    pub fn tiger(side: usize) -> Self {
        DenseConfig {
            image: (1, side, side),
            widths: vec![20],
            code_relu: true,
            reconstruction: Reconstruction::MeanSquaredError,
        }
    }

    fn pixels(&self) -> usize {
        self.image.0 * self.image.1 * self.image.2
    }

    /// The code's size.
    pub fn code_size(&self) -> usize {
        *self.widths.last().expect("validated: at least one width")
    }
}

/// A dense autoencoder: linear layers down to the code, the same widths back up (see [`DenseConfig`]).
pub struct DenseAutoencoder {
    encoder: Vec<Linear>,
    decoder: Vec<Linear>,
    config: DenseConfig,
}

impl DenseAutoencoder {
    /// Creates or reads the weights under `vb`; empty or zero widths are refused.
    pub fn new(config: DenseConfig, vb: VarBuilder) -> Result<Self> {
        if config.widths.is_empty() || config.widths.contains(&0) || config.pixels() == 0 {
            candle_core::bail!(
                "dense autoencoder: every size must be at least 1 (image {:?}, widths {:?})",
                config.image,
                config.widths
            );
        }
        // 784 -> 512 -> 256 -> 2, then 2 -> 256 -> 512 -> 784.
        let mut sizes = vec![config.pixels()];
        sizes.extend(&config.widths);
        let encoder = sizes
            .windows(2)
            .enumerate()
            .map(|(k, w)| keras::dense(w[0], w[1], vb.pp(format!("encoder.{k}"))))
            .collect::<Result<Vec<_>>>()?;
        sizes.reverse();
        let decoder = sizes
            .windows(2)
            .enumerate()
            .map(|(k, w)| keras::dense(w[0], w[1], vb.pp(format!("decoder.{k}"))))
            .collect::<Result<Vec<_>>>()?;
        Ok(DenseAutoencoder {
            encoder,
            decoder,
            config,
        })
    }

    /// The sizes it was built with.
    pub fn config(&self) -> &DenseConfig {
        &self.config
    }
}

impl Autoencoder for DenseAutoencoder {
    fn model_name(&self) -> String {
        let widths: Vec<String> = self.config.widths.iter().map(|w| w.to_string()).collect();
        format!(
            "dense-autoencoder-{}-{}",
            self.config.pixels(),
            widths.join("-")
        )
    }

    fn encode(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.flatten_from(1)?;
        let last = self.encoder.len() - 1;
        for (k, layer) in self.encoder.iter().enumerate() {
            h = layer.forward(&h)?;
            if k < last || self.config.code_relu {
                h = h.relu()?;
            }
        }
        Ok(h)
    }

    fn decode_raw(&self, code: &Tensor) -> Result<Tensor> {
        let mut h = code.clone();
        let last = self.decoder.len() - 1;
        for (k, layer) in self.decoder.iter().enumerate() {
            h = layer.forward(&h)?;
            if k < last {
                h = h.relu()?;
            }
        }
        let (c, height, width) = self.config.image;
        h.reshape((h.dim(0)?, c, height, width))
    }

    fn reconstruction(&self) -> Reconstruction {
        self.config.reconstruction
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;
    use glassbox_core::seed::{Seed, SeededInit};

    fn build(config: DenseConfig) -> (VarMap, DenseAutoencoder) {
        let vm = VarMap::new();
        let vb = SeededInit::var_builder(&vm, Seed(1), DType::F32, &Device::Cpu);
        let model = DenseAutoencoder::new(config, vb).unwrap();
        (vm, model)
    }

    fn count(vm: &VarMap) -> usize {
        vm.all_vars().iter().map(|v| v.elem_count()).sum()
    }

    /// Keras's `model.summary()` totals: 784*20+20 + 20*784+784 = 32,164 for the shallow model; the deep
    /// one 2 * (784*512 + 512*256 + 256*2) + biases (512+256+2 + 256+512+784) = 1,068,306.
    #[test]
    fn parameter_counts_and_shapes() {
        let (vm, model) = build(DenseConfig::shallow());
        assert_eq!(count(&vm), 32_164);
        let x = Tensor::rand(0f32, 1f32, (3, 1, 28, 28), &Device::Cpu).unwrap();
        assert_eq!(model.encode(&x).unwrap().dims(), [3, 20]);
        assert_eq!(model.reconstruct(&x).unwrap().dims(), [3, 1, 28, 28]);
        assert_eq!(model.model_name(), "dense-autoencoder-784-20");

        let (vm, model) = build(DenseConfig::deep());
        assert_eq!(count(&vm), 1_068_306);
        // The linear code takes negative values (a ReLU would leave a quadrant of the plane empty).
        let z = model.encode(&x).unwrap();
        assert_eq!(z.dims(), [3, 2]);
        let min = z.min_all().unwrap().to_scalar::<f32>().unwrap();
        let (_, shallow) = build(DenseConfig::shallow());
        let relu_min = shallow
            .encode(&x)
            .unwrap()
            .min_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(
            min < 0.0 && relu_min >= 0.0,
            "deep code min {min}, shallow {relu_min}"
        );
        // The tiger's: 10000*20+20 + 20*10000+10000.
        let (vm, tiger) = build(DenseConfig::tiger(100));
        assert_eq!(count(&vm), 410_020);
        let photo = Tensor::rand(0f32, 1f32, (1, 1, 100, 100), &Device::Cpu).unwrap();
        assert_eq!(tiger.reconstruct(&photo).unwrap().dims(), [1, 1, 100, 100]);
        assert!(DenseAutoencoder::new(
            DenseConfig {
                widths: vec![0],
                ..DenseConfig::shallow()
            },
            candle_nn::VarBuilder::zeros(DType::F32, &Device::Cpu)
        )
        .is_err());
    }
}
