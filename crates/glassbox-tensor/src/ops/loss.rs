//! Losses shared by the lessons, in candle ops (autograd through candle, any device).

use candle_core::{Result, Tensor};

/// Binary cross-entropy of logits `z` against targets `t` in 0..1, averaged over every element:
/// `mean(max(z, 0) - z t + ln(1 + e^-|z|))`, which is `-t ln σ(z) - (1 - t) ln(1 - σ(z))` without overflow
/// where the sigmoid saturates (PyTorch's `binary_cross_entropy_with_logits`; Keras's
/// `binary_crossentropy` on a sigmoid output).
pub fn bce_with_logits(z: &Tensor, t: &Tensor) -> Result<Tensor> {
    let softplus = (z.abs()?.neg()?.exp()? + 1.0)?.log()?;
    ((z.relu()? - (z * t)?)? + softplus)?.mean_all()
}
