//! Character- and word-level LSTM text models on the Sherlock Holmes corpus (issue 16, in progress).
//!
//! - [`chars`]: the character lesson's data (the corpus as symbol indices, the held-out tail, the course's
//!   windows).

pub mod chars;
mod error;

pub use chars::CharText;
pub use error::{Error, Result};
