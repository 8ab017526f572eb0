//! `glassbox ae mnist`: the autoencoder lessons (glassbox-generative) on MNIST, and what the VAE's command
//! shares with them (training with a report, reconstructions, the 2-D code's figures).

use std::path::{Path, PathBuf};

use anyhow::Context;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use clap::{Subcommand, ValueEnum};
use glassbox_core::checkpoint;
use glassbox_core::data::{Mnist, MnistSplit};
use glassbox_core::plot::{line_chart, LineChart, Series};
use glassbox_core::seed::SeededInit;
use glassbox_generative::train::{self, CHECKPOINT_FILE};
use glassbox_generative::{
    figures, Autoencoder, ConvAutoencoder, ConvConfig, DenseAutoencoder, DenseConfig, ImageSet,
    Noise, OptimizerChoice, TrainConfig,
};
use serde_json::json;

use crate::cli::Common;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModelArg {
    /// 784-20-784, binary cross-entropy (course: loss 0.118 / val 0.116 after 50 epochs).
    Shallow,
    /// 784-512-256-2-256-512-784 with a 2-D code (course: 0.1866 / 0.1870 after 50 epochs).
    Deep,
    /// Convolutional, 7x7x3 code, Adadelta (course: 0.0762 / 0.0762 after 50 epochs).
    Conv,
    /// Convolutional denoising, 7x7x32 code, noisy inputs (course: 0.0945 / 0.0938 after 100 epochs).
    Denoise,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OptimizerArg {
    /// Keras's Adam: lr 1e-3.
    Adam,
    /// Keras 2's Adadelta: lr 1.0, rho 0.95.
    Adadelta,
}

#[derive(Debug, Subcommand)]
pub enum AeCommand {
    /// The tiny autoencoder on the 100x100 tiger (10000-20-10000, MSE, Adam): it memorizes the tiger and
    /// draws it whatever it is fed; trained on 26 photos and their quarter turns, 20 numbers no longer
    /// reproduce a photo.
    Tiger {
        /// Another photo to feed the tiger's autoencoder (default: chelsea.png among the data's photos).
        #[arg(long, value_name = "IMAGE")]
        other: Option<PathBuf>,
        /// Epochs of 10 batches of 128 for each of the two trainings.
        #[arg(long, default_value_t = 100)]
        epochs: usize,
        /// Start over even if the output directory holds checkpoints.
        #[arg(long)]
        fresh: bool,
    },
    /// Trains an autoencoder on MNIST (checkpoint after every epoch; run again to resume) and draws its
    /// reconstructions, and for the deep model its 2-D code, a decoded lattice and blends.
    Mnist {
        #[arg(long, value_enum, default_value = "shallow")]
        model: ModelArg,
        /// Default: the course's (50; 100 for denoise).
        #[arg(long)]
        epochs: Option<usize>,
        /// Default: the course's (256 for the dense models, 128 for the convolutional ones).
        #[arg(long)]
        batch_size: Option<usize>,
        /// Default: Adam for the dense models, Adadelta for the convolutional ones (the course's).
        #[arg(long, value_enum)]
        optimizer: Option<OptimizerArg>,
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
}

/// The course's settings and reported losses for each model.
pub(crate) struct Recipe {
    pub(crate) epochs: usize,
    pub(crate) batch_size: usize,
    pub(crate) optimizer: OptimizerArg,
    pub(crate) noise: Option<Noise>,
    /// (train loss, validation loss) after `epochs`, where the course reports them.
    pub(crate) course: Option<(f64, f64)>,
}

fn recipe(model: ModelArg) -> Recipe {
    let dense = |course| Recipe {
        epochs: 50,
        batch_size: 256,
        optimizer: OptimizerArg::Adam,
        noise: None,
        course,
    };
    match model {
        ModelArg::Shallow => dense(Some((0.118, 0.116))),
        ModelArg::Deep => dense(Some((0.1866, 0.1870))),
        ModelArg::Conv => Recipe {
            epochs: 50,
            batch_size: 128,
            optimizer: OptimizerArg::Adadelta,
            noise: None,
            course: Some((0.0762, 0.0762)),
        },
        ModelArg::Denoise => Recipe {
            epochs: 100,
            batch_size: 128,
            optimizer: OptimizerArg::Adadelta,
            noise: Some(Noise { std: 0.5 }),
            course: Some((0.0945, 0.0938)),
        },
    }
}

pub fn run(common: &Common, cmd: &AeCommand) -> anyhow::Result<()> {
    let device = common.device.open()?;
    let out = &common.out;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    // Both commands train.
    let _lock = common.lock_out()?;
    match cmd {
        AeCommand::Tiger {
            other,
            epochs,
            fresh,
        } => crate::tiger_cmd::run(common, &device, other.as_deref(), *epochs, !fresh),
        AeCommand::Mnist {
            model,
            epochs,
            batch_size,
            optimizer,
            lr,
            train_limit,
            test_limit,
            fresh,
        } => {
            let recipe = recipe(*model);
            let optimizer = match optimizer.unwrap_or(recipe.optimizer) {
                OptimizerArg::Adam => OptimizerChoice::Adam {
                    lr: lr.unwrap_or(1e-3),
                },
                OptimizerArg::Adadelta => OptimizerChoice::Adadelta {
                    lr: lr.unwrap_or(1.0),
                },
            };
            let config = TrainConfig {
                epochs: epochs.unwrap_or(recipe.epochs),
                batch_size: batch_size.unwrap_or(recipe.batch_size),
                optimizer,
                noise: recipe.noise,
            };
            let data = common.load_mnist(*train_limit, *test_limit)?;
            let varmap = VarMap::new();
            let ae = build(*model, &varmap, common, &device)?;
            let (mut metrics, mut written) = train_and_report(
                common,
                &device,
                ae.as_ref(),
                &varmap,
                &config,
                &recipe,
                &data,
                !fresh,
            )?;
            if *model == ModelArg::Deep {
                written.extend(code_figures(out, ae.as_ref(), &data.test, None, &device)?);
            }
            finish(out, &mut metrics, written)
        }
    }
}

fn build(
    model: ModelArg,
    varmap: &VarMap,
    common: &Common,
    device: &Device,
) -> anyhow::Result<Box<dyn Autoencoder>> {
    let vb = SeededInit::var_builder(varmap, common.seed(), DType::F32, device);
    Ok(match model {
        ModelArg::Shallow => Box::new(DenseAutoencoder::new(DenseConfig::shallow(), vb)?),
        ModelArg::Deep => Box::new(DenseAutoencoder::new(DenseConfig::deep(), vb)?),
        ModelArg::Conv => Box::new(ConvAutoencoder::new(ConvConfig::course(), vb)?),
        ModelArg::Denoise => Box::new(ConvAutoencoder::new(ConvConfig::denoising(), vb)?),
    })
}

/// The summary of a run, written into metrics.json at the end.
pub(crate) struct Summary {
    pub(crate) log: glassbox_core::train::MetricsLog,
    values: serde_json::Map<String, serde_json::Value>,
}

impl Summary {
    pub(crate) fn summary(&self, key: &str) -> f64 {
        self.values[key].as_f64().unwrap_or(f64::NAN)
    }

    pub(crate) fn add(&mut self, key: &str, value: serde_json::Value) {
        self.values.insert(key.into(), value);
    }
}

/// Trains `model` on `data` with the checkpoint in the output directory, prints the result beside the
/// course's, draws the loss curve and the reconstructions; returns the summary and the files written.
#[allow(clippy::too_many_arguments)]
pub(crate) fn train_and_report(
    common: &Common,
    device: &Device,
    model: &dyn Autoencoder,
    varmap: &VarMap,
    config: &TrainConfig,
    recipe: &Recipe,
    data: &Mnist,
    resume: bool,
) -> anyhow::Result<(Summary, Vec<String>)> {
    let out = &common.out;
    let clock = std::time::Instant::now();
    let outcome = train::train(
        model,
        varmap,
        &data.train,
        &data.test,
        config,
        out,
        common.seed(),
        device,
        resume,
    )?;
    common.say_resumed(outcome.resumed_from);
    let epochs = outcome.metrics.epochs().to_vec();
    let last_train = epochs
        .last()
        .and_then(|e| e["train_loss"].as_f64())
        .unwrap_or(f64::NAN);
    let course = recipe
        .course
        .map(|(t, v)| format!(" (course: {t} / {v} after {} epochs)", recipe.epochs))
        .unwrap_or_default();
    println!(
        "{}: train loss {last_train:.4}, test loss {:.4} after {} epochs{course}; {:.0} s this run",
        model.model_name(),
        outcome.test_loss,
        epochs.len(),
        clock.elapsed().as_secs_f64()
    );
    loss_curve(out, &epochs, &model.model_name())?;
    reconstructions(out, model, &data.test, config.noise, common, device)?;
    let parameters: usize = checkpoint::varmap_tensors(varmap)
        .iter()
        .map(|(_, t)| t.elem_count())
        .sum();
    let seconds: Vec<f64> = epochs
        .iter()
        .filter_map(|e| e["seconds"].as_f64())
        .collect();
    let mut values = serde_json::Map::new();
    values.insert("model".into(), json!(model.model_name()));
    values.insert("parameters".into(), json!(parameters));
    values.insert("epochs".into(), json!(epochs.len()));
    values.insert("train_loss".into(), json!(last_train));
    values.insert("test_loss".into(), json!(outcome.test_loss));
    values.insert(
        "median_seconds_per_epoch".into(),
        json!(glassbox_core::stats::median(&seconds)),
    );
    if let Some((t, v)) = recipe.course {
        values.insert(
            "course".into(),
            json!({"train_loss": t, "val_loss": v, "epochs": recipe.epochs}),
        );
    }
    let written = vec![
        CHECKPOINT_FILE.to_string(),
        "loss.png".into(),
        "reconstructions.png".into(),
    ];
    Ok((
        Summary {
            log: outcome.metrics,
            values,
        },
        written,
    ))
}

/// Writes the summary into metrics.json and lists the files.
pub(crate) fn finish(
    out: &Path,
    summary: &mut Summary,
    written: Vec<String>,
) -> anyhow::Result<()> {
    summary
        .log
        .set("summary", serde_json::Value::Object(summary.values.clone()))?;
    for f in written.iter().map(String::as_str).chain(["metrics.json"]) {
        println!("wrote {}", out.join(f).display());
    }
    Ok(())
}

fn loss_curve(out: &Path, epochs: &[serde_json::Value], name: &str) -> anyhow::Result<()> {
    line_chart(
        out.join("loss.png"),
        &LineChart {
            title: format!("{name}: reconstruction loss"),
            x_label: "epoch".into(),
            y_label: "loss".into(),
            series: vec![
                Series::from_epochs("train", epochs, |e| e["train_loss"].as_f64()),
                Series::from_epochs("test", epochs, |e| e["eval"]["test_loss"].as_f64()),
            ],
            y_range: None,
        },
    )?;
    Ok(())
}

/// The first ten test digits: input, (noisy input,) output.
fn reconstructions(
    out: &Path,
    model: &dyn Autoencoder,
    test: &MnistSplit,
    noise: Option<Noise>,
    common: &Common,
    device: &Device,
) -> anyhow::Result<()> {
    let indices: Vec<usize> = (0..test.len().min(10)).collect();
    let clean = test.batch(&indices, device)?;
    let mut rows = vec![("test digits", clean.clone())];
    let input = match noise {
        Some(n) => {
            let noisy = n.apply(&clean, &indices, "test", common.seed())?;
            rows.push(("with noise (the input)", noisy.clone()));
            noisy
        }
        None => clean,
    };
    rows.push(("reconstructed", model.reconstruct(&input)?));
    figures::rows(&out.join("reconstructions.png"), &rows, 3)?;
    Ok(())
}

/// A 2-D code: the test set's scatter, a decoded lattice (over `span` on both axes, else over the middle
/// 90% of the codes), blends.
pub(crate) fn code_figures(
    out: &Path,
    model: &dyn Autoencoder,
    test: &MnistSplit,
    span: Option<(f32, f32)>,
    device: &Device,
) -> anyhow::Result<Vec<String>> {
    let indices: Vec<usize> = (0..test.len()).collect();
    let codes = indices
        .chunks(1000)
        .map(|c| Ok(model.encode(&test.batch(c, device)?)?))
        .collect::<anyhow::Result<Vec<Tensor>>>()?;
    let codes = Tensor::cat(&codes, 0)?;
    figures::code_scatter(
        &out.join("codes.png"),
        &codes,
        &test.labels,
        "the test digits' 2-D codes",
    )?;
    // The lattice spans the middle 90% of the codes on each axis.
    let axis = |k: usize| -> anyhow::Result<(f32, f32)> {
        if let Some(span) = span {
            return Ok(span);
        }
        let mut v: Vec<f32> = codes.narrow(1, k, 1)?.flatten_all()?.to_vec1()?;
        v.sort_by(f32::total_cmp);
        Ok((v[v.len() / 20], v[v.len() - 1 - v.len() / 20]))
    };
    figures::decoded_lattice(
        &out.join("lattice.png"),
        model,
        axis(0)?,
        axis(1)?,
        15,
        device,
    )?;
    // Blends between the first test digits of different classes.
    let mut pairs = Vec::new();
    for (a, b) in [(0usize, 1usize), (2, 3), (4, 5)] {
        let first = |digit: u8| test.labels.iter().position(|&l| l == digit);
        if let (Some(i), Some(j)) = (first(a as u8), first(b as u8)) {
            pairs.push((test.batch(&[i], device)?, test.batch(&[j], device)?));
        }
    }
    figures::blends(&out.join("blends.png"), model, &pairs, 8)?;
    Ok(vec![
        "codes.png".into(),
        "lattice.png".into(),
        "blends.png".into(),
    ])
}
