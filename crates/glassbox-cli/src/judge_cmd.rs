//! Judging generated digits with the trained MNIST CNN: `--judge-with` on `vae mnist` and `gan mnist`, and
//! `glassbox judge` for samples from a file.

use std::path::PathBuf;

use anyhow::Context;
use candle_core::{DType, Device, Tensor};
use glassbox_core::data::Mnist;
use glassbox_generative::ImageSet;
use serde_json::json;

use crate::cli::Common;

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

pub fn run(common: &Common, args: &JudgeFileArgs) -> anyhow::Result<()> {
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
