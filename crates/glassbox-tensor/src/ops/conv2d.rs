//! `conv2d` on candle tensors: the fast CPU kernel with its backward pass, candle's own op elsewhere.

use std::sync::Mutex;

use candle_core::{
    CpuStorage, CustomOp2, CustomOp3, DType, Device, Layout, Result, Shape, Storage, Tensor,
};

use super::leaky_relu::{check_fused_slope, then_leaky_relu};
use crate::kernels::activation;
use crate::kernels::conv2d::{
    conv2d_backward_input, conv2d_backward_input_through_relu_prepacked, conv2d_backward_weight,
    conv2d_forward_prepacked, relu_mask, ConvGeometry, Epilogue,
};
use crate::kernels::conv_pool::{conv2d_relu_pool_forward, pooled_hw, unpool_relu_grad};
use crate::kernels::storage::f32_slice;

/// Padding, stride and dilation of a convolution (both spatial axes), as in `candle_nn::Conv2dConfig`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvParams {
    /// Zeros on each side, both axes.
    pub padding: usize,
    /// Stride, both axes.
    pub stride: usize,
    /// Dilation, both axes.
    pub dilation: usize,
}

impl Default for ConvParams {
    fn default() -> Self {
        ConvParams {
            padding: 0,
            stride: 1,
            dilation: 1,
        }
    }
}

/// Whether a tensor goes through the fast kernels: f32 on the CPU. Everything else uses candle's ops.
pub fn uses_fast_path(t: &Tensor) -> bool {
    matches!(t.device(), Device::Cpu) && t.dtype() == DType::F32
}

/// `relu?(conv2d(x, w) + bias)` for `x: (N, C, H, W)`, `w: (M, C, kh, kw)`, `bias: (M)`.
///
/// On CPU f32 tensors this is one fused kernel with its own backward pass (gradients for whichever of
/// `x`, `w`, `bias` are tracked); elsewhere it is candle's `conv2d`, `broadcast_add` and `relu`, which
/// also serve as the reference in the tests.
pub fn conv2d(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    params: ConvParams,
    relu: bool,
) -> Result<Tensor> {
    tracked_conv2d(x, w, bias, params, relu, None)
}

/// [`conv2d`], then a leaky ReLU of slope `leaky` where given: one op with its backward pass on CPU f32
/// tensors, candle's composition elsewhere.
fn tracked_conv2d(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    params: ConvParams,
    relu: bool,
    leaky: Option<f64>,
) -> Result<Tensor> {
    let geometry = geometry(x, w, params)?;
    if !(uses_fast_path(x) && uses_fast_path(w) && bias.is_none_or(uses_fast_path)) {
        let y = reference_conv2d(x, w, bias, params, relu)?;
        return match leaky {
            Some(slope) => then_leaky_relu(y, slope),
            None => Ok(y),
        };
    }
    let epilogue = match (bias.is_some(), relu) {
        (false, false) => Epilogue::None,
        (_, true) => Epilogue::BiasRelu,
        (true, false) => Epilogue::Bias,
    };
    x.contiguous()?.apply_op3(
        &w.contiguous()?,
        &checked_bias(bias, &geometry, x)?,
        Conv2dOp {
            geometry,
            epilogue,
            leaky: leaky.map(|slope| slope as f32),
            prepacked: None,
        },
    )
}

/// The bias as the op takes it: contiguous, of one value per output channel, zeros for none.
fn checked_bias(bias: Option<&Tensor>, geometry: &ConvGeometry, x: &Tensor) -> Result<Tensor> {
    match bias {
        Some(b) => {
            if b.dims() != [geometry.out_channels] {
                candle_core::bail!(
                    "conv2d: bias shape {:?}, expected [{}]",
                    b.dims(),
                    geometry.out_channels
                );
            }
            b.contiguous()
        }
        None => Tensor::zeros(geometry.out_channels, DType::F32, x.device()),
    }
}

/// `leaky_relu(conv2d(x, w) + bias, slope)` (the DCGAN discriminator's first layer, slope 0.2): on CPU
/// f32 tensors one op, whose backward pass carries the gradient through the activation as
/// [`conv2d`]'s does through its ReLU, with no node of its own in the graph (a separate activation had
/// cost a full-size gradient buffer, zeroed and added to, in candle's backward pass).
pub fn conv2d_leaky_relu(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    params: ConvParams,
    slope: f64,
) -> Result<Tensor> {
    check_fused_slope("conv2d_leaky_relu", slope)?;
    tracked_conv2d(x, w, bias, params, false, Some(slope))
}

/// A 3x3 convolution's filters transformed once for Winograd, forward and for the input gradient (see
/// [`crate::kernels::winograd::Prepacked`]), for [`conv2d_relu_frozen`] and
/// [`conv2d_relu_input_gradient`] on a frozen network.
pub struct PrepackedFilters(crate::kernels::winograd::Prepacked);

impl PrepackedFilters {
    /// `None` where there is nothing to prepack: not 3x3 filters, or not CPU f32.
    pub fn new(w: &Tensor) -> Result<Option<Self>> {
        let (m, c, kh, kw) = w.dims4()?;
        if (kh, kw) != (3, 3) || !uses_fast_path(w) {
            return Ok(None);
        }
        let values: Vec<f32> = w.flatten_all()?.to_vec1()?;
        Ok(Some(PrepackedFilters(
            crate::kernels::winograd::Prepacked::new(&values, m, c),
        )))
    }
}

/// `relu(conv2d(x, w) + bias)` for a frozen network: no graph is recorded, and `prepacked` (made from
/// this `w`) saves the filter transform where Winograd runs.
pub fn conv2d_relu_frozen(
    x: &Tensor,
    w: &Tensor,
    bias: &Tensor,
    params: ConvParams,
    prepacked: Option<&PrepackedFilters>,
) -> Result<Tensor> {
    let geometry = geometry(x, w, params)?;
    if !(uses_fast_path(x) && uses_fast_path(w) && uses_fast_path(bias)) {
        return reference_conv2d(&x.detach(), &w.detach(), Some(&bias.detach()), params, true);
    }
    x.contiguous()?.apply_op3_no_bwd(
        &w.contiguous()?,
        &bias.contiguous()?,
        &Conv2dOp {
            geometry,
            epilogue: Epilogue::BiasRelu,
            leaky: None,
            prepacked: prepacked.map(|p| &p.0),
        },
    )
}

/// The input gradient of `relu(conv2d(x, w) + bias)` from its output `y` and the gradient `grad` of that
/// output, for a frozen network whose backward pass is driven by hand (no graph is recorded, and nothing
/// is computed for the weights). `input_dims` is `x`'s shape; `prepacked`, made from this `w`, saves
/// the filter transform where Winograd runs. On CPU f32 tensors this is the kernel the fused
/// convolution's own backward pass uses (the ReLU mask applied inside it); elsewhere candle's transposed
/// convolution of the masked gradient.
pub fn conv2d_relu_input_gradient(
    grad: &Tensor,
    y: &Tensor,
    w: &Tensor,
    input_dims: (usize, usize, usize, usize),
    params: ConvParams,
    prepacked: Option<&PrepackedFilters>,
) -> Result<Tensor> {
    let g = geometry_of(input_dims, w, params)?;
    let (oh, ow) = g.output_hw().expect("checked geometry");
    let out = (g.batch, g.out_channels, oh, ow);
    if grad.dims4()? != out || y.dims4()? != out {
        candle_core::bail!(
            "conv2d input gradient: grad {:?} and output {:?}, expected {out:?}",
            grad.dims(),
            y.dims()
        );
    }
    if !(uses_fast_path(grad) && uses_fast_path(y) && uses_fast_path(w)) {
        let masked = (grad * y.gt(0f64)?.to_dtype(grad.dtype())?)?;
        return masked.conv_transpose2d(w, params.padding, 0, params.stride, params.dilation);
    }
    grad.contiguous()?.apply_op3_no_bwd(
        &y.contiguous()?,
        &w.contiguous()?,
        &BackwardInputThroughRelu {
            geometry: g,
            prepacked: prepacked.map(|p| &p.0),
        },
    )
}

/// candle's own convolution, bias and ReLU.
pub fn reference_conv2d(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    params: ConvParams,
    relu: bool,
) -> Result<Tensor> {
    let mut y = x.conv2d(w, params.padding, params.stride, params.dilation, 1)?;
    if let Some(b) = bias {
        y = y.broadcast_add(&b.reshape((1, (), 1, 1))?)?;
    }
    if relu {
        y = y.relu()?;
    }
    Ok(y)
}

fn geometry(x: &Tensor, w: &Tensor, p: ConvParams) -> Result<ConvGeometry> {
    let dims = x.dims4().map_err(|_| {
        candle_core::Error::Msg(format!(
            "conv2d: input shape {:?}, expected (N, C, H, W)",
            x.dims()
        ))
    })?;
    geometry_of(dims, w, p)
}

fn geometry_of(
    (batch, in_channels, height, width): (usize, usize, usize, usize),
    w: &Tensor,
    p: ConvParams,
) -> Result<ConvGeometry> {
    let (out_channels, wc, kernel_h, kernel_w) = w.dims4().map_err(|_| {
        candle_core::Error::Msg(format!(
            "conv2d: weight shape {:?}, expected (M, C, kh, kw)",
            w.dims()
        ))
    })?;
    if wc != in_channels {
        candle_core::bail!(
            "conv2d: the input has {in_channels} channels but the weight expects {wc}"
        );
    }
    let g = ConvGeometry {
        batch,
        in_channels,
        height,
        width,
        out_channels,
        kernel_h,
        kernel_w,
        padding: p.padding,
        stride: p.stride,
        dilation: p.dilation,
    };
    if g.output_hw().is_none() {
        candle_core::bail!(
            "conv2d: a {kernel_h}x{kernel_w} kernel (dilation {}, stride {}) does not fit a {height}x{width} input with padding {}",
            p.dilation,
            p.stride,
            p.padding
        );
    }
    Ok(g)
}

fn output_shape(g: &ConvGeometry) -> Shape {
    let (oh, ow) = g.output_hw().expect("checked geometry");
    Shape::from((g.batch, g.out_channels, oh, ow))
}

/// The convolution; `prepacked` filters only where no graph is recorded (`apply_op3_no_bwd`), since
/// they are borrowed.
struct Conv2dOp<'a> {
    geometry: ConvGeometry,
    epilogue: Epilogue,
    /// A leaky ReLU of this slope after the epilogue.
    leaky: Option<f32>,
    prepacked: Option<&'a crate::kernels::winograd::Prepacked>,
}

impl CustomOp3 for Conv2dOp<'_> {
    fn name(&self) -> &'static str {
        "glassbox-conv2d"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice("conv2d input", xs, xl)?;
        let w = f32_slice("conv2d weight", ws, wl)?;
        let b = f32_slice("conv2d bias", bs, bl)?;
        let mut y =
            conv2d_forward_prepacked(x, w, self.prepacked, b, &self.geometry, self.epilogue);
        if let Some(slope) = self.leaky {
            activation::leaky_relu_in_place(&mut y, slope);
        }
        Ok((CpuStorage::F32(y), output_shape(&self.geometry)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        bias: &Tensor,
        y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let g = self.geometry;
        let need_w = w.track_op();
        let need_b = self.epilogue != Epilogue::None && bias.track_op();
        if self.epilogue == Epilogue::BiasRelu && !need_w && !need_b {
            // Only the input gradient (a frozen network, e.g. VGG in style transfer): the ReLU mask is
            // applied inside the backward kernel instead of as a separate pass.
            let dx = if x.track_op() {
                let op = BackwardInputThroughRelu {
                    geometry: g,
                    prepacked: None,
                };
                Some(grad.apply_op3_no_bwd(&y.contiguous()?, w, &op)?)
            } else {
                None
            };
            return Ok((dx, None, None));
        }
        let grad = if let Some(slope) = self.leaky {
            // The output is positive where the input was (slope >= 0).
            grad.apply_op2_no_bwd(&y.contiguous()?, &super::leaky_relu::LeakyRelu { slope })?
        } else if self.epilogue == Epilogue::BiasRelu {
            grad.apply_op2_no_bwd(&y.contiguous()?, &ReluMask)?
        } else {
            grad
        };
        let dx = if x.track_op() {
            Some(grad.apply_op2_no_bwd(w, &BackwardInput { geometry: g })?)
        } else {
            None
        };
        let (mut dw, mut db) = (None, None);
        if need_w || need_b {
            let both = x.apply_op2_no_bwd(&grad, &BackwardWeight { geometry: g })?;
            if need_w {
                dw = Some(both.narrow(0, 0, g.weight_len())?.reshape(w.shape())?);
            }
            if need_b {
                db = Some(both.narrow(0, g.weight_len(), g.out_channels)?);
            }
        }
        Ok((dx, dw, db))
    }
}

/// `grad * (y > 0)`.
struct ReluMask;

impl CustomOp2 for ReluMask {
    fn name(&self) -> &'static str {
        "glassbox-relu-mask"
    }

    fn cpu_fwd(
        &self,
        gs: &CpuStorage,
        gl: &Layout,
        ys: &CpuStorage,
        yl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let out = relu_mask(
            f32_slice("relu grad", gs, gl)?,
            f32_slice("relu output", ys, yl)?,
        );
        Ok((CpuStorage::F32(out), gl.shape().clone()))
    }
}

pub(crate) struct BackwardInput {
    pub(crate) geometry: ConvGeometry,
}

impl CustomOp2 for BackwardInput {
    fn name(&self) -> &'static str {
        "glassbox-conv2d-backward-input"
    }

    fn cpu_fwd(
        &self,
        gs: &CpuStorage,
        gl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = &self.geometry;
        let dx = conv2d_backward_input(
            f32_slice("conv2d grad", gs, gl)?,
            f32_slice("conv2d weight", ws, wl)?,
            g,
        );
        Ok((
            CpuStorage::F32(dx),
            Shape::from((g.batch, g.in_channels, g.height, g.width)),
        ))
    }
}

struct BackwardInputThroughRelu<'a> {
    geometry: ConvGeometry,
    prepacked: Option<&'a crate::kernels::winograd::Prepacked>,
}

impl CustomOp3 for BackwardInputThroughRelu<'_> {
    fn name(&self) -> &'static str {
        "glassbox-conv2d-relu-backward-input"
    }

    fn cpu_fwd(
        &self,
        gs: &CpuStorage,
        gl: &Layout,
        ys: &CpuStorage,
        yl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = &self.geometry;
        let dx = conv2d_backward_input_through_relu_prepacked(
            f32_slice("conv2d grad", gs, gl)?,
            f32_slice("conv2d output", ys, yl)?,
            f32_slice("conv2d weight", ws, wl)?,
            self.prepacked,
            g,
        );
        Ok((
            CpuStorage::F32(dx),
            Shape::from((g.batch, g.in_channels, g.height, g.width)),
        ))
    }
}

pub(crate) struct BackwardWeight {
    pub(crate) geometry: ConvGeometry,
}

impl CustomOp2 for BackwardWeight {
    fn name(&self) -> &'static str {
        "glassbox-conv2d-backward-weight"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = &self.geometry;
        let both = conv2d_backward_weight(
            f32_slice("conv2d input", xs, xl)?,
            f32_slice("conv2d grad", gs, gl)?,
            g,
        );
        let len = both.len();
        Ok((CpuStorage::F32(both), Shape::from(len)))
    }
}

/// `max_pool(relu(conv2d(x, w) + bias), pool)` with window = stride = `pool`, in one pass that never
/// writes the full-size activation (see [`crate::kernels::conv_pool`]). Elsewhere: candle's ops.
pub fn conv2d_relu_pool(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    params: ConvParams,
    pool: usize,
) -> Result<Tensor> {
    let geometry = geometry(x, w, params)?;
    let Some((ph, pw)) = pooled_hw(&geometry, pool) else {
        candle_core::bail!("conv2d_relu_pool: a {pool}x{pool} pooling window does not fit the convolution's output");
    };
    if !(uses_fast_path(x) && uses_fast_path(w) && bias.is_none_or(uses_fast_path)) {
        return super::pool::max_pool2d(&reference_conv2d(x, w, bias, params, true)?, pool, pool);
    }
    let bias = match bias {
        Some(b) => {
            if b.dims() != [geometry.out_channels] {
                candle_core::bail!(
                    "conv2d: bias shape {:?}, expected [{}]",
                    b.dims(),
                    geometry.out_channels
                );
            }
            b.contiguous()?
        }
        None => Tensor::zeros(geometry.out_channels, DType::F32, x.device())?,
    };
    let op = ConvReluPoolOp {
        geometry,
        pool,
        pooled_hw: (ph, pw),
        winners: Mutex::new(Vec::new()),
    };
    x.contiguous()?.apply_op3(&w.contiguous()?, &bias, op)
}

struct ConvReluPoolOp {
    geometry: ConvGeometry,
    pool: usize,
    pooled_hw: (usize, usize),
    /// The winning position of each pooling window, from the forward pass.
    winners: Mutex<Vec<u8>>,
}

impl CustomOp3 for ConvReluPoolOp {
    fn name(&self) -> &'static str {
        "glassbox-conv2d-relu-pool"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = &self.geometry;
        let (y, winners) = conv2d_relu_pool_forward(
            f32_slice("conv2d input", xs, xl)?,
            f32_slice("conv2d weight", ws, wl)?,
            f32_slice("conv2d bias", bs, bl)?,
            g,
            self.pool,
        );
        *self.winners.lock().expect("pool winners lock") = winners;
        let (ph, pw) = self.pooled_hw;
        Ok((
            CpuStorage::F32(y),
            Shape::from((g.batch, g.out_channels, ph, pw)),
        ))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        bias: &Tensor,
        y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = self.geometry;
        let grad = grad.contiguous()?;
        let conv_grad = {
            let (gs, gl) = grad.storage_and_layout();
            let (ys, yl) = y.storage_and_layout();
            let (Storage::Cpu(gs), Storage::Cpu(ys)) = (&*gs, &*ys) else {
                candle_core::bail!("conv2d_relu_pool: the fast path runs on the CPU only");
            };
            let winners = self.winners.lock().expect("pool winners lock");
            unpool_relu_grad(
                f32_slice("pool grad", gs, gl)?,
                f32_slice("pool output", ys, yl)?,
                &winners,
                &g,
                self.pool,
            )
        };
        let (oh, ow) = g.output_hw().expect("checked geometry");
        let conv_grad = Tensor::from_vec(conv_grad, (g.batch, g.out_channels, oh, ow), x.device())?;
        let dx = if x.track_op() {
            Some(conv_grad.apply_op2_no_bwd(w, &BackwardInput { geometry: g })?)
        } else {
            None
        };
        let (mut dw, mut db) = (None, None);
        if w.track_op() || bias.track_op() {
            let both = x.apply_op2_no_bwd(&conv_grad, &BackwardWeight { geometry: g })?;
            if w.track_op() {
                dw = Some(both.narrow(0, 0, g.weight_len())?.reshape(w.shape())?);
            }
            if bias.track_op() {
                db = Some(both.narrow(0, g.weight_len(), g.out_channels)?);
            }
        }
        Ok((dx, dw, db))
    }
}
