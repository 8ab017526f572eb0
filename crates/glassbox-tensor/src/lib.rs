//! Tensor operations of the glassbox lessons.
//!
//! Implemented (issue 4, convolution by hand):
//!
//! - [`conv::shape`]: the output size of a convolution for any input, kernel, stride, padding (valid, same,
//!   full, explicit), dilation, and for transposed convolutions with output padding; it agrees with candle's
//!   `conv2d` and `conv_transpose2d`.
//! - [`conv::filters`]: the course's named filters (the 1x1 yellow detector, blur, edges, stripe, diagonal).
//! - [`conv::apply`]: a `(C, H, W)` image convolved with a bank of filters in one batched candle `conv2d`
//!   call (one output channel per filter), max pooling, the positions where a response is largest, zero
//!   insertion for transposed convolution by hand.
//! - [`lesson`]: the lessons built from them: the yellow detector, 3x3 filters on a random binary image and
//!   on a photo, the output-size worked examples, and the three-layer face detector on 12x12 masks.
//!
//! Planned (issue 3): fast CPU kernels behind ordinary candle tensors. See README.md.

pub mod conv;
pub mod error;
pub mod lesson;

pub use error::{Error, Result};
