//! glassbox-core: what every glassbox lesson shares.
//!
//! - [`error`]: one error type; every file problem names the file.
//! - [`device`]: `cpu` / `cuda[:N]` parsing with a clear error on CPU-only builds.
//! - [`seed`]: one seed drives every random choice (shuffles, initial weights, dropout masks).
//! - [`data`]: where data lives (flag, `GLASSBOX_DATA`, `data/`, the embedded subset), MNIST IDX files,
//!   seeded batching, text corpora.
//! - [`imaging`]: images to and from candle tensors, ImageNet normalizations, grids, side-by-side figures,
//!   heat maps.
//! - [`plot`]: loss/accuracy curves and scatter plots as PNG.
//! - [`train`]: epochs and mini-batches with a progress bar, per-epoch metrics JSON, a stop on NaN/Inf.
//! - [`checkpoint`]: safetensors checkpoints with metadata, written atomically, checked on load.
//! - [`optim`]: SGD (momentum, Nesterov), Adam, RMSprop, Adadelta, matching PyTorch's update rules.
//! - [`stats`]: Gaussians of feature vectors, symmetric eigenvalues, the Fréchet distance (FID).
//! - [`testdata`]: how the tests of every crate find the shared real data (skip with a note; fail under CI).
//!
//! # Example
//!
//! The MNIST subset compiled into the crate, as a batch of candle tensors in a seeded order:
//!
//! ```
//! use glassbox_core::data::{Batches, Mnist};
//! use glassbox_core::seed::Seed;
//!
//! let mnist = Mnist::embedded()?;
//! assert_eq!((mnist.train.count, mnist.test.count), (5000, 1000));
//! let order = |seed: u64| Batches::shuffled(mnist.train.count, 64, &mut Seed(seed).stream("shuffle"));
//! let batches = order(7);
//! let first = batches.iter().next().unwrap();
//! assert_eq!(first, order(7).iter().next().unwrap()); // the same seed, the same batches
//! let x = mnist.train.images_tensor(first, &candle_core::Device::Cpu)?;
//! assert_eq!(x.dims(), &[64, 1, 28, 28]);
//! # Ok::<(), glassbox_core::Error>(())
//! ```

//! # Features
//!
//! - `candle` (default): everything that holds tensors: [`device`], [`checkpoint`], [`optim`], MNIST as
//!   tensors, images to and from tensors, the training loop, seeded weight initialisation. Without it the
//!   crate builds without candle, for a crate such as glassbox-rl that needs only seeds, images, figures
//!   and metrics files.
//! - `figures` (default): [`plot`] and the captions of side-by-side figures (plotters and its font).
//! - `cuda`: candle's CUDA backend (implies `candle`).

#![warn(missing_docs)]

#[cfg(feature = "candle")]
pub mod checkpoint;
pub mod data;
#[cfg(feature = "candle")]
pub mod device;
pub mod error;
pub mod imaging;
#[cfg(feature = "candle")]
pub mod optim;
#[cfg(feature = "figures")]
pub mod plot;
pub mod seed;
pub mod stats;
pub mod testdata;
pub mod train;

pub use error::{Error, Result};
pub use glassbox_assets as assets;
