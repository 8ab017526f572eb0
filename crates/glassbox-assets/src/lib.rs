//! The external files glassbox uses, and how to handle them safely.
//!
//! - [`manifest`]: the model manifest (`models/models.toml`) and the dataset manifest, embedded at build time
//!   so that every crate and `cargo xtask` read the same entries.
//! - [`checksum`]: streaming sha256 and md5 of files.
//! - [`atomic`]: write-then-rename file writes, so a killed process never leaves a half-written file behind.
//! - [`hub`]: where a hub model lives in the Hugging Face cache (honours `HF_HOME`), without any network.
//! - [`testhook`]: environment variables that pause a process at an exact point for fault tests.

pub mod atomic;
pub mod checksum;
pub mod hub;
pub mod manifest;
pub mod testhook;

use std::path::PathBuf;

/// What can go wrong with the project's external files. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // The cause is part of the message (not a `#[source]`) so chains printed with `{:#}` do not repeat it.
    #[error("{}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// A file could not be written (a full disk, a size limit, no permission); the atomic writer leaves
    /// the previous file as it was.
    #[error("cannot write {}: {cause} (the previous file, if any, is unchanged)", path.display())]
    Write {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("manifest {name}: {problem}")]
    Manifest { name: String, problem: String },
    #[error("{}: {what} mismatch: expected {expected}, found {found}", path.display())]
    Mismatch {
        path: PathBuf,
        what: &'static str,
        expected: String,
        found: String,
    },
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            cause: source,
        }
    }

    pub fn write(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Write {
            path: path.into(),
            cause: source,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
