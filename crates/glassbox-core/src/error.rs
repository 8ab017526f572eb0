//! The one error type of glassbox-core. Every variant that concerns a file names it, and says what was
//! expected and what was found, so a learner can fix the input without reading the source.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file system refused: missing file, permissions, a full disk.
    // The cause is part of the message (not a `#[source]`) so chains printed with `{:#}` do not repeat it.
    #[error("{}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },

    /// A file was read but its content is not what it must be (wrong magic, truncated, not gzip, not UTF-8,
    /// empty, a header that disagrees with the data).
    #[error("{}: {problem}", path.display())]
    Format { path: PathBuf, problem: String },

    /// An image that could not be decoded or encoded.
    #[error("{}: {cause}", path.display())]
    Image {
        path: PathBuf,
        cause: image::ImageError,
    },

    /// An input image above the size limit (a guard against decompression bombs and accidental huge inputs).
    #[error("{}: image is {width}x{height} ({} pixels), above the limit of {limit} pixels; resize it first", path.display(), *width as u64 * *height as u64)]
    ImageTooLarge {
        path: PathBuf,
        width: u32,
        height: u32,
        limit: u64,
    },

    /// A checkpoint or weights file whose tensors do not match what the model needs. Lists every problem.
    #[error("{}: {} problem(s): {}", path.display(), problems.len(), problems.join("; "))]
    Tensors {
        path: PathBuf,
        problems: Vec<String>,
    },

    /// Training diverged.
    #[error("loss became {value} at epoch {epoch}, batch {batch}; training stopped (lower the learning rate or check the inputs)")]
    NonFiniteLoss {
        epoch: usize,
        batch: usize,
        value: f64,
    },

    /// Training turned a weight, or the optimizer's state, into NaN or infinity by the end of an epoch;
    /// the checkpoint of the previous epoch stays as it was.
    #[error("{tensor} holds NaN or infinity after epoch {epoch}; training stopped and {} keeps the previous epoch (lower the learning rate or check the inputs)", path.display())]
    NonFiniteWeights {
        path: PathBuf,
        epoch: usize,
        tensor: String,
    },

    /// Another process is training into the same output directory.
    #[error("{}: another glassbox run{} is training into this directory (it holds the lock {}); wait for it to finish, or use another --out", dir.display(), holder.map(|pid| format!(" (process {pid})")).unwrap_or_default(), lock.display())]
    OutputBusy {
        dir: PathBuf,
        lock: PathBuf,
        holder: Option<u32>,
    },

    /// An optimization of an image or any other free-standing variable diverged.
    #[error("the objective became {value} at evaluation {evaluation}; optimization stopped (lower the step size or the loss weights)")]
    NonFiniteObjective { evaluation: usize, value: f64 },

    /// A checkpoint that cannot continue this run (another model, another optimizer).
    #[error("{}: {problem}", path.display())]
    Resume { path: PathBuf, problem: String },

    /// A command-line or config value outside what is allowed.
    #[error("invalid {option} {value:?}: expected {expected}")]
    InvalidOption {
        option: String,
        value: String,
        expected: String,
    },

    /// A required file was not found in any of the places searched.
    #[error("{what} not found; looked in: {}{}", searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "), hint.as_deref().map(|h| format!(". {h}")).unwrap_or_default())]
    NotFound {
        what: String,
        searched: Vec<PathBuf>,
        hint: Option<String>,
    },

    /// The requested device cannot be used by this build or this machine.
    #[error("device {requested}: {problem}")]
    Device { requested: String, problem: String },

    /// A figure could not be drawn.
    #[error("{}: cannot draw figure: {problem}", path.display())]
    Plot { path: PathBuf, problem: String },

    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    #[error(transparent)]
    Assets(#[from] glassbox_assets::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            cause: source,
        }
    }

    pub fn format(path: impl AsRef<Path>, problem: impl Into<String>) -> Self {
        Error::Format {
            path: path.as_ref().to_path_buf(),
            problem: problem.into(),
        }
    }

    pub fn invalid(
        option: impl Into<String>,
        value: impl ToString,
        expected: impl Into<String>,
    ) -> Self {
        Error::InvalidOption {
            option: option.into(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }
}
