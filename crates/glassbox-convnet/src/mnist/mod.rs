//! The MNIST lesson: the course's CNN, its training with checkpoints, evaluation, figures, and prediction
//! on digit images of any size.
//!
//! - [`model`]: the network, layer by layer with Keras's parameter counts.
//! - [`train`](mod@train): 12 epochs of batch 128 with Adadelta (the 2018 course) or Adam (the 2021 notebook),
//!   a checkpoint after every epoch, resumption from it.
//! - [`eval`]: accuracy, loss, the confusion matrix and per-image predictions.
//! - [`figures`]: the confusion matrix and a grid of test digits with their predictions.
//! - [`digits`]: any image of a digit turned into an MNIST digit the way MNIST was made.

pub mod digits;
pub mod eval;
pub mod figures;
pub mod model;
pub mod train;

pub use eval::{evaluate, Evaluation};
pub use model::{MnistCnn, MODEL_NAME};
pub use train::{load_trained, train, OptimizerKind, TrainConfig, TrainOutcome};

pub use glassbox_core::train::run::CHECKPOINT_FILE;
