//! Convolution by hand: output shapes, named filters, and filter banks applied in one batched call.

pub mod apply;
pub mod filters;
pub mod shape;

pub use apply::{convolve, insert_zeros, matches, max_pool};
pub use filters::Filter;
pub use shape::{output_shape, output_size, ConvSpec, Padding};
