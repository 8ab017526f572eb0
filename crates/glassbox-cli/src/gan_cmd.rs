//! `glassbox gan mnist`: the course's GAN and the stable DCGAN default (glassbox-generative).

use std::path::Path;

use anyhow::Context;
use candle_core::{DType, Tensor};
use candle_nn::VarMap;
use clap::{Subcommand, ValueEnum};
use glassbox_core::imaging::{grid, save_rgb_png, side_by_side};
use glassbox_core::plot::{line_chart, LineChart, Series};
use glassbox_core::seed::SeededInit;
use glassbox_generative::figures::to_images;
use glassbox_generative::gan::Gan;
use glassbox_generative::gan_train::{train_gan, GanRecipe, CHECKPOINT_FILE};
use image::Rgb;
use serde_json::json;

use crate::cli::Common;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SetupArg {
    /// The course's networks and SGD (lr 0.0005, Nesterov momentum 0.9) on 1,000 digits.
    Course,
    /// DCGAN: strided convolutions, batch norm, LeakyReLU, Adam 2e-4 / beta1 0.5, all the digits.
    Dcgan,
}

#[derive(Debug, Subcommand)]
pub enum GanCommand {
    /// Trains a GAN on MNIST (checkpoint after every epoch; run again to resume): samples of the same
    /// fixed noise after every epoch, the final samples, both players' losses.
    Mnist {
        #[arg(long, value_enum, default_value = "dcgan")]
        setup: SetupArg,
        /// Default: 30 for the course's setup, 20 for DCGAN.
        #[arg(long)]
        epochs: Option<usize>,
        #[arg(long, default_value_t = 128)]
        batch_size: usize,
        /// Train on the first N digits (default: 1,000 for the course's setup, all for DCGAN).
        #[arg(long, value_name = "N")]
        train_limit: Option<usize>,
        /// The discriminator's target for real digits (one-sided label smoothing below 1).
        #[arg(long)]
        real_label: Option<f64>,
        /// Start over even if the output directory holds a checkpoint.
        #[arg(long)]
        fresh: bool,
        #[command(flatten)]
        judge: crate::judge_cmd::JudgeArgs,
    },
}

pub fn run(common: &Common, cmd: &GanCommand) -> anyhow::Result<()> {
    let GanCommand::Mnist {
        setup,
        epochs,
        batch_size,
        train_limit,
        real_label,
        fresh,
        judge,
    } = cmd;
    let device = common.device.open()?;
    let out = &common.out;
    let (mut recipe, default_limit) = match setup {
        SetupArg::Course => (GanRecipe::course(epochs.unwrap_or(30)), Some(1000)),
        SetupArg::Dcgan => (GanRecipe::dcgan(epochs.unwrap_or(20)), None),
    };
    recipe.batch_size = *batch_size;
    if let Some(label) = real_label {
        if !(0.5..=1.0).contains(label) {
            anyhow::bail!("invalid --real-label {label}: expected a target between 0.5 and 1");
        }
        recipe.real_label = *label;
    }
    let _lock = common.lock_out()?;
    std::fs::create_dir_all(out.join("samples"))
        .with_context(|| format!("cannot create {}", out.join("samples").display()))?;
    let data = common.load_mnist(None, None)?;
    let limit = train_limit.or(default_limit);
    if limit == Some(0) {
        anyhow::bail!("invalid --train-limit 0: expected at least 1 digit");
    }
    let training = data.train.take(limit.unwrap_or(data.train.count));
    let varmap = VarMap::new();
    let vb = SeededInit::var_builder(&varmap, common.seed(), DType::F32, &device);
    let gan = Gan::new(recipe.arch, vb)?;
    let clock = std::time::Instant::now();
    let mut outcome = train_gan(
        &gan,
        &varmap,
        &training,
        &recipe,
        out,
        common.seed(),
        &device,
        !fresh,
        |epoch, samples| {
            save_samples(out, epoch, samples).map_err(|e| {
                glassbox_core::Error::Candle(candle_core::Error::Msg(format!("{e:#}"))).into()
            })
        },
    )?;
    common.say_resumed(outcome.resumed_from);
    let epochs = outcome.metrics.epochs().to_vec();
    let last = epochs.last().cloned().unwrap_or_default();
    println!(
        "{}: after {} epochs the discriminator's loss is {:.3}, the generator's {:.3}; D(x) {:.2}, D(G(z)) {:.2}; {:.0} s this run",
        gan.model_name(),
        epochs.len(),
        last["train_loss"].as_f64().unwrap_or(f64::NAN),
        last["eval"]["generator_loss"].as_f64().unwrap_or(f64::NAN),
        last["eval"]["d_real"].as_f64().unwrap_or(f64::NAN),
        last["eval"]["d_fake"].as_f64().unwrap_or(f64::NAN),
        clock.elapsed().as_secs_f64()
    );
    losses(out, &epochs, &gan.model_name())?;
    let evolution = evolution(out, epochs.len())?;
    let seconds: Vec<f64> = epochs
        .iter()
        .filter_map(|e| e["seconds"].as_f64())
        .collect();
    outcome.metrics.set(
        "summary",
        json!({
            "model": gan.model_name(),
            "epochs": epochs.len(),
            "training_digits": training.count,
            "median_seconds_per_epoch": glassbox_core::stats::median(&seconds),
        }),
    )?;
    let draw = |n: usize| -> anyhow::Result<Tensor> {
        let mut rng = common.seed().stream("gan judge samples");
        let mut parts = Vec::new();
        for start in (0..n).step_by(1000) {
            let z = glassbox_generative::gan_train::noise(
                recipe.noise,
                1000.min(n - start),
                &mut rng,
                &device,
            )?;
            parts.push(((gan.generator.forward_t(&z, false)? + 1.0)? * 0.5)?);
        }
        Ok(Tensor::cat(&parts, 0)?)
    };
    if let Some(verdict) = crate::judge_cmd::judge_samples(judge, &data, &device, draw)? {
        outcome.metrics.set("judge", verdict)?;
    }
    let mut written = vec![CHECKPOINT_FILE.to_string(), "losses.png".into()];
    written.extend(evolution);
    written.push("metrics.json".into());
    for f in written {
        println!("wrote {}", out.join(f).display());
    }
    Ok(())
}

/// After each epoch: the 64 samples of the fixed noise as `samples/epoch-NNN.png` and `samples.png`, and
/// the first 8 as `samples/row-epoch-NNN.png` for the figure across epochs.
fn save_samples(out: &Path, epoch: usize, samples: &Tensor) -> anyhow::Result<()> {
    let pixels = ((samples + 1.0)? * 0.5)?;
    let white = Rgb([255, 255, 255]);
    let all = grid(&to_images(&pixels, 2)?, 8, 2, white);
    save_rgb_png(out.join(format!("samples/epoch-{epoch:03}.png")), &all)?;
    save_rgb_png(out.join("samples.png"), &all)?;
    if epoch == 1 {
        save_rgb_png(out.join("samples-epoch-1.png"), &all)?;
    }
    let row = grid(&to_images(&pixels.narrow(0, 0, 8)?, 2)?, 8, 2, white);
    save_rgb_png(out.join(format!("samples/row-epoch-{epoch:03}.png")), &row)?;
    Ok(())
}

/// `evolution.png`: the same eight noise vectors drawn after each epoch (at most 12 epochs shown, spread
/// over the run).
fn evolution(out: &Path, epochs: usize) -> anyhow::Result<Vec<String>> {
    let shown: Vec<usize> = if epochs <= 12 {
        (1..=epochs).collect()
    } else {
        (0..12).map(|k| 1 + k * (epochs - 1) / 11).collect()
    };
    let mut rows = Vec::new();
    for e in shown {
        let path = out.join(format!("samples/row-epoch-{e:03}.png"));
        if let Ok(img) = image::open(&path) {
            rows.push(side_by_side(&[img.to_rgb8()], &[&format!("epoch {e}")])?);
        }
    }
    if rows.is_empty() {
        return Ok(vec![]);
    }
    save_rgb_png(
        out.join("evolution.png"),
        &grid(&rows, 1, 0, Rgb([255, 255, 255])),
    )?;
    Ok(vec![
        "samples.png".into(),
        "samples-epoch-1.png".into(),
        "evolution.png".into(),
    ])
}

fn losses(out: &Path, epochs: &[serde_json::Value], name: &str) -> anyhow::Result<()> {
    line_chart(
        out.join("losses.png"),
        &LineChart {
            title: format!("{name}: the two players' losses"),
            x_label: "epoch".into(),
            y_label: "binary cross-entropy".into(),
            series: vec![
                Series::from_epochs("discriminator", epochs, |e| e["train_loss"].as_f64()),
                Series::from_epochs("generator", epochs, |e| {
                    e["eval"]["generator_loss"].as_f64()
                }),
            ],
            y_range: None,
        },
    )?;
    Ok(())
}
