//! The course's MNIST CNN, as Keras's `mnist_cnn.py` builds it:
//!
//! ```text
//! Conv2D(32, 3x3, relu, valid)   28x28x1  -> 26x26x32      320 parameters
//! Conv2D(64, 3x3, relu, valid)            -> 24x24x64   18,496
//! MaxPooling2D(2x2)                       -> 12x12x64
//! Dropout(0.25), Flatten                  -> 9216
//! Dense(128, relu)                        -> 128     1,179,776
//! Dropout(0.5)
//! Dense(10, softmax)                      -> 10          1,290     total 1,199,882
//! ```
//!
//! The second convolution, its ReLU and the pooling run as one fused kernel
//! ([`glassbox_tensor::ops::conv2d_relu_pool`]); the softmax is left to the loss (logits out). Weights start
//! as Keras starts them: Glorot-uniform kernels, zero biases. Tensor names are PyTorch's (`conv1.weight`,
//! `fc1.bias`, ...), with convolution kernels OIHW and dense kernels (out, in).

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{Init, Linear, VarBuilder, VarMap};
use glassbox_core::seed::{Seed, SeededInit};
use glassbox_tensor::nn::{Conv2d, Conv2dConfig, Dropout};
use glassbox_tensor::ops::{conv2d_relu_pool, ConvParams};

/// The name checkpoints carry.
pub const MODEL_NAME: &str = "mnist-cnn";
/// Keras's `model.summary()` total.
pub const PARAMETERS: usize = 1_199_882;

pub struct MnistCnn {
    conv1: Conv2d,
    conv2_weight: Tensor,
    conv2_bias: Tensor,
    dropout1: Dropout,
    fc1: Linear,
    dropout2: Dropout,
    fc2: Linear,
}

/// Glorot (Xavier) uniform: U(-b, b) with b = sqrt(6 / (fan_in + fan_out)), Keras's default kernel init.
fn glorot(fan_in: usize, fan_out: usize) -> Init {
    let b = (6.0 / (fan_in + fan_out) as f64).sqrt();
    Init::Uniform { lo: -b, up: b }
}

impl MnistCnn {
    /// A new network with seeded Keras-style initial weights, its variables recorded in `varmap`.
    pub fn new(varmap: &VarMap, seed: Seed, device: &Device) -> Result<Self> {
        let vb = SeededInit::var_builder(varmap, seed, DType::F32, device);
        Self::load(vb, seed)
    }

    /// The network over the variables of `vb` (created with Keras's initializers where missing).
    pub fn load(vb: VarBuilder, seed: Seed) -> Result<Self> {
        let conv = |name: &str, c: usize, m: usize| -> Result<(Tensor, Tensor)> {
            let vb = vb.pp(name);
            let w = vb.get_with_hints((m, c, 3, 3), "weight", glorot(c * 9, m * 9))?;
            let b = vb.get_with_hints(m, "bias", Init::Const(0.0))?;
            Ok((w, b))
        };
        let dense = |name: &str, i: usize, o: usize| -> Result<Linear> {
            let vb = vb.pp(name);
            let w = vb.get_with_hints((o, i), "weight", glorot(i, o))?;
            let b = vb.get_with_hints(o, "bias", Init::Const(0.0))?;
            Ok(Linear::new(w, Some(b)))
        };
        let (w1, b1) = conv("conv1", 1, 32)?;
        let (conv2_weight, conv2_bias) = conv("conv2", 32, 64)?;
        let relu = Conv2dConfig {
            relu: true,
            ..Default::default()
        };
        Ok(MnistCnn {
            conv1: Conv2d::from_tensors(w1, Some(b1), relu),
            conv2_weight,
            conv2_bias,
            dropout1: Dropout::new(0.25, seed.0 ^ 0x6d6e_6973_745f_6431),
            fc1: dense("fc1", 9216, 128)?,
            dropout2: Dropout::new(0.5, seed.0 ^ 0x6d6e_6973_745f_6432),
            fc2: dense("fc2", 128, 10)?,
        })
    }

    /// Logits `(N, 10)` for images `(N, 1, 28, 28)` scaled to 0..1; dropout only when `train`.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let x = self.conv1.forward(x)?;
        let x = conv2d_relu_pool(
            &x,
            &self.conv2_weight,
            Some(&self.conv2_bias),
            ConvParams::default(),
            2,
        )?;
        let x = self.dropout1.forward_t(&x, train)?.flatten_from(1)?;
        let x = self.fc1.forward(&x)?.relu()?;
        let x = self.dropout2.forward_t(&x, train)?;
        self.fc2.forward(&x)
    }

    /// Dropout calls so far (saved in checkpoints so that a resumed run draws the same masks).
    pub fn dropout_calls(&self) -> u64 {
        self.dropout1.calls()
    }

    pub fn set_dropout_calls(&self, calls: u64) {
        self.dropout1.set_calls(calls);
        self.dropout2.set_calls(calls);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_the_keras_parameter_count_and_shapes() {
        let varmap = VarMap::new();
        let model = MnistCnn::new(&varmap, Seed(1), &Device::Cpu).unwrap();
        let total: usize = varmap.all_vars().iter().map(|v| v.elem_count()).sum();
        assert_eq!(total, PARAMETERS);
        let x = Tensor::zeros((3, 1, 28, 28), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(model.forward_t(&x, true).unwrap().dims(), [3, 10]);
        // Zero biases and a zero image give zero logits.
        let y = model.forward_t(&x, false).unwrap();
        assert_eq!(
            y.abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap(),
            0.0
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_weights() {
        let (a, b) = (VarMap::new(), VarMap::new());
        MnistCnn::new(&a, Seed(7), &Device::Cpu).unwrap();
        MnistCnn::new(&b, Seed(7), &Device::Cpu).unwrap();
        let get = |m: &VarMap| {
            m.data().lock().unwrap()["fc1.weight"]
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        assert_eq!(get(&a), get(&b));
    }
}
