//! `conv_transpose2d` on candle tensors (decoders and generators). A transposed convolution is the
//! input gradient of an ordinary convolution, so it runs the same kernels: forward = the convolution's
//! backward-input pass (Winograd or GEMM + col2im), input gradient = the forward convolution, weight
//! gradient = the convolution's weight gradient with the roles of input and output gradient swapped.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

use super::conv2d::{uses_fast_path, BackwardWeight};
use crate::kernels::bias::channel_sums;
use crate::kernels::conv2d::{
    conv2d_forward, conv2d_forward_and_backward_weight, conv_transpose_forward, ConvGeometry,
    Epilogue,
};
use crate::kernels::storage::f32_slice;

/// Padding, output padding, stride and dilation of a transposed convolution (both spatial axes), as in
/// `candle_nn::ConvTranspose2dConfig` and PyTorch's `ConvTranspose2d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvTransposeParams {
    /// Zeros removed from each side of the output (PyTorch's meaning).
    pub padding: usize,
    /// Extra rows and columns at the bottom and right of the output, to pick one of the `stride`
    /// output sizes that all map back to the same input size. Must be below `stride` or `dilation`.
    pub output_padding: usize,
    /// Stride, both axes.
    pub stride: usize,
    /// Dilation, both axes.
    pub dilation: usize,
}

impl Default for ConvTransposeParams {
    fn default() -> Self {
        ConvTransposeParams {
            padding: 0,
            output_padding: 0,
            stride: 1,
            dilation: 1,
        }
    }
}

/// `conv_transpose2d(x, w) + bias` for `x: (N, C, H, W)`, `w: (C, M, kh, kw)`, `bias: (M)`; the output
/// is `(N, M, (H-1) stride - 2 padding + dilation (kh-1) + output_padding + 1, ...)`.
pub fn conv_transpose2d(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    params: ConvTransposeParams,
) -> Result<Tensor> {
    let geometry = geometry(x, w, params)?;
    if !(uses_fast_path(x) && uses_fast_path(w) && bias.is_none_or(uses_fast_path)) {
        return reference_conv_transpose2d(x, w, bias, params);
    }
    let op = ConvTransposeOp { geometry };
    let (x, w) = (x.contiguous()?, w.contiguous()?);
    match bias {
        // The bias inside the op: candle's broadcast add and, backward, its sum over batch and pixels
        // took a quarter of the DCGAN generator's two layers (`kernels_bench --case conv_transpose_train`).
        Some(b) => {
            if b.dims() != [geometry.in_channels] {
                candle_core::bail!(
                    "conv_transpose2d: bias shape {:?}, expected [{}]",
                    b.dims(),
                    geometry.in_channels
                );
            }
            x.apply_op3(&w, &b.contiguous()?, op)
        }
        None => x.apply_op2(&w, op),
    }
}

/// candle's own transposed convolution and bias.
pub fn reference_conv_transpose2d(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    p: ConvTransposeParams,
) -> Result<Tensor> {
    let y = x.conv_transpose2d(w, p.padding, p.output_padding, p.stride, p.dilation)?;
    match bias {
        Some(b) => y.broadcast_add(&b.reshape((1, (), 1, 1))?),
        None => Ok(y),
    }
}

/// The convolution whose input gradient this transposed convolution is: its input is our output and
/// its output is our input.
fn geometry(x: &Tensor, w: &Tensor, p: ConvTransposeParams) -> Result<ConvGeometry> {
    let (batch, channels, height, width) = x.dims4().map_err(|_| {
        candle_core::Error::Msg(format!(
            "conv_transpose2d: input shape {:?}, expected (N, C, H, W)",
            x.dims()
        ))
    })?;
    let (wc, out_channels, kernel_h, kernel_w) = w.dims4().map_err(|_| {
        candle_core::Error::Msg(format!(
            "conv_transpose2d: weight shape {:?}, expected (C, M, kh, kw)",
            w.dims()
        ))
    })?;
    if wc != channels {
        candle_core::bail!(
            "conv_transpose2d: the input has {channels} channels but the weight expects {wc}"
        );
    }
    if p.stride == 0
        || p.dilation == 0
        || kernel_h == 0
        || kernel_w == 0
        || height == 0
        || width == 0
    {
        candle_core::bail!(
            "conv_transpose2d: stride, dilation, kernel and input must be non-empty"
        );
    }
    if p.output_padding >= p.stride.max(p.dilation) {
        candle_core::bail!(
            "conv_transpose2d: output_padding {} must be smaller than stride {} or dilation {}",
            p.output_padding,
            p.stride,
            p.dilation
        );
    }
    let size = |n: usize, k: usize| {
        ((n - 1) * p.stride + p.dilation * (k - 1) + p.output_padding + 1)
            .checked_sub(2 * p.padding)
    };
    let (Some(oh), Some(ow)) = (size(height, kernel_h), size(width, kernel_w)) else {
        candle_core::bail!(
            "conv_transpose2d: padding {} leaves no output for a {height}x{width} input and a {kernel_h}x{kernel_w} kernel",
            p.padding
        );
    };
    let g = ConvGeometry {
        batch,
        in_channels: out_channels,
        height: oh,
        width: ow,
        out_channels: channels,
        kernel_h,
        kernel_w,
        padding: p.padding,
        stride: p.stride,
        dilation: p.dilation,
    };
    if g.output_hw() != Some((height, width)) || oh == 0 || ow == 0 {
        candle_core::bail!(
            "conv_transpose2d: a {kernel_h}x{kernel_w} kernel with padding {} does not map a {height}x{width} input to a {oh}x{ow} output",
            p.padding
        );
    }
    Ok(g)
}

struct ConvTransposeOp {
    geometry: ConvGeometry,
}

impl ConvTransposeOp {
    /// The output, plus `bias` per channel.
    fn forward(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        bias: Option<&[f32]>,
    ) -> Result<(CpuStorage, Shape)> {
        let g = &self.geometry;
        let y = conv_transpose_forward(
            f32_slice("conv_transpose2d input", xs, xl)?,
            f32_slice("conv_transpose2d weight", ws, wl)?,
            bias.unwrap_or(&[]),
            g,
        );
        Ok((
            CpuStorage::F32(y),
            Shape::from((g.batch, g.in_channels, g.height, g.width)),
        ))
    }

    /// The input and weight gradients, each where it is tracked.
    fn gradients(
        &self,
        x: &Tensor,
        w: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = self.geometry;
        if x.track_op() && w.track_op() && !crate::kernels::winograd::applies(&g) {
            // Both from one lowering of the output gradient.
            let both = grad.apply_op3_no_bwd(x, w, &BothGradients { geometry: g })?;
            let dx_len = g.output_len();
            return Ok((
                Some(both.narrow(0, 0, dx_len)?.reshape(x.shape())?),
                Some(both.narrow(0, dx_len, g.weight_len())?.reshape(w.shape())?),
            ));
        }
        let dx = if x.track_op() {
            Some(grad.apply_op2_no_bwd(w, &PlainConv { geometry: g })?)
        } else {
            None
        };
        let dw = if w.track_op() {
            let both = grad.apply_op2_no_bwd(x, &BackwardWeight { geometry: g })?;
            Some(both.narrow(0, 0, g.weight_len())?.reshape(w.shape())?)
        } else {
            None
        };
        Ok((dx, dw))
    }
}

/// The input and weight gradients side by side, flat: [`conv2d_forward_and_backward_weight`] of the
/// output gradient (the convolution's input), our input (its output) and the weights.
struct BothGradients {
    geometry: ConvGeometry,
}

impl CustomOp3 for BothGradients {
    fn name(&self) -> &'static str {
        "glassbox-conv-transpose2d-backward"
    }

    fn cpu_fwd(
        &self,
        gs: &CpuStorage,
        gl: &Layout,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let both = conv2d_forward_and_backward_weight(
            f32_slice("conv_transpose2d grad", gs, gl)?,
            f32_slice("conv_transpose2d weight", ws, wl)?,
            f32_slice("conv_transpose2d input", xs, xl)?,
            &self.geometry,
        );
        let len = both.len();
        Ok((CpuStorage::F32(both), Shape::from(len)))
    }
}

impl CustomOp2 for ConvTransposeOp {
    fn name(&self) -> &'static str {
        "glassbox-conv-transpose2d"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.forward(xs, xl, ws, wl, None)
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        self.gradients(x, w, &grad.contiguous()?)
    }
}

impl CustomOp3 for ConvTransposeOp {
    fn name(&self) -> &'static str {
        "glassbox-conv-transpose2d-bias"
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
        let bias = f32_slice("conv_transpose2d bias", bs, bl)?;
        self.forward(xs, xl, ws, wl, Some(bias))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let (dx, dw) = self.gradients(x, w, &grad)?;
        let db = if b.track_op() {
            let g = &self.geometry;
            let (gs, gl) = grad.storage_and_layout();
            let candle_core::Storage::Cpu(gs) = &*gs else {
                candle_core::bail!("conv_transpose2d: the fast path runs on the CPU only");
            };
            let sums = channel_sums(
                f32_slice("conv_transpose2d grad", gs, gl)?,
                g.in_channels,
                g.height * g.width,
            );
            Some(Tensor::from_vec(sums, b.shape(), b.device())?)
        } else {
            None
        };
        Ok((dx, dw, db))
    }
}

/// The ordinary convolution without bias: the input gradient of the transposed one.
struct PlainConv {
    geometry: ConvGeometry,
}

impl CustomOp2 for PlainConv {
    fn name(&self) -> &'static str {
        "glassbox-conv-transpose2d-backward-input"
    }

    fn cpu_fwd(
        &self,
        gs: &CpuStorage,
        gl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = &self.geometry;
        let gy = f32_slice("conv_transpose2d grad", gs, gl)?;
        let w = f32_slice("conv_transpose2d weight", ws, wl)?;
        let dx = conv2d_forward(gy, w, &[], g, Epilogue::None);
        let (h, wd) = g.output_hw().expect("checked geometry");
        Ok((
            CpuStorage::F32(dx),
            Shape::from((g.batch, g.out_channels, h, wd)),
        ))
    }
}
