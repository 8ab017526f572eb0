//! The one error type of glassbox-synthesis.

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

pub type Result<T> = std::result::Result<T, Error>;
