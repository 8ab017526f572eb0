//! The character lesson's training: [`crate::train`]'s loop over a [`CharText`], the vocabulary kept in
//! each checkpoint, and a trained model read back from one.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use glassbox_core::data::CharVocab;
use glassbox_core::train::EpochReport;

use crate::char_model::{CharModel, CharModelConfig, Targets};
use crate::chars::CharText;
use crate::train::{train_lm, LanguageModel, Recipe, SavedModel, Split, TrainOutcome, TrainRun};
use crate::Result;

/// The checkpoint metadata entry that holds the vocabulary, its symbols in index order.
pub const VOCABULARY_KEY: &str = "vocabulary";

impl LanguageModel for CharModel {
    fn name(&self) -> String {
        self.config().name()
    }

    fn targets(&self) -> Targets {
        self.config().targets
    }

    fn loss(
        &self,
        ids: &candle_core::Tensor,
        next: &candle_core::Tensor,
        _train: bool,
    ) -> candle_core::Result<candle_core::Tensor> {
        CharModel::loss(self, ids, next)
    }
}

impl CharText {
    /// The training text and the held-out tail, as the training loop takes them.
    pub fn split(&self) -> Split<'_> {
        Split {
            train: self.train(),
            validation: self.validation(),
        }
    }
}

/// Trains `model` on `text` (see [`train_lm`]); a checkpoint of the same network over other symbols is
/// not resumed.
pub fn train_chars(
    model: &CharModel,
    varmap: &VarMap,
    text: &CharText,
    recipe: &Recipe,
    run: &TrainRun,
    after_epoch: impl FnMut(&EpochReport) -> Result<()>,
) -> Result<TrainOutcome> {
    let vocabulary: String = text.vocab.chars().iter().collect();
    let identity = BTreeMap::from([(VOCABULARY_KEY.to_string(), vocabulary)]);
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

/// A trained character model and what generating from it needs.
pub struct TrainedChars {
    /// The model, with its trained weights.
    pub model: CharModel,
    /// The characters it reads and writes.
    pub vocab: CharVocab,
    /// The window it was trained on (the context generation reads).
    pub window: usize,
    /// Epochs it was trained for.
    pub epoch: usize,
}

/// Rebuilds a model from a checkpoint `train_chars` wrote. Anything else (another lesson's checkpoint,
/// missing metadata, mis-shaped tensors) is an error naming the file.
pub fn load_trained(path: &Path, device: &Device) -> Result<TrainedChars> {
    trained_chars(
        &SavedModel::open(path, device, "a character model")?,
        device,
    )
}

/// As [`load_trained`], from a checkpoint already opened.
pub fn trained_chars(saved: &SavedModel, device: &Device) -> Result<TrainedChars> {
    let vocabulary = saved.extra(VOCABULARY_KEY, "no vocabulary in its metadata")?;
    let vocab = CharVocab::from_text(vocabulary);
    let config = CharModelConfig::from_name(saved.model_name(), vocab.len())
        .ok_or_else(|| saved.not_ours("its model name is not a character LSTM's"))?;
    saved.check_size(crate::train::lstm_weights_at_least(
        config.symbols,
        config.hidden,
        config.layers,
        config.symbols,
    ))?;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
    let model = CharModel::new(config, vb)?;
    saved.restore(&varmap)?;
    Ok(TrainedChars {
        model,
        vocab,
        window: saved.window,
        epoch: saved.epoch(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::{OptimizerKind, CHECKPOINT_FILE};
    use glassbox_core::checkpoint;
    use glassbox_core::optim::{Adam, Optimizer, ParamsAdam};
    use glassbox_core::seed::{Seed, SeededInit};
    use glassbox_core::train::run;
    use glassbox_tensor::nn::LstmFlavor;

    fn slice() -> CharText {
        let text: String = "It is a capital mistake to theorize before one has data. "
            .chars()
            .cycle()
            .take(6000)
            .collect();
        CharText::from_text(&text, Path::new("slice.txt"), 20).unwrap()
    }

    fn run(out: &Path, epochs: usize, resume: bool) -> (VarMap, Vec<EpochReport>) {
        let text = slice();
        let varmap = VarMap::new();
        let vb = SeededInit::var_builder(&varmap, Seed(5), DType::F32, &Device::Cpu);
        let config = CharModelConfig {
            hidden: 32,
            flavor: LstmFlavor::PyTorch,
            targets: Targets::EveryStep,
            ..CharModelConfig::course(text.vocab.len())
        };
        let model = CharModel::new(config, vb).unwrap();
        model.start_fresh(&varmap).unwrap();
        // No schedule: a one-epoch run is then exactly the first epoch of a two-epoch one, which is
        // what a run killed after its first checkpoint leaves behind.
        let recipe = Recipe {
            epochs,
            batch_size: 16,
            window: 20,
            step: 5,
            optimizer: OptimizerKind::Adam { lr: 1e-2 },
            cosine: false,
            ..Recipe::every_step()
        };
        let run = TrainRun {
            out,
            seed: Seed(5),
            device: &Device::Cpu,
            resume,
        };
        let outcome = train_chars(&model, &varmap, &text, &recipe, &run, |_| Ok(())).unwrap();
        (varmap, outcome.reports)
    }

    #[test]
    fn another_models_checkpoint_is_not_taken_for_a_character_model() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.safetensors");
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        candle_nn::linear(4, 2, vb.pp("fc")).unwrap();
        let opt = Adam::new(varmap.all_vars(), ParamsAdam::default()).unwrap();
        run::save_epoch(
            &path,
            "mnist-cnn",
            1,
            Seed(1),
            &varmap,
            &opt,
            BTreeMap::new(),
        )
        .unwrap();
        let err = load_trained(&path, &Device::Cpu).err().unwrap().to_string();
        assert!(
            err.contains("other.safetensors") && err.contains("not a character model"),
            "{err}"
        );
    }

    #[test]
    fn loss_falls_and_a_resumed_run_ends_where_an_uninterrupted_one_does() {
        let whole = tempfile::tempdir().unwrap();
        let (full, reports) = run(whole.path(), 2, false);
        let symbols = slice().vocab.len() as f64;
        let validation = reports[1].eval["validation_loss"].as_f64().unwrap();
        assert!(
            validation < 0.3 * symbols.ln(),
            "held-out loss {validation} vs ln {symbols}"
        );
        let trained = load_trained(&whole.path().join(CHECKPOINT_FILE), &Device::Cpu).unwrap();
        assert_eq!((trained.window, trained.epoch), (20, 2));
        assert_eq!(trained.vocab, slice().vocab);
        let split = tempfile::tempdir().unwrap();
        run(split.path(), 1, false);
        let (resumed, later) = run(split.path(), 2, true);
        assert_eq!(later.len(), 1, "only epoch 2 runs again");
        assert_eq!(
            checkpoint::varmap_tensors(&full)
                .iter()
                .map(|(n, t)| (
                    n.clone(),
                    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
                ))
                .collect::<Vec<_>>(),
            checkpoint::varmap_tensors(&resumed)
                .iter()
                .map(|(n, t)| (
                    n.clone(),
                    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
                ))
                .collect::<Vec<_>>()
        );
    }
}
