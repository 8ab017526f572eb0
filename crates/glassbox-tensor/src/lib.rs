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
//! - [`ascent`]: gradient ascent on input images (jitter, blur, L2 decay, octaves) for filter
//!   visualization and deep dreaming; [`ops::resize_bilinear`] resizes differentiably.
//!
//! Fast CPU training kernels (issue 3, in progress):
//!
//! - [`kernels`]: im2col + GEMM convolution (forward, input and weight gradients, fused bias and ReLU),
//!   max pooling, a fused LSTM layer with backpropagation through time, vectorized activations.
//! - [`ops`]: the same as candle operations with backward passes, falling back to candle's own ops off
//!   the CPU.
//! - [`nn`]: candle-nn-style layers over them (`Conv2d`, `Lstm`), built from a `VarBuilder` with
//!   PyTorch's tensor names.
//!
//! # Example
//!
//! The fast convolution is an ordinary candle op, with gradients through candle's autograd:
//!
//! ```
//! use candle_core::{Device, Tensor, Var};
//! use glassbox_tensor::ops::{self, ConvParams};
//!
//! // One 3x3 image, convolved with a 2x2 box filter and a bias of -10, then a ReLU.
//! let x = Var::from_tensor(&Tensor::arange(0f32, 9.0, &Device::Cpu)?.reshape((1, 1, 3, 3))?)?;
//! let w = Tensor::ones((1, 1, 2, 2), candle_core::DType::F32, &Device::Cpu)?;
//! let b = Tensor::new(&[-10f32], &Device::Cpu)?;
//! let y = ops::conv2d(&x, &w, Some(&b), ConvParams::default(), true)?;
//! // The windows sum to 8, 12, 20, 24: minus 10 and clamped at 0.
//! assert_eq!(y.flatten_all()?.to_vec1::<f32>()?, [0.0, 2.0, 10.0, 14.0]);
//! // Each input pixel's gradient counts the live windows that cover it.
//! let grad = y.sum_all()?.backward()?;
//! let dx = grad.get(&x).unwrap().flatten_all()?.to_vec1::<f32>()?;
//! assert_eq!(dx, [0.0, 1.0, 1.0, 1.0, 3.0, 2.0, 1.0, 2.0, 1.0]);
//! # Ok::<(), candle_core::Error>(())
//! ```

#![warn(missing_docs)]

pub mod ascent;
pub mod conv;
pub mod error;
pub mod kernels;
pub mod lesson;
pub mod nn;
pub mod ops;

pub use error::{Error, Result};
