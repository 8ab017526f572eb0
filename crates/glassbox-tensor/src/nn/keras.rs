//! Layers started as Keras starts them (the course's models are Keras models): Glorot-uniform kernels and
//! zero biases, under PyTorch's tensor names and layouts.

use candle_core::Result;
use candle_nn::{Init, Linear, VarBuilder};

use super::{Conv2d, Conv2dConfig};

/// Glorot (Xavier) uniform: U(-b, b) with b = sqrt(6 / (fan_in + fan_out)), Keras's default kernel init.
pub fn glorot_uniform(fan_in: usize, fan_out: usize) -> Init {
    let b = (6.0 / (fan_in + fan_out) as f64).sqrt();
    Init::Uniform { lo: -b, up: b }
}

/// Keras's `Dense(outputs)` on `inputs` features: `weight: (outputs, inputs)` Glorot-uniform, `bias`
/// zero (activation not included).
pub fn dense(inputs: usize, outputs: usize, vb: VarBuilder) -> Result<Linear> {
    let w = vb.get_with_hints((outputs, inputs), "weight", glorot_uniform(inputs, outputs))?;
    let b = vb.get_with_hints(outputs, "bias", Init::Const(0.0))?;
    Ok(Linear::new(w, Some(b)))
}

/// Keras's `Conv2D(out_channels, kernel)`: OIHW weights Glorot-uniform with Keras's fans (channels times
/// the kernel's area), bias zero.
pub fn conv2d(
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    cfg: Conv2dConfig,
    vb: VarBuilder,
) -> Result<Conv2d> {
    let area = kernel * kernel;
    let w = vb.get_with_hints(
        (out_channels, in_channels, kernel, kernel),
        "weight",
        glorot_uniform(in_channels * area, out_channels * area),
    )?;
    let b = if cfg.bias {
        Some(vb.get_with_hints(out_channels, "bias", Init::Const(0.0))?)
    } else {
        None
    };
    Ok(Conv2d::from_tensors(w, b, cfg))
}
