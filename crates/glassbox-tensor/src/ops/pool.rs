//! `max_pool2d` on candle tensors: the fast CPU kernel with its backward pass; elsewhere candle's ops,
//! with each window's maximum gathered by index so that the gradient is the CPU kernel's (candle's own
//! `max_pool2d` backward is wrong; see `device_max_pool2d` in the source).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

use super::conv2d::uses_fast_path;
use crate::kernels::pool::{max_pool_backward, max_pool_forward, PoolGeometry};
use crate::kernels::storage::f32_slice;

/// Max pooling of `x: (N, C, H, W)` over `kernel x kernel` windows moved by `stride`, no padding.
pub fn max_pool2d(x: &Tensor, kernel: usize, stride: usize) -> Result<Tensor> {
    let (n, c, _, _) = x.dims4()?;
    let (geometry, _) = pool_geometry(x, kernel, stride)?;
    if !uses_fast_path(x) {
        return device_max_pool2d(x, kernel, stride);
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
        let y = device_max_pool2d(v.as_tensor(), kernel, stride)?;
        let grads = (y * grad.detach())?.sum_all()?.backward()?;
        return grads
            .get(v.as_tensor())
            .cloned()
            .ok_or_else(|| candle_core::Error::Msg("max_pool2d backward: no gradient".into()));
    }
    x.contiguous()?
        .apply_op2_no_bwd(&grad.contiguous()?, &MaxPoolBackward { geometry })
}

/// Max pooling from candle's ops, for tensors off the CPU (or not f32), with the CPU kernel's gradient.
///
/// candle's own `max_pool2d` is not used: its backward pass scales the gradient by one over the window's
/// area (a quarter of the true gradient under 2x2 pooling, measured against the CPU kernel), spreads it
/// with a nearest-neighbour upsampling that lands on the wrong positions when the windows leave a ragged
/// edge (a 9x8 input under 2x2), and does not exist when the window and the stride differ. Here each
/// window offset is gathered as a view, the offsets are stacked, and the largest is picked by index, so
/// the gradient goes to one input per window, as in the CPU kernel and PyTorch.
fn device_max_pool2d(x: &Tensor, kernel: usize, stride: usize) -> Result<Tensor> {
    let (_, (oh, ow)) = pool_geometry(x, kernel, stride)?;
    let (n, c, h, w) = x.dims4()?;
    // Pad to whole multiples of the stride so that row `r + stride * i` is index `[i, r]` of a reshape;
    // the windows never reach the padding.
    let rows = (h + stride).div_ceil(stride) * stride;
    let cols = (w + stride).div_ceil(stride) * stride;
    let padded = x
        .pad_with_zeros(2, 0, rows - h)?
        .pad_with_zeros(3, 0, cols - w)?;
    let blocks = padded.reshape((n, c, rows / stride, stride, cols / stride, stride))?;
    let mut offsets = Vec::with_capacity(kernel * kernel);
    for di in 0..kernel {
        for dj in 0..kernel {
            let window = blocks
                .narrow(2, di / stride, oh)?
                .narrow(3, di % stride, 1)?
                .narrow(4, dj / stride, ow)?
                .narrow(5, dj % stride, 1)?;
            offsets.push(window.reshape((n, c, oh, ow))?);
        }
    }
    let stacked = Tensor::stack(&offsets, 4)?;
    let largest = stacked.argmax_keepdim(4)?;
    stacked.gather(&largest, 4)?.squeeze(4)
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

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// The forward values and the input gradient of `sum(pool(x) * r)`.
    fn pooled_and_gradient(
        pool: impl Fn(&Tensor) -> Result<Tensor>,
        x: &Tensor,
        r: &Tensor,
    ) -> (Vec<f32>, Vec<f32>) {
        let v = Var::from_tensor(x).unwrap();
        let y = pool(v.as_tensor()).unwrap();
        let grads = (&y * r).unwrap().sum_all().unwrap().backward().unwrap();
        let dx = grads.get(v.as_tensor()).unwrap();
        (
            y.flatten_all().unwrap().to_vec1().unwrap(),
            dx.flatten_all().unwrap().to_vec1().unwrap(),
        )
    }

    /// The candle-ops path that runs off the CPU gives the CPU kernel's values and gradient, also where
    /// the windows leave a ragged edge (9x8 under 2x2) and where they overlap (3x3, stride 2): the cases
    /// candle's own backward gets wrong or refuses.
    #[test]
    fn the_device_path_matches_the_cpu_kernel() {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (2, 3, 9, 8), &dev).unwrap();
        for (kernel, stride) in [(2, 2), (3, 2), (3, 3), (2, 3), (1, 1)] {
            let (_, (oh, ow)) = pool_geometry(&x, kernel, stride).unwrap();
            let r = Tensor::randn(0f32, 1.0, (2, 3, oh, ow), &dev).unwrap();
            let (y_fast, dx_fast) = pooled_and_gradient(|t| max_pool2d(t, kernel, stride), &x, &r);
            let (y_dev, dx_dev) =
                pooled_and_gradient(|t| device_max_pool2d(t, kernel, stride), &x, &r);
            assert_eq!(y_fast, y_dev, "forward, kernel {kernel} stride {stride}");
            assert_eq!(dx_fast, dx_dev, "gradient, kernel {kernel} stride {stride}");
        }
    }
}
