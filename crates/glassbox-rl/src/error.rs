//! The one error type of glassbox-rl.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A saved Q table that cannot be used: not JSON, another game, wrong sizes, non-finite values.
    #[error("{}: {problem}", path.display())]
    Table { path: PathBuf, problem: String },

    /// A setting outside what is allowed (learning rate, discount, episodes, ...).
    #[error("invalid {option} {value}: expected {expected}")]
    InvalidSetting {
        option: &'static str,
        value: String,
        expected: &'static str,
    },

    /// Files, figures and metrics go through glassbox-core.
    #[error(transparent)]
    Core(#[from] glassbox_core::Error),
}

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
