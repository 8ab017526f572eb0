//! Text from a character model: each next symbol drawn from the model's softmax at a temperature (or the
//! likeliest one) and read back in, as the course's `sample` does.

use candle_core::Tensor;
use glassbox_core::data::CharVocab;
use glassbox_tensor::nn::LstmState;
use rand::Rng;

use crate::char_model::CharModel;
use crate::Result;

/// How the next symbol is chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampling {
    /// The likeliest symbol.
    Greedy,
    /// Drawn from softmax(logits / t): below 1 sharper and safer, above 1 flatter and wilder.
    Temperature(f64),
}

impl Sampling {
    /// `0` means greedy; otherwise a finite positive temperature.
    pub fn from_temperature(t: f64) -> glassbox_core::Result<Sampling> {
        if t == 0.0 {
            Ok(Sampling::Greedy)
        } else if t.is_finite() && t > 0.0 {
            Ok(Sampling::Temperature(t))
        } else {
            Err(glassbox_core::Error::invalid(
                "temperature",
                t,
                "0 (greedy) or a positive number such as 0.5, 1.0 or 1.5",
            ))
        }
    }

    /// The index chosen from `logits`; `u` is a uniform draw in [0, 1) (unused when greedy).
    pub fn choose(self, logits: &[f32], u: f64) -> usize {
        let argmax = || {
            logits
                .iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (i, &l)| {
                    if l > best.1 {
                        (i, l)
                    } else {
                        best
                    }
                })
                .0
        };
        let Sampling::Temperature(t) = self else {
            return argmax();
        };
        let max = logits[argmax()] as f64;
        let weights: Vec<f64> = logits
            .iter()
            .map(|&l| ((l as f64 - max) / t).exp())
            .collect();
        let mut left = u * weights.iter().sum::<f64>();
        for (i, w) in weights.iter().enumerate() {
            left -= w;
            if left < 0.0 {
                return i;
            }
        }
        weights.len() - 1
    }
}

/// Draws text from a model one symbol at a time, its LSTM state carried from each symbol to the next (as
/// Karpathy's char-rnn samples): each symbol costs one step whatever the length.
pub struct Sampler<'a> {
    model: &'a CharModel,
    vocab: &'a CharVocab,
    state: LstmState,
    /// The model's logits for the next symbol.
    logits: Vec<f32>,
}

impl<'a> Sampler<'a> {
    /// Reads `seed_text` from a zero state. A seed text with a symbol outside the vocabulary is refused,
    /// the symbol named.
    pub fn new(model: &'a CharModel, vocab: &'a CharVocab, seed_text: &str) -> Result<Self> {
        if seed_text.is_empty() {
            return Err(
                glassbox_core::Error::invalid("seed text", "", "at least one character").into(),
            );
        }
        let mut sampler = Sampler {
            model,
            vocab,
            state: model.zero_state(1)?,
            logits: Vec::new(),
        };
        for id in vocab.encode(seed_text, "seed text")? {
            sampler.read(id)?;
        }
        Ok(sampler)
    }

    fn read(&mut self, id: u32) -> Result<()> {
        let ids = Tensor::new(&[id], self.model.device())?;
        let (logits, state) = self.model.step(&ids, &self.state)?;
        self.logits = logits.squeeze(0)?.to_vec1()?;
        self.state = state;
        Ok(())
    }

    /// The next symbol, drawn as `sampling` says and then read by the model.
    pub fn next(&mut self, sampling: Sampling, rng: &mut impl Rng) -> Result<char> {
        let next = sampling.choose(&self.logits, rng.random::<f64>()) as u32;
        let c = self
            .vocab
            .char(next)
            .expect("the model has one output per symbol");
        self.read(next)?;
        Ok(c)
    }
}

/// Appends `length` symbols to `seed_text`, handing each to `emit` as it is drawn (to stream it), and
/// returns them (see [`Sampler`]).
pub fn generate(
    model: &CharModel,
    vocab: &CharVocab,
    seed_text: &str,
    length: usize,
    sampling: Sampling,
    rng: &mut impl Rng,
    mut emit: impl FnMut(char),
) -> Result<String> {
    let mut sampler = Sampler::new(model, vocab, seed_text)?;
    let mut out = String::new();
    for _ in 0..length {
        let c = sampler.next(sampling, rng)?;
        emit(c);
        out.push(c);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::char_model::{CharModelConfig, Targets};
    use candle_core::{DType, Device};
    use candle_nn::{VarBuilder, VarMap};
    use glassbox_core::seed::{Seed, SeededInit};
    use rand::SeedableRng;

    #[test]
    fn choices_follow_the_temperature() {
        let logits = [0.0f32, 1.0, 3.0];
        assert_eq!(Sampling::Greedy.choose(&logits, 0.0), 2);
        // At t = 1 the weights are 1, e, e^3: u below 1 / (1 + e + e^3) picks the first.
        let t1 = Sampling::Temperature(1.0);
        let total = 1.0 + 1f64.exp() + 3f64.exp();
        assert_eq!(t1.choose(&logits, 0.99 / total), 0);
        assert_eq!(t1.choose(&logits, 1.01 / total), 1);
        assert_eq!(t1.choose(&logits, 0.999), 2);
        // A cold temperature makes the likeliest all but certain.
        assert_eq!(Sampling::Temperature(0.05).choose(&logits, 1e-9), 2);
        assert!(Sampling::from_temperature(-1.0).is_err());
        assert!(Sampling::from_temperature(f64::NAN).is_err());
        assert_eq!(Sampling::from_temperature(0.0).unwrap(), Sampling::Greedy);
    }

    fn model(vocab: &CharVocab) -> CharModel {
        let varmap = VarMap::new();
        let vb: VarBuilder = SeededInit::var_builder(&varmap, Seed(3), DType::F32, &Device::Cpu);
        let config = CharModelConfig {
            hidden: 16,
            targets: Targets::EveryStep,
            ..CharModelConfig::course(vocab.len())
        };
        let m = CharModel::new(config, vb).unwrap();
        m.start_fresh(&varmap).unwrap();
        m
    }

    #[test]
    fn a_fixed_seed_gives_the_same_text_and_streams_it() {
        let vocab = CharVocab::from_text("abcdefgh .");
        let m = model(&vocab);
        let run = |seed: u64| {
            let mut streamed = String::new();
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let text = generate(
                &m,
                &vocab,
                "abc",
                40,
                Sampling::Temperature(1.0),
                &mut rng,
                |c| streamed.push(c),
            )
            .unwrap();
            assert_eq!(text, streamed);
            assert_eq!(text.chars().count(), 40);
            text
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }

    #[test]
    fn a_seed_text_outside_the_vocabulary_is_refused_naming_the_symbol() {
        let vocab = CharVocab::from_text("abc ");
        let m = model(&vocab);
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        let err = generate(&m, &vocab, "a cab!", 5, Sampling::Greedy, &mut rng, |_| {})
            .unwrap_err()
            .to_string();
        assert!(err.contains("'!'") && err.contains("U+0021"), "{err}");
    }
}
