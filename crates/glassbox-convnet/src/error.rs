//! The one error type of glassbox-convnet.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Files, data, images, checkpoints, figures and options, reported by glassbox-core.
    #[error(transparent)]
    Core(#[from] glassbox_core::Error),

    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    /// An input image that cannot be used as asked (no ink in a digit, ...).
    #[error("{}: {problem}", path.display())]
    Input { path: PathBuf, problem: String },
}

pub type Result<T> = std::result::Result<T, Error>;
