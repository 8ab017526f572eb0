//! Convolutional networks you can see into: the course's MNIST CNN (and, as issue 6 lands, VGG16 from
//! safetensors, filter visualization and adversarial examples).
//!
//! - [`mnist`]: the Keras `mnist_cnn` network on glassbox-tensor's fast kernels, its training with
//!   checkpoints and resumption, evaluation, figures, and digits from image files.

pub mod error;
pub mod mnist;

pub use error::{Error, Result};
