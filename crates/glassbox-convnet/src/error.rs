//! The one error type of glassbox-convnet.

use std::path::PathBuf;

/// What can go wrong in glassbox-convnet.
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
    Input {
        /// The image.
        path: PathBuf,
        /// Why it cannot be used.
        problem: String,
    },
}

/// The result of everything in glassbox-convnet.
pub type Result<T> = std::result::Result<T, Error>;
