//! The word lesson's training, measures and generation: [`crate::train`]'s loop over a [`WordText`],
//! the tokenizer saved as `tokenizer.json` beside the checkpoint (its fingerprint inside), the held-out
//! perplexity of the word after a window, and text drawn word by word.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use glassbox_core::seed::Seed;
use glassbox_core::train::EpochReport;
use rand::Rng;

use crate::char_model::Targets;
use crate::chars::course_windows;
use crate::generate::Sampling;
use crate::train::{
    train_lm, window_batch, Recipe, SavedModel, TrainOutcome, TrainRun, CHECKPOINT_FILE,
};
use crate::word_model::{WordInput, WordModel, WordModelConfig};
use crate::words::{WordText, WordTokenizer, TOKENIZER_FILE};
use crate::Result;

/// The checkpoint metadata entry that holds the tokenizer's [`WordTokenizer::fingerprint`].
pub const TOKENS_KEY: &str = "tokens";

impl Recipe {
    /// The course's word recipe: its character recipe over 40-word windows every 3 words (RMSprop lr
    /// 0.01, batch 100), 10 epochs.
    pub fn course_words() -> Self {
        Recipe {
            epochs: 10,
            ..Recipe::course()
        }
    }

    /// For the default word model: non-overlapping 40-word windows, batch 32, Adam 2e-3, clipping at 1,
    /// a cosine schedule, 10 epochs.
    pub fn every_step_words() -> Self {
        Recipe {
            epochs: 10,
            window: 40,
            step: 40,
            ..Recipe::every_step()
        }
    }
}

/// Trains `model` on `text` (see [`crate::train::train_lm`]) and writes the tokenizer beside the
/// checkpoint first; a checkpoint of the same network over another vocabulary is not resumed.
pub fn train_words(
    model: &WordModel,
    varmap: &VarMap,
    text: &WordText,
    recipe: &Recipe,
    run: &TrainRun,
    after_epoch: impl FnMut(&EpochReport) -> Result<()>,
) -> Result<TrainOutcome> {
    let identity = BTreeMap::from([(TOKENS_KEY.to_string(), text.tokenizer.fingerprint())]);
    let checkpoint = run.out.join(CHECKPOINT_FILE);
    // A resumed run keeps the tokenizer it started with (the fingerprint check refuses another).
    if !(run.resume && checkpoint.exists()) {
        text.tokenizer.save(&run.out.join(TOKENIZER_FILE))?;
    }
    train_lm(
        model,
        varmap,
        text.split(),
        identity,
        recipe,
        run,
        after_epoch,
    )
}

/// A trained word model and what generating from it needs.
pub struct TrainedWords {
    /// The model, with its trained weights.
    pub model: WordModel,
    /// The tokenizer it was trained with.
    pub tokenizer: WordTokenizer,
    /// The window it was trained on (the context generation reads).
    pub window: usize,
    /// Epochs it was trained for.
    pub epoch: usize,
}

/// Rebuilds a model from a checkpoint [`train_words`] wrote, with the `tokenizer.json` beside it.
/// Anything else (another lesson's checkpoint, a missing or different tokenizer, mis-shaped tensors) is
/// an error naming the file.
pub fn load_trained_words(path: &Path, device: &Device) -> Result<TrainedWords> {
    trained_words(&SavedModel::open(path, device, "a word model")?, device)
}

/// As [`load_trained_words`], from a checkpoint already opened.
pub fn trained_words(saved: &SavedModel, device: &Device) -> Result<TrainedWords> {
    let path = saved.path();
    let fingerprint = saved.extra(TOKENS_KEY, "no tokenizer fingerprint in its metadata")?;
    let tokenizer_path = path.with_file_name(TOKENIZER_FILE);
    let tokenizer = WordTokenizer::load(&tokenizer_path)?;
    if &tokenizer.fingerprint() != fingerprint {
        return Err(glassbox_core::Error::format(
            &tokenizer_path,
            format!("not the tokenizer {} was trained with", path.display()),
        )
        .into());
    }
    let config = WordModelConfig::from_name(saved.model_name(), tokenizer.len())
        .ok_or_else(|| saved.not_ours("its model name is not a word LSTM's"))?;
    let (inputs, embedding) = match config.input {
        WordInput::OneHot => (config.vocabulary, 0),
        WordInput::Embedding(size) => (
            size,
            (config.vocabulary as u128).saturating_mul(size as u128),
        ),
    };
    saved.check_size(
        embedding.saturating_add(crate::train::lstm_weights_at_least(
            inputs,
            config.hidden,
            config.layers,
            config.vocabulary,
        )),
    )?;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
    let model = WordModel::new(config, vb, Seed(0))?;
    saved.restore(&varmap)?;
    Ok(TrainedWords {
        model,
        tokenizer,
        window: saved.window,
        epoch: saved.epoch(),
    })
}

/// The mean loss, in nats, of predicting the word after each `window`-word window of `ids` (one every
/// `step` words): the course's task, the same for a model trained on it and for one trained on every
/// step, so the two presets compare. Its exponential is the perplexity.
pub fn next_word_loss(model: &WordModel, ids: &[u32], window: usize, step: usize) -> Result<f64> {
    let device = model.device();
    let starts = course_windows(ids, window, step);
    let (mut sum, mut count) = (0.0, 0usize);
    for chunk in starts.chunks(256) {
        let (inputs, next) = window_batch(ids, chunk, window, Targets::AfterWindow, device)?;
        let logits = model.next_word_logits(&inputs)?;
        let loss = glassbox_tensor::ops::cross_entropy(&logits, &next)?.to_scalar::<f32>()?;
        sum += f64::from(loss) * chunk.len() as f64;
        count += chunk.len();
    }
    Ok(sum / count.max(1) as f64)
}

impl TrainedWords {
    /// A sampler reading the window the model was trained on.
    pub fn sampler(&self) -> WordSampler<'_> {
        WordSampler {
            model: &self.model,
            tokenizer: &self.tokenizer,
            window: self.window,
        }
    }
}

/// Draws text from a word model, a word at a time.
pub struct WordSampler<'a> {
    /// The model.
    pub model: &'a WordModel,
    /// Its tokenizer.
    pub tokenizer: &'a WordTokenizer,
    /// The context the model reads: the window it was trained on.
    pub window: usize,
}

impl WordSampler<'_> {
    /// Appends `words` tokens to `seed_text`, each drawn from the model's next-word logits over the last
    /// `window` tokens (the course rereads its window for every word, as the model was trained from a
    /// zero state on windows of that length), handing each to `emit` as it continues the prose (see
    /// [`WordTokenizer::prose_piece`]). Returns the new tokens' ids.
    pub fn generate(
        &self,
        seed_text: &str,
        words: usize,
        sampling: Sampling,
        rng: &mut impl Rng,
        mut emit: impl FnMut(&str),
    ) -> Result<Vec<u32>> {
        let mut ids = self.tokenizer.encode(seed_text)?;
        if ids.is_empty() {
            return Err(
                glassbox_core::Error::invalid("seed text", seed_text, "at least one word").into(),
            );
        }
        let seed_len = ids.len();
        let device = self.model.device();
        for _ in 0..words {
            let context = &ids[ids.len().saturating_sub(self.window)..];
            let input = Tensor::from_slice(context, (1, context.len()), device)?;
            let logits: Vec<f32> = self.model.next_word_logits(&input)?.squeeze(0)?.to_vec1()?;
            let next = sampling.choose(&logits, rng.random::<f64>()) as u32;
            ids.push(next);
            emit(&self.tokenizer.prose_piece(next, false));
        }
        Ok(ids.split_off(seed_len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::OptimizerKind;
    use glassbox_core::seed::SeededInit;

    fn text() -> WordText {
        let prose =
            "It is a capital mistake to theorize before one has data. Insensibly one begins to \
                     twist facts to suit theories, instead of theories to suit facts. ";
        let prose: String = prose.repeat(30);
        WordText::from_text(&prose, Path::new("slice.txt"), 40, 8).unwrap()
    }

    fn run(out: &Path, epochs: usize, resume: bool) -> (VarMap, Vec<EpochReport>) {
        let text = text();
        let varmap = VarMap::new();
        let vb = SeededInit::var_builder(&varmap, Seed(5), DType::F32, &Device::Cpu);
        let config = WordModelConfig {
            hidden: 24,
            input: WordInput::Embedding(16),
            ..WordModelConfig::every_step(text.tokenizer.len())
        };
        let model = WordModel::new(config, vb, Seed(5)).unwrap();
        let recipe = Recipe {
            epochs,
            batch_size: 8,
            window: 8,
            step: 3,
            optimizer: OptimizerKind::Adam { lr: 1e-2 },
            cosine: false,
            ..Recipe::every_step_words()
        };
        let run = TrainRun {
            out,
            seed: Seed(5),
            device: &Device::Cpu,
            resume,
        };
        let outcome = train_words(&model, &varmap, &text, &recipe, &run, |_| Ok(())).unwrap();
        (varmap, outcome.reports)
    }

    fn weights(varmap: &VarMap) -> Vec<(String, Vec<f32>)> {
        glassbox_core::checkpoint::varmap_tensors(varmap)
            .iter()
            .map(|(n, t)| {
                (
                    n.clone(),
                    t.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                )
            })
            .collect()
    }

    /// Learns the slice, reads back with its tokenizer, generates the same words for the same seed, and
    /// a run resumed after its first epoch ends with the weights of an uninterrupted one (dropout masks
    /// included).
    #[test]
    fn trains_resumes_exactly_and_generates_reproducibly() {
        let whole = tempfile::tempdir().unwrap();
        let (full, reports) = run(whole.path(), 2, false);
        let vocabulary = text().tokenizer.len() as f64;
        let validation = reports[1].eval["validation_loss"].as_f64().unwrap();
        assert!(
            validation < 0.5 * vocabulary.ln(),
            "held-out loss {validation} vs ln {vocabulary}"
        );
        let trained =
            load_trained_words(&whole.path().join(CHECKPOINT_FILE), &Device::Cpu).unwrap();
        assert_eq!((trained.window, trained.epoch), (8, 2));
        let draw = |seed: u64| {
            let mut rng = Seed(seed).stream("words");
            let mut streamed = String::new();
            let ids = trained
                .sampler()
                .generate(
                    "It is a capital",
                    12,
                    Sampling::Temperature(1.0),
                    &mut rng,
                    |w| streamed.push_str(w),
                )
                .unwrap();
            (ids, streamed)
        };
        let (ids, streamed) = draw(1);
        assert_eq!(ids.len(), 12);
        assert!(!streamed.is_empty());
        assert_eq!(draw(1), (ids, streamed));
        let greedy = trained
            .sampler()
            .generate(
                "It is a capital",
                3,
                Sampling::Greedy,
                &mut Seed(1).stream("words"),
                |_| {},
            )
            .unwrap();
        assert_eq!(trained.tokenizer.to_prose(&greedy), "mistake to theorize");

        let split = tempfile::tempdir().unwrap();
        run(split.path(), 1, false);
        let (resumed, later) = run(split.path(), 2, true);
        assert_eq!(later.len(), 1, "only epoch 2 runs again");
        assert_eq!(weights(&full), weights(&resumed));
    }

    #[test]
    fn a_checkpoint_without_its_tokenizer_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        run(dir.path(), 1, false);
        std::fs::remove_file(dir.path().join(TOKENIZER_FILE)).unwrap();
        let err = load_trained_words(&dir.path().join(CHECKPOINT_FILE), &Device::Cpu)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(TOKENIZER_FILE), "{err}");
    }
}
