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
//! (The total is Keras's `model.summary()` for `mnist_cnn.py`; the unit test counts the variables.)
//!
//! The second convolution, its ReLU and the pooling run as one fused kernel
//! ([`glassbox_tensor::ops::conv2d_relu_pool`]); the softmax is left to the loss (logits out). Weights start
//! as Keras starts them: Glorot-uniform kernels, zero biases. Tensor names are PyTorch's (`conv1.weight`,
//! `fc1.bias`, ...), with convolution kernels OIHW and dense kernels (out, in).

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{Init, VarBuilder, VarMap};
use glassbox_core::seed::{Seed, SeededInit};
use glassbox_tensor::nn::{keras, Conv2d, Conv2dConfig, Dropout, Linear};
use glassbox_tensor::ops::{conv2d_relu_pool, ConvParams};

/// The name checkpoints carry.
pub const MODEL_NAME: &str = "mnist-cnn";

/// The course's MNIST CNN (Keras's `mnist_cnn`): two 3x3 convolutions (32, 64) with ReLU, a 2x2 max pool,
/// dropout 0.25, a dense layer of 128 with ReLU, dropout 0.5 and 10 logits, on glassbox-tensor's fast kernels.
pub struct MnistCnn {
    conv1: Conv2d,
    conv2_weight: Tensor,
    conv2_bias: Tensor,
    dropout1: Dropout,
    fc1: Linear,
    dropout2: Dropout,
    fc2: Linear,
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
            let w =
                vb.get_with_hints((m, c, 3, 3), "weight", keras::glorot_uniform(c * 9, m * 9))?;
            let b = vb.get_with_hints(m, "bias", Init::Const(0.0))?;
            Ok((w, b))
        };
        // glassbox's dense layer: its product and bias on the CPU kernels (fc1's 9,216-deep product
        // split over its depth, `kernels::gemm::sgemm_new_deep`), the same names and start as Keras's.
        let dense =
            |name: &str, i: usize, o: usize| keras::dense(i, o, vb.pp(name)).map(Linear::from);
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

    /// The 128 penultimate features (after the first dense layer's ReLU) and the logits, without dropout:
    /// what judging generated digits compares (their mean and covariance, as FID does with Inception's).
    pub fn features_and_logits(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let x = self.conv1.forward(x)?;
        let x = conv2d_relu_pool(
            &x,
            &self.conv2_weight,
            Some(&self.conv2_bias),
            ConvParams::default(),
            2,
        )?
        .flatten_from(1)?;
        let features = self.fc1.forward(&x)?.relu()?;
        let logits = self.fc2.forward(&features)?;
        Ok((features, logits))
    }

    /// Dropout calls so far (saved in checkpoints so that a resumed run draws the same masks).
    pub fn dropout_calls(&self) -> u64 {
        self.dropout1.calls()
    }

    /// Sets the dropout calls so far (from a checkpoint), so a resumed run draws the masks it would have.
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
        // Keras's `model.summary()` of mnist_cnn.py: "Total params: 1,199,882".
        assert_eq!(total, 1_199_882);
        let x = Tensor::zeros((3, 1, 28, 28), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(model.forward_t(&x, true).unwrap().dims(), [3, 10]);
        // Zero biases and a zero image give zero logits.
        let y = model.forward_t(&x, false).unwrap();
        // The judge's features lead to the same logits as inference does.
        let digits = Tensor::rand(0f32, 1f32, (3, 1, 28, 28), &Device::Cpu).unwrap();
        let (features, logits) = model.features_and_logits(&digits).unwrap();
        assert_eq!(features.dims(), [3, 128]);
        let inferred = model.forward_t(&digits, false).unwrap();
        let logits: Vec<f32> = logits.flatten_all().unwrap().to_vec1().unwrap();
        assert!(logits.iter().any(|&v| v != 0.0));
        assert_eq!(
            logits,
            inferred.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
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

    /// Keras's Glorot-uniform kernels and zero biases, checked from the tensors' shapes alone (so a wrong
    /// fan passed to the initializer fails): every kernel value within the bound b = sqrt(6 / (fan_in +
    /// fan_out)), the largest close to it, the mean near 0 and the spread b / sqrt(3) of U(-b, b).
    /// Tolerances are 6 standard errors of each statistic for the tensor's n values (a uniform's sample
    /// std has relative standard error sqrt(1/5 - 1/9) * 3 / 2 / sqrt(n) = 0.447 / sqrt(n)), and
    /// P(max |w| < (1 - 20/n) b) = (1 - 20/n)^n ~ e^-20.
    #[test]
    fn kernels_start_glorot_uniform_and_biases_at_zero() {
        for seed in [1, 42] {
            let varmap = VarMap::new();
            MnistCnn::new(&varmap, Seed(seed), &Device::Cpu).unwrap();
            let tensors = glassbox_core::checkpoint::varmap_tensors(&varmap);
            let names: Vec<&str> = tensors.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(
                names,
                [
                    "conv1.bias",
                    "conv1.weight",
                    "conv2.bias",
                    "conv2.weight",
                    "fc1.bias",
                    "fc1.weight",
                    "fc2.bias",
                    "fc2.weight"
                ]
            );
            for (name, t) in &tensors {
                let v: Vec<f64> = t
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
                    .into_iter()
                    .map(f64::from)
                    .collect();
                assert!(v.iter().all(|x| x.is_finite()), "{name}: not finite");
                if name.ends_with(".bias") {
                    assert!(v.iter().all(|&x| x == 0.0), "{name}: not all zero");
                    continue;
                }
                // OIHW or (out, in): fans are channels times the receptive field, as Keras counts them.
                let dims = t.dims();
                let field: usize = dims[2..].iter().product();
                let (fan_in, fan_out) = (dims[1] * field, dims[0] * field);
                let b = (6.0 / (fan_in + fan_out) as f64).sqrt();
                let n = v.len() as f64;
                let max = v.iter().fold(0f64, |m, x| m.max(x.abs()));
                let mean = v.iter().sum::<f64>() / n;
                let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
                let want_std = b / 3f64.sqrt();
                // f32 rounding of a value drawn just below b may land a half ulp above it.
                assert!(max <= b * (1.0 + 1e-7), "{name}: max |w| {max} > bound {b}");
                assert!(
                    max >= b * (1.0 - 20.0 / n),
                    "{name}: max |w| {max} far below the bound {b}"
                );
                let mean_tol = 6.0 * want_std / n.sqrt();
                assert!(
                    mean.abs() <= mean_tol,
                    "{name}: mean {mean} (tolerance {mean_tol})"
                );
                let std_tol = 6.0 * 0.447 / n.sqrt();
                let rel = (std / want_std - 1.0).abs();
                eprintln!(
                    "seed {seed} {name}: n {n}, bound {b:.6}, max |w| / bound {:.6}, mean / bound {:+.1e}, std / (bound/sqrt 3) {:.5}",
                    max / b,
                    mean / b,
                    std / want_std
                );
                assert!(
                    rel <= std_tol,
                    "{name}: std {std}, U(-{b}, {b}) has {want_std} (off by {rel:.2e}, tolerance {std_tol:.2e})"
                );
            }
        }
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
