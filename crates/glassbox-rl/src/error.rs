//! The one error type of glassbox-rl.

use std::path::PathBuf;

/// What can go wrong in glassbox-rl.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A saved Q table that cannot be used: not JSON, another game, wrong sizes, non-finite values.
    #[error("{}: {problem}", path.display())]
    Table {
        /// The Q table's file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },

    /// A setting outside what is allowed (learning rate, discount, episodes, ...).
    #[error("invalid {option} {value}: expected {expected}")]
    InvalidSetting {
        /// The setting, in words ("learning rate").
        option: &'static str,
        /// The value given.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },

    /// Files, figures and metrics go through glassbox-core.
    #[error(transparent)]
    Core(#[from] glassbox_core::Error),
}

/// The result of everything in glassbox-rl.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn setting(
        option: &'static str,
        value: impl ToString,
        expected: &'static str,
    ) -> Self {
        Error::InvalidSetting {
            option,
            value: value.to_string(),
            expected,
        }
    }
}
