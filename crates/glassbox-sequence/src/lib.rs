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
//!
//! # Example
//!
//! ```
//! use std::path::Path;
//! use candle_core::{DType, Device};
//! use candle_nn::VarMap;
//! use glassbox_core::seed::{Seed, SeededInit};
//! use glassbox_sequence::{CharModel, CharModelConfig, CharText};
//!
//! let text = CharText::from_text(&"to be or not to be, ".repeat(20), Path::new("<hamlet>"), 8)?;
//! assert_eq!(text.vocab.len(), 8); // ' ', ',', b, e, n, o, r, t
//! let varmap = VarMap::new();
//! let vb = SeededInit::var_builder(&varmap, Seed(1), DType::F32, &Device::Cpu);
//! let config = CharModelConfig { hidden: 16, layers: 1, ..CharModelConfig::course(text.vocab.len()) };
//! let model = CharModel::new(config, vb)?;
//! model.start_fresh(&varmap)?;
//! let ids = candle_core::Tensor::new(&text.train()[..8], &Device::Cpu)?.unsqueeze(0)?;
//! assert_eq!(model.logits(&ids)?.dims(), &[1, 8]); // the character after the window
//! # Ok::<(), glassbox_sequence::Error>(())
//! ```

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
