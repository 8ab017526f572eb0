//! The one error type of glassbox-synthesis.

/// What can go wrong in glassbox-synthesis.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Files, images and options, reported by glassbox-core.
    #[error(transparent)]
    Core(#[from] glassbox_core::Error),

    /// Loading or running VGG16, reported by glassbox-convnet.
    #[error(transparent)]
    Convnet(#[from] glassbox_convnet::Error),

    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// The result of everything in glassbox-synthesis.
pub type Result<T> = std::result::Result<T, Error>;
