//! The one error type of glassbox-sequence.

/// What can go wrong in glassbox-sequence.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Files, corpora, checkpoints and options, reported by glassbox-core.
    #[error(transparent)]
    Core(#[from] glassbox_core::Error),

    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// The result of everything in glassbox-sequence.
pub type Result<T> = std::result::Result<T, Error>;
