//! Training an autoencoder: mini-batches of images in, the reconstruction loss against the clean images
//! (noisy inputs for denoising), a checkpoint and a metrics entry after every epoch, resumption from the
//! checkpoint in the output directory. The loop is glassbox-core's; this module says what a step is.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use glassbox_core::checkpoint;
use glassbox_core::optim::{Adadelta, Adam, AnyOptimizer, Optimizer, ParamsAdadelta, ParamsAdam};
use glassbox_core::seed::Seed;
use glassbox_core::train::{fit, run, EpochReport, FitConfig, MetricsLog, StepOutput};
use serde::Serialize;
use serde_json::json;

use crate::autoencoder::Autoencoder;
use crate::error::into_core;
use crate::images::{ImageSet, Noise};
use crate::Result;

pub use glassbox_core::train::run::CHECKPOINT_FILE;

/// The optimizers of the course's autoencoders, with Keras's settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "name")]
pub enum OptimizerChoice {
    /// Keras's `Adam()`: betas (0.9, 0.999), epsilon 1e-7.
    Adam {
        /// Learning rate.
        lr: f64,
    },
    /// Keras 2's `Adadelta()` of the course: rho 0.95, epsilon 1e-7.
    Adadelta {
        /// Learning rate (a scale on Adadelta's own step size).
        lr: f64,
    },
}

impl OptimizerChoice {
    /// Keras's default Adam: lr 1e-3.
    pub fn adam() -> Self {
        OptimizerChoice::Adam { lr: 1e-3 }
    }

    /// Keras's default Adadelta: lr 1.0.
    pub fn adadelta() -> Self {
        OptimizerChoice::Adadelta { lr: 1.0 }
    }

    fn build(self, varmap: &VarMap) -> Result<AnyOptimizer> {
        let vars = checkpoint::trainable_vars(varmap);
        Ok(match self {
            OptimizerChoice::Adam { lr } => Adam::new(
                vars,
                ParamsAdam {
                    lr,
                    eps: 1e-7,
                    ..Default::default()
                },
            )?
            .into(),
            OptimizerChoice::Adadelta { lr } => Adadelta::new(
                vars,
                ParamsAdadelta {
                    lr,
                    rho: 0.95,
                    eps: 1e-7,
                    weight_decay: 0.0,
                },
            )?
            .into(),
        })
    }
}

/// How to train.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrainConfig {
    /// Passes over the training images.
    pub epochs: usize,
    /// Images per step.
    pub batch_size: usize,
    /// The optimizer and its learning rate.
    pub optimizer: OptimizerChoice,
    /// Inputs noised, targets clean (the denoising autoencoder).
    pub noise: Option<Noise>,
}

/// A finished run.
pub struct TrainOutcome {
    /// Epochs done before this run started (from the checkpoint).
    pub resumed_from: usize,
    /// One report per epoch this run trained.
    pub reports: Vec<EpochReport>,
    /// The test loss after the last epoch.
    pub test_loss: f64,
    /// `metrics.json` so far; add results with `set`.
    pub metrics: MetricsLog,
}

/// Trains `model` (whose variables are `varmap`) on `train`, scoring `test` after each epoch, into `out`
/// (`checkpoint.safetensors`, `metrics.json`). With `resume`, continues a checkpoint found in `out`.
#[allow(clippy::too_many_arguments)]
pub fn train(
    model: &dyn Autoencoder,
    varmap: &VarMap,
    train: &dyn ImageSet,
    test: &dyn ImageSet,
    config: &TrainConfig,
    out: &Path,
    seed: Seed,
    device: &Device,
    resume: bool,
) -> Result<TrainOutcome> {
    FitConfig::check(config.epochs, config.batch_size)?;
    let ckpt = out.join(CHECKPOINT_FILE);
    let name = model.model_name();
    let mut optimizer = config.optimizer.build(varmap)?;
    let start_epoch = match resume {
        true => run::resume(&ckpt, &name, varmap, optimizer.state(), device)?
            .map_or(0, |r| r.epoch.min(config.epochs)),
        false => 0,
    };
    let about = json!({"model": name, "config": config, "seed": seed.0});
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
    let last_test = RefCell::new(None);
    let reports = fit(
        &fit_config,
        train.len(),
        |batch| {
            let clean = train.batch(batch.indices, device).map_err(into_core)?;
            let input =
                noisy(config.noise, &clean, batch.indices, "train", seed).map_err(into_core)?;
            let noise_seed = step_seed(seed, &format!("epoch{}/batch{}", batch.epoch, batch.index));
            let loss = model.training_loss(&input, &clean, noise_seed)?;
            optimizer.borrow_mut().backward_step(&loss)?;
            Ok(StepOutput {
                loss: f64::from(loss.to_scalar::<f32>()?),
                correct: None,
            })
        },
        |_| {
            let loss = evaluate(model, test, config.noise, seed, device).map_err(into_core)?;
            *last_test.borrow_mut() = Some(loss);
            Ok(json!({ "test_loss": loss }))
        },
        |report| {
            metrics.push_epoch(serde_json::to_value(report).expect("reports serialize"))?;
            run::save_epoch(
                &ckpt,
                &name,
                report.epoch,
                seed,
                varmap,
                optimizer.borrow_mut().state(),
                BTreeMap::new(),
            )
        },
    );
    let reports = metrics.outcome(reports)?;
    let test_loss = match last_test.into_inner() {
        Some(loss) => loss,
        None => evaluate(model, test, config.noise, seed, device)?,
    };
    Ok(TrainOutcome {
        resumed_from: start_epoch,
        reports,
        test_loss,
        metrics,
    })
}

/// The seed of a model's own random draws in one step, from the run's seed and the step's name.
fn step_seed(seed: Seed, step: &str) -> u64 {
    use rand::Rng;
    seed.stream(&format!("model-noise/{step}")).random()
}

fn noisy(
    noise: Option<Noise>,
    clean: &Tensor,
    indices: &[usize],
    split: &str,
    seed: Seed,
) -> Result<Tensor> {
    match noise {
        Some(n) => n.apply(clean, indices, split, seed),
        None => Ok(clean.clone()),
    }
}

/// The mean training loss over a whole set (noisy inputs when `noise` is given), in batches; a model's random
/// draws are seeded the same way at every call, so the number is comparable from epoch to epoch.
pub fn evaluate(
    model: &dyn Autoencoder,
    set: &dyn ImageSet,
    noise: Option<Noise>,
    seed: Seed,
    device: &Device,
) -> Result<f64> {
    const BATCH: usize = 1000;
    let (mut sum, mut count) = (0.0, 0usize);
    let all: Vec<usize> = (0..set.len()).collect();
    for (k, indices) in all.chunks(BATCH).enumerate() {
        let clean = set.batch(indices, device)?;
        let input = noisy(noise, &clean, indices, "test", seed)?;
        let loss = model.training_loss(&input, &clean, step_seed(seed, &format!("test/{k}")))?;
        sum += f64::from(loss.to_scalar::<f32>()?) * indices.len() as f64;
        count += indices.len();
    }
    if count == 0 {
        return Err(glassbox_core::Error::invalid("test set size", 0, "at least one image").into());
    }
    Ok(sum / count as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConvAutoencoder, ConvConfig, DenseAutoencoder, DenseConfig, Vae, VaeConfig};
    use candle_core::DType;
    use glassbox_core::data::Mnist;
    use glassbox_core::seed::SeededInit;

    /// A few epochs on 512 embedded digits take each model's test loss well below where it started, and
    /// the run writes its checkpoint and metrics.
    #[test]
    fn each_model_learns_on_a_few_batches() {
        let data = Mnist::embedded().unwrap();
        let (train_set, test_set) = (data.train.take(512), data.test.take(200));
        let cases: Vec<(&str, TrainConfig, f64)> = vec![
            ("shallow", config(3, 32, OptimizerChoice::adam(), None), 0.6),
            ("deep", config(3, 64, OptimizerChoice::adam(), None), 0.85),
            (
                "conv",
                config(3, 32, OptimizerChoice::adadelta(), None),
                0.75,
            ),
            (
                "denoise",
                config(3, 32, OptimizerChoice::adadelta(), Some(Noise { std: 0.5 })),
                0.8,
            ),
            // The negative ELBO starts near 784 ln 2 = 543 nats.
            ("vae", config(3, 32, OptimizerChoice::adam(), None), 0.5),
        ];
        for (name, config, ratio) in cases {
            let dir = tempfile::tempdir().unwrap();
            let varmap = VarMap::new();
            let vb = SeededInit::var_builder(&varmap, Seed(5), DType::F32, &Device::Cpu);
            let model: Box<dyn Autoencoder> = match name {
                "shallow" => Box::new(DenseAutoencoder::new(DenseConfig::shallow(), vb).unwrap()),
                "deep" => Box::new(DenseAutoencoder::new(DenseConfig::deep(), vb).unwrap()),
                "conv" => Box::new(ConvAutoencoder::new(ConvConfig::course(), vb).unwrap()),
                "vae" => Box::new(Vae::new(VaeConfig::mnist(50), vb).unwrap()),
                _ => Box::new(ConvAutoencoder::new(ConvConfig::denoising(), vb).unwrap()),
            };
            let before = evaluate(
                model.as_ref(),
                &test_set,
                config.noise,
                Seed(5),
                &Device::Cpu,
            )
            .unwrap();
            let outcome = train(
                model.as_ref(),
                &varmap,
                &train_set,
                &test_set,
                &config,
                dir.path(),
                Seed(5),
                &Device::Cpu,
                false,
            )
            .unwrap();
            let after = outcome.test_loss;
            eprintln!("{name}: test loss {before:.4} -> {after:.4}");
            assert!(
                after.is_finite() && after < ratio * before,
                "{name}: {before} -> {after}"
            );
            assert_eq!(outcome.reports.len(), 3);
            assert!(dir.path().join(CHECKPOINT_FILE).exists());
            assert_eq!(outcome.metrics.epochs().len(), 3);
        }
    }

    fn config(
        epochs: usize,
        batch_size: usize,
        optimizer: OptimizerChoice,
        noise: Option<Noise>,
    ) -> TrainConfig {
        TrainConfig {
            epochs,
            batch_size,
            optimizer,
            noise,
        }
    }

    /// 1 + 1 epochs resumed from the checkpoint end with exactly the weights of 2 straight epochs.
    #[test]
    fn a_resumed_run_ends_with_the_same_weights() {
        let data = Mnist::embedded().unwrap();
        let (train_set, test_set) = (data.train.take(256), data.test.take(50));
        let run_epochs = |dir: &Path, epochs: usize, resume: bool| {
            let varmap = VarMap::new();
            let vb = SeededInit::var_builder(&varmap, Seed(9), DType::F32, &Device::Cpu);
            let model = ConvAutoencoder::new(ConvConfig::course(), vb).unwrap();
            let config = config(epochs, 64, OptimizerChoice::adadelta(), None);
            train(
                &model,
                &varmap,
                &train_set,
                &test_set,
                &config,
                dir,
                Seed(9),
                &Device::Cpu,
                resume,
            )
            .unwrap();
            checkpoint::varmap_tensors(&varmap)
                .into_iter()
                .map(|(n, t)| (n, t.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
                .collect::<Vec<_>>()
        };
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let straight = run_epochs(a.path(), 2, false);
        run_epochs(b.path(), 1, false);
        let resumed = run_epochs(b.path(), 2, true);
        assert_eq!(straight.len(), resumed.len());
        assert_eq!(straight, resumed);
        // And the weights did move.
        let fresh = run_epochs(tempfile::tempdir().unwrap().path(), 1, false);
        assert_ne!(fresh, straight);
    }

    #[test]
    fn refuses_zero_epochs_and_another_models_checkpoint() {
        let data = Mnist::embedded().unwrap();
        let (train_set, test_set) = (data.train.take(64), data.test.take(10));
        let dir = tempfile::tempdir().unwrap();
        let make_conv = |vm: &VarMap| {
            let vb = SeededInit::var_builder(vm, Seed(1), DType::F32, &Device::Cpu);
            ConvAutoencoder::new(ConvConfig::course(), vb).unwrap()
        };
        let vm = VarMap::new();
        let conv = make_conv(&vm);
        let zero = config(0, 64, OptimizerChoice::adam(), None);
        let err = train(
            &conv,
            &vm,
            &train_set,
            &test_set,
            &zero,
            dir.path(),
            Seed(1),
            &Device::Cpu,
            false,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("epochs"), "{err}");
        let one = config(1, 64, OptimizerChoice::adam(), None);
        train(
            &conv,
            &vm,
            &train_set,
            &test_set,
            &one,
            dir.path(),
            Seed(1),
            &Device::Cpu,
            false,
        )
        .unwrap();
        let vm = VarMap::new();
        let vb = SeededInit::var_builder(&vm, Seed(1), DType::F32, &Device::Cpu);
        let dense = DenseAutoencoder::new(DenseConfig::shallow(), vb).unwrap();
        let err = train(
            &dense,
            &vm,
            &train_set,
            &test_set,
            &one,
            dir.path(),
            Seed(1),
            &Device::Cpu,
            true,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            err.contains("conv-autoencoder") && err.contains("--fresh"),
            "{err}"
        );
    }
}
