//! Training helpers: the epoch/mini-batch loop, its progress display, and the per-epoch metrics file.

pub mod fit;
pub mod metrics;
pub mod progress;

pub use fit::{fit, Batch, EpochReport, FitConfig, StepOutput};
pub use metrics::{write_json, MetricsLog};
pub use progress::Progress;
