//! The fast kernels as candle operations with backward passes: they take and return ordinary candle
//! tensors, so autograd, optimizers and checkpoints work as usual. On the CPU in f32 they run
//! [`crate::kernels`]; on other devices and dtypes they fall back to candle's own ops, which are also the
//! reference the tests compare against. Second derivatives are not supported through the fast path.

pub mod batch_norm;
pub mod conv2d;
pub mod conv_transpose;
pub mod dropout;
pub mod gram;
pub mod leaky_relu;
pub mod linear;
pub mod loss;
pub mod lstm;
pub mod lstm_layer;
pub mod pool;
pub mod resize;
pub mod tanh;
pub mod upsample;

pub use batch_norm::{batch_norm, batch_norm_leaky_relu, reference_batch_norm, BatchNormOutput};
pub use conv2d::{
    conv2d, conv2d_leaky_relu, conv2d_relu_frozen, conv2d_relu_input_gradient, conv2d_relu_pool,
    reference_conv2d, uses_fast_path, ConvParams, PrepackedFilters,
};
pub use conv_transpose::{conv_transpose2d, reference_conv_transpose2d, ConvTransposeParams};
pub use dropout::dropout;
pub use gram::{gram, gram_backward};
pub use leaky_relu::leaky_relu;
pub use linear::{add_bias, flatten_linear, linear};
pub use loss::{bce_with_logits, cross_entropy};
pub use lstm::{lstm_recurrence, reference_lstm_recurrence, LstmStates};
pub use lstm_layer::{lstm_layer, LayerInput};
pub use pool::{max_pool2d, max_pool2d_backward};
pub use resize::resize_bilinear;
pub use tanh::tanh;
pub use upsample::upsample_nearest2d;
