//! The one error type of glassbox-generative.

/// What can go wrong in glassbox-generative.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Files, data, images, checkpoints, figures and options, reported by glassbox-core.
    #[error(transparent)]
    Core(#[from] glassbox_core::Error),

    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    /// The MNIST CNN that judges samples could not be loaded or run.
    #[error(transparent)]
    Convnet(#[from] glassbox_convnet::Error),
}

/// The result of everything in glassbox-generative.
pub type Result<T> = std::result::Result<T, Error>;

/// glassbox-core's training loop takes core errors from its closures.
pub(crate) fn into_core(e: Error) -> glassbox_core::Error {
    match e {
        Error::Core(e) => e,
        Error::Candle(e) => glassbox_core::Error::Candle(e),
        Error::Convnet(glassbox_convnet::Error::Core(e)) => e,
        Error::Convnet(e) => glassbox_core::Error::Candle(candle_core::Error::Msg(e.to_string())),
    }
}
