//! Training helpers: the epoch/mini-batch loop, its progress display, the per-epoch metrics file, and
//! checkpoints that let a run resume.

pub mod fit;
pub mod metrics;
pub mod progress;
pub mod run;

pub use fit::{fit, Batch, EpochReport, FitConfig, StepOutput};
pub use metrics::{write_json, MetricsLog};
pub use progress::Progress;
pub use run::{resume, save_epoch, Resumed};
