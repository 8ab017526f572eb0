//! Tensor operations of the glassbox lessons: the convolution primitives of the lessons and fast CPU kernels over candle.
//!
//! Status: this crate is a placeholder in the workspace; nothing is implemented yet. See README.md for what
//! it will hold and which issue builds it.
