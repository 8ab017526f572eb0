//! Convolutional networks you can see into: the course's MNIST CNN and VGG16 from safetensors (and, as
//! issue 6 lands, filter visualization, the HED edge detector and adversarial examples).
//!
//! - [`mnist`]: the Keras `mnist_cnn` network on glassbox-tensor's fast kernels, its training with
//!   checkpoints and resumption, evaluation, figures, and digits from image files.
//! - [`vgg`]: VGG16 from torchvision- or timm-named safetensors, every layer's output by name,
//!   classification with ImageNet's class names.

pub mod error;
pub mod mnist;
pub mod vgg;

pub use error::{Error, Result};
