//! Training a language model (the character or the word LSTMs) on a text of token ids: shuffled windows,
//! the optimizer of the recipe, optional gradient clipping and a cosine learning-rate schedule, the
//! held-out loss after every epoch, and a checkpoint per epoch (written atomically, with what identifies
//! the model's vocabulary in it) that a rerun continues from. One loop serves both lessons.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use glassbox_core::checkpoint::{self, Checkpoint};
use glassbox_core::optim::{
    clip_grad_norm, Adam, AnyOptimizer, Optimizer, ParamsAdam, ParamsRmsProp, RmsProp,
};
use glassbox_core::seed::Seed;
use glassbox_core::train::{fit, run, EpochReport, FitConfig, MetricsLog, StepOutput};
use serde::Serialize;
use serde_json::json;

use crate::char_model::Targets;
use crate::chars::course_windows;
use crate::Result;

pub use glassbox_core::train::run::CHECKPOINT_FILE;

/// The checkpoint metadata entry that holds the window the model was trained on.
pub const WINDOW_KEY: &str = "window";

/// What the training loop needs of a model: its name (checkpoints carry it), what it predicts, and its
/// loss on a batch of windows.
pub trait LanguageModel {
    /// Says everything but the vocabulary needed to rebuild the model.
    fn name(&self) -> String;

    /// What the model predicts (the loss and the batches follow it).
    fn targets(&self) -> Targets;

    /// Mean cross-entropy in nats per predicted token of windows `ids: (batch, steps)`. `next` holds the
    /// targets: `(batch)` after the window, or `(batch, steps)` for every step (the window shifted by
    /// one). `train` turns dropout on.
    fn loss(&self, ids: &Tensor, next: &Tensor, train: bool) -> candle_core::Result<Tensor>;

    /// Called before training step `step` (counted from 0 over the whole run): a model with dropout
    /// draws its masks from it, so that a resumed run drops what an uninterrupted one would.
    fn before_step(&self, _step: u64) {}
}

/// The token ids a model trains on and the held-out ones it is measured on.
#[derive(Clone, Copy, Debug)]
pub struct Split<'a> {
    /// The tokens trained on.
    pub train: &'a [u32],
    /// The held-out tokens.
    pub validation: &'a [u32],
}

/// Where and how a training run goes.
pub struct TrainRun<'a> {
    /// The output directory: checkpoint and metrics.json.
    pub out: &'a Path,
    /// Drives the shuffles and the initial weights.
    pub seed: Seed,
    /// Where the model lives.
    pub device: &'a Device,
    /// Continue from the checkpoint in `out` when there is one.
    pub resume: bool,
}

/// The optimizers the text lessons use.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "name")]
pub enum OptimizerKind {
    /// Keras's RMSprop (rho 0.9, epsilon 1e-7).
    RmsProp {
        /// Learning rate.
        lr: f64,
    },
    /// Adam with PyTorch's settings.
    Adam {
        /// Learning rate.
        lr: f64,
    },
}

impl OptimizerKind {
    /// The same optimizer at another learning rate.
    pub fn with_lr(self, lr: f64) -> Self {
        match self {
            OptimizerKind::RmsProp { .. } => OptimizerKind::RmsProp { lr },
            OptimizerKind::Adam { .. } => OptimizerKind::Adam { lr },
        }
    }

    /// The learning rate.
    pub fn lr(self) -> f64 {
        match self {
            OptimizerKind::RmsProp { lr } | OptimizerKind::Adam { lr } => lr,
        }
    }
}

/// How a language model is trained.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recipe {
    /// Passes over the training windows.
    pub epochs: usize,
    /// Windows per step.
    pub batch_size: usize,
    /// Tokens a window holds.
    pub window: usize,
    /// Tokens between the starts of consecutive windows.
    pub step: usize,
    /// The optimizer and its learning rate.
    pub optimizer: OptimizerKind,
    /// The largest global gradient norm a step may take.
    pub clip: Option<f64>,
    /// Anneal the learning rate to 0 along a half cosine over the whole run.
    pub cosine: bool,
}

impl Recipe {
    /// The course's character recipe: 40-character windows every 3 characters, batch 100, RMSprop lr
    /// 0.01, 50 epochs.
    pub fn course() -> Self {
        Recipe {
            epochs: 50,
            batch_size: 100,
            window: 40,
            step: 3,
            optimizer: OptimizerKind::RmsProp { lr: 0.01 },
            clip: None,
            cosine: false,
        }
    }

    /// For a character model predicting every step: non-overlapping 100-character windows, batch 32,
    /// Adam 2e-3, clipping at 1, a cosine schedule (the PyTorch yardstick's recipe), 20 epochs.
    pub fn every_step() -> Self {
        Recipe {
            epochs: 20,
            batch_size: 32,
            window: 100,
            step: 100,
            optimizer: OptimizerKind::Adam { lr: 2e-3 },
            clip: Some(1.0),
            cosine: true,
        }
    }

    fn build(&self, varmap: &VarMap) -> Result<AnyOptimizer> {
        let vars = checkpoint::trainable_vars(varmap);
        Ok(match self.optimizer {
            OptimizerKind::RmsProp { lr } => RmsProp::new(
                vars,
                ParamsRmsProp {
                    lr,
                    alpha: 0.9,
                    eps: 1e-7,
                    ..Default::default()
                },
            )?
            .into(),
            OptimizerKind::Adam { lr } => Adam::new(
                vars,
                ParamsAdam {
                    lr,
                    ..Default::default()
                },
            )?
            .into(),
        })
    }
}

/// A finished training run.
pub struct TrainOutcome {
    /// Epochs done before this run started (from the checkpoint).
    pub resumed_from: usize,
    /// One report per epoch this run trained.
    pub reports: Vec<EpochReport>,
    /// The run's metrics.json, as written.
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

/// The mean loss over the windows of `ids` (`window` tokens every `step`), in nats per predicted token,
/// with dropout off.
pub fn validation_loss(
    model: &impl LanguageModel,
    ids: &[u32],
    window: usize,
    step: usize,
    device: &Device,
) -> Result<f64> {
    let starts = course_windows(ids, window, step);
    let (mut sum, mut count) = (0.0, 0usize);
    for chunk in starts.chunks(256) {
        let (inputs, next) = window_batch(ids, chunk, window, model.targets(), device)?;
        let loss = model.loss(&inputs, &next, false)?.to_scalar::<f32>()?;
        sum += f64::from(loss) * chunk.len() as f64;
        count += chunk.len();
    }
    Ok(sum / count as f64)
}

/// Trains `model` (its weights in `varmap`) on `split.train`, continuing from
/// `out/checkpoint.safetensors` when `run.resume` is set and the checkpoint is of this model. `identity`
/// (e.g. the vocabulary) is written into each checkpoint and must match on resume: a checkpoint of the
/// same network over another vocabulary is refused. `after_epoch` runs once each epoch's checkpoint is
/// written (e.g. to write samples).
pub fn train_lm(
    model: &impl LanguageModel,
    varmap: &VarMap,
    split: Split,
    identity: BTreeMap<String, String>,
    recipe: &Recipe,
    run: &TrainRun,
    mut after_epoch: impl FnMut(&EpochReport) -> Result<()>,
) -> Result<TrainOutcome> {
    let TrainRun {
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
    let mut identity = identity;
    identity.insert(WINDOW_KEY.to_string(), recipe.window.to_string());
    let resumed = match resume {
        true => run::resume(&ckpt, model_name, varmap, optimizer.state(), device)?,
        false => None,
    };
    if let Some(r) = &resumed {
        if let Some((key, _)) = identity.iter().find(|(k, v)| r.extra.get(*k) != Some(v)) {
            return Err(glassbox_core::Error::Resume {
                path: ckpt,
                problem: format!(
                    "this checkpoint was trained with another {key} (another corpus or window?); use \
                     another --out, or --fresh to start over"
                ),
            }
            .into());
        }
    }
    let start_epoch = resumed.map_or(0, |r| r.epoch.min(recipe.epochs));
    let about = json!({"model": model_name, "recipe": recipe, "seed": seed.0});
    let mut metrics = MetricsLog::resume(out.join("metrics.json"), about, start_epoch)?;
    let starts = course_windows(split.train, recipe.window, recipe.step);
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
    let targets = model.targets();
    let reports = fit(
        &fit_config,
        starts.len(),
        |batch| {
            let chosen: Vec<usize> = batch.indices.iter().map(|&i| starts[i]).collect();
            let (inputs, next) = window_batch(split.train, &chosen, recipe.window, targets, device)
                .map_err(into_core)?;
            let done = (batch.epoch - 1) * batches_per_epoch + batch.index;
            model.before_step(done as u64);
            let loss = model.loss(&inputs, &next, true)?;
            let mut grads = loss.backward()?;
            // Measured whether or not it is clipped: the norms show a run heading for divergence.
            let norm = clip_grad_norm(&mut grads, &vars, recipe.clip.unwrap_or(f64::INFINITY))?;
            grad_norms.borrow_mut().push(norm);
            let mut optimizer = optimizer.borrow_mut();
            if recipe.cosine {
                let lr = 0.5
                    * recipe.optimizer.lr()
                    * (1.0 + (std::f64::consts::PI * done as f64 / total_steps).cos());
                optimizer.set_learning_rate(lr);
            }
            optimizer.step(&grads)?;
            Ok(StepOutput {
                loss: f64::from(loss.to_scalar::<f32>()?),
                correct: None,
            })
        },
        |_| {
            let loss = validation_loss(model, split.validation, recipe.window, recipe.step, device)
                .map_err(into_core)?;
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
                identity.clone(),
            )?;
            after_epoch(report).map_err(into_core)
        },
    );
    let reports = metrics.outcome(reports)?;
    Ok(TrainOutcome {
        resumed_from: start_epoch,
        reports,
        metrics,
    })
}

/// The weight matrices a stack of `layers` LSTMs of `hidden` units on `inputs` features with a dense head
/// to `outputs` holds (biases left out: this is a lower bound, for [`SavedModel::check_size`]).
pub fn lstm_weights_at_least(inputs: usize, hidden: usize, layers: usize, outputs: usize) -> u128 {
    // Saturating: the sizes come from a file's metadata, and `usize::MAX` squared overflows even u128.
    let (inputs, hidden, layers, outputs) = (
        inputs as u128,
        hidden as u128,
        layers as u128,
        outputs as u128,
    );
    let gates = hidden.saturating_mul(4);
    let square = gates.saturating_mul(hidden);
    let input = gates
        .saturating_mul(inputs)
        .saturating_add(layers.saturating_sub(1).saturating_mul(square));
    let recurrent = layers.saturating_mul(square);
    input
        .saturating_add(recurrent)
        .saturating_add(outputs.saturating_mul(hidden))
}

/// A checkpoint [`train_lm`] wrote, opened to rebuild its model: its metadata, the window, and errors that
/// name the file and say what it holds instead.
pub struct SavedModel {
    /// The checkpoint as read.
    pub checkpoint: Checkpoint,
    /// The window the model was trained on.
    pub window: usize,
    path: PathBuf,
    /// What the caller expects, e.g. "a character model".
    kind: &'static str,
}

impl SavedModel {
    /// Reads `path` as a checkpoint of `kind` ("a character model"); one without a window is refused.
    pub fn open(path: &Path, device: &Device, kind: &'static str) -> Result<SavedModel> {
        let checkpoint = Checkpoint::load(path, device)?;
        let mut saved = SavedModel {
            checkpoint,
            window: 0,
            path: path.to_path_buf(),
            kind,
        };
        saved.window = saved
            .checkpoint
            .meta
            .extra
            .get(WINDOW_KEY)
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| saved.not_ours("no window in its metadata"))?;
        Ok(saved)
    }

    /// "not {kind}'s checkpoint ({what}; it holds a ...)", naming the file.
    pub fn not_ours(&self, what: &str) -> glassbox_core::Error {
        glassbox_core::Error::format(
            &self.path,
            format!(
                "not {}'s checkpoint ({what}; it holds a {:?})",
                self.kind, self.checkpoint.meta.model
            ),
        )
    }

    /// A metadata entry the model needs; `missing` says what its absence means.
    pub fn extra(&self, key: &str, missing: &str) -> Result<&String> {
        Ok(self
            .checkpoint
            .meta
            .extra
            .get(key)
            .ok_or_else(|| self.not_ours(missing))?)
    }

    /// Refuses a model name that describes a larger model than the file holds, before any of it is
    /// built: `least` is how many weights such a model stores at the least (see
    /// [`lstm_weights_at_least`]). Without this a few hundred bytes naming `char-lstm-1x4000000000-...`
    /// would ask for exabytes.
    pub fn check_size(&self, least: u128) -> Result<()> {
        let stored: u128 = self
            .checkpoint
            .tensors
            .values()
            .map(|t| t.elem_count() as u128)
            .sum();
        if least > stored {
            return Err(self
                .not_ours(&format!(
                    "its name describes a model of at least {least} weights, the file holds {stored}"
                ))
                .into());
        }
        Ok(())
    }

    /// Reads the weights into `varmap`, whose variables a model of the saved name created.
    pub fn restore(&self, varmap: &VarMap) -> Result<()> {
        let name = &self.checkpoint.meta.model;
        Ok(self.checkpoint.restore(name, varmap)?)
    }

    /// The same checkpoint, its errors saying it is not `kind`'s (e.g. once its name says which lesson's
    /// model it holds).
    pub fn expecting(mut self, kind: &'static str) -> SavedModel {
        self.kind = kind;
        self
    }

    /// The checkpoint's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The model name in its metadata.
    pub fn model_name(&self) -> &str {
        &self.checkpoint.meta.model
    }

    /// Epochs it was trained.
    pub fn epoch(&self) -> usize {
        self.checkpoint.meta.epoch
    }
}

/// glassbox-core's training loop takes core errors from its closures.
fn into_core(e: crate::Error) -> glassbox_core::Error {
    match e {
        crate::Error::Core(e) => e,
        crate::Error::Candle(e) => glassbox_core::Error::Candle(e),
    }
}
