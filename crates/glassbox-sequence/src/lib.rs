//! Character- and word-level LSTM text models on the Sherlock Holmes corpus (issue 16, in progress).
//!
//! - [`chars`]: the character lesson's data (the corpus as symbol indices, the held-out tail, the course's
//!   windows).
//! - [`char_model`]: the course's character LSTM and the default (predicting every step).
//! - [`char_train`]: training them, with checkpoints that resume.
//! - [`generate`]: text from them, greedy or at a temperature, streamed as it is drawn.
//! - [`real_words`]: the share of a sample's words that the corpus has.
//! - [`words`]: the word lesson's tokenizer (a tokenizers WordLevel model, saved as tokenizer.json).
//! - [`cells`]: the memory cells' activations over a passage, and the cells that track quotes or words.

pub mod cells;
pub mod char_model;
pub mod char_train;
pub mod chars;
mod error;
pub mod generate;
pub mod real_words;
pub mod words;

pub use char_model::{CharModel, CharModelConfig, Targets};
pub use chars::CharText;
pub use error::{Error, Result};
