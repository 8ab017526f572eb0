//! Convolutional networks you can see into: the course's MNIST CNN, VGG16 from safetensors and the HED
//! edge detector (and, as issue 6 lands, filter visualization and adversarial examples).
//!
//! - [`mnist`]: the Keras `mnist_cnn` network on glassbox-tensor's fast kernels, its training with
//!   checkpoints and resumption, evaluation, figures, and digits from image files.
//! - [`adversary`]: FGSM and PGD under an L-infinity budget, for any differentiable classifier.
//! - [`vgg`]: VGG16 from torchvision- or timm-named safetensors, every layer's output by name,
//!   classification with ImageNet's class names, HED edges.
//!
//! # Example
//!
//! The course's MNIST CNN, freshly initialized from a seed, on a batch of two blank digits:
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use candle_nn::VarMap;
//! use glassbox_convnet::mnist::MnistCnn;
//! use glassbox_core::seed::Seed;
//!
//! let varmap = VarMap::new();
//! let cnn = MnistCnn::new(&varmap, Seed(1), &Device::Cpu)?;
//! let logits = cnn.forward_t(&Tensor::zeros((2, 1, 28, 28), candle_core::DType::F32, &Device::Cpu)?, false)?;
//! assert_eq!(logits.dims(), &[2, 10]);
//! // 1,199,882 parameters, as Keras's model.summary() counts them.
//! let count: usize = varmap.all_vars().iter().map(|v| v.elem_count()).sum();
//! assert_eq!(count, 1_199_882);
//! # Ok::<(), glassbox_convnet::Error>(())
//! ```

#![warn(missing_docs)]

pub mod adversary;
pub mod error;
pub mod mnist;
pub mod vgg;

pub use error::{Error, Result};
