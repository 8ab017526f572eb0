//! The character-level language models, read top to bottom.
//!
//! The course's network is Keras's `lstm_text_generation` example as the course ran it on holmes.txt:
//!
//! ```text
//! 40 one-hot characters -> LSTM(128, return_sequences=True) -> LSTM(128) -> Dense(89, softmax)
//! ```
//!
//! 254,681 parameters (Keras's `model.summary()`: 111,616 + 131,584 + 11,481), predicting the one
//! character after the window. The default reads the same kind of windows but predicts the next character
//! at every step, so each window teaches as many targets as it has characters.
//!
//! One-hot inputs are never built: the first layer's input projection of a one-hot vector is a row of its
//! weights, looked up by index ([`Lstm::forward_one_hot`]).

use candle_core::{Result, Tensor};
use candle_nn::{Module, VarBuilder, VarMap};
use glassbox_tensor::nn::{keras, Linear, Lstm, LstmConfig, LstmFlavor, LstmState};

/// What a [`CharModel`] predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Targets {
    /// The character after the window (the course).
    AfterWindow,
    /// The next character at every step of the window.
    EveryStep,
}

impl Targets {
    /// Mean cross-entropy of `logits` as a model predicting these targets returns them (`(batch, n)`, or
    /// `(steps * batch, n)` time-major) against `next`: `(batch)`, or `(batch, steps)` for every step.
    pub fn loss(self, logits: &Tensor, next: &Tensor) -> Result<Tensor> {
        let targets = match self {
            Targets::AfterWindow => next.clone(),
            Targets::EveryStep => next.t()?.flatten_all()?,
        };
        glassbox_tensor::ops::cross_entropy(logits, &targets)
    }
}

/// The size and kind of a character model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CharModelConfig {
    /// The vocabulary's size: inputs and outputs.
    pub symbols: usize,
    /// Cells per LSTM layer.
    pub hidden: usize,
    /// Stacked LSTM layers.
    pub layers: usize,
    /// Keras's LSTM for the course's network (one bias per layer, its start), PyTorch's otherwise.
    pub flavor: LstmFlavor,
    /// What it predicts: the character after the window, or the next one at every step.
    pub targets: Targets,
}

impl CharModelConfig {
    /// See [`CharModel::name`].
    pub fn name(&self) -> String {
        let flavor = match self.flavor {
            LstmFlavor::Keras => "keras",
            LstmFlavor::PyTorch => "pytorch",
        };
        let targets = match self.targets {
            Targets::AfterWindow => "after-window",
            Targets::EveryStep => "every-step",
        };
        format!(
            "char-lstm-{}x{}-{flavor}-{targets}",
            self.layers, self.hidden
        )
    }

    /// The configuration [`CharModelConfig::name`] describes, for a vocabulary of `symbols`; `None`
    /// for a name of another model.
    pub fn from_name(name: &str, symbols: usize) -> Option<Self> {
        let rest = name.strip_prefix("char-lstm-")?;
        let (size, rest) = rest.split_once('-')?;
        let (layers, hidden) = size.split_once('x')?;
        let (flavor, targets) = rest.split_once('-')?;
        let config = CharModelConfig {
            symbols,
            hidden: hidden.parse().ok()?,
            layers: layers.parse().ok()?,
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
        (config.layers > 0 && config.hidden > 0).then_some(config)
    }

    /// The default: two LSTM(256) of PyTorch's kind predicting every step (provisional: issue 16's runs
    /// beside PyTorch settle its size).
    pub fn every_step(symbols: usize) -> Self {
        CharModelConfig {
            symbols,
            hidden: 256,
            layers: 2,
            flavor: LstmFlavor::PyTorch,
            targets: Targets::EveryStep,
        }
    }

    /// The course's network, exactly.
    pub fn course(symbols: usize) -> Self {
        CharModelConfig {
            symbols,
            hidden: 128,
            layers: 2,
            flavor: LstmFlavor::Keras,
            targets: Targets::AfterWindow,
        }
    }
}

/// A character-level LSTM: stacked LSTMs over one-hot characters (looked up, never built) and a dense
/// layer to the next character's logits.
pub struct CharModel {
    config: CharModelConfig,
    lstm: Lstm,
    head: Linear,
}

impl CharModel {
    /// Reads or creates the weights under `vb`: `lstm.*` (PyTorch's names) and `head.{weight,bias}`.
    pub fn new(config: CharModelConfig, vb: VarBuilder) -> Result<Self> {
        let lstm_config = LstmConfig {
            layers: config.layers,
            flavor: config.flavor,
        };
        let lstm = Lstm::new(config.symbols, config.hidden, lstm_config, vb.pp("lstm"))?;
        let head = match config.flavor {
            LstmFlavor::Keras => keras::dense(config.hidden, config.symbols, vb.pp("head"))?,
            LstmFlavor::PyTorch => candle_nn::linear(config.hidden, config.symbols, vb.pp("head"))?,
        }
        .into();
        Ok(CharModel { config, lstm, head })
    }

    /// Completes the start of fresh weights where a `VarBuilder` cannot (Keras's orthogonal recurrent
    /// weights and forget-gate biases); `varmap` is the one `new`'s builder wrote to, at its root.
    pub fn start_fresh(&self, varmap: &VarMap) -> Result<()> {
        match self.config.flavor {
            LstmFlavor::Keras => keras::start_lstm(varmap, "lstm", self.config.layers),
            LstmFlavor::PyTorch => Ok(()),
        }
    }

    /// Its size and kind.
    pub fn config(&self) -> &CharModelConfig {
        &self.config
    }

    /// Where the weights live; inputs go there.
    pub fn device(&self) -> &candle_core::Device {
        self.head.weight().device()
    }

    /// The name checkpoints carry, which says everything but the vocabulary needed to rebuild the
    /// model, e.g. `char-lstm-2x128-keras-after-window`.
    pub fn name(&self) -> String {
        self.config.name()
    }

    /// Logits for windows `ids: (batch, steps)` of symbol indices: `(batch, symbols)` for the character
    /// after each window, or `(steps * batch, symbols)` time-major for [`Targets::EveryStep`].
    pub fn logits(&self, ids: &Tensor) -> Result<Tensor> {
        let states = self.lstm.forward_one_hot(ids)?;
        match self.config.targets {
            Targets::AfterWindow => self.head.forward(&states.last_hidden()?),
            // The head over the states as they come, then its logits flattened: a third the size of
            // the states, so candle's backward pass zeroes and adds less for the reshape.
            Targets::EveryStep => self.head.forward(&states.sequence)?.flatten_to(1),
        }
    }

    /// The state before the first character: zeros, as training starts every window.
    pub fn zero_state(&self, batch: usize) -> Result<LstmState> {
        self.lstm.zero_state(batch, self.device())
    }

    /// Reads one character per sequence, `ids: (batch)`, after `state`: the logits of the next
    /// character, `(batch, symbols)`, and the state after it. What [`CharModel::logits`] computes at each
    /// step of a window, one step at a time (for generation with a carried state, and for looking at
    /// the cells).
    pub fn step(&self, ids: &Tensor, state: &LstmState) -> Result<(Tensor, LstmState)> {
        let state = self.lstm.step_one_hot(ids, state)?;
        Ok((self.head.forward(state.top())?, state))
    }

    /// Mean cross-entropy in nats per predicted character. `next` holds the targets: `(batch)` after the
    /// window, or `(batch, steps)` for every step (the window shifted by one).
    pub fn loss(&self, ids: &Tensor, next: &Tensor) -> Result<Tensor> {
        self.config.targets.loss(&self.logits(ids)?, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::{AdamW, Optimizer, ParamsAdamW};
    use glassbox_core::seed::{Seed, SeededInit};

    #[test]
    fn the_course_network_has_the_course_parameter_count() {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        CharModel::new(CharModelConfig::course(89), vb).unwrap();
        let count: usize = varmap.all_vars().iter().map(|v| v.elem_count()).sum();
        assert_eq!(count, 254_681);
    }

    #[test]
    fn a_name_rebuilds_its_configuration() {
        for config in [
            CharModelConfig::course(89),
            CharModelConfig {
                hidden: 256,
                flavor: LstmFlavor::PyTorch,
                targets: Targets::EveryStep,
                ..CharModelConfig::course(70)
            },
        ] {
            assert_eq!(
                CharModelConfig::from_name(&config.name(), config.symbols),
                Some(config)
            );
        }
        assert_eq!(
            CharModelConfig::course(89).name(),
            "char-lstm-2x128-keras-after-window"
        );
        assert_eq!(CharModelConfig::from_name("vae-784-512-256-2", 89), None);
        assert_eq!(
            CharModelConfig::from_name("char-lstm-0x128-keras-after-window", 89),
            None
        );
    }

    /// A few steps on one repeated sentence: both kinds of target learn it far below the uniform guess.
    #[test]
    fn both_models_learn_a_repeated_sentence() {
        let text: Vec<u32> = "elementary, my dear watson. "
            .bytes()
            .cycle()
            .take(400)
            .map(|b| u32::from(b - b' ') % 64)
            .collect();
        let symbols = 64;
        let dev = Device::Cpu;
        for targets in [Targets::AfterWindow, Targets::EveryStep] {
            let varmap = VarMap::new();
            let vb = SeededInit::var_builder(&varmap, Seed(7), DType::F32, &dev);
            let config = CharModelConfig {
                hidden: 32,
                flavor: LstmFlavor::PyTorch,
                targets,
                ..CharModelConfig::course(symbols)
            };
            let model = CharModel::new(config, vb).unwrap();
            let steps = 12;
            let starts: Vec<usize> = (0..16).map(|i| i * 7).collect();
            let window = |offset: usize, len: usize| -> Tensor {
                let rows: Vec<u32> = starts
                    .iter()
                    .flat_map(|&s| text[s + offset..s + offset + len].to_vec())
                    .collect();
                Tensor::from_vec(rows, (starts.len(), len), &dev).unwrap()
            };
            let ids = window(0, steps);
            let next = match targets {
                Targets::AfterWindow => window(steps, 1).flatten_all().unwrap(),
                Targets::EveryStep => window(1, steps),
            };
            let params = ParamsAdamW {
                lr: 1e-2,
                weight_decay: 0.0,
                ..Default::default()
            };
            let mut opt = AdamW::new(varmap.all_vars(), params).unwrap();
            let first = model.loss(&ids, &next).unwrap().to_scalar::<f32>().unwrap();
            let mut last = first;
            for _ in 0..150 {
                let loss = model.loss(&ids, &next).unwrap();
                last = loss.to_scalar::<f32>().unwrap();
                opt.backward_step(&loss).unwrap();
            }
            let uniform = (symbols as f32).ln();
            assert!((first - uniform).abs() < 0.5, "{targets:?}: start {first}");
            assert!(last < 0.2 * uniform, "{targets:?}: {first} -> {last}");
        }
    }
}
