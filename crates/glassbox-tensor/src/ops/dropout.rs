//! Seeded dropout on candle tensors.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

use super::conv2d::uses_fast_path;
use crate::kernels::storage::f32_slice;

/// Zeroes each element with probability `p` and scales the rest by `1 / (1 - p)`. The mask depends only
/// on `seed` and the element's position, so a training run is reproducible; pass a different seed each
/// step (see [`crate::nn::Dropout`]). Off the CPU, candle's own (unseeded) dropout.
pub fn dropout(x: &Tensor, p: f32, seed: u64) -> Result<Tensor> {
    if !(0.0..=1.0).contains(&p) {
        candle_core::bail!("dropout: probability {p} is outside 0..=1");
    }
    if p == 0.0 {
        return Ok(x.clone());
    }
    if !uses_fast_path(x) {
        return candle_nn::ops::dropout(x, p);
    }
    x.contiguous()?.apply_op1(Dropout { p, seed })
}

#[derive(Clone, Copy)]
struct Dropout {
    p: f32,
    seed: u64,
}

impl CustomOp1 for Dropout {
    fn name(&self) -> &'static str {
        "glassbox-dropout"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let out =
            crate::kernels::dropout::dropout(f32_slice("dropout input", s, l)?, self.p, self.seed);
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        // Linear in x with the same mask: the backward pass is the op itself.
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(self)?))
    }
}
