//! Character- and word-level LSTM text models on the Sherlock Holmes corpus (issue 16).
//!
//! - [`chars`]: the character lesson's data (the corpus as symbol indices, the held-out tail, the course's
//!   windows).
//! - [`char_model`]: the course's character LSTM and the default (predicting every step).
//! - [`train`]: one training loop for both lessons' models, with checkpoints that resume.
//! - [`char_train`]: the character lesson's use of it, and its models read back from checkpoints.
//! - [`generate`]: text from them, greedy or at a temperature, streamed as it is drawn.
//! - [`real_words`]: the share of a sample's words that the corpus has.
//! - [`words`]: the word lesson's tokenizer (a tokenizers WordLevel model, saved as tokenizer.json) and
//!   its data.
//! - [`word_model`]: the course's tiny word LSTM and the default (embedding, two LSTM(256), every step).
//! - [`word_train`]: training them, the held-out perplexity of the next word, generation word by word.
//! - [`cells`]: the memory cells' activations over a passage, and the cells that track quotes or words.

#![warn(missing_docs)]

pub mod cells;
pub mod char_model;
pub mod char_train;
pub mod chars;
mod error;
pub mod generate;
pub mod real_words;
pub mod train;
pub mod word_model;
pub mod word_train;
pub mod words;

pub use char_model::{CharModel, CharModelConfig, Targets};
pub use chars::CharText;
pub use error::{Error, Result};
