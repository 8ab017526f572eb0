//! Training helpers: the epoch/mini-batch loop, its progress display, the per-epoch metrics file,
//! checkpoints that let a run resume, and the lock that keeps two runs out of one output directory.

pub mod fit;
pub mod metrics;
pub mod progress;
#[cfg(feature = "candle")]
pub mod run;

pub use fit::{fit, Batch, EpochReport, FitConfig, StepOutput};
pub use metrics::{write_json, MetricsLog};
pub use progress::Progress;
#[cfg(feature = "candle")]
pub use run::{resume, save_epoch, OutputLock, Resumed};
