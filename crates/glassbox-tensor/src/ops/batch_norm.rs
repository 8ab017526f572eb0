//! Training-mode batch normalization on candle tensors: normalize each channel by the batch's own mean and
//! variance, then scale and shift. On CPU f32 tensors one fused kernel with its own backward pass
//! ([`crate::kernels::batch_norm`]); elsewhere candle's ops ([`reference_batch_norm`]), which also serve as
//! the reference in the tests.

use std::sync::{Arc, OnceLock};

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor, D};

use super::conv2d::uses_fast_path;
use super::leaky_relu::{check_fused_slope, then_leaky_relu};
use crate::kernels::batch_norm::{self as kernel, ChannelStats, Dims};
use crate::kernels::storage::f32_slice;

/// The normalized batch and the statistics it was normalized with (for the running averages).
pub struct BatchNormOutput {
    /// The normalized batch, scaled and shifted.
    pub y: Tensor,
    /// Per-channel mean of the batch.
    pub mean: Tensor,
    /// Per-channel biased variance of the batch (divided by the count, as the normalization uses it).
    pub var: Tensor,
}

/// `x: (N, C, ...)`: every channel normalized over the batch and the trailing dimensions,
/// `y = (x - mean) / sqrt(var + eps) * gamma + beta` with `gamma`, `beta: (C)`.
pub fn batch_norm(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<BatchNormOutput> {
    batch_norm_leaky_relu(x, gamma, beta, eps, 1.0)
}

/// [`batch_norm`] followed by a leaky ReLU of slope `slope` (0 for a ReLU, as in the DCGAN generator;
/// 0.2 in its discriminator; 1 for none), one op on CPU f32 tensors: the activation is applied as the
/// normalization writes its output, and its gradient is taken as the backward pass reads the output's,
/// so neither has a pass over memory nor a node in the graph of its own (each had cost a full-size
/// gradient buffer, zeroed and added to, in candle's backward pass).
pub fn batch_norm_leaky_relu(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
    slope: f64,
) -> Result<BatchNormOutput> {
    check_fused_slope("batch_norm", slope)?;
    let dims = dims_of(x)?;
    for (what, t) in [("scale", gamma), ("shift", beta)] {
        if t.dims() != [dims.channels] {
            candle_core::bail!(
                "batch_norm: the {what} has shape {:?}, the input has {} channels",
                t.dims(),
                dims.channels
            );
        }
    }
    if dims.per_channel() < 2 {
        candle_core::bail!(
            "batch_norm: each channel needs at least 2 values in a training batch, got {} (input {:?})",
            dims.per_channel(),
            x.dims()
        );
    }
    if !(eps > 0.0 && eps.is_finite()) {
        candle_core::bail!("batch_norm: eps must be a positive number, got {eps}");
    }
    if !(uses_fast_path(x) && uses_fast_path(gamma) && uses_fast_path(beta)) {
        let out = reference_batch_norm(x, gamma, beta, eps)?;
        let y = then_leaky_relu(out.y, slope)?;
        return Ok(BatchNormOutput { y, ..out });
    }
    let op = BatchNormOp {
        dims,
        eps: eps as f32,
        slope: slope as f32,
        stats: Arc::new(OnceLock::new()),
    };
    let stats = op.stats.clone();
    let y = x
        .contiguous()?
        .apply_op3(&gamma.contiguous()?, &beta.contiguous()?, op)?;
    let stats = stats
        .get()
        .expect("the forward pass computed the statistics");
    let device = x.device();
    Ok(BatchNormOutput {
        y,
        mean: Tensor::new(stats.mean.as_slice(), device)?,
        var: Tensor::new(stats.var.as_slice(), device)?,
    })
}

/// [`batch_norm`] in candle's own operations (any device, autograd through candle).
pub fn reference_batch_norm(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
) -> Result<BatchNormOutput> {
    let dims = dims_of(x)?;
    // (N, C, S) -> per-channel statistics over N and S.
    let flat = x.reshape((dims.batch, dims.channels, dims.plane))?;
    let mean = flat.mean_keepdim(D::Minus1)?.mean_keepdim(0)?;
    let centered = flat.broadcast_sub(&mean)?;
    let var = centered.sqr()?.mean_keepdim(D::Minus1)?.mean_keepdim(0)?;
    let scale = gamma
        .reshape((1, dims.channels, 1))?
        .broadcast_div(&(var.clone() + eps)?.sqrt()?)?;
    let y = centered
        .broadcast_mul(&scale)?
        .broadcast_add(&beta.reshape((1, dims.channels, 1))?)?
        .reshape(x.shape())?;
    Ok(BatchNormOutput {
        y,
        mean: mean.flatten_all()?.detach(),
        var: var.flatten_all()?.detach(),
    })
}

fn dims_of(x: &Tensor) -> Result<Dims> {
    let shape = x.dims();
    if shape.len() < 2 {
        candle_core::bail!(
            "batch_norm: the input needs a batch and a channel dimension, got shape {shape:?}"
        );
    }
    Ok(Dims {
        batch: shape[0],
        channels: shape[1],
        plane: shape[2..].iter().product(),
    })
}

struct BatchNormOp {
    dims: Dims,
    eps: f32,
    /// Of the leaky ReLU that follows (1: none).
    slope: f32,
    /// Set by the forward pass; read by the caller (running averages) and by the backward pass.
    stats: Arc<OnceLock<ChannelStats>>,
}

impl CustomOp3 for BatchNormOp {
    fn name(&self) -> &'static str {
        "glassbox-batch-norm"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice("batch_norm input", xs, xl)?;
        let gamma = f32_slice("batch_norm scale", gs, gl)?;
        let beta = f32_slice("batch_norm shift", bs, bl)?;
        let stats = self
            .stats
            .get_or_init(|| kernel::channel_stats(x, self.dims));
        let inv_std = kernel::inverse_std(&stats.var, self.eps);
        let y = kernel::normalize_then_leaky_relu(
            x,
            self.dims,
            &stats.mean,
            &inv_std,
            gamma,
            beta,
            self.slope,
        );
        Ok((CpuStorage::F32(y), xl.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let Some(stats) = self.stats.get() else {
            candle_core::bail!("batch_norm: backward pass before the forward pass");
        };
        let op = BatchNormBackward {
            dims: self.dims,
            mean: stats.mean.clone(),
            inv_std: kernel::inverse_std(&stats.var, self.eps),
            gamma: gamma.to_vec1()?,
            slope: self.slope,
        };
        let grad = grad.contiguous()?;
        // Without an activation the output is not read: the gradient stands in for it.
        let y = if self.slope == 1.0 { &grad } else { y };
        let packed = grad.apply_op3_no_bwd(x, y, &op)?;
        let (len, c) = (self.dims.len(), self.dims.channels);
        let dx = packed.narrow(0, 0, len)?.reshape(x.shape())?;
        let dgamma = packed.narrow(0, len, c)?;
        let dbeta = packed.narrow(0, len + c, c)?;
        Ok((Some(dx), Some(dgamma), Some(dbeta)))
    }
}

/// `(dy, x, y) -> [dx, dgamma, dbeta]` packed in one vector.
struct BatchNormBackward {
    dims: Dims,
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    gamma: Vec<f32>,
    slope: f32,
}

impl CustomOp3 for BatchNormBackward {
    fn name(&self) -> &'static str {
        "glassbox-batch-norm-backward"
    }

    fn cpu_fwd(
        &self,
        ds: &CpuStorage,
        dl: &Layout,
        xs: &CpuStorage,
        xl: &Layout,
        ys: &CpuStorage,
        yl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dy = f32_slice("batch_norm gradient", ds, dl)?;
        let x = f32_slice("batch_norm input", xs, xl)?;
        let y = f32_slice("batch_norm output", ys, yl)?;
        let (mut dx, dgamma, dbeta) = kernel::backward_through_leaky_relu(
            x,
            y,
            dy,
            self.dims,
            &self.mean,
            &self.inv_std,
            &self.gamma,
            self.slope,
        );
        dx.extend_from_slice(&dgamma);
        dx.extend_from_slice(&dbeta);
        let len = dx.len();
        Ok((CpuStorage::F32(dx), Shape::from(len)))
    }
}
