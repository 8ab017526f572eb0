//! `glassbox style`: style transfer (glassbox-synthesis::style) with its figures, snapshots and metrics.json.
//! `glassbox style reconstruct` and `glassbox style gallery` draw the course's other two figures
//! (style_figures.rs).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use glassbox_convnet::vgg::Vgg16;
use glassbox_core::data::locate::find_model;
use glassbox_core::imaging::{
    heatmap, save_rgb_png, side_by_side, tensor_to_rgb, upscale, Colormap, Scale,
};
use glassbox_core::optim::lbfgs::{LbfgsConfig, LineSearch};
use glassbox_core::plot::{line_chart, LineChart, Series};
use glassbox_core::train::Progress;
use glassbox_synthesis::layers::LayerMix;
use glassbox_synthesis::photo::{check_side, load_photo};
use glassbox_synthesis::style::{
    start_image, transfer, LossConfig, Method, Record, Start, Targets, Transfer, TransferConfig,
};
use image::RgbImage;
use serde_json::json;

use crate::cli::Common;

/// `glassbox style --content IMAGE --style IMAGE [settings]`, or one of the figures.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct StyleCommand {
    #[command(subcommand)]
    pub figure: Option<crate::style_figures::StyleFigure>,
    /// The photo whose content is kept.
    #[arg(long, value_name = "IMAGE")]
    pub content: Option<PathBuf>,
    /// The painting or texture whose style is taken (resized to the content's longer side).
    #[arg(long, value_name = "IMAGE")]
    pub style: Option<PathBuf>,
    #[command(flatten)]
    pub settings: StyleSettings,
}

/// How a style transfer runs (shared by the figures).
#[derive(Debug, Args, Clone)]
pub struct StyleSettings {
    /// The longer side of the result in pixels (the content photo is resized to it), 32 to 1024.
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    /// Optimizer steps (L-BFGS iterations or Adam steps).
    #[arg(long, default_value_t = 200)]
    pub steps: usize,
    #[arg(long, value_enum, default_value_t = OptimizerName::Lbfgs)]
    pub optimizer: OptimizerName,
    /// Adam's learning rate in pixel units (0..255); L-BFGS's step scale (PyTorch's lr, default 1).
    #[arg(long)]
    pub lr: Option<f64>,
    /// L-BFGS's step length: a strong-Wolfe line search (about 1.05 evaluations per step here), or the
    /// PyTorch tutorial's fixed step (one evaluation, but erratic: docs/lessons/synthesis.md).
    #[arg(long, value_enum)]
    pub line_search: Option<LineSearchName>,
    /// Where the image starts.
    #[arg(long, value_enum, default_value_t = StartName::Content)]
    pub start: StartName,
    /// The layer whose activations the result keeps from the content photo.
    #[arg(long, default_value = "block4_conv2")]
    pub content_layer: String,
    /// Style layers with weights (default: Gatys et al.'s block1_conv1 ... block5_conv1, 0.2 each).
    #[arg(long, value_name = "LAYER=W,...")]
    pub style_layers: Option<String>,
    #[arg(long)]
    pub content_weight: Option<f64>,
    #[arg(long)]
    pub style_weight: Option<f64>,
    /// Total variation: smoothness of the result.
    #[arg(long)]
    pub tv_weight: Option<f64>,
    /// Save the image every N steps (0: never).
    #[arg(long, default_value_t = 50)]
    pub snapshot_every: usize,
    /// A safetensors file (default: VGG16 if fetched, else the shared convolution weights).
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OptimizerName {
    Lbfgs,
    Adam,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LineSearchName {
    StrongWolfe,
    None,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum StartName {
    Content,
    Noise,
}

/// Adam's default step in pixels (0..255): large enough to repaint in a few hundred steps.
const ADAM_LR: f64 = 5.0;

impl StyleSettings {
    pub fn losses(&self) -> anyhow::Result<LossConfig> {
        let mut config = LossConfig {
            content_layer: self.content_layer.clone(),
            ..LossConfig::default()
        };
        if let Some(layers) = &self.style_layers {
            config.style_layers = LayerMix::parse(layers)?;
        }
        if let Some(w) = self.content_weight {
            config.content_weight = w;
        }
        if let Some(w) = self.style_weight {
            config.style_weight = w;
        }
        if let Some(w) = self.tv_weight {
            config.tv_weight = w;
        }
        config.check()?;
        Ok(config)
    }

    pub fn transfer(&self) -> anyhow::Result<TransferConfig> {
        if !(1..=100_000).contains(&self.steps) {
            return Err(glassbox_core::Error::invalid("--steps", self.steps, "1 to 100000").into());
        }
        if let Some(lr) = self.lr {
            if !(lr > 0.0 && lr.is_finite()) {
                return Err(glassbox_core::Error::invalid("--lr", lr, "a positive number").into());
            }
        }
        let method = match self.optimizer {
            OptimizerName::Lbfgs => Method::Lbfgs(LbfgsConfig {
                lr: self.lr.unwrap_or(1.0),
                line_search: match self.line_search {
                    Some(LineSearchName::StrongWolfe) | None => LineSearch::StrongWolfe,
                    Some(LineSearchName::None) => LineSearch::None,
                },
                ..Default::default()
            }),
            OptimizerName::Adam => {
                if self.line_search.is_some() {
                    anyhow::bail!("--line-search is for --optimizer lbfgs");
                }
                Method::Adam {
                    lr: self.lr.unwrap_or(ADAM_LR),
                }
            }
        };
        Ok(TransferConfig {
            optimizer: method,
            steps: self.steps,
            start: match self.start {
                StartName::Content => Start::Content,
                StartName::Noise => Start::Noise,
            },
        })
    }

    pub fn model(&self, common: &Common, device: &candle_core::Device) -> anyhow::Result<Vgg16> {
        let weights = match &self.weights {
            Some(w) => w.clone(),
            None => find_model(&common.locator(), "vgg16")
                .or_else(|_| find_model(&common.locator(), "vgg16-features-hed"))?,
        };
        let model = Vgg16::load(&weights, device)?;
        println!("VGG16 from {}", weights.display());
        Ok(model)
    }
}

/// The content at `size` and the style resized to the content's longer side, each said.
pub fn load_pair(
    content: &Path,
    style: &Path,
    size: usize,
) -> anyhow::Result<(candle_core::Tensor, candle_core::Tensor)> {
    let size = check_side("--size", size)?;
    let c = load_photo(content, Some(size))?;
    let s = load_photo(style, Some(size))?;
    let dims = |t: &candle_core::Tensor| -> anyhow::Result<String> {
        let (_, _, h, w) = t.dims4()?;
        Ok(format!("{w}x{h}"))
    };
    println!("content {} at {}", content.display(), dims(&c)?);
    if c.dims() != s.dims() {
        println!(
            "style {} resized to {} (its longer side the content's; Gram matrices compare images of any size)",
            style.display(),
            dims(&s)?
        );
    } else {
        println!("style {} at {}", style.display(), dims(&s)?);
    }
    Ok((c, s))
}

/// Runs one transfer with a progress bar and snapshots `<prefix>step-NNNN.png` in `dir`; returns the
/// result and the snapshot files written.
pub fn run_transfer(
    model: &Vgg16,
    targets: &Targets,
    start: &candle_core::Tensor,
    config: &TransferConfig,
    snapshot_every: usize,
    dir: &Path,
    label: &str,
) -> anyhow::Result<(Transfer, Vec<String>, f64)> {
    let mut progress = Progress::new(label.to_string(), config.steps as u64, "steps");
    let mut snapshots = Vec::new();
    let started = std::time::Instant::now();
    let result = transfer(model, targets, start, config, |record: &Record, image| {
        progress.batch(1, record.losses.total, None);
        if snapshot_every > 0 && record.step.is_multiple_of(snapshot_every) {
            let name = format!("{label}-step-{:04}.png", record.step);
            save_rgb_png(dir.join(&name), &to_picture(image)?)?;
            snapshots.push(name);
        }
        Ok(())
    })?;
    let seconds = started.elapsed().as_secs_f64();
    progress.finish(&format!(
        "total loss {:.4e} -> {:.4e} in {} steps, {} evaluations, {:.2} s per evaluation",
        result.first.total,
        result.last.total,
        result.trace.len(),
        result.evaluations,
        seconds / result.evaluations as f64
    ));
    Ok((result, snapshots, seconds))
}

/// An optimized image `(1, 3, H, W)` as a picture, clipped to 0..255.
pub fn to_picture(image: &candle_core::Tensor) -> glassbox_synthesis::Result<RgbImage> {
    Ok(tensor_to_rgb(&image.clamp(0f32, 255f32)?.squeeze(0)?)?)
}

/// The losses per step as a chart (log scale: they span decades).
pub fn loss_chart(
    path: &Path,
    title: &str,
    trace: &[Record],
    weights: &LossConfig,
) -> anyhow::Result<()> {
    let series = |name: &str, get: &dyn Fn(&Record) -> f64| {
        Series::new(
            name,
            trace
                .iter()
                .filter(|r| get(r) > 0.0)
                .map(|r| (r.step as f64, get(r).log10()))
                .collect(),
        )
    };
    line_chart(
        path,
        &LineChart {
            title: title.into(),
            x_label: "step".into(),
            y_label: "log10 loss (weighted)".into(),
            series: vec![
                series("total", &|r| r.losses.total),
                series("content", &|r| r.losses.content * weights.content_weight),
                series("style", &|r| r.losses.style * weights.style_weight),
            ],
            y_range: None,
        },
    )?;
    Ok(())
}

pub fn run(common: &Common, cmd: &StyleCommand) -> anyhow::Result<()> {
    // Options first: a bad one is reported before images or weights are looked for.
    cmd.settings.losses()?;
    cmd.settings.transfer()?;
    let device = common.device.open()?;
    let out = &common.out;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    match (&cmd.figure, &cmd.content, &cmd.style) {
        (Some(figure), _, _) => crate::style_figures::run(common, &device, figure),
        (None, Some(content), Some(style)) => {
            self::style(common, &device, content, style, &cmd.settings)
        }
        _ => anyhow::bail!(
            "give --content IMAGE and --style IMAGE, or a figure: `glassbox style reconstruct` or `glassbox style gallery` (see --help)"
        ),
    }
}

fn style(
    common: &Common,
    device: &candle_core::Device,
    content_path: &Path,
    style_path: &Path,
    s: &StyleSettings,
) -> anyhow::Result<()> {
    let losses = s.losses()?;
    let config = s.transfer()?;
    let model = s.model(common, device)?;
    let (content, style) = load_pair(content_path, style_path, s.size)?;
    let (content, style) = (content.to_device(device)?, style.to_device(device)?);
    let targets = Targets::new(&model, &losses, &content, &style)?;
    let start = start_image(&content, config.start, common.seed())?;
    let (result, mut written, seconds) = run_transfer(
        &model,
        &targets,
        &start,
        &config,
        s.snapshot_every,
        &common.out,
        "style",
    )?;

    let picture = to_picture(&result.image)?;
    save_rgb_png(common.out.join("result.png"), &picture)?;
    // The inputs at the size the run worked at, so that another implementation can be run on the same
    // pixels (tests/fixtures/reference_style.py).
    save_rgb_png(common.out.join("content.png"), &to_picture(&content)?)?;
    save_rgb_png(common.out.join("style.png"), &to_picture(&style)?)?;
    let panels = [to_picture(&content)?, to_picture(&style)?, picture];
    save_rgb_png(
        common.out.join("style-transfer.png"),
        &side_by_side(&panels, &["content", "style", "result"])?,
    )?;
    loss_chart(
        &common.out.join("losses.png"),
        "style transfer",
        &result.trace,
        &losses,
    )?;
    let grams = gram_figure(&model, &losses, &targets, &result.image)?;
    save_rgb_png(common.out.join("gram-matrices.png"), &grams)?;
    written.extend(
        [
            "result.png",
            "style-transfer.png",
            "losses.png",
            "gram-matrices.png",
        ]
        .map(String::from),
    );
    let first = &result.first;
    let peak_rss = glassbox_core::device::peak_rss_bytes();
    println!(
        "total {:.4e} -> {:.4e} ({:.1}x), style {:.4e} -> {:.4e} ({:.1}x), content {:.4e} -> {:.4e}; peak RSS {}",
        first.total,
        result.last.total,
        first.total / result.last.total,
        first.style,
        result.last.style,
        first.style / result.last.style,
        first.content,
        result.last.content,
        peak_rss.map_or("unknown".into(), |b| format!("{:.2} GB", b as f64 / 1e9)),
    );
    common.finish_lesson(
        "style",
        json!({
            "content": content_path,
            "style": style_path,
            "size": s.size,
            "losses": losses,
            "transfer": config,
            "first": first,
            "last": result.last,
            "evaluations": result.evaluations,
            "seconds": seconds,
            "seconds_per_evaluation": seconds / result.evaluations as f64,
            "peak_rss_bytes": peak_rss,
            "trace": result.trace,
        }),
        &written,
    )
}

/// The Gram matrices of the first two style layers, of the style image (kept by `targets`) and of the
/// result, side by side (log magnitude, each panel scaled to its own range: the pattern is the point, not
/// the level).
fn gram_figure(
    model: &Vgg16,
    losses: &LossConfig,
    targets: &Targets,
    result: &candle_core::Tensor,
) -> anyhow::Result<RgbImage> {
    let layers: Vec<&str> = losses.style_layers.names().into_iter().take(2).collect();
    let taps = model.layers(&model.preprocess(&result.clamp(0f32, 255f32)?)?, &layers)?;
    let mut grams = Vec::new();
    for (k, name) in layers.iter().enumerate() {
        grams.push((format!("style {name}"), targets.style_gram(k).clone()));
    }
    for (f, name) in taps.iter().zip(&layers) {
        grams.push((
            format!("result {name}"),
            glassbox_synthesis::style::gram(f)?,
        ));
    }
    let mut panels = Vec::new();
    for (_, g) in &grams {
        let map = heatmap(&(g.abs()? + 1e-6)?.log()?, Colormap::Viridis, Scale::MinMax)?;
        let factor = (256 / map.width()).max(1);
        panels.push(upscale(&map, factor));
    }
    let captions: Vec<&str> = grams.iter().map(|(c, _)| c.as_str()).collect();
    Ok(side_by_side(&panels, &captions)?)
}
