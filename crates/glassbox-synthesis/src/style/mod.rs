//! Style transfer (Gatys, Ecker & Bethge 2016): an image that keeps one photo's content, as VGG16's
//! block4_conv2 sees it, and takes a painting's style, as the correlations between the filters of
//! block1_conv1 ... block5_conv1 (their Gram matrices) describe it.
//!
//! - [`loss`]: Gram matrices, the content, style and total-variation losses, and their gradient.
//! - [`transfer`](mod@transfer): the optimization of the image (L-BFGS or Adam, from the content or from noise).

pub mod loss;
pub mod transfer;

pub use loss::{gram, LossConfig, Losses, Targets, GATYS_STYLE_LAYERS};
pub use transfer::{start_image, transfer, Method, Record, Start, Transfer, TransferConfig};
