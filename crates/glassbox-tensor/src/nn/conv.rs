use candle_core::{Module, Result, Tensor};
use candle_nn::{Init, VarBuilder};

use crate::ops::{
    conv2d, conv_transpose2d, max_pool2d, upsample_nearest2d, ConvParams, ConvTransposeParams,
};

/// How a [`Conv2d`] is built: square kernel, the same padding/stride/dilation on both axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dConfig {
    /// Zeros on each side, both axes.
    pub padding: usize,
    /// Stride, both axes.
    pub stride: usize,
    /// Dilation, both axes.
    pub dilation: usize,
    /// Learn a bias (PyTorch's and Keras's default).
    pub bias: bool,
    /// Apply a ReLU in the same pass (and its gradient in the same backward pass).
    pub relu: bool,
}

impl Default for Conv2dConfig {
    fn default() -> Self {
        Conv2dConfig {
            padding: 0,
            stride: 1,
            dilation: 1,
            bias: true,
            relu: false,
        }
    }
}

/// A 2-D convolution `(N, C, H, W) -> (N, M, H', W')` with weights `weight: (M, C, k, k)` and
/// `bias: (M)`, optionally followed by a fused ReLU.
#[derive(Clone, Debug)]
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    params: ConvParams,
    relu: bool,
}

impl Conv2d {
    /// Reads (or creates, initialized as candle-nn does) `weight` and `bias` under `vb`.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        cfg: Conv2dConfig,
        vb: VarBuilder,
    ) -> Result<Self> {
        let weight = vb.get_with_hints(
            (out_channels, in_channels, kernel, kernel),
            "weight",
            candle_nn::init::DEFAULT_KAIMING_NORMAL,
        )?;
        let bias = if cfg.bias {
            let bound = 1.0 / ((in_channels * kernel * kernel) as f64).sqrt();
            Some(vb.get_with_hints(
                out_channels,
                "bias",
                Init::Uniform {
                    lo: -bound,
                    up: bound,
                },
            )?)
        } else {
            None
        };
        Ok(Self::from_tensors(weight, bias, cfg))
    }

    /// A layer over existing tensors: `weight` `(out, in, k, k)`, `bias` `(out)`.
    pub fn from_tensors(weight: Tensor, bias: Option<Tensor>, cfg: Conv2dConfig) -> Self {
        let params = ConvParams {
            padding: cfg.padding,
            stride: cfg.stride,
            dilation: cfg.dilation,
        };
        Conv2d {
            weight,
            bias,
            params,
            relu: cfg.relu,
        }
    }

    /// The filters, `(out, in, k, k)`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias, if it has one.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// The same layer with its weights as constants: gradients flow to the input only (a frozen network,
    /// e.g. a GAN's discriminator while the generator trains), and no weight gradient is computed.
    pub fn detached(&self) -> Self {
        Conv2d {
            weight: self.weight.detach(),
            bias: self.bias.as_ref().map(Tensor::detach),
            params: self.params,
            relu: self.relu,
        }
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        conv2d(x, &self.weight, self.bias.as_ref(), self.params, self.relu)
    }
}

impl Conv2d {
    /// The convolution followed by a leaky ReLU of slope `slope`, one op on CPU f32 tensors
    /// ([`crate::ops::conv2d_leaky_relu`]); for a layer configured without a ReLU.
    pub fn forward_leaky_relu(&self, x: &Tensor, slope: f64) -> Result<Tensor> {
        if self.relu {
            candle_core::bail!("conv2d: a leaky ReLU after a layer that already ends in a ReLU");
        }
        crate::ops::conv2d_leaky_relu(x, &self.weight, self.bias.as_ref(), self.params, slope)
    }
}

/// Max pooling over `kernel x kernel` windows with stride `stride` (no padding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPool2d {
    /// Window side.
    pub kernel: usize,
    /// Steps between windows.
    pub stride: usize,
}

impl MaxPool2d {
    /// The common non-overlapping pooling: window and stride `size`.
    pub fn new(size: usize) -> Self {
        MaxPool2d {
            kernel: size,
            stride: size,
        }
    }
}

impl Module for MaxPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        max_pool2d(x, self.kernel, self.stride)
    }
}

/// How a [`ConvTranspose2d`] is built: square kernel, the same settings on both axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvTranspose2dConfig {
    /// Zeros removed from each side of the output (PyTorch's meaning).
    pub padding: usize,
    /// Extra rows and columns at the bottom and right of the output; below `stride` or `dilation`.
    pub output_padding: usize,
    /// Stride, both axes.
    pub stride: usize,
    /// Dilation, both axes.
    pub dilation: usize,
    /// Learn a bias (PyTorch's default).
    pub bias: bool,
}

impl Default for ConvTranspose2dConfig {
    fn default() -> Self {
        ConvTranspose2dConfig {
            padding: 0,
            output_padding: 0,
            stride: 1,
            dilation: 1,
            bias: true,
        }
    }
}

/// A transposed convolution `(N, C, H, W) -> (N, M, H', W')` (decoders, generators) with
/// `weight: (C, M, k, k)` and `bias: (M)`, as PyTorch's `ConvTranspose2d` names and lays them out.
#[derive(Clone, Debug)]
pub struct ConvTranspose2d {
    weight: Tensor,
    bias: Option<Tensor>,
    params: ConvTransposeParams,
}

impl ConvTranspose2d {
    /// Reads (or creates) `weight` and `bias` under `vb`; new ones are initialized as PyTorch does
    /// (uniform in ±1/sqrt(fan_in), fan_in = M k k for a transposed convolution's weight layout).
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        cfg: ConvTranspose2dConfig,
        vb: VarBuilder,
    ) -> Result<Self> {
        let bound = 1.0 / ((out_channels * kernel * kernel) as f64).sqrt();
        let init = Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let weight =
            vb.get_with_hints((in_channels, out_channels, kernel, kernel), "weight", init)?;
        let bias = if cfg.bias {
            Some(vb.get_with_hints(out_channels, "bias", init)?)
        } else {
            None
        };
        Ok(Self::from_tensors(weight, bias, cfg))
    }

    /// A layer over existing tensors: `weight` `(in, out, k, k)` (PyTorch's layout), `bias` `(out)`.
    pub fn from_tensors(weight: Tensor, bias: Option<Tensor>, cfg: ConvTranspose2dConfig) -> Self {
        let params = ConvTransposeParams {
            padding: cfg.padding,
            output_padding: cfg.output_padding,
            stride: cfg.stride,
            dilation: cfg.dilation,
        };
        ConvTranspose2d {
            weight,
            bias,
            params,
        }
    }

    /// The filters, `(in, out, k, k)`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias, if it has one.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }
}

impl Module for ConvTranspose2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        conv_transpose2d(x, &self.weight, self.bias.as_ref(), self.params)
    }
}

/// Nearest-neighbour upsampling by an integer factor (Keras's `UpSampling2D`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpsampleNearest2d {
    /// The factor on both axes.
    pub scale: usize,
}

impl Module for UpsampleNearest2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        upsample_nearest2d(x, self.scale)
    }
}
