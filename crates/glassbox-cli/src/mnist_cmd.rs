//! `glassbox mnist ...`: the MNIST CNN lesson (glassbox-convnet): train, eval, predict.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use glassbox_convnet::mnist::{self, digits, figures, OptimizerKind, TrainConfig};
use glassbox_core::imaging::{save_rgb_png, side_by_side, upscale};
use glassbox_core::train::write_json;
use image::{Rgb, RgbImage};
use serde_json::json;

use crate::cli::Common;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OptimizerArg {
    /// Keras's Adam (the 2021 notebook): lr 1e-3.
    Adam,
    /// Keras's Adadelta (the 2018 course): lr 1.0, rho 0.95.
    Adadelta,
}

#[derive(Debug, Subcommand)]
pub enum MnistCommand {
    /// Trains the course's CNN (checkpoint after every epoch; run again to resume).
    Train {
        #[arg(long, default_value_t = 12)]
        epochs: usize,
        #[arg(long, default_value_t = 128)]
        batch_size: usize,
        #[arg(long, value_enum, default_value = "adam")]
        optimizer: OptimizerArg,
        /// Overrides the optimizer's learning rate.
        #[arg(long)]
        lr: Option<f64>,
        /// Train on the first N training digits only.
        #[arg(long, value_name = "N")]
        train_limit: Option<usize>,
        /// Evaluate on the first N test digits only.
        #[arg(long, value_name = "N")]
        test_limit: Option<usize>,
        /// Start over even if the output directory holds a checkpoint.
        #[arg(long)]
        fresh: bool,
    },
    /// Evaluates a trained checkpoint on the test digits: accuracy, confusion matrix, mistakes.
    Eval {
        /// Default: checkpoint.safetensors in the output directory.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
    },
    /// Reads digits from image files of any size (PNG or JPEG) and says which they are.
    Predict {
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<PathBuf>,
        /// Default: checkpoint.safetensors in the output directory.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
    },
}

pub fn run(common: &Common, cmd: &MnistCommand) -> anyhow::Result<()> {
    let device = common.device.open()?;
    let out = &common.out;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    match cmd {
        MnistCommand::Train {
            epochs,
            batch_size,
            optimizer,
            lr,
            train_limit,
            test_limit,
            fresh,
        } => {
            let config = TrainConfig {
                epochs: *epochs,
                batch_size: *batch_size,
                optimizer: match optimizer {
                    OptimizerArg::Adam => OptimizerKind::Adam,
                    OptimizerArg::Adadelta => OptimizerKind::Adadelta,
                },
                learning_rate: *lr,
            };
            train(common, &device, &config, *train_limit, *test_limit, *fresh)
        }
        MnistCommand::Eval { checkpoint } => eval(common, &device, checkpoint.as_deref()),
        MnistCommand::Predict { images, checkpoint } => {
            predict(common, &device, images, checkpoint.as_deref())
        }
    }
}

fn train(
    common: &Common,
    device: &candle_core::Device,
    config: &TrainConfig,
    train_limit: Option<usize>,
    test_limit: Option<usize>,
    fresh: bool,
) -> anyhow::Result<()> {
    let _lock = common.lock_out()?;
    let data = common.load_mnist(train_limit, test_limit)?;
    let out = &common.out;
    let clock = std::time::Instant::now();
    let mut outcome = mnist::train(&data, config, out, common.seed(), device, !fresh)?;
    common.say_resumed(outcome.resumed_from);
    let seconds = clock.elapsed().as_secs_f64();
    let test = &outcome.test;
    println!(
        "test accuracy {:.2}% ({} of {} wrong), loss {:.4}; {:.0} s for {} epochs this run",
        100.0 * test.accuracy,
        test.mistakes(&data.test).len(),
        test.count,
        test.loss,
        seconds,
        outcome.reports.len()
    );
    figures::training_curves(out, outcome.metrics.epochs())?;
    figures::confusion(out, test)?;
    figures::prediction_figures(out, &data.test, test)?;
    outcome.metrics.set("test", serde_json::to_value(test)?)?;
    let parameters = outcome.parameters();
    outcome.metrics.set("parameters", json!(parameters))?;
    for f in [
        mnist::CHECKPOINT_FILE,
        "loss.png",
        "accuracy.png",
        "confusion.png",
        "predictions.png",
        "mistakes.png",
        "metrics.json",
    ] {
        if out.join(f).exists() {
            println!("wrote {}", out.join(f).display());
        }
    }
    Ok(())
}

fn checkpoint_path(common: &Common, checkpoint: Option<&Path>) -> PathBuf {
    checkpoint
        .map(Path::to_path_buf)
        .unwrap_or_else(|| common.out.join(mnist::CHECKPOINT_FILE))
}

fn eval(
    common: &Common,
    device: &candle_core::Device,
    checkpoint: Option<&Path>,
) -> anyhow::Result<()> {
    let path = checkpoint_path(common, checkpoint);
    let model = mnist::load_trained(&path, device)?;
    let data = common.load_mnist(None, None)?;
    let e = mnist::evaluate(&model, &data.test, device)?;
    println!(
        "{}: test accuracy {:.2}% ({} of {} wrong), loss {:.4}",
        path.display(),
        100.0 * e.accuracy,
        e.mistakes(&data.test).len(),
        e.count,
        e.loss
    );
    let out = &common.out;
    figures::confusion(out, &e)?;
    figures::prediction_figures(out, &data.test, &e)?;
    let metrics = out.join("metrics-eval.json");
    write_json(
        &metrics,
        &json!({"run": {"lesson": "mnist eval", "checkpoint": path, "source": data.source.to_string()}, "metrics": e}),
    )?;
    for f in [
        "confusion.png",
        "predictions.png",
        "mistakes.png",
        "metrics-eval.json",
    ] {
        if out.join(f).exists() {
            println!("wrote {}", out.join(f).display());
        }
    }
    Ok(())
}

fn predict(
    common: &Common,
    device: &candle_core::Device,
    images: &[PathBuf],
    checkpoint: Option<&Path>,
) -> anyhow::Result<()> {
    let path = checkpoint_path(common, checkpoint);
    let model = mnist::load_trained(&path, device)?;
    let mut pixels = Vec::new();
    for image in images {
        pixels.extend(digits::digit_from_file(image)?);
    }
    let n = images.len();
    let x = candle_core::Tensor::from_vec(
        pixels
            .iter()
            .map(|&p| f32::from(p) / 255.0)
            .collect::<Vec<f32>>(),
        (n, 1, digits::SIDE, digits::SIDE),
        device,
    )?;
    let probs: Vec<Vec<f32>> =
        candle_nn::ops::softmax_last_dim(&model.forward_t(&x, false)?)?.to_vec2()?;
    let mut panels = Vec::new();
    let mut captions = Vec::new();
    let mut results = Vec::new();
    for (i, (image, p)) in images.iter().zip(&probs).enumerate() {
        let mut order: Vec<usize> = (0..10).collect();
        order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
        let top: Vec<String> = order[..3]
            .iter()
            .map(|&d| format!("{d} {:.1}%", 100.0 * p[d]))
            .collect();
        println!(
            "{}: {} (then {})",
            image.display(),
            top[0],
            top[1..].join(", ")
        );
        let digit = &pixels[i * 784..(i + 1) * 784];
        let small = RgbImage::from_fn(28, 28, |x, y| {
            let v = digit[(y * 28 + x) as usize];
            Rgb([v, v, v])
        });
        panels.push(upscale(&small, 4));
        let name = image
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        captions.push(format!("{name}\n{}", top[0]));
        results.push(json!({"file": image, "digit": order[0], "probabilities": p}));
    }
    let out = &common.out;
    let captions: Vec<&str> = captions.iter().map(String::as_str).collect();
    save_rgb_png(out.join("predict.png"), &side_by_side(&panels, &captions)?)?;
    write_json(
        &out.join("metrics-predict.json"),
        &json!({"run": {"lesson": "mnist predict", "checkpoint": path}, "metrics": {"predictions": results}}),
    )?;
    println!("wrote {}", out.join("predict.png").display());
    println!("wrote {}", out.join("metrics-predict.json").display());
    Ok(())
}
