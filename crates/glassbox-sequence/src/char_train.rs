//! Training a [`CharModel`] on a [`CharText`]: shuffled windows, the optimizer of the recipe, optional
//! gradient clipping and a cosine learning-rate schedule, the held-out loss after every epoch, and a
//! checkpoint per epoch (written atomically, with the vocabulary in it) that a rerun continues from.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use glassbox_core::checkpoint::{self, Checkpoint};
use glassbox_core::data::CharVocab;
use glassbox_core::optim::{
    clip_grad_norm, Adam, AnyOptimizer, Optimizer, ParamsAdam, ParamsRmsProp, RmsProp,
};
use glassbox_core::seed::Seed;
use glassbox_core::train::{fit, run, EpochReport, FitConfig, MetricsLog, StepOutput};
use serde::Serialize;
use serde_json::json;

use crate::char_model::{CharModel, CharModelConfig, Targets};
use crate::chars::{course_windows, CharText};
use crate::Result;

pub use glassbox_core::train::run::CHECKPOINT_FILE;

/// The checkpoint metadata entry that holds the vocabulary, its symbols in index order.
pub const VOCABULARY_KEY: &str = "vocabulary";
/// The checkpoint metadata entry that holds the window the model was trained on.
pub const WINDOW_KEY: &str = "window";

/// Where and how a training run goes.
pub struct CharRun<'a> {
    /// The output directory: checkpoint and metrics.json.
    pub out: &'a Path,
    pub seed: Seed,
    pub device: &'a Device,
    /// Continue from the checkpoint in `out` when there is one.
    pub resume: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "name")]
pub enum CharOptimizer {
    /// Keras's RMSprop (rho 0.9, epsilon 1e-7).
    RmsProp { lr: f64 },
    /// Adam with PyTorch's settings.
    Adam { lr: f64 },
}

/// How a character model is trained.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CharRecipe {
    pub epochs: usize,
    pub batch_size: usize,
    /// Characters a window holds.
    pub window: usize,
    /// Characters between the starts of consecutive windows.
    pub step: usize,
    pub optimizer: CharOptimizer,
    /// The largest global gradient norm a step may take.
    pub clip: Option<f64>,
    /// Anneal the learning rate to 0 along a half cosine over the whole run.
    pub cosine: bool,
}

impl CharRecipe {
    /// The course's: 40-character windows every 3 characters, batch 100, RMSprop lr 0.01, 50 epochs.
    pub fn course() -> Self {
        CharRecipe {
            epochs: 50,
            batch_size: 100,
            window: 40,
            step: 3,
            optimizer: CharOptimizer::RmsProp { lr: 0.01 },
            clip: None,
            cosine: false,
        }
    }

    /// For a model predicting every step: non-overlapping 100-character windows, batch 32, Adam 2e-3,
    /// clipping at 1, a cosine schedule (the PyTorch yardstick's recipe).
    pub fn every_step() -> Self {
        CharRecipe {
            epochs: 20,
            batch_size: 32,
            window: 100,
            step: 100,
            optimizer: CharOptimizer::Adam { lr: 2e-3 },
            clip: Some(1.0),
            cosine: true,
        }
    }

    fn build(&self, varmap: &VarMap) -> Result<AnyOptimizer> {
        let vars = checkpoint::trainable_vars(varmap);
        Ok(match self.optimizer {
            CharOptimizer::RmsProp { lr } => RmsProp::new(
                vars,
                ParamsRmsProp {
                    lr,
                    alpha: 0.9,
                    eps: 1e-7,
                    ..Default::default()
                },
            )?
            .into(),
            CharOptimizer::Adam { lr } => Adam::new(
                vars,
                ParamsAdam {
                    lr,
                    ..Default::default()
                },
            )?
            .into(),
        })
    }

    fn base_lr(&self) -> f64 {
        match self.optimizer {
            CharOptimizer::RmsProp { lr } | CharOptimizer::Adam { lr } => lr,
        }
    }
}

pub struct CharOutcome {
    pub resumed_from: usize,
    pub reports: Vec<EpochReport>,
    pub metrics: MetricsLog,
}

/// The windows `starts` of `ids` as a batch: inputs `(batch, window)` and the targets the model's
/// [`Targets`] asks for.
pub fn window_batch(
    ids: &[u32],
    starts: &[usize],
    window: usize,
    targets: Targets,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let inputs: Vec<u32> = starts
        .iter()
        .flat_map(|&s| ids[s..s + window].iter().copied())
        .collect();
    let inputs = Tensor::from_vec(inputs, (starts.len(), window), device)?;
    let next = match targets {
        Targets::AfterWindow => {
            let next: Vec<u32> = starts.iter().map(|&s| ids[s + window]).collect();
            Tensor::from_vec(next, starts.len(), device)?
        }
        Targets::EveryStep => {
            let next: Vec<u32> = starts
                .iter()
                .flat_map(|&s| ids[s + 1..s + window + 1].iter().copied())
                .collect();
            Tensor::from_vec(next, (starts.len(), window), device)?
        }
    };
    Ok((inputs, next))
}

/// The mean loss over the held-out text's windows, in nats per predicted character.
pub fn validation_loss(
    model: &CharModel,
    text: &CharText,
    recipe: &CharRecipe,
    device: &Device,
) -> Result<f64> {
    let ids = text.validation();
    let starts = course_windows(ids, recipe.window, recipe.step);
    let (mut sum, mut count) = (0.0, 0usize);
    for chunk in starts.chunks(256) {
        let (inputs, next) =
            window_batch(ids, chunk, recipe.window, model.config().targets, device)?;
        let loss = model.loss(&inputs, &next)?.to_scalar::<f32>()?;
        sum += f64::from(loss) * chunk.len() as f64;
        count += chunk.len();
    }
    Ok(sum / count as f64)
}

/// Trains `model` (its weights in `varmap`) on `text`, continuing from `out/checkpoint.safetensors`
/// when `run.resume` is set and the checkpoint is of this model and vocabulary. `after_epoch` runs once
/// each epoch's checkpoint is written (e.g. to write samples).
pub fn train_chars(
    model: &CharModel,
    varmap: &VarMap,
    text: &CharText,
    recipe: &CharRecipe,
    run: &CharRun,
    mut after_epoch: impl FnMut(&EpochReport) -> Result<()>,
) -> Result<CharOutcome> {
    let CharRun {
        out,
        seed,
        device,
        resume,
    } = *run;
    let model_name = model.name();
    let model_name = model_name.as_str();
    FitConfig::check(recipe.epochs, recipe.batch_size)?;
    let ckpt = out.join(CHECKPOINT_FILE);
    let mut optimizer = recipe.build(varmap)?;
    let vocabulary: String = text.vocab.chars().iter().collect();
    let resumed = match resume {
        true => run::resume(&ckpt, model_name, varmap, optimizer.state(), device)?,
        false => None,
    };
    if let Some(r) = &resumed {
        if r.extra.get(VOCABULARY_KEY) != Some(&vocabulary) {
            return Err(glassbox_core::Error::Resume {
                path: ckpt,
                problem: "this checkpoint was trained on a corpus with other symbols; use another \
                          --out, or --fresh to start over"
                    .into(),
            }
            .into());
        }
    }
    let start_epoch = resumed.map_or(0, |r| r.epoch.min(recipe.epochs));
    let about = json!({"model": model_name, "recipe": recipe, "seed": seed.0});
    let mut metrics = MetricsLog::resume(out.join("metrics.json"), about, start_epoch)?;
    let starts = course_windows(text.train(), recipe.window, recipe.step);
    let batches_per_epoch = starts.len().div_ceil(recipe.batch_size);
    let total_steps = (batches_per_epoch * recipe.epochs) as f64;
    let fit_config = FitConfig {
        epochs: recipe.epochs,
        batch_size: recipe.batch_size,
        seed,
        start_epoch,
        unit: "windows",
        ..Default::default()
    };
    let vars = checkpoint::trainable_vars(varmap);
    let optimizer = RefCell::new(optimizer);
    let grad_norms = RefCell::new(Vec::new());
    let targets = model.config().targets;
    let reports = fit(
        &fit_config,
        starts.len(),
        |batch| {
            let chosen: Vec<usize> = batch.indices.iter().map(|&i| starts[i]).collect();
            let (inputs, next) =
                window_batch(text.train(), &chosen, recipe.window, targets, device)
                    .map_err(into_core)?;
            let loss = model.loss(&inputs, &next)?;
            let mut grads = loss.backward()?;
            // Measured whether or not it is clipped: the norms show a run heading for divergence.
            let norm = clip_grad_norm(&mut grads, &vars, recipe.clip.unwrap_or(f64::INFINITY))?;
            grad_norms.borrow_mut().push(norm);
            let mut optimizer = optimizer.borrow_mut();
            if recipe.cosine {
                let done = ((batch.epoch - 1) * batches_per_epoch + batch.index) as f64;
                let lr = 0.5
                    * recipe.base_lr()
                    * (1.0 + (std::f64::consts::PI * done / total_steps).cos());
                optimizer.set_learning_rate(lr);
            }
            optimizer.step(&grads)?;
            Ok(StepOutput {
                loss: f64::from(loss.to_scalar::<f32>()?),
                correct: None,
            })
        },
        |_| {
            let loss = validation_loss(model, text, recipe, device).map_err(into_core)?;
            let norms = std::mem::take(&mut *grad_norms.borrow_mut());
            Ok(json!({
                "validation_loss": loss,
                "gradient_norm": {
                    "median": glassbox_core::stats::median(&norms),
                    "max": norms.iter().copied().fold(f64::NAN, f64::max),
                },
            }))
        },
        |report| {
            metrics.push_epoch(serde_json::to_value(report).expect("reports serialize"))?;
            run::save_epoch(
                &ckpt,
                model_name,
                report.epoch,
                seed,
                varmap,
                optimizer.borrow_mut().state(),
                BTreeMap::from([
                    (VOCABULARY_KEY.to_string(), vocabulary.clone()),
                    (WINDOW_KEY.to_string(), recipe.window.to_string()),
                ]),
            )?;
            after_epoch(report).map_err(into_core)
        },
    )?;
    Ok(CharOutcome {
        resumed_from: start_epoch,
        reports,
        metrics,
    })
}

/// A trained character model and what generating from it needs.
pub struct TrainedChars {
    pub model: CharModel,
    pub vocab: CharVocab,
    /// The window it was trained on (the context generation reads).
    pub window: usize,
    /// Epochs it was trained for.
    pub epoch: usize,
}

/// Rebuilds a model from a checkpoint `train_chars` wrote. Anything else (another lesson's checkpoint,
/// missing metadata, mis-shaped tensors) is an error naming the file.
pub fn load_trained(path: &Path, device: &Device) -> Result<TrainedChars> {
    let ck = Checkpoint::load(path, device)?;
    let not_ours = |what: &str| {
        glassbox_core::Error::format(
            path,
            format!(
                "not a character model's checkpoint ({what}; it holds a {:?})",
                ck.meta.model
            ),
        )
    };
    let vocabulary = ck
        .meta
        .extra
        .get(VOCABULARY_KEY)
        .ok_or_else(|| not_ours("no vocabulary in its metadata"))?;
    let vocab = CharVocab::from_text(vocabulary);
    let config = CharModelConfig::from_name(&ck.meta.model, vocab.len())
        .ok_or_else(|| not_ours("its model name is not a character LSTM's"))?;
    let window = ck
        .meta
        .extra
        .get(WINDOW_KEY)
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| not_ours("no window in its metadata"))?;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
    let model = CharModel::new(config, vb)?;
    ck.restore(&ck.meta.model, &varmap)?;
    Ok(TrainedChars {
        model,
        vocab,
        window,
        epoch: ck.meta.epoch,
    })
}

/// glassbox-core's training loop takes core errors from its closures.
fn into_core(e: crate::Error) -> glassbox_core::Error {
    match e {
        crate::Error::Core(e) => e,
        crate::Error::Candle(e) => glassbox_core::Error::Candle(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glassbox_core::seed::SeededInit;
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
        let recipe = CharRecipe {
            epochs,
            batch_size: 16,
            window: 20,
            step: 5,
            optimizer: CharOptimizer::Adam { lr: 1e-2 },
            cosine: false,
            ..CharRecipe::every_step()
        };
        let run = CharRun {
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
