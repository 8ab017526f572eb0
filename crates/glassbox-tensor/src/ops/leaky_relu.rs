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
