//! Convolutional networks you can see into: the course's MNIST CNN, VGG16 from safetensors and the HED
//! edge detector (and, as issue 6 lands, filter visualization and adversarial examples).
//!
//! - [`mnist`]: the Keras `mnist_cnn` network on glassbox-tensor's fast kernels, its training with
//!   checkpoints and resumption, evaluation, figures, and digits from image files.
//! - [`adversary`]: FGSM and PGD under an L-infinity budget, for any differentiable classifier.
//! - [`vgg`]: VGG16 from torchvision- or timm-named safetensors, every layer's output by name,
//!   classification with ImageNet's class names, HED edges.

#![warn(missing_docs)]

pub mod adversary;
pub mod error;
pub mod mnist;
pub mod vgg;

pub use error::{Error, Result};
