//! `max_pool2d` on candle tensors: the fast CPU kernel with its backward pass, candle's op elsewhere.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

use super::conv2d::uses_fast_path;
use crate::kernels::pool::{max_pool_backward, max_pool_forward, PoolGeometry};
use crate::kernels::storage::f32_slice;

/// Max pooling of `x: (N, C, H, W)` over `kernel x kernel` windows moved by `stride`, no padding.
pub fn max_pool2d(x: &Tensor, kernel: usize, stride: usize) -> Result<Tensor> {
    let (n, c, _, _) = x.dims4()?;
    let (geometry, _) = pool_geometry(x, kernel, stride)?;
    if !uses_fast_path(x) {
        return x.max_pool2d_with_stride(kernel, stride);
    }
    x.contiguous()?.apply_op1(MaxPool {
        geometry,
        shape: (n, c),
    })
}

/// The gradient of [`max_pool2d`] with respect to its input `x`, from the gradient of its output, for a
/// backward pass driven by hand (no graph is recorded): each window's gradient goes to its largest input.
pub fn max_pool2d_backward(
    x: &Tensor,
    grad: &Tensor,
    kernel: usize,
    stride: usize,
) -> Result<Tensor> {
    let (n, c, _, _) = x.dims4()?;
    let (geometry, (oh, ow)) = pool_geometry(x, kernel, stride)?;
    if grad.dims4()? != (n, c, oh, ow) {
        candle_core::bail!(
            "max_pool2d backward: grad {:?}, expected {:?}",
            grad.dims(),
            (n, c, oh, ow)
        );
    }
    if !(uses_fast_path(x) && uses_fast_path(grad)) {
        let v = candle_core::Var::from_tensor(x)?;
        let y = v.as_tensor().max_pool2d_with_stride(kernel, stride)?;
        let grads = (y * grad.detach())?.sum_all()?.backward()?;
        return grads
            .get(v.as_tensor())
            .cloned()
            .ok_or_else(|| candle_core::Error::Msg("max_pool2d backward: no gradient".into()));
    }
    x.contiguous()?
        .apply_op2_no_bwd(&grad.contiguous()?, &MaxPoolBackward { geometry })
}

/// The kernel's geometry for `x: (N, C, H, W)` and the output's height and width, or an error when the
/// window does not fit.
fn pool_geometry(
    x: &Tensor,
    kernel: usize,
    stride: usize,
) -> Result<(PoolGeometry, (usize, usize))> {
    let (n, c, height, width) = x.dims4()?;
    let geometry = PoolGeometry {
        planes: n * c,
        height,
        width,
        kernel,
        stride,
    };
    match geometry.output_hw() {
        Some(hw) => Ok((geometry, hw)),
        None => candle_core::bail!("max_pool2d: a {kernel}x{kernel} window with stride {stride} does not fit a {height}x{width} input"),
    }
}

struct MaxPool {
    geometry: PoolGeometry,
    shape: (usize, usize),
}

impl MaxPool {
    fn out_shape(&self) -> Shape {
        let (oh, ow) = self.geometry.output_hw().expect("checked geometry");
        Shape::from((self.shape.0, self.shape.1, oh, ow))
    }
}

impl CustomOp1 for MaxPool {
    fn name(&self) -> &'static str {
        "glassbox-max-pool2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let y = max_pool_forward(f32_slice("max_pool2d input", s, l)?, &self.geometry);
        Ok((CpuStorage::F32(y), self.out_shape()))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let op = MaxPoolBackward {
            geometry: self.geometry,
        };
        Ok(Some(x.apply_op2_no_bwd(&grad.contiguous()?, &op)?))
    }
}

struct MaxPoolBackward {
    geometry: PoolGeometry,
}

impl CustomOp2 for MaxPoolBackward {
    fn name(&self) -> &'static str {
        "glassbox-max-pool2d-backward"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dx = max_pool_backward(
            f32_slice("max_pool2d input", xs, xl)?,
            f32_slice("max_pool2d grad", gs, gl)?,
            &self.geometry,
        );
        Ok((CpuStorage::F32(dx), xl.shape().clone()))
    }
}
