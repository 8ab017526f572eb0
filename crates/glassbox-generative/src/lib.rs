//! Autoencoders, variational autoencoders and a GAN on the fast CPU kernels of glassbox-tensor: the
//! course's generative models, each a library type readable top to bottom in one file.
//!
//! - [`dense`]: the dense autoencoders (784-20-784, the deep one with a 2-D code, the tiger's
//!   10000-20-10000).
//! - [`tiger`]: the tiny autoencoder's photos (the tiger, crops of other photos, quarter turns).
//! - [`conv`]: the convolutional autoencoder with its 7x7x3 code, and the denoising one (7x7x32).
//! - [`vae`]: the variational autoencoder (784-512-256-L, latent 2 or 50), its loss the negative ELBO.
//! - [`gan`]: the course's GAN and a DCGAN; [`gan_train`]: training both players, with checkpoints.
//! - [`autoencoder`]: what they share (the [`autoencoder::Autoencoder`] trait, the losses).
//! - [`train`]: training with checkpoints that resume; [`images`]: the data sets and the noise;
//!   [`figures`]: reconstructions, code scatter, decoded lattices, blends.
//!
//! - [`judge`]: generated digits judged by the trained MNIST CNN (class balance, confidence, FID).
//!
//! # Example
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use candle_nn::VarMap;
//! use glassbox_core::seed::SeededInit;
//! use glassbox_generative::{Autoencoder, DenseAutoencoder, DenseConfig};
//!
//! let varmap = VarMap::new();
//! let vb = SeededInit::var_builder(&varmap, glassbox_core::seed::Seed(3), DType::F32, &Device::Cpu);
//! let ae = DenseAutoencoder::new(DenseConfig::shallow(), vb)?;
//! let x = Tensor::rand(0f32, 1.0, (4, 1, 28, 28), &Device::Cpu)?;
//! assert_eq!(ae.encode(&x)?.dims(), &[4, 20]); // the course's 20-number code
//! assert_eq!(ae.reconstruct(&x)?.dims(), x.dims());
//! // Binary cross-entropy of an untrained sigmoid output is near ln 2 per pixel.
//! let loss = ae.training_loss(&x, &x, 0)?.to_scalar::<f32>()?;
//! assert!((loss - 2f32.ln()).abs() < 0.1, "{loss}");
//! # Ok::<(), glassbox_generative::Error>(())
//! ```

#![warn(missing_docs)]

pub mod autoencoder;
pub mod conv;
pub mod dense;
mod error;
pub mod figures;
pub mod gan;
pub mod gan_train;
pub mod images;
pub mod judge;
pub mod tiger;
pub mod train;
pub mod vae;

pub use autoencoder::{Autoencoder, Reconstruction};
pub use conv::{ConvAutoencoder, ConvConfig};
pub use dense::{DenseAutoencoder, DenseConfig};
pub use error::{Error, Result};
pub use images::{ImageSet, InMemory, Noise};
pub use train::{OptimizerChoice, TrainConfig, TrainOutcome};
pub use vae::{Vae, VaeConfig};
