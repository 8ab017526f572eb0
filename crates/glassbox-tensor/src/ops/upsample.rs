//! Nearest-neighbour upsampling on candle tensors: the fast CPU kernel with its backward pass, candle's
//! `upsample_nearest2d` elsewhere.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

use super::conv2d::uses_fast_path;
use crate::kernels::storage::f32_slice;
use crate::kernels::upsample::{upsample_nearest_backward, upsample_nearest_forward};

/// `x: (N, C, H, W) -> (N, C, H scale, W scale)`, each pixel repeated in a `scale x scale` block.
pub fn upsample_nearest2d(x: &Tensor, scale: usize) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    if scale == 0 {
        candle_core::bail!("upsample_nearest2d: the scale factor must be at least 1");
    }
    if !uses_fast_path(x) {
        return x.upsample_nearest2d(h * scale, w * scale);
    }
    x.contiguous()?.apply_op1(Upsample {
        dims: (n, c, h, w),
        scale,
    })
}

struct Upsample {
    dims: (usize, usize, usize, usize),
    scale: usize,
}

impl CustomOp1 for Upsample {
    fn name(&self) -> &'static str {
        "glassbox-upsample-nearest2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = self.dims;
        let x = f32_slice("upsample_nearest2d input", s, l)?;
        let y = upsample_nearest_forward(x, h, w, self.scale);
        Ok((
            CpuStorage::F32(y),
            Shape::from((n, c, h * self.scale, w * self.scale)),
        ))
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let op = UpsampleBackward {
            dims: self.dims,
            scale: self.scale,
        };
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(&op)?))
    }
}

struct UpsampleBackward {
    dims: (usize, usize, usize, usize),
    scale: usize,
}

impl CustomOp1 for UpsampleBackward {
    fn name(&self) -> &'static str {
        "glassbox-upsample-nearest2d-backward"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = self.dims;
        let gy = f32_slice("upsample_nearest2d grad", s, l)?;
        let dx = upsample_nearest_backward(gy, h, w, self.scale);
        Ok((CpuStorage::F32(dx), Shape::from((n, c, h, w))))
    }
}
