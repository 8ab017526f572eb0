//! The one error type of glassbox-core. Every variant that concerns a file names it, and says what was
//! expected and what was found, so a learner can fix the input without reading the source.

use std::path::{Path, PathBuf};

/// What can go wrong in glassbox. Every variant that concerns a file names it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file system refused: missing file, permissions, a full disk.
    // The cause is part of the message (not a `#[source]`) so chains printed with `{:#}` do not repeat it.
    #[error("{}: {cause}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        cause: std::io::Error,
    },

    /// A file was read but its content is not what it must be (wrong magic, truncated, not gzip, not UTF-8,
    /// empty, a header that disagrees with the data).
    #[error("{}: {problem}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with its content.
        problem: String,
    },

    /// An image that could not be decoded or encoded.
    #[error("{}: {cause}", path.display())]
    Image {
        /// The image file.
        path: PathBuf,
        /// What the decoder or encoder said.
        cause: image::ImageError,
    },

    /// An input image above the size limit (a guard against decompression bombs and accidental huge inputs).
    #[error("{}: image is {width}x{height} ({} pixels), above the limit of {limit} pixels; resize it first", path.display(), *width as u64 * *height as u64)]
    ImageTooLarge {
        /// The image file.
        path: PathBuf,
        /// Its width in pixels.
        width: u32,
        /// Its height in pixels.
        height: u32,
        /// The most pixels allowed.
        limit: u64,
    },

    /// A checkpoint or weights file whose tensors do not match what the model needs. Lists every problem.
    #[error("{}: {} problem(s): {}", path.display(), problems.len(), problems.join("; "))]
    Tensors {
        /// The file.
        path: PathBuf,
        /// Every missing, mis-shaped or unexpected tensor.
        problems: Vec<String>,
    },

    /// Training diverged.
    #[error("loss became {value} at epoch {epoch}, batch {batch}; training stopped (lower the learning rate or check the inputs)")]
    NonFiniteLoss {
        /// The epoch it happened in (from 1).
        epoch: usize,
        /// The batch within the epoch (from 1).
        batch: usize,
        /// The loss: NaN or an infinity.
        value: f64,
    },

    /// The evaluation after an epoch gave a loss that is NaN or infinite (which JSON cannot hold: it
    /// would have been written to metrics.json as `null`).
    #[error("{metric} was NaN or infinite after epoch {epoch}; training stopped (lower the learning rate or check the inputs)")]
    NonFiniteEvaluation {
        /// The epoch just evaluated (from 1).
        epoch: usize,
        /// The evaluation's name for the loss, such as `validation_loss`.
        metric: String,
    },

    /// Training turned a weight, or the optimizer's state, into NaN or infinity by the end of an epoch;
    /// the checkpoint of the previous epoch stays as it was.
    #[error("{tensor} holds NaN or infinity after epoch {epoch}; training stopped and {} keeps the previous epoch (lower the learning rate or check the inputs)", path.display())]
    NonFiniteWeights {
        /// The checkpoint that keeps the previous epoch.
        path: PathBuf,
        /// The epoch that went wrong.
        epoch: usize,
        /// The first tensor found with NaN or infinity.
        tensor: String,
    },

    /// Another process is training into the same output directory.
    #[error("{}: another glassbox run{} is training into this directory (it holds the lock {}); wait for it to finish, or use another --out", dir.display(), holder.map(|pid| format!(" (process {pid})")).unwrap_or_default(), lock.display())]
    OutputBusy {
        /// The output directory.
        dir: PathBuf,
        /// Its lock file.
        lock: PathBuf,
        /// The process holding the lock, when known.
        holder: Option<u32>,
    },

    /// An optimization of an image or any other free-standing variable diverged.
    #[error("the objective became {value} at evaluation {evaluation}; optimization stopped (lower the step size or the loss weights)")]
    NonFiniteObjective {
        /// The evaluation it happened at (from 1).
        evaluation: usize,
        /// The objective: NaN or an infinity.
        value: f64,
    },

    /// A checkpoint that cannot continue this run (another model, another optimizer).
    #[error("{}: {problem}", path.display())]
    Resume {
        /// The checkpoint.
        path: PathBuf,
        /// Why it cannot continue this run, and the way out.
        problem: String,
    },

    /// A command-line or config value outside what is allowed.
    #[error("invalid {option} {value:?}: expected {expected}")]
    InvalidOption {
        /// The option, as the user writes it (`--epochs`).
        option: String,
        /// The value given.
        value: String,
        /// What would have been accepted.
        expected: String,
    },

    /// A required file was not found in any of the places searched.
    #[error("{what} not found; looked in: {}{}", searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "), hint.as_deref().map(|h| format!(". {h}")).unwrap_or_default())]
    NotFound {
        /// What was looked for.
        what: String,
        /// Every place looked in, in order.
        searched: Vec<PathBuf>,
        /// How to get it.
        hint: Option<String>,
    },

    /// The requested device cannot be used by this build or this machine.
    #[error("device {requested}: {problem}")]
    Device {
        /// The device as given (`cuda:1`).
        requested: String,
        /// Why it cannot be used, and how to rebuild where that helps.
        problem: String,
    },

    /// A figure could not be drawn.
    #[error("{}: cannot draw figure: {problem}", path.display())]
    Plot {
        /// The figure's file.
        path: PathBuf,
        /// What the plotting library said.
        problem: String,
    },

    /// A tensor operation failed (shapes, dtypes, a device error).
    #[cfg(feature = "candle")]
    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    /// A manifest, checksum or atomic write failed (glassbox-assets).
    #[error(transparent)]
    Assets(#[from] glassbox_assets::Error),
}

/// The result of everything in glassbox-core.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// [`Error::Io`] for `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            cause: source,
        }
    }

    /// [`Error::Format`]: `path` was read but `problem` is wrong with it.
    pub fn format(path: impl AsRef<Path>, problem: impl Into<String>) -> Self {
        Error::Format {
            path: path.as_ref().to_path_buf(),
            problem: problem.into(),
        }
    }

    /// [`Error::InvalidOption`]: `option` got `value` but allows `expected`.
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
