//! Layers in the style of candle-nn (built from a `VarBuilder` with a config struct, `Module` for the
//! forward pass, tensor names as PyTorch writes them) whose forward and backward passes run the fast CPU
//! kernels of [`crate::ops`]; on CUDA they use candle's own ops.

mod batch_norm;
mod conv;
mod dropout;
pub mod keras;
mod linear;
mod lstm;

pub use batch_norm::{BatchNorm, BatchNormConfig};
pub use conv::{
    Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig, MaxPool2d, UpsampleNearest2d,
};
pub use dropout::Dropout;
pub use linear::Linear;
pub use lstm::{Lstm, LstmConfig, LstmFlavor, LstmOutput, LstmState};
