//! The word-level language models, read top to bottom.
//!
//! The course's word model is its character network shrunk to the size of a toy and fed words:
//!
//! ```text
//! 40 one-hot words (8,000) -> LSTM(8, return_sequences=True) -> Dropout(0.3) -> LSTM(8) -> Dropout(0.3)
//!                          -> Dense(8,000, softmax)
//! ```
//!
//! 328,832 parameters (256,288 + 544 + 72,000), predicting the word after the window. With 8 numbers of
//! state it can learn little more than which words are frequent after which; it is the course's point
//! that such a model writes word salad.
//!
//! The default is worth reading: a learned embedding of 128 numbers per word instead of one-hot vectors,
//! two LSTM(256) with dropout after each, and the next word predicted at every step of the window (as the
//! character default does), the layout of PyTorch's word_language_model example.

use candle_core::{Result, Tensor};
use candle_nn::{Embedding, Module, VarBuilder, VarMap};
use glassbox_core::seed::Seed;
use glassbox_tensor::nn::{keras, Dropout, Linear, Lstm, LstmConfig, LstmFlavor};

use crate::char_model::Targets;
use crate::train::LanguageModel;

/// What the first LSTM reads for each word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WordInput {
    /// A one-hot vector over the vocabulary (the course); its input product is a row lookup.
    OneHot,
    /// A learned vector of this many numbers (`embedding.weight`, started N(0, 1) as PyTorch's is).
    Embedding(usize),
}

/// The size and kind of a word model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WordModelConfig {
    /// Tokens, the unknown one included: inputs and outputs.
    pub vocabulary: usize,
    /// One-hot tokens or a learned embedding.
    pub input: WordInput,
    /// Cells per LSTM layer.
    pub hidden: usize,
    /// Stacked LSTM layers.
    pub layers: usize,
    /// The share of each LSTM's outputs dropped in training.
    pub dropout: f32,
    /// Keras's LSTM and dense layer for the course's network, PyTorch's otherwise.
    pub flavor: LstmFlavor,
    /// What it predicts: the token after the window, or the next one at every step.
    pub targets: Targets,
}

impl WordModelConfig {
    /// The course's network, exactly.
    pub fn course(vocabulary: usize) -> Self {
        WordModelConfig {
            vocabulary,
            input: WordInput::OneHot,
            hidden: 8,
            layers: 2,
            dropout: 0.3,
            flavor: LstmFlavor::Keras,
            targets: Targets::AfterWindow,
        }
    }

    /// Embedding 128, two LSTM(256) with dropout 0.3, the next word at every step.
    pub fn every_step(vocabulary: usize) -> Self {
        WordModelConfig {
            vocabulary,
            input: WordInput::Embedding(128),
            hidden: 256,
            layers: 2,
            dropout: 0.3,
            flavor: LstmFlavor::PyTorch,
            targets: Targets::EveryStep,
        }
    }

    /// See [`WordModel::name`], e.g. `word-lstm-2x8-onehot-keras-after-window-dropout30`.
    pub fn name(&self) -> String {
        let input = match self.input {
            WordInput::OneHot => "onehot".to_string(),
            WordInput::Embedding(n) => format!("embedding{n}"),
        };
        let flavor = match self.flavor {
            LstmFlavor::Keras => "keras",
            LstmFlavor::PyTorch => "pytorch",
        };
        let targets = match self.targets {
            Targets::AfterWindow => "after-window",
            Targets::EveryStep => "every-step",
        };
        format!(
            "word-lstm-{}x{}-{input}-{flavor}-{targets}-dropout{}",
            self.layers,
            self.hidden,
            (self.dropout * 100.0).round() as u32
        )
    }

    /// The configuration [`WordModelConfig::name`] describes, for `vocabulary` tokens; `None` for a name
    /// of another model.
    pub fn from_name(name: &str, vocabulary: usize) -> Option<Self> {
        let rest = name.strip_prefix("word-lstm-")?;
        let (size, rest) = rest.split_once('-')?;
        let (layers, hidden) = size.split_once('x')?;
        let (input, rest) = rest.split_once('-')?;
        let (flavor, rest) = rest.split_once('-')?;
        let (targets, dropout) = rest.rsplit_once("-dropout")?;
        let dropout: u32 = dropout.parse().ok()?;
        let config = WordModelConfig {
            vocabulary,
            input: match input {
                "onehot" => WordInput::OneHot,
                e => WordInput::Embedding(e.strip_prefix("embedding")?.parse().ok()?),
            },
            hidden: hidden.parse().ok()?,
            layers: layers.parse().ok()?,
            dropout: dropout as f32 / 100.0,
            flavor: match flavor {
                "keras" => LstmFlavor::Keras,
                "pytorch" => LstmFlavor::PyTorch,
                _ => return None,
            },
            targets: match targets {
                "after-window" => Targets::AfterWindow,
                "every-step" => Targets::EveryStep,
                _ => return None,
            },
        };
        let sizes_ok = config.layers > 0
            && config.hidden > 0
            && config.input != WordInput::Embedding(0)
            && dropout < 100;
        sizes_ok.then_some(config)
    }
}

/// A word-level LSTM: one-hot tokens or an embedding, stacked LSTMs with dropout between them, and a
/// dense layer to the next token's logits.
pub struct WordModel {
    config: WordModelConfig,
    embedding: Option<Embedding>,
    /// One LSTM per layer (`lstm{k}.*`), so that dropout can sit between them as in the course's Keras
    /// model.
    lstms: Vec<Lstm>,
    /// After each LSTM.
    dropouts: Vec<Dropout>,
    head: Linear,
}

impl WordModel {
    /// Reads or creates the weights under `vb`: `embedding.weight` (when there is one), `lstm{k}.*`
    /// (PyTorch's names, layer 0 each) and `head.{weight,bias}`. `seed` draws the dropout masks.
    pub fn new(config: WordModelConfig, vb: VarBuilder, seed: Seed) -> Result<Self> {
        let embedding = match config.input {
            WordInput::OneHot => None,
            WordInput::Embedding(n) => Some(candle_nn::embedding(
                config.vocabulary,
                n,
                vb.pp("embedding"),
            )?),
        };
        let lstm_config = LstmConfig {
            layers: 1,
            flavor: config.flavor,
        };
        let lstms = (0..config.layers)
            .map(|k| {
                let inputs = match (k, config.input) {
                    (0, WordInput::OneHot) => config.vocabulary,
                    (0, WordInput::Embedding(n)) => n,
                    _ => config.hidden,
                };
                Lstm::new(
                    inputs,
                    config.hidden,
                    lstm_config,
                    vb.pp(format!("lstm{k}")),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let dropouts = (0..config.layers as u64)
            .map(|k| Dropout::new(config.dropout, seed.0 ^ (0x776f_7264_0000_0000 + k)))
            .collect();
        let head = match config.flavor {
            LstmFlavor::Keras => keras::dense(config.hidden, config.vocabulary, vb.pp("head"))?,
            LstmFlavor::PyTorch => {
                candle_nn::linear(config.hidden, config.vocabulary, vb.pp("head"))?
            }
        }
        .into();
        Ok(WordModel {
            config,
            embedding,
            lstms,
            dropouts,
            head,
        })
    }

    /// Completes the start of fresh weights where a `VarBuilder` cannot (Keras's orthogonal recurrent
    /// weights and forget-gate biases); `varmap` is the one `new`'s builder wrote to, at its root.
    pub fn start_fresh(&self, varmap: &VarMap) -> Result<()> {
        match self.config.flavor {
            LstmFlavor::Keras => (0..self.config.layers)
                .try_for_each(|k| keras::start_lstm(varmap, &format!("lstm{k}"), 1)),
            LstmFlavor::PyTorch => Ok(()),
        }
    }

    /// Its size and kind.
    pub fn config(&self) -> &WordModelConfig {
        &self.config
    }

    /// Where the weights live; inputs go there.
    pub fn device(&self) -> &candle_core::Device {
        self.head.weight().device()
    }

    /// The last LSTM's hidden states for windows `ids: (batch, steps)`, time-major
    /// `(steps, batch, hidden)`, dropped out when `train`.
    fn states(&self, ids: &Tensor, train: bool) -> Result<Tensor> {
        let mut sequence = match &self.embedding {
            None => self.lstms[0].forward_one_hot(ids)?.sequence,
            Some(e) => self.lstms[0].forward(&e.forward(ids)?)?.sequence,
        };
        sequence = self.dropouts[0].forward_t(&sequence, train)?;
        for (lstm, dropout) in self.lstms.iter().zip(&self.dropouts).skip(1) {
            let below = sequence.transpose(0, 1)?.contiguous()?;
            sequence = dropout.forward_t(&lstm.forward(&below)?.sequence, train)?;
        }
        Ok(sequence)
    }

    /// Logits for windows `ids: (batch, steps)` of token ids: `(batch, vocabulary)` for the word after
    /// each window, or `(steps * batch, vocabulary)` time-major for [`Targets::EveryStep`].
    pub fn logits(&self, ids: &Tensor, train: bool) -> Result<Tensor> {
        let states = self.states(ids, train)?;
        match self.config.targets {
            Targets::AfterWindow => self.head.forward(&states.get(states.dim(0)? - 1)?),
            Targets::EveryStep => self.head.forward(&states)?.flatten_to(1),
        }
    }

    /// The logits of the word after each window, `(batch, vocabulary)`, whatever the model was trained
    /// to predict (dropout off): what generation reads, and what compares the two presets.
    pub fn next_word_logits(&self, ids: &Tensor) -> Result<Tensor> {
        let states = self.states(ids, false)?;
        self.head.forward(&states.get(states.dim(0)? - 1)?)
    }
}

impl LanguageModel for WordModel {
    /// The name checkpoints carry, which says everything but the vocabulary needed to rebuild the model.
    fn name(&self) -> String {
        self.config.name()
    }

    fn targets(&self) -> Targets {
        self.config.targets
    }

    fn loss(&self, ids: &Tensor, next: &Tensor, train: bool) -> Result<Tensor> {
        self.config.targets.loss(&self.logits(ids, train)?, next)
    }

    fn before_step(&self, step: u64) {
        for d in &self.dropouts {
            d.set_calls(step);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::{AdamW, Optimizer, ParamsAdamW};
    use glassbox_core::seed::SeededInit;

    #[test]
    fn the_course_network_has_the_parameters_it_should() {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let model = WordModel::new(WordModelConfig::course(8000), vb, Seed(1)).unwrap();
        model.start_fresh(&varmap).unwrap();
        let count: usize = varmap.all_vars().iter().map(|v| v.elem_count()).sum();
        // LSTM(8) over 8,000 inputs: 4 * 8 * (8000 + 8 + 1); over 8: 4 * 8 * (8 + 8 + 1); dense 8 * 8000 + 8000.
        assert_eq!(count, 256_288 + 544 + 72_000);
    }

    #[test]
    fn a_name_rebuilds_its_configuration() {
        for config in [
            WordModelConfig::course(8000),
            WordModelConfig::every_step(500),
        ] {
            assert_eq!(
                WordModelConfig::from_name(&config.name(), config.vocabulary),
                Some(config)
            );
        }
        assert_eq!(
            WordModelConfig::every_step(10).name(),
            "word-lstm-2x256-embedding128-pytorch-every-step-dropout30"
        );
        assert_eq!(
            WordModelConfig::from_name("char-lstm-2x128-keras-after-window", 89),
            None
        );
        assert_eq!(
            WordModelConfig::from_name("word-lstm-2x8-embedding0-keras-after-window-dropout30", 9),
            None
        );
    }

    /// Dropout changes the training loss but not the evaluation one, and the same step draws the same
    /// masks (what a resumed run relies on).
    #[test]
    fn dropout_is_on_in_training_only_and_follows_the_step() {
        let varmap = VarMap::new();
        let vb = SeededInit::var_builder(&varmap, Seed(3), DType::F32, &Device::Cpu);
        let config = WordModelConfig {
            hidden: 16,
            input: WordInput::Embedding(8),
            ..WordModelConfig::every_step(30)
        };
        let model = WordModel::new(config, vb, Seed(3)).unwrap();
        let ids = Tensor::new(&[[1u32, 2, 3, 4], [5, 6, 7, 8]], &Device::Cpu).unwrap();
        let next = Tensor::new(&[[2u32, 3, 4, 5], [6, 7, 8, 9]], &Device::Cpu).unwrap();
        let loss = |train: bool| -> f32 {
            model
                .loss(&ids, &next, train)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        assert_eq!(loss(false), loss(false));
        model.before_step(7);
        let first = loss(true);
        model.before_step(7);
        assert_eq!(loss(true), first);
        model.before_step(8);
        assert_ne!(loss(true), first);
        assert_ne!(loss(false), first);
    }

    /// A few steps on a repeated sentence: both presets' layouts learn it far below the uniform guess.
    #[test]
    fn both_layouts_learn_a_repeated_sentence() {
        let sentence = [3u32, 7, 1, 9, 4, 4, 2, 8, 5, 6];
        let text: Vec<u32> = sentence.iter().copied().cycle().take(200).collect();
        let vocabulary = 12;
        let dev = Device::Cpu;
        for config in [
            WordModelConfig {
                hidden: 16,
                dropout: 0.0,
                ..WordModelConfig::course(vocabulary)
            },
            WordModelConfig {
                hidden: 16,
                input: WordInput::Embedding(8),
                dropout: 0.0,
                ..WordModelConfig::every_step(vocabulary)
            },
        ] {
            let varmap = VarMap::new();
            let vb = SeededInit::var_builder(&varmap, Seed(7), DType::F32, &dev);
            let model = WordModel::new(config, vb, Seed(7)).unwrap();
            model.start_fresh(&varmap).unwrap();
            let starts: Vec<usize> = (0..10).collect();
            let steps = 6;
            let (ids, next) =
                crate::train::window_batch(&text, &starts, steps, config.targets, &dev).unwrap();
            let params = ParamsAdamW {
                lr: 2e-2,
                weight_decay: 0.0,
                ..Default::default()
            };
            let mut opt = AdamW::new(varmap.all_vars(), params).unwrap();
            let first = model
                .loss(&ids, &next, true)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            for _ in 0..150 {
                let loss = model.loss(&ids, &next, true).unwrap();
                opt.backward_step(&loss).unwrap();
            }
            let last = model
                .loss(&ids, &next, false)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            let uniform = (vocabulary as f32).ln();
            assert!(
                (first - uniform).abs() < 0.7,
                "{}: start {first}",
                config.name()
            );
            assert!(last < 0.2 * uniform, "{}: {first} -> {last}", config.name());
            // The next-word logits agree with the training view's last step.
            let greedy = model.next_word_logits(&ids).unwrap().argmax(1).unwrap();
            let expected: Vec<u32> = starts.iter().map(|&s| text[s + steps]).collect();
            assert_eq!(
                greedy.to_vec1::<u32>().unwrap(),
                expected,
                "{}",
                config.name()
            );
        }
    }
}
