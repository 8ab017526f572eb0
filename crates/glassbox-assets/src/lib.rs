//! The external files glassbox uses, and how to handle them safely.
//!
//! - [`manifest`]: the model manifest (`models/models.toml`) and the dataset manifest, embedded at build time
//!   so that every crate and `cargo xtask` read the same entries.
//! - [`checksum`]: streaming sha256 and md5 of files.
//! - [`atomic`]: write-then-rename file writes, so a killed process never leaves a half-written file behind.
//! - [`hub`]: where a hub model lives in the Hugging Face cache (honours `HF_HOME`), without any network.
//! - [`testhook`]: environment variables that pause a process at an exact point for fault tests.
//!
//! # Example
//!
//! ```
//! use glassbox_assets::manifest;
//!
//! let vgg = manifest::model("vgg16")?;
//! assert_eq!(vgg.input_size, 224);
//! assert!(vgg.classifier);
//! // An unknown name is an error that lists the known ones.
//! let err = manifest::model("vgg17").unwrap_err().to_string();
//! assert!(err.contains("vgg16"), "{err}");
//! # Ok::<(), glassbox_assets::Error>(())
//! ```

#![warn(missing_docs)]

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
    /// A file could not be opened or read.
    #[error("{}: {cause}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        cause: std::io::Error,
    },
    /// A file could not be written (a full disk, a size limit, no permission); the atomic writer leaves
    /// the previous file as it was.
    #[error("cannot write {}: {cause} (the previous file, if any, is unchanged)", path.display())]
    Write {
        /// The file that was being written.
        path: PathBuf,
        /// What the operating system said.
        cause: std::io::Error,
    },
    /// A manifest that does not parse or has an invalid entry.
    #[error("manifest {name}: {problem}")]
    Manifest {
        /// The manifest (its path in the repository) or the entry asked for.
        name: String,
        /// What is wrong, with the way out where there is one.
        problem: String,
    },
    /// A file whose size or checksum differs from its manifest entry.
    #[error("{}: {what} mismatch: expected {expected}, found {found}", path.display())]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// What was compared: `size`, `sha256`, `md5`.
        what: &'static str,
        /// The manifest's value.
        expected: String,
        /// The file's value.
        found: String,
    },
}

impl Error {
    /// [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            cause: source,
        }
    }

    /// [`Error::Write`] for `path`.
    pub fn write(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Write {
            path: path.into(),
            cause: source,
        }
    }
}

/// The result of everything in glassbox-assets.
pub type Result<T> = std::result::Result<T, Error>;
