//! `glassbox ae ...`: the autoencoder lessons (glassbox-generative) on MNIST.

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
    Noise, OptimizerChoice, TrainConfig, Vae, VaeConfig,
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

#[derive(Debug, Subcommand)]
pub enum VaeCommand {
    /// Trains the variational autoencoder (784-512-256-L) on MNIST: test ELBO, one digit decoded from
    /// several samples of its code, digits from random codes, and for L = 2 the code plane.
    Mnist {
        /// The code's size: 2 for the plots, 50 for the best samples.
        #[arg(long, default_value_t = 2)]
        latent: usize,
        #[arg(long, default_value_t = 50)]
        epochs: usize,
        #[arg(long, default_value_t = 128)]
        batch_size: usize,
        /// Adam's learning rate.
        #[arg(long, default_value_t = 1e-3)]
        lr: f64,
        /// Train on the first N training digits only.
        #[arg(long, value_name = "N")]
        train_limit: Option<usize>,
        /// Evaluate on the first N test digits only.
        #[arg(long, value_name = "N")]
        test_limit: Option<usize>,
        /// Start over even if the output directory holds a checkpoint.
        #[arg(long)]
        fresh: bool,
        #[command(flatten)]
        judge: JudgeArgs,
    },
}

/// `glassbox judge`: digits generated elsewhere (e.g. by the PyTorch reference scripts), judged exactly as
/// `--judge-with` judges glassbox's own.
#[derive(Debug, clap::Args)]
pub struct JudgeFileArgs {
    /// A safetensors file with a tensor "samples" of shape (N, 1, 28, 28), pixels in 0..1.
    #[arg(long, value_name = "FILE")]
    pub samples: PathBuf,
    #[command(flatten)]
    pub judge: JudgeArgs,
}

pub fn run_judge(common: &Common, args: &JudgeFileArgs) -> anyhow::Result<()> {
    let device = common.device.open()?;
    if args.judge.judge_with.is_none() {
        anyhow::bail!("--judge-with CHECKPOINT is required: the MNIST CNN that judges the samples");
    }
    let path = &args.samples;
    let tensors = candle_core::safetensors::load(path, &Device::Cpu)
        .with_context(|| format!("{}: not a readable safetensors file", path.display()))?;
    let samples = tensors
        .get("samples")
        .ok_or_else(|| anyhow::anyhow!("{}: no tensor named \"samples\"", path.display()))?
        .to_dtype(DType::F32)?;
    let dims = samples.dims().to_vec();
    if dims.len() != 4 || dims[1..] != [1, 28, 28] || dims[0] < 2 {
        anyhow::bail!(
            "{}: samples have shape {dims:?}, expected (N, 1, 28, 28) with N at least 2",
            path.display()
        );
    }
    let (lo, hi) = (
        samples.min_all()?.to_scalar::<f32>()?,
        samples.max_all()?.to_scalar::<f32>()?,
    );
    if !(lo >= -1e-3 && hi <= 1.0 + 1e-3) {
        anyhow::bail!(
            "{}: pixels run from {lo} to {hi}, expected 0..1 (rescale tanh outputs with (x + 1) / 2)",
            path.display()
        );
    }
    let data = common.load_mnist(None, None)?;
    let n = dims[0].min(args.judge.judge_samples);
    let draw = |_: usize| -> anyhow::Result<Tensor> { Ok(samples.narrow(0, 0, n)?) };
    let verdict = judge_samples(&args.judge, &data, &device, draw)?;
    std::fs::create_dir_all(&common.out)
        .with_context(|| format!("cannot create {}", common.out.display()))?;
    common.finish_lesson(
        "judge",
        json!({"samples_file": path, "judge": verdict}),
        &[] as &[&str],
    )
}

/// Judging generated digits with a trained MNIST CNN.
#[derive(Debug, clap::Args)]
pub struct JudgeArgs {
    /// A checkpoint of `glassbox mnist train`: the CNN judges samples of the trained model (class
    /// balance, confidence, FID on its features).
    #[arg(long, value_name = "CHECKPOINT")]
    pub judge_with: Option<std::path::PathBuf>,
    /// How many samples to judge.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub judge_samples: usize,
}

/// Judges `draw(n)` samples (pixels in 0..1) with the CNN of `args`, beside the floor (the training digits
/// against the test digits); prints the verdict and returns it for metrics.json.
pub fn judge_samples(
    args: &JudgeArgs,
    data: &Mnist,
    device: &Device,
    draw: impl Fn(usize) -> anyhow::Result<Tensor>,
) -> anyhow::Result<Option<serde_json::Value>> {
    let Some(path) = &args.judge_with else {
        println!(
            "(samples not judged: pass --judge-with CHECKPOINT, a CNN trained by `glassbox mnist train`)"
        );
        return Ok(None);
    };
    if args.judge_samples < 2 {
        anyhow::bail!(
            "invalid --judge-samples {}: expected at least 2",
            args.judge_samples
        );
    }
    let judge = glassbox_generative::judge::Judge::load(path, device)?;
    let reference = judge.reference(&data.test, 10_000)?;
    let train_digits = data.train.batch(
        &(0..data.train.len().min(args.judge_samples)).collect::<Vec<_>>(),
        device,
    )?;
    let floor = judge.judge(&train_digits, &reference)?;
    let samples = judge.judge(&draw(args.judge_samples)?, &reference)?;
    println!(
        "judged by {}: {} samples, class entropy {:.3} (ln 10 = 2.303), mean confidence {:.3}, FID {:.1} (training digits against test digits: {:.1})",
        path.display(),
        samples.samples,
        samples.entropy,
        samples.mean_confidence,
        samples.fid,
        floor.fid
    );
    println!("classes: {:?}", samples.histogram);
    if let Some(w) = &samples.warning {
        println!("warning: {w}");
    }
    Ok(Some(json!({
        "cnn_checkpoint": path,
        "cnn_trained_by": "glassbox mnist train",
        "samples": samples,
        "floor_train_vs_test": floor,
    })))
}

/// The course's settings and reported losses for each model.
struct Recipe {
    epochs: usize,
    batch_size: usize,
    optimizer: OptimizerArg,
    noise: Option<Noise>,
    /// (train loss, validation loss) after `epochs`, where the course reports them.
    course: Option<(f64, f64)>,
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
    match cmd {
        AeCommand::Tiger {
            other,
            epochs,
            fresh,
        } => tiger_lesson(common, &device, other.as_deref(), *epochs, !fresh),
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

pub fn run_vae(common: &Common, cmd: &VaeCommand) -> anyhow::Result<()> {
    let device = common.device.open()?;
    let out = &common.out;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let VaeCommand::Mnist {
        latent,
        epochs,
        batch_size,
        lr,
        train_limit,
        test_limit,
        fresh,
        judge,
    } = cmd;
    if *latent == 0 {
        anyhow::bail!("invalid --latent 0: the code needs at least 1 number");
    }
    let recipe = Recipe {
        epochs: *epochs,
        batch_size: *batch_size,
        optimizer: OptimizerArg::Adam,
        noise: None,
        course: None,
    };
    let config = TrainConfig {
        epochs: *epochs,
        batch_size: *batch_size,
        optimizer: OptimizerChoice::Adam { lr: *lr },
        noise: None,
    };
    let data = common.load_mnist(*train_limit, *test_limit)?;
    let varmap = VarMap::new();
    let vb = SeededInit::var_builder(&varmap, common.seed(), DType::F32, &device);
    let vae = Vae::new(VaeConfig::mnist(*latent), vb)?;
    let (mut metrics, mut written) = train_and_report(
        common, &device, &vae, &varmap, &config, &recipe, &data, !fresh,
    )?;
    written.extend(vae_figures(out, &vae, &data.test, common, &device)?);
    if *latent == 2 {
        // The prior's N(0, I): the course's grid over [-2, 2]^2.
        written.extend(code_figures(
            out,
            &vae,
            &data.test,
            Some((-2.0, 2.0)),
            &device,
        )?);
    }
    let test_loss = metrics.summary("test_loss");
    println!(
        "test ELBO {:.2} nats per image (the loss is its negative)",
        -test_loss
    );
    metrics.add("test_elbo_nats", json!(-test_loss));
    let draw = |n: usize| -> anyhow::Result<Tensor> {
        use rand::Rng;
        let seed = common.seed().stream("vae judge samples").random();
        Ok(vae.decode(&vae.sample_codes(n, seed, &device)?)?)
    };
    if let Some(verdict) = judge_samples(judge, &data, &device, draw)? {
        metrics.log.set("judge", verdict)?;
    }
    finish(out, &mut metrics, written)
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
struct Summary {
    log: glassbox_core::train::MetricsLog,
    values: serde_json::Map<String, serde_json::Value>,
}

impl Summary {
    fn summary(&self, key: &str) -> f64 {
        self.values[key].as_f64().unwrap_or(f64::NAN)
    }

    fn add(&mut self, key: &str, value: serde_json::Value) {
        self.values.insert(key.into(), value);
    }
}

/// Trains `model` on `data` with the checkpoint in the output directory, prints the result beside the
/// course's, draws the loss curve and the reconstructions; returns the summary and the files written.
#[allow(clippy::too_many_arguments)]
fn train_and_report(
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
    if outcome.resumed_from > 0 {
        println!(
            "resumed after epoch {} from {}",
            outcome.resumed_from,
            out.join(CHECKPOINT_FILE).display()
        );
    }
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
    values.insert("median_seconds_per_epoch".into(), json!(median(&seconds)));
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
fn finish(out: &Path, summary: &mut Summary, written: Vec<String>) -> anyhow::Result<()> {
    summary
        .log
        .set("summary", serde_json::Value::Object(summary.values.clone()))?;
    for f in written.iter().map(String::as_str).chain(["metrics.json"]) {
        println!("wrote {}", out.join(f).display());
    }
    Ok(())
}

/// The VAE's own figures: one test digit decoded from eight samples of its code, and 80 digits decoded
/// from random codes.
fn vae_figures(
    out: &Path,
    vae: &Vae,
    test: &MnistSplit,
    common: &Common,
    device: &Device,
) -> anyhow::Result<Vec<String>> {
    use rand::Rng;
    let mut rng = common.seed().stream("vae figures");
    let digit = test.batch(&[0], device)?;
    let (mean, log_var) = vae.posterior(&digit)?;
    let samples = (0..8)
        .map(|_| vae.reparameterize(&mean, &log_var, rng.random()))
        .collect::<candle_core::Result<Vec<_>>>()?;
    let decoded = vae.decode(&Tensor::cat(&samples, 0)?)?;
    figures::rows(
        &out.join("samples-of-one-code.png"),
        &[
            ("a test digit", digit),
            ("decoded from 8 samples of its code", decoded),
        ],
        3,
    )?;
    let random = vae.decode(&vae.sample_codes(80, rng.random(), device)?)?;
    glassbox_core::imaging::save_rgb_png(
        out.join("random-digits.png"),
        &glassbox_core::imaging::grid(
            &figures::to_images(&random, 2)?,
            10,
            2,
            image::Rgb([255, 255, 255]),
        ),
    )?;
    Ok(vec![
        "samples-of-one-code.png".into(),
        "random-digits.png".into(),
    ])
}

fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    (!v.is_empty()).then(|| v[v.len() / 2])
}

fn loss_curve(out: &Path, epochs: &[serde_json::Value], name: &str) -> anyhow::Result<()> {
    let series = |pick: &dyn Fn(&serde_json::Value) -> Option<f64>, label: &str| {
        let points = epochs
            .iter()
            .filter_map(|e| Some((e["epoch"].as_f64()?, pick(e)?)))
            .collect();
        Series::new(label, points)
    };
    line_chart(
        out.join("loss.png"),
        &LineChart {
            title: format!("{name}: reconstruction loss"),
            x_label: "epoch".into(),
            y_label: "loss".into(),
            series: vec![
                series(&|e| e["train_loss"].as_f64(), "train"),
                series(&|e| e["eval"]["test_loss"].as_f64(), "test"),
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
fn code_figures(
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

/// `glassbox ae tiger`: memorization, then many photos.
fn tiger_lesson(
    common: &Common,
    device: &Device,
    other: Option<&Path>,
    epochs: usize,
    resume: bool,
) -> anyhow::Result<()> {
    use glassbox_generative::tiger::{self, SIDE};
    use glassbox_generative::InMemory;

    let out = &common.out;
    let locator = common.locator();
    let tiger_rel = "images/photos/tiger-bw-100.jpg";
    let Some((_, tiger_path)) = locator.find_file(tiger_rel) else {
        return Err(glassbox_core::Error::NotFound {
            what: "the tiger photo (images/photos/tiger-bw-100.jpg)".into(),
            searched: locator.searched(tiger_rel),
            hint: Some("point --data-dir or GLASSBOX_DATA at a data directory that has it".into()),
        }
        .into());
    };
    let photos_dir = tiger_path
        .parent()
        .expect("a file has a directory")
        .to_path_buf();
    let tiger_image = tiger::load_photo(&tiger_path)?.to_device(device)?;
    let other_path = match other {
        Some(p) => p.to_path_buf(),
        None => photos_dir.join("chelsea.png"),
    };
    let other_image = tiger::load_photo(&other_path)?.to_device(device)?;
    let config = TrainConfig {
        epochs,
        batch_size: 128,
        optimizer: OptimizerChoice::adam(),
        noise: None,
    };
    let train_on =
        |images: &Tensor, copies: usize, dir: &str| -> anyhow::Result<(VarMap, DenseAutoencoder)> {
            let varmap = VarMap::new();
            let vb = SeededInit::var_builder(&varmap, common.seed(), DType::F32, device);
            let model = DenseAutoencoder::new(DenseConfig::tiger(SIDE), vb)?;
            let set = InMemory::repeated(images.clone(), copies)?;
            let test = InMemory::new(images.clone())?;
            let outcome = train::train(
                &model,
                &varmap,
                &set,
                &test,
                &config,
                &out.join(dir),
                common.seed(),
                device,
                resume,
            )?;
            println!(
                "{dir}: mean squared error {:.5} after {epochs} epochs",
                outcome.test_loss
            );
            Ok((varmap, model))
        };

    // 1. The tiger alone, 1,280 times an epoch: ten batches of 128.
    let (_memorized_vars, memorized) = train_on(&tiger_image, 1280, "memorize")?;
    let black = tiger::black(device)?;
    let cases = [
        ("the tiger", tiger_image.clone()),
        ("another photo", other_image),
        ("a black square", black),
    ];
    let mut rows = Vec::new();
    let mut memorization = Vec::new();
    for (name, input) in &cases {
        let output = memorized.reconstruct(input)?.clamp(0f32, 1f32)?;
        let to_tiger = tiger::mse(&output, &tiger_image)?;
        let to_input = tiger::mse(&output, input)?;
        let like_tiger = tiger::correlation(&output, &tiger_image)?;
        println!(
            "fed {name}: output to the tiger MSE {to_tiger:.5}, to its input {to_input:.5}; correlation with the tiger {like_tiger:.3}"
        );
        memorization.push(json!({
            "input": name,
            "output_to_tiger_mse": to_tiger,
            "output_to_input_mse": to_input,
            "output_tiger_correlation": like_tiger,
        }));
        let difference = (&output - input)?.abs()?;
        rows.push((*name, Tensor::cat(&[input.clone(), output, difference], 0)?));
    }
    let captioned: Vec<(&str, Tensor)> = rows.iter().map(|(name, t)| (*name, t.clone())).collect();
    figures::rows(&out.join("memorization.png"), &captioned, 2)?;

    // 2. The tiger and 25 crops of the other photos, each with its three quarter turns.
    let photos = tiger::photos_in(&photos_dir, &tiger_path)?;
    let crops = tiger::crops(&photos, 25, common.seed())?.to_device(device)?;
    let originals = Tensor::cat(&[tiger_image.clone(), crops], 0)?;
    let all = tiger::with_rotations(&originals)?;
    let (_many_vars, many) = train_on(&all, 12, "many")?;
    let outputs = many.reconstruct(&originals)?.clamp(0f32, 1f32)?;
    let mut table = Vec::new();
    for i in 0..originals.dim(0)? {
        let e = tiger::mse(&outputs.get(i)?, &originals.get(i)?)?;
        table.push(json!({"image": if i == 0 { "tiger".to_string() } else { format!("crop {i}") }, "mse": e}));
    }
    let mean_many: f64 =
        table.iter().filter_map(|r| r["mse"].as_f64()).sum::<f64>() / table.len() as f64;
    let memorized_tiger = memorization[0]["output_to_input_mse"]
        .as_f64()
        .unwrap_or(f64::NAN);
    println!(
        "26 photos x 4 turns: mean MSE {mean_many:.5} per photo, against {memorized_tiger:.5} for the tiger memorized alone"
    );
    figures::rows(
        &out.join("many.png"),
        &[
            ("photos (the first 13)", originals.narrow(0, 0, 13)?),
            ("through 20 numbers", outputs.narrow(0, 0, 13)?),
            ("photos (the other 13)", originals.narrow(0, 13, 13)?),
            ("through 20 numbers", outputs.narrow(0, 13, 13)?),
        ],
        1,
    )?;
    let doc = json!({
        "run": {"lesson": "ae tiger", "seed": common.seed, "epochs": epochs, "tiger": tiger_path, "other": other_path},
        "memorization": memorization,
        "many": {"images": 26, "with_turns": 104, "per_image": table, "mean_mse": mean_many},
    });
    glassbox_core::train::write_json(&out.join("metrics.json"), &doc)?;
    for f in [
        "memorize/checkpoint.safetensors",
        "many/checkpoint.safetensors",
        "memorization.png",
        "many.png",
        "metrics.json",
    ] {
        println!("wrote {}", out.join(f).display());
    }
    Ok(())
}
