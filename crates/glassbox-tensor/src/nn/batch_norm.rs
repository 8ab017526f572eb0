use candle_core::{Result, Tensor, Var};
use candle_nn::{Init, VarBuilder};

use crate::ops::batch_norm_leaky_relu;

/// How a [`BatchNorm`] is built.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormConfig {
    /// Added to the variance before the square root (PyTorch's default; Keras uses 1e-3).
    pub eps: f64,
    /// The new batch's weight in the running averages, `running = (1 - momentum) running + momentum
    /// batch`: PyTorch's convention and default. Keras's `momentum=0.99` is 0.01 here.
    pub momentum: f64,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        BatchNormConfig {
            eps: 1e-5,
            momentum: 0.1,
        }
    }
}

/// Batch normalization over the channel dimension of `(N, C)` or `(N, C, H, W)` inputs, with a learned
/// scale `weight: (C)` and shift `bias: (C)` and running averages of the statistics for inference
/// (`running_mean`, `running_var`): PyTorch's `BatchNorm1d`/`BatchNorm2d` with its tensor names.
///
/// In training the batch's own statistics normalize it and update the running averages (the variance
/// unbiased, `M / (M - 1)` times the batch's, as PyTorch keeps it); in inference the running averages
/// normalize. The running averages are variables of the `VarMap` (so checkpoints carry them) that no
/// gradient reaches; leave them out of optimizers with `glassbox_core::checkpoint::trainable_vars`.
#[derive(Clone, Debug)]
pub struct BatchNorm {
    weight: Tensor,
    bias: Tensor,
    running_mean: Var,
    running_var: Var,
    config: BatchNormConfig,
}

impl BatchNorm {
    /// Reads (or creates: scale 1, shift 0, mean 0, variance 1, as PyTorch starts) the four tensors under
    /// `vb`.
    pub fn new(channels: usize, config: BatchNormConfig, vb: VarBuilder) -> Result<Self> {
        if !(config.momentum > 0.0 && config.momentum <= 1.0) {
            candle_core::bail!("batch norm: momentum {} is outside (0, 1]", config.momentum);
        }
        let weight = vb.get_with_hints(channels, "weight", Init::Const(1.0))?;
        let bias = vb.get_with_hints(channels, "bias", Init::Const(0.0))?;
        let running_mean = vb.get_with_hints(channels, "running_mean", Init::Const(0.0))?;
        let running_var = vb.get_with_hints(channels, "running_var", Init::Const(1.0))?;
        // A tensor that is a VarMap variable becomes a Var over the same storage, so updates reach the map.
        Ok(Self::from_tensors(
            weight,
            bias,
            Var::from_tensor(&running_mean)?,
            Var::from_tensor(&running_var)?,
            config,
        ))
    }

    /// A layer over existing tensors (a checkpoint's, or shared with another layer).
    pub fn from_tensors(
        weight: Tensor,
        bias: Tensor,
        running_mean: Var,
        running_var: Var,
        config: BatchNormConfig,
    ) -> Self {
        BatchNorm {
            weight,
            bias,
            running_mean,
            running_var,
            config,
        }
    }

    /// The same layer with its scale and shift as constants (no gradient for them); the running averages
    /// are shared, so training-mode calls still update them.
    pub fn detached(&self) -> Self {
        BatchNorm {
            weight: self.weight.detach(),
            bias: self.bias.detach(),
            running_mean: self.running_mean.clone(),
            running_var: self.running_var.clone(),
            config: self.config,
        }
    }

    /// The per-channel scale (gamma).
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The per-channel shift (beta).
    pub fn bias(&self) -> &Tensor {
        &self.bias
    }

    /// The running mean, used in evaluation.
    pub fn running_mean(&self) -> &Tensor {
        self.running_mean.as_tensor()
    }

    /// The running variance, used in evaluation.
    pub fn running_var(&self) -> &Tensor {
        self.running_var.as_tensor()
    }

    /// Normalizes `x`; in training (`train`) with the batch's statistics, updating the running averages.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.forward_t_leaky_relu(x, train, 1.0)
    }

    /// [`BatchNorm::forward_t`] followed by a leaky ReLU of slope `slope` (0 for a ReLU, 1 for none); in
    /// training on CPU f32 tensors the two are one op ([`crate::ops::batch_norm_leaky_relu`]).
    pub fn forward_t_leaky_relu(&self, x: &Tensor, train: bool, slope: f64) -> Result<Tensor> {
        if train {
            let out = batch_norm_leaky_relu(x, &self.weight, &self.bias, self.config.eps, slope)?;
            let count = (x.elem_count() / x.dim(1)?) as f64;
            let m = self.config.momentum;
            let mean = ((self.running_mean.as_tensor() * (1.0 - m))? + (out.mean * m)?)?;
            let unbiased = (out.var * (count / (count - 1.0)))?;
            let var = ((self.running_var.as_tensor() * (1.0 - m))? + (unbiased * m)?)?;
            self.running_mean.set(&mean.detach())?;
            self.running_var.set(&var.detach())?;
            return Ok(out.y);
        }
        let channels = self.weight.dim(0)?;
        let mut shape = vec![1; x.rank()];
        if x.rank() < 2 || x.dim(1)? != channels {
            candle_core::bail!(
                "batch norm: input {:?} does not have {channels} channels in dimension 1",
                x.dims()
            );
        }
        shape[1] = channels;
        // Detached: no gradient may reach the running averages, or an optimizer would move them.
        let (mean, var) = (
            self.running_mean.as_tensor().detach(),
            self.running_var.as_tensor().detach(),
        );
        let scale = (&self.weight / (var + self.config.eps)?.sqrt()?)?;
        let shift = (&self.bias - (mean * &scale)?)?;
        let y = x
            .broadcast_mul(&scale.reshape(shape.as_slice())?)?
            .broadcast_add(&shift.reshape(shape.as_slice())?)?;
        crate::ops::leaky_relu::check_fused_slope("batch norm", slope)?;
        crate::ops::leaky_relu::then_leaky_relu(y, slope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// In inference the activation follows the running statistics' normalization: by hand, one channel
    /// of mean 1 and variance 4 (eps 0 in effect), scale 2, shift -1: y = (x - 1) / 2 * 2 - 1 = x - 2.
    #[test]
    fn inference_applies_the_activation_after_the_running_statistics() {
        let t = |v: &[f32]| Tensor::new(v, &Device::Cpu).unwrap();
        let bn = BatchNorm::from_tensors(
            t(&[2.0]),
            t(&[-1.0]),
            Var::from_tensor(&t(&[1.0])).unwrap(),
            Var::from_tensor(&t(&[4.0])).unwrap(),
            BatchNormConfig {
                eps: 1e-12,
                ..Default::default()
            },
        );
        let x = t(&[0.0, 1.0, 3.0, 5.0]).reshape((4, 1)).unwrap();
        let run = |slope: f64| -> Vec<f32> {
            let y = bn.forward_t_leaky_relu(&x, false, slope).unwrap();
            y.flatten_all().unwrap().to_vec1().unwrap()
        };
        let close = |a: Vec<f32>, b: [f32; 4]| a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-5);
        assert!(close(run(1.0), [-2.0, -1.0, 1.0, 3.0]), "{:?}", run(1.0));
        assert!(close(run(0.0), [0.0, 0.0, 1.0, 3.0]), "{:?}", run(0.0));
        assert!(close(run(0.5), [-1.0, -0.5, 1.0, 3.0]), "{:?}", run(0.5));
        assert!(bn.forward_t_leaky_relu(&x, false, -1.0).is_err());
    }
}
