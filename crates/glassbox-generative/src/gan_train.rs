//! Training a GAN: each step, the discriminator learns to score a real batch 1 and a generated batch 0,
//! then the generator learns to make the discriminator score its images 1. Both players' weights, both
//! optimizers' states and the running averages go into one checkpoint per epoch; the same fixed noise is
//! drawn after every epoch so the figures show one set of digits taking shape.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use glassbox_core::checkpoint::trainable_vars_under;
use glassbox_core::optim::{
    Adam, AnyOptimizer, Optimizer, OptimizerState, ParamsAdam, ParamsSgd, Sgd,
};
use glassbox_core::seed::Seed;
use glassbox_core::train::{fit, run, EpochReport, FitConfig, MetricsLog, StepOutput};
use rand::rngs::StdRng;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;
use serde_json::json;

use crate::autoencoder::bce_with_logits;
use crate::error::into_core;
use crate::gan::{Gan, GanArch, NOISE};
use crate::images::ImageSet;
use crate::Result;

/// The optimizer both players use (each its own instance).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "name")]
pub enum GanOptimizer {
    /// Keras's SGD with Nesterov momentum (the course: lr 0.0005, momentum 0.9).
    SgdNesterov {
        /// Learning rate.
        lr: f64,
        /// Nesterov momentum.
        momentum: f64,
    },
    /// Adam (DCGAN: lr 2e-4, beta1 0.5).
    Adam {
        /// Learning rate.
        lr: f64,
        /// Decay of the first moment.
        beta1: f64,
    },
}

/// The distribution of the generator's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseKind {
    /// U(-1, 1), the course's.
    Uniform,
    /// N(0, 1), DCGAN's.
    Normal,
}

/// How to train a GAN.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GanRecipe {
    /// The networks.
    pub arch: GanArch,
    /// Passes over the training images.
    pub epochs: usize,
    /// Real images per step (and as many generated).
    pub batch_size: usize,
    /// Both players' optimizer.
    pub optimizer: GanOptimizer,
    /// The generator's input distribution.
    pub noise: NoiseKind,
    /// The target for real images in the discriminator's loss (below 1: one-sided label smoothing).
    pub real_label: f64,
    /// Whether the generator's batch norm uses batch statistics when it draws the discriminator's fakes.
    /// The course's Keras code draws them with `predict`, in inference mode, with the running averages.
    pub generator_batch_stats_for_fakes: bool,
}

impl GanRecipe {
    /// The course's: its networks, SGD with Nesterov momentum, uniform noise, batch 128.
    pub fn course(epochs: usize) -> Self {
        GanRecipe {
            arch: GanArch::Course,
            epochs,
            batch_size: 128,
            optimizer: GanOptimizer::SgdNesterov {
                lr: 0.0005,
                momentum: 0.9,
            },
            noise: NoiseKind::Uniform,
            real_label: 1.0,
            generator_batch_stats_for_fakes: false,
        }
    }

    /// The stable default: DCGAN networks, Adam 2e-4 / beta1 0.5, normal noise, batch 128.
    pub fn dcgan(epochs: usize) -> Self {
        GanRecipe {
            arch: GanArch::Dcgan,
            epochs,
            batch_size: 128,
            optimizer: GanOptimizer::Adam {
                lr: 2e-4,
                beta1: 0.5,
            },
            noise: NoiseKind::Normal,
            real_label: 1.0,
            generator_batch_stats_for_fakes: true,
        }
    }

    fn optimizer(&self, vars: Vec<candle_core::Var>) -> Result<AnyOptimizer> {
        Ok(match self.optimizer {
            GanOptimizer::SgdNesterov { lr, momentum } => Sgd::new(
                vars,
                ParamsSgd {
                    lr,
                    momentum,
                    nesterov: true,
                    ..Default::default()
                },
            )?
            .into(),
            GanOptimizer::Adam { lr, beta1 } => Adam::new(
                vars,
                ParamsAdam {
                    lr,
                    beta1,
                    ..Default::default()
                },
            )?
            .into(),
        })
    }
}

/// `n` noise vectors `(n, 100)` drawn from `rng`.
pub fn noise(kind: NoiseKind, n: usize, rng: &mut StdRng, device: &Device) -> Result<Tensor> {
    let values: Vec<f32> = (0..n * NOISE)
        .map(|_| match kind {
            NoiseKind::Uniform => rng.random_range(-1.0f32..1.0),
            NoiseKind::Normal => StandardNormal.sample(rng),
        })
        .collect();
    Ok(Tensor::from_vec(values, (n, NOISE), device)?)
}

/// The two players' optimizers, saved and restored together (names prefixed by the player).
struct Players {
    generator: AnyOptimizer,
    discriminator: AnyOptimizer,
}

impl OptimizerState for Players {
    fn kind(&self) -> &'static str {
        match self.generator.kind() {
            "sgd" => "sgd-pair",
            "adam" => "adam-pair",
            _ => "pair",
        }
    }

    fn state_tensors(&self) -> glassbox_core::Result<Vec<(String, Tensor)>> {
        let mut all = Vec::new();
        for (prefix, o) in [
            ("generator.", &self.generator),
            ("discriminator.", &self.discriminator),
        ] {
            let state = o.state_ref().state_tensors()?;
            all.extend(state.into_iter().map(|(n, t)| (format!("{prefix}{n}"), t)));
        }
        Ok(all)
    }

    fn load_state_tensors(&mut self, saved: &HashMap<String, Tensor>) -> glassbox_core::Result<()> {
        for (prefix, o) in [
            ("generator.", &mut self.generator),
            ("discriminator.", &mut self.discriminator),
        ] {
            let mine: HashMap<String, Tensor> = saved
                .iter()
                .filter_map(|(n, t)| n.strip_prefix(prefix).map(|n| (n.to_string(), t.clone())))
                .collect();
            o.state().load_state_tensors(&mine)?;
        }
        Ok(())
    }
}

/// What one epoch of GAN training measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GanEpoch {
    /// The generator's mean loss.
    pub generator_loss: f64,
    /// The discriminator's mean probability that a real image is real, and a generated one.
    pub d_real: f64,
    /// See `d_real`.
    pub d_fake: f64,
}

/// A finished GAN run.
pub struct GanOutcome {
    /// Epochs done before this run started (from the checkpoint).
    pub resumed_from: usize,
    /// One report per epoch this run trained.
    pub reports: Vec<EpochReport>,
    /// The run's metrics.json, as written.
    pub metrics: MetricsLog,
}

pub use glassbox_core::train::run::CHECKPOINT_FILE;

/// Trains `gan` (variables in `varmap`) on `images` (pixels in 0..1, scaled here to [-1, 1]) into `out`.
/// After each epoch `on_epoch(epoch, samples)` gets the generator's images for the run's fixed noise.
#[allow(clippy::too_many_arguments)]
pub fn train_gan(
    gan: &Gan,
    varmap: &VarMap,
    images: &dyn ImageSet,
    recipe: &GanRecipe,
    out: &Path,
    seed: Seed,
    device: &Device,
    resume: bool,
    mut on_epoch: impl FnMut(usize, &Tensor) -> Result<()>,
) -> Result<GanOutcome> {
    FitConfig::check(recipe.epochs, recipe.batch_size)?;
    if gan.arch != recipe.arch {
        return Err(glassbox_core::Error::invalid(
            "GAN recipe",
            recipe.arch.name(),
            format!("the networks' architecture, {}", gan.arch.name()),
        )
        .into());
    }
    let ckpt = out.join(CHECKPOINT_FILE);
    let name = gan.model_name();
    let mut players = Players {
        generator: recipe.optimizer(trainable_vars_under(varmap, "generator."))?,
        discriminator: recipe.optimizer(trainable_vars_under(varmap, "discriminator."))?,
    };
    let start_epoch = match resume {
        true => run::resume(&ckpt, &name, varmap, &mut players, device)?
            .map_or(0, |r| r.epoch.min(recipe.epochs)),
        false => 0,
    };
    let about = json!({"model": name, "recipe": recipe, "seed": seed.0});
    let mut metrics = MetricsLog::resume(out.join("metrics.json"), about, start_epoch)?;
    let fixed = noise(
        recipe.noise,
        64,
        &mut seed.stream("gan/fixed-noise"),
        device,
    )?;
    let fit_config = FitConfig {
        epochs: recipe.epochs,
        batch_size: recipe.batch_size,
        seed,
        start_epoch,
        unit: "images",
        ..Default::default()
    };
    let players = RefCell::new(players);
    // Shares the discriminator's storage, so it sees every update; the generator's step needs gradients
    // through it to the images only, not for its weights.
    let frozen_discriminator = gan.discriminator.frozen();
    let epoch_sums = RefCell::new((0.0f64, 0.0f64, 0.0f64, 0usize));
    let reports = fit(
        &fit_config,
        images.len(),
        |batch| {
            let step = || -> Result<StepOutput> {
                let n = batch.indices.len();
                let real = images.batch(batch.indices, device)?.affine(2.0, -1.0)?;
                let mut rng =
                    seed.stream(&format!("gan/epoch{}/batch{}", batch.epoch, batch.index));
                let mut players = players.borrow_mut();

                // The discriminator: real images toward `real_label`, generated ones toward 0.
                let z = noise(recipe.noise, n, &mut rng, device)?;
                let fake = gan
                    .generator
                    .forward_t(&z, recipe.generator_batch_stats_for_fakes)?
                    .detach();
                let d_real = gan.discriminator.forward_t(&real, true)?;
                let d_fake = gan.discriminator.forward_t(&fake, true)?;
                let real_target = Tensor::full(recipe.real_label as f32, (n, 1), device)?;
                let fake_target = Tensor::zeros((n, 1), DType::F32, device)?;
                let d_loss = ((bce_with_logits(&d_real, &real_target)?
                    + bce_with_logits(&d_fake, &fake_target)?)?
                    * 0.5)?;
                players.discriminator.step(&d_loss.backward()?)?;

                // The generator: make the discriminator score its images as real.
                let z = noise(recipe.noise, n, &mut rng, device)?;
                let scores =
                    frozen_discriminator.forward_t(&gan.generator.forward_t(&z, true)?, true)?;
                let ones = Tensor::ones((n, 1), DType::F32, device)?;
                let g_loss = bce_with_logits(&scores, &ones)?;
                players.generator.step(&g_loss.backward()?)?;

                let mean_prob = |logits: &Tensor| -> Result<f64> {
                    Ok(f64::from(
                        candle_nn::ops::sigmoid(logits)?
                            .mean_all()?
                            .to_scalar::<f32>()?,
                    ))
                };
                let g = f64::from(g_loss.to_scalar::<f32>()?);
                let mut sums = epoch_sums.borrow_mut();
                sums.0 += g * n as f64;
                sums.1 += mean_prob(&d_real)? * n as f64;
                sums.2 += mean_prob(&d_fake)? * n as f64;
                sums.3 += n;
                Ok(StepOutput {
                    loss: f64::from(d_loss.to_scalar::<f32>()?),
                    correct: None,
                })
            };
            step().map_err(into_core)
        },
        |epoch| {
            let (g, real, fake, n) = epoch_sums.replace((0.0, 0.0, 0.0, 0));
            let samples = gan.generator.forward_t(&fixed, false)?;
            on_epoch(epoch, &samples).map_err(into_core)?;
            let n = n.max(1) as f64;
            let summary = GanEpoch {
                generator_loss: g / n,
                d_real: real / n,
                d_fake: fake / n,
            };
            Ok(serde_json::to_value(summary).expect("serializes"))
        },
        |report| {
            metrics.push_epoch(serde_json::to_value(report).expect("reports serialize"))?;
            run::save_epoch(
                &ckpt,
                &name,
                report.epoch,
                seed,
                varmap,
                &*players.borrow(),
                BTreeMap::new(),
            )
        },
    );
    let reports = metrics.outcome(reports)?;
    Ok(GanOutcome {
        resumed_from: start_epoch,
        reports,
        metrics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use glassbox_core::checkpoint;
    use glassbox_core::data::Mnist;
    use glassbox_core::seed::SeededInit;

    fn weights(varmap: &VarMap) -> Vec<(String, Vec<f32>)> {
        checkpoint::varmap_tensors(varmap)
            .into_iter()
            .map(|(n, t)| (n, t.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
            .collect()
    }

    fn run_gan(
        dir: &Path,
        recipe: &GanRecipe,
        images: usize,
        resume: bool,
    ) -> (VarMap, GanOutcome, usize) {
        let data = Mnist::embedded().unwrap().train.take(images);
        let varmap = VarMap::new();
        let vb = SeededInit::var_builder(&varmap, Seed(3), DType::F32, &Device::Cpu);
        let gan = Gan::new(recipe.arch, vb).unwrap();
        let mut samples = 0;
        let outcome = train_gan(
            &gan,
            &varmap,
            &data,
            recipe,
            dir,
            Seed(3),
            &Device::Cpu,
            resume,
            |_, s| {
                assert_eq!(s.dims(), [64, 1, 28, 28]);
                samples += 1;
                Ok(())
            },
        )
        .unwrap();
        (varmap, outcome, samples)
    }

    /// A few DCGAN steps: the discriminator learns to tell real from fake (its loss falls from ln 2 and
    /// it scores real images above generated ones), the metrics and samples come every epoch.
    #[test]
    fn the_discriminator_learns_and_every_epoch_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let recipe = GanRecipe {
            batch_size: 32,
            ..GanRecipe::dcgan(2)
        };
        let (_, outcome, samples) = run_gan(dir.path(), &recipe, 256, false);
        assert_eq!(samples, 2);
        let epochs = outcome.metrics.epochs();
        assert_eq!(epochs.len(), 2);
        let d_loss = epochs[1]["train_loss"].as_f64().unwrap();
        let (real, fake) = (
            epochs[1]["eval"]["d_real"].as_f64().unwrap(),
            epochs[1]["eval"]["d_fake"].as_f64().unwrap(),
        );
        assert!(
            d_loss < 0.6 && real > fake + 0.2,
            "d loss {d_loss}, D(x) {real}, D(G(z)) {fake}"
        );
        assert!(epochs[1]["eval"]["generator_loss"]
            .as_f64()
            .unwrap()
            .is_finite());
    }

    /// 1 + 1 epochs resumed end with both players' weights, running averages included, exactly as 2.
    #[test]
    fn a_resumed_gan_ends_with_the_same_weights() {
        for recipe in [GanRecipe::dcgan(2), GanRecipe::course(2)] {
            let recipe = GanRecipe {
                batch_size: 32,
                ..recipe
            };
            let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
            let (straight, _, _) = run_gan(a.path(), &recipe, 64, false);
            run_gan(
                b.path(),
                &GanRecipe {
                    epochs: 1,
                    ..recipe.clone()
                },
                64,
                false,
            );
            let (resumed, outcome, _) = run_gan(b.path(), &recipe, 64, true);
            assert_eq!(outcome.resumed_from, 1);
            let (s, r) = (weights(&straight), weights(&resumed));
            assert_eq!(s.len(), r.len());
            assert!(s.iter().any(|(n, _)| n.ends_with("running_var")));
            assert_eq!(s, r, "{:?}", recipe.arch);
        }
    }
}
