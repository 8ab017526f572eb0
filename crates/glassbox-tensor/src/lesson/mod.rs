//! The lessons of the convolution section, as library functions the `glassbox conv` command and the tests
//! call.

pub mod faces;
pub mod figures;
pub mod filters;
pub mod sizes;
pub mod yellow;

/// The image type of the lessons' figures (save with `glassbox_core::imaging::save_rgb_png`).
pub use image::RgbImage;
