//! Deep dreaming and style transfer on a frozen VGG16 (only the image changes), and
//! reinforcement-learning-guided path tracing.
//!
//! - [`dream`]: deep dreaming, from a photo or from noise, with named presets.
//! - [`layers`]: which VGG16 layers an objective reads, parsed from `block4_conv3=1.0,block5_conv1=0.5`.
//! - [`photo`]: photos in, with the size limit every lesson here shares.
//! - [`style`]: style transfer.
//! - [`render`]: a path tracer, Q-learning path guiding and sky importance sampling; shares nothing with the rest.

#![warn(missing_docs)]

pub mod dream;
pub mod error;
pub mod layers;
pub mod photo;
pub mod render;
pub mod style;

pub use error::{Error, Result};
