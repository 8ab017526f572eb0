//! Training the MNIST CNN: the course's 12 epochs of batch 128, a checkpoint after each epoch (written
//! atomically, with the optimizer's state and the dropout count), and resumption from it, so a run that is
//! killed continues where its last epoch ended and finishes with the weights it would have had.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use glassbox_core::checkpoint::{self, Checkpoint};
use glassbox_core::data::Mnist;
use glassbox_core::optim::{Adadelta, Adam, AnyOptimizer, Optimizer, ParamsAdadelta, ParamsAdam};
use glassbox_core::seed::Seed;
use glassbox_core::train::{fit, run, EpochReport, FitConfig, MetricsLog, StepOutput};
use serde::Serialize;
use serde_json::json;

use super::eval::{evaluate, Evaluation};
use super::model::{MnistCnn, MODEL_NAME};
use crate::{Error, Result};

/// The checkpoint metadata entry that keeps the dropout count (so a resumed run draws the same masks).
const DROPOUT_CALLS: &str = "dropout_calls";

/// The two optimizers the course used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Keras's `Adadelta()` of the 2018 course: lr 1.0, rho 0.95, epsilon 1e-7.
    Adadelta,
    /// Keras's `Adam()` of the 2021 notebook: lr 1e-3, betas (0.9, 0.999), epsilon 1e-7.
    Adam,
}

impl OptimizerKind {
    /// The name checkpoints and metrics carry.
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Adadelta => "adadelta",
            OptimizerKind::Adam => "adam",
        }
    }
}

/// How to train.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrainConfig {
    /// Passes over the training digits.
    pub epochs: usize,
    /// Digits per step.
    pub batch_size: usize,
    /// Which of the course's optimizers.
    pub optimizer: OptimizerKind,
    /// Overrides the optimizer's learning rate.
    pub learning_rate: Option<f64>,
}

impl Default for TrainConfig {
    /// The course's: 12 epochs of batch 128 with Adam.
    fn default() -> Self {
        TrainConfig {
            epochs: 12,
            batch_size: 128,
            optimizer: OptimizerKind::Adam,
            learning_rate: None,
        }
    }
}

/// What a finished run leaves.
pub struct TrainOutcome {
    /// The trained network.
    pub model: MnistCnn,
    /// Its variables, by name (what checkpoints hold).
    pub varmap: VarMap,
    /// Epochs done before this run started (from the checkpoint).
    pub resumed_from: usize,
    /// This run's epochs.
    pub reports: Vec<EpochReport>,
    /// The test set after the last epoch.
    pub test: Evaluation,
    /// `metrics.json`, every epoch so far (resumed ones included); add final results with `set`.
    pub metrics: MetricsLog,
}

impl TrainOutcome {
    /// The number of trained values: every variable's elements (what Keras's summary calls parameters).
    pub fn parameters(&self) -> usize {
        checkpoint::varmap_tensors(&self.varmap)
            .iter()
            .map(|(_, t)| t.elem_count())
            .sum()
    }
}

fn optimizer(varmap: &VarMap, config: &TrainConfig) -> Result<AnyOptimizer> {
    let vars = checkpoint::trainable_vars(varmap);
    Ok(match config.optimizer {
        OptimizerKind::Adadelta => Adadelta::new(
            vars,
            ParamsAdadelta {
                lr: config.learning_rate.unwrap_or(1.0),
                rho: 0.95,
                eps: 1e-7,
                weight_decay: 0.0,
            },
        )?
        .into(),
        OptimizerKind::Adam => Adam::new(
            vars,
            ParamsAdam {
                lr: config.learning_rate.unwrap_or(1e-3),
                eps: 1e-7,
                ..Default::default()
            },
        )?
        .into(),
    })
}

/// Trains on `data.train` (evaluating on `data.test` after each epoch) into `out`: `checkpoint.safetensors`
/// and `metrics.json`. With `resume`, a checkpoint already in `out` is continued (it must come from the same
/// optimizer); without, training starts over.
pub fn train(
    data: &Mnist,
    config: &TrainConfig,
    out: &Path,
    seed: Seed,
    device: &Device,
    resume: bool,
) -> Result<TrainOutcome> {
    FitConfig::check(config.epochs, config.batch_size)?;
    let ckpt_path = out.join(super::CHECKPOINT_FILE);
    let varmap = VarMap::new();
    let model = MnistCnn::new(&varmap, seed, device)?;
    let mut optimizer = optimizer(&varmap, config)?;
    let resumed = if resume {
        run::resume(&ckpt_path, MODEL_NAME, &varmap, optimizer.state(), device)?
    } else {
        None
    };
    let mut start_epoch = 0;
    if let Some(r) = resumed {
        let calls = r
            .extra
            .get(DROPOUT_CALLS)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        model.set_dropout_calls(calls);
        start_epoch = r.epoch.min(config.epochs);
    }
    let about = json!({"lesson": "mnist train", "config": config, "seed": seed.0, "source": data.source.to_string()});
    let mut metrics = MetricsLog::resume(out.join("metrics.json"), about, start_epoch)?;
    let fit_config = FitConfig {
        epochs: config.epochs,
        batch_size: config.batch_size,
        seed,
        start_epoch,
        unit: "images",
        ..Default::default()
    };
    let optimizer = RefCell::new(optimizer);
    let last_eval: RefCell<Option<Evaluation>> = RefCell::new(None);
    let train_split = &data.train;
    let reports = fit(
        &fit_config,
        train_split.count,
        |batch| {
            let x = train_split.images_tensor(batch.indices, device)?;
            let y = train_split.labels_tensor(batch.indices, device)?;
            let logits = model.forward_t(&x, true)?;
            let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
            let correct = logits
                .argmax(1)?
                .eq(&y)?
                .to_dtype(candle_core::DType::F32)?
                .sum_all()?
                .to_scalar::<f32>()? as usize;
            optimizer.borrow_mut().backward_step(&loss)?;
            Ok(StepOutput {
                loss: f64::from(loss.to_scalar::<f32>()?),
                correct: Some(correct),
            })
        },
        |_| {
            let e = evaluate(&model, &data.test, device).map_err(core_error)?;
            let summary = json!({"test_loss": e.loss, "test_accuracy": e.accuracy});
            *last_eval.borrow_mut() = Some(e);
            Ok(summary)
        },
        |report| {
            metrics.push_epoch(serde_json::to_value(report).expect("reports serialize"))?;
            let extra =
                BTreeMap::from([(DROPOUT_CALLS.to_string(), model.dropout_calls().to_string())]);
            run::save_epoch(
                &ckpt_path,
                MODEL_NAME,
                report.epoch,
                seed,
                &varmap,
                optimizer.borrow_mut().state(),
                extra,
            )
        },
    );
    let reports = metrics.outcome(reports)?;
    // The last epoch already evaluated the test set; a run with no epoch left (resumed at the end) has not.
    let test = match last_eval.into_inner() {
        Some(e) => e,
        None => evaluate(&model, &data.test, device)?,
    };
    Ok(TrainOutcome {
        model,
        varmap,
        resumed_from: start_epoch,
        reports,
        test,
        metrics,
    })
}

/// glassbox-core's loop takes core errors from its closures.
fn core_error(e: Error) -> glassbox_core::Error {
    match e {
        Error::Core(e) => e,
        Error::Candle(e) => glassbox_core::Error::Candle(e),
        other => glassbox_core::Error::Candle(candle_core::Error::Msg(other.to_string())),
    }
}

/// The trained network in a checkpoint written by [`train`], its weights constants (not variables), so
/// that gradients with respect to the input (adversarial examples) compute nothing for the weights.
pub fn load_trained(path: &Path, device: &Device) -> Result<MnistCnn> {
    if !path.exists() {
        return Err(glassbox_core::Error::NotFound {
            what: "a trained MNIST CNN checkpoint".into(),
            searched: vec![PathBuf::from(path)],
            hint: Some("train one with `glassbox mnist train` (or pass --checkpoint FILE)".into()),
        }
        .into());
    }
    let ck = Checkpoint::load(path, device)?;
    let varmap = VarMap::new();
    MnistCnn::new(&varmap, Seed::default(), device)?;
    // Restoring into the variables checks every name and shape against the network.
    ck.restore(MODEL_NAME, &varmap)?;
    let constants: std::collections::HashMap<String, Tensor> = checkpoint::varmap_tensors(&varmap)
        .into_iter()
        .map(|(name, t)| (name, t.detach()))
        .collect();
    let vb = candle_nn::VarBuilder::from_tensors(constants, candle_core::DType::F32, device);
    Ok(MnistCnn::load(vb, Seed::default())?)
}
