//! The error type of glassbox-tensor.

/// What can go wrong in glassbox-tensor.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A problem reported by glassbox-core (files, images, figures, options).
    #[error(transparent)]
    Core(#[from] glassbox_core::Error),

    /// A tensor operation failed in candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    /// A convolution whose sizes do not fit together (a kernel larger than the padded input, a stride of
    /// zero, "same" padding with an even kernel, ...).
    #[error("invalid convolution: {problem}")]
    InvalidConv {
        /// What does not fit, with the sizes.
        problem: String,
    },

    /// A tensor of the wrong shape for an operation.
    #[error("{what}: shape {found:?}, expected {expected}")]
    Shape {
        /// The tensor, in words.
        what: String,
        /// Its shape.
        found: Vec<usize>,
        /// The shape the operation needs, in words.
        expected: String,
    },
}

impl Error {
    pub(crate) fn conv(problem: impl Into<String>) -> Self {
        Error::InvalidConv {
            problem: problem.into(),
        }
    }

    pub(crate) fn shape(
        what: impl Into<String>,
        found: &[usize],
        expected: impl Into<String>,
    ) -> Self {
        Error::Shape {
            what: what.into(),
            found: found.to_vec(),
            expected: expected.into(),
        }
    }
}

/// The result of everything in glassbox-tensor.
pub type Result<T> = std::result::Result<T, Error>;
