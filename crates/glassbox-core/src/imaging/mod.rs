//! Images to and from candle tensors, ImageNet normalizations, and the figures the lessons draw. Without
//! the `candle` feature, only what needs no tensor is here (decoding, PNG writing, grids, colour maps);
//! captions need `figures`.
//!
//! - [`io`]: [`load_image`] (a size guard before decoding, optional resize / centre crop) and [`save_png`]
//!   (atomic), plus conversions between tensors and [`image::RgbImage`] / [`image::GrayImage`].
//! - [`normalize`]: [`Normalization`], the torchvision and caffe input conventions, forwards and back.
//! - [`figure`]: [`grid`], [`side_by_side`] (captions drawn with the embedded DejaVu Sans), [`tile_maps`]
//!   for feature maps, [`heatmap`], nearest-neighbour [`upscale`].
//! - [`colormap`]: [`Colormap`] (gray, viridis, inferno, a diverging blue-white-red) and [`Scale`].
//!
//! Tensors of images are `(C, H, W)` f32 with values in `0..=255`, `C` = 3 (RGB) or 1 (gray), as they come
//! from [`load_image`]; the normalizations turn them into network inputs.

pub mod colormap;
pub mod figure;
#[cfg(feature = "figures")]
pub(crate) mod font;
pub mod io;
#[cfg(feature = "candle")]
pub mod normalize;

pub use colormap::{Colormap, Scale};
#[cfg(feature = "figures")]
pub use figure::side_by_side;
pub use figure::{grid, upscale};
#[cfg(feature = "candle")]
pub use figure::{heatmap, tile_maps, tile_maps_with};
#[cfg(feature = "candle")]
pub use io::{gray_to_tensor, load_image, rgb_to_tensor, save_png, tensor_to_gray, tensor_to_rgb};
pub use io::{
    read_image, save_gray_png, save_rgb_png, Color, LoadOptions, Resize, DEFAULT_MAX_PIXELS,
};
#[cfg(feature = "candle")]
pub use normalize::Normalization;
