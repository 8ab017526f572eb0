//! LeakyReLU on candle tensors: the CPU loop with its backward pass, candle-nn's composition elsewhere.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

use super::conv2d::uses_fast_path;
use crate::kernels::activation;
use crate::kernels::storage::f32_slice;

/// `x` where `x > 0`, `slope x` elsewhere (the DCGAN discriminator's activation, slope 0.2).
pub fn leaky_relu(x: &Tensor, slope: f64) -> Result<Tensor> {
    if !slope.is_finite() {
        candle_core::bail!("leaky_relu: the slope must be finite, got {slope}");
    }
    if !uses_fast_path(x) {
        return candle_nn::ops::leaky_relu(x, slope);
    }
    x.contiguous()?.apply_op1(LeakyRelu {
        slope: slope as f32,
    })
}

/// LeakyReLU of slope `slope`; as a [`CustomOp2`], its backward pass `(dy, x) -> dx` (`x` may be the
/// output instead where `slope >= 0`: it is positive where the input was).
/// Fails unless `slope` suits a leaky ReLU fused into the op before it: a number >= 0 (the fused backward
/// passes take the mask from the output, which a negative slope would flip).
pub(crate) fn check_fused_slope(what: &str, slope: f64) -> Result<()> {
    if !(slope >= 0.0 && slope.is_finite()) {
        candle_core::bail!("{what}: the leaky ReLU slope must be a number >= 0, got {slope}");
    }
    Ok(())
}

/// `y`, then a leaky ReLU of slope `slope` as an op of its own (1: none, 0: a ReLU): what the fused ops
/// compose off the CPU, and inference after batch norm's running statistics.
pub(crate) fn then_leaky_relu(y: Tensor, slope: f64) -> Result<Tensor> {
    match slope {
        1.0 => Ok(y),
        0.0 => y.relu(),
        _ => leaky_relu(&y, slope),
    }
}

#[derive(Clone, Copy)]
pub(crate) struct LeakyRelu {
    pub(crate) slope: f32,
}

impl CustomOp1 for LeakyRelu {
    fn name(&self) -> &'static str {
        "glassbox-leaky-relu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice("leaky_relu input", s, l)?;
        Ok((
            CpuStorage::F32(activation::leaky_relu(x, self.slope)),
            l.shape().clone(),
        ))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op2_no_bwd(x, self)?))
    }
}

/// The backward pass: `(dy, x) -> dx`.
impl CustomOp2 for LeakyRelu {
    fn name(&self) -> &'static str {
        "glassbox-leaky-relu-backward"
    }

    fn cpu_fwd(
        &self,
        gs: &CpuStorage,
        gl: &Layout,
        xs: &CpuStorage,
        xl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dy = f32_slice("leaky_relu gradient", gs, gl)?;
        let x = f32_slice("leaky_relu input", xs, xl)?;
        Ok((
            CpuStorage::F32(activation::leaky_relu_backward(x, dy, self.slope)),
            gl.shape().clone(),
        ))
    }
}
