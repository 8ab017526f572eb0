//! Deep dreaming and style transfer on a frozen VGG16 (only the image changes), and
//! reinforcement-learning-guided path tracing.
//!
//! - [`dream`]: deep dreaming, from a photo or from noise, with named presets.
//! - [`layers`]: which VGG16 layers an objective reads, parsed from `block4_conv3=1.0,block5_conv1=0.5`.
//! - [`photo`]: photos in, with the size limit every lesson here shares.
//! - [`style`]: style transfer.
//! - [`render`]: a path tracer, Q-learning path guiding and sky importance sampling; shares nothing with the rest.
//!
//! # Example
//!
//! Style transfer compares Gram matrices of VGG16's activations; here of a hand-made 2-channel map:
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use glassbox_synthesis::style::loss::gram;
//!
//! // Channel 0 is 1 everywhere on a 2x2 map, channel 1 is 0, 1, 2, 3.
//! let f = Tensor::new(&[1f32, 1.0, 1.0, 1.0, 0.0, 1.0, 2.0, 3.0], &Device::Cpu)?.reshape((1, 2, 2, 2))?;
//! let g = gram(&f)?.to_vec2::<f32>()?;
//! // Channel dot products (4, 6, 6, 14) divided by C H W = 8.
//! assert_eq!(g, [[0.5, 0.75], [0.75, 1.75]]);
//! # Ok::<(), glassbox_synthesis::Error>(())
//! ```

#![warn(missing_docs)]

pub mod dream;
pub mod error;
pub mod layers;
pub mod photo;
pub mod render;
pub mod style;

pub use error::{Error, Result};
