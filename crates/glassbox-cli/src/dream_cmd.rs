//! `glassbox dream`: deep dreaming on a photo (a preset or any layer mix), or from noise one block at a
//! time, with the side-by-side figure, snapshots, the objective per step and metrics.json.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use candle_core::Tensor;
use clap::Args;
use glassbox_convnet::vgg::Vgg16;
use glassbox_core::imaging::{save_rgb_png, side_by_side, tensor_to_rgb};
use glassbox_core::plot::{line_chart, LineChart, Series};
use glassbox_core::train::Progress;
use glassbox_synthesis::dream::{self, Dream, DreamConfig};
use glassbox_synthesis::layers::LayerMix;
use glassbox_synthesis::photo::{check_side, load_photo};
use glassbox_tensor::ascent::{AscentConfig, AscentStep};
use serde_json::json;

use crate::cli::Common;

#[derive(Debug, Args)]
pub struct DreamArgs {
    /// The photo to dream on (PNG or JPEG); leave out with --from-noise.
    #[arg(value_name = "IMAGE", required_unless_present = "from_noise")]
    image: Option<PathBuf>,
    /// A named layer mix with its step settings: eyes, shapes, textures, strokes.
    #[arg(long, default_value = "eyes")]
    preset: String,
    /// Any layer mix instead of the preset's, for example block4_conv3=1.0,block5_conv1=0.5.
    #[arg(long, value_name = "NAME=WEIGHT,...")]
    layers: Option<String>,
    /// The longer side of the dream in pixels (32 to 1024).
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Octaves (each 1.4 times larger than the last); default: the preset's.
    #[arg(long)]
    octaves: Option<usize>,
    /// Gradient steps per octave; default: the preset's.
    #[arg(long)]
    steps: Option<usize>,
    /// Mean pixel change (0..255) per step; default: the preset's.
    #[arg(long)]
    step_size: Option<f32>,
    /// Largest random shift before each step, in pixels; default: the preset's.
    #[arg(long)]
    jitter: Option<usize>,
    /// Save the image every N steps (0: never).
    #[arg(long, default_value_t = 0, value_name = "N")]
    snapshot_every: usize,
    /// Dream from grey noise instead, one image per block on its last convolution (the course's
    /// "noise first" figure).
    #[arg(long, conflicts_with_all = ["image", "layers", "preset"])]
    from_noise: bool,
    /// With --from-noise: the blocks, from 1 to 5 (default: all five).
    #[arg(long, value_delimiter = ',')]
    blocks: Vec<usize>,
    /// A safetensors file (default: VGG16 if fetched, else the shared convolution weights).
    #[arg(long, value_name = "FILE")]
    weights: Option<PathBuf>,
}

pub fn run(common: &Common, args: &DreamArgs) -> anyhow::Result<()> {
    let size = check_side("--size", args.size)?;
    if !args.blocks.is_empty() && !args.from_noise {
        let blocks: Vec<String> = args.blocks.iter().map(usize::to_string).collect();
        Err(glassbox_core::Error::invalid(
            "--blocks",
            blocks.join(","),
            "--from-noise beside it (a photo's dream takes --preset or --layers)",
        ))?;
    }
    for &block in &args.blocks {
        dream::last_conv(block)?;
    }
    let mut config = if args.from_noise {
        DreamConfig {
            layers: LayerMix::parse(dream::last_conv(1)?)?,
            ascent: dream::noise_ascent(),
        }
    } else {
        dream::preset(&args.preset)?.config()
    };
    if let Some(text) = &args.layers {
        config.layers = LayerMix::parse(text)?;
    }
    apply_overrides(&mut config.ascent, args)?;
    let device = common.device.open()?;
    let out = &common.out;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let weights = crate::vgg_cmd::features_weights(common, args.weights.as_ref())?;
    match &args.image {
        Some(image) if !args.from_noise => {
            // The photo first: a bad file is reported before the weights are read.
            let photo = load_photo(image, Some(size))?.to_device(&device)?;
            let model = Vgg16::load(&weights, &device)?;
            println!("VGG16 from {}", weights.display());
            from_photo(common, args, &model, image, &photo, &config)
        }
        _ => {
            let model = Vgg16::load(&weights, &device)?;
            println!("VGG16 from {}", weights.display());
            from_noise(common, args, &model, size, &config.ascent)
        }
    }
}

fn apply_overrides(ascent: &mut AscentConfig, args: &DreamArgs) -> anyhow::Result<()> {
    if let Some(octaves) = args.octaves {
        if !(1..=8).contains(&octaves) {
            Err(glassbox_core::Error::invalid(
                "--octaves",
                octaves,
                "1 to 8",
            ))?;
        }
        ascent.octaves = octaves;
    }
    if let Some(steps) = args.steps {
        if steps == 0 {
            Err(glassbox_core::Error::invalid(
                "--steps",
                steps,
                "at least 1",
            ))?;
        }
        ascent.steps = steps;
    }
    if let Some(step) = args.step_size {
        if !(step > 0.0 && step <= 50.0) {
            Err(glassbox_core::Error::invalid(
                "--step-size",
                step,
                "0 < s <= 50 (of 0..255)",
            ))?;
        }
        ascent.step_size = step;
    }
    if let Some(jitter) = args.jitter {
        ascent.jitter = jitter;
    }
    Ok(())
}

/// Saves the image after every `every` steps of the run as `{prefix}-{step:03}.png` (steps counted
/// over all octaves from 1); returns the names written.
struct Snapshots {
    every: usize,
    prefix: String,
    done: usize,
    written: Vec<String>,
    failed: Option<glassbox_core::Error>,
}

impl Snapshots {
    fn new(every: usize, prefix: impl Into<String>) -> Self {
        Snapshots {
            every,
            prefix: prefix.into(),
            done: 0,
            written: Vec::new(),
            failed: None,
        }
    }

    fn see(&mut self, out: &Path, image: &Tensor) {
        self.done += 1;
        if self.every == 0 || !self.done.is_multiple_of(self.every) || self.failed.is_some() {
            return;
        }
        let name = format!("{}-{:03}.png", self.prefix, self.done);
        let saved = image
            .get(0)
            .map_err(glassbox_core::Error::from)
            .and_then(|i| tensor_to_rgb(&i))
            .and_then(|rgb| save_rgb_png(out.join(&name), &rgb));
        match saved {
            Ok(()) => self.written.push(name),
            Err(e) => self.failed = Some(e),
        }
    }

    fn finish(self) -> anyhow::Result<Vec<String>> {
        match self.failed {
            Some(e) => Err(e.into()),
            None => Ok(self.written),
        }
    }
}

/// One climb with its progress bar and snapshots; returns the dream and each octave's summary with
/// its seconds per step.
fn climb(
    label: String,
    total: usize,
    snapshots: &mut Snapshots,
    out: &Path,
    run: impl FnOnce(&mut dyn FnMut(&AscentStep, &Tensor)) -> glassbox_synthesis::Result<Dream>,
) -> anyhow::Result<(Dream, serde_json::Value)> {
    let mut progress = Progress::new(label, total as u64, "steps").value_name("objective");
    let mut seconds = Vec::new();
    let mut last = Instant::now();
    let dream = run(&mut |s, x| {
        seconds.push(last.elapsed().as_secs_f64());
        progress.batch(1, f64::from(s.mean()), None);
        snapshots.see(out, x);
        // Snapshots are not the dream's time.
        last = Instant::now();
    })?;
    let octaves = dream.octaves();
    let per_step: Vec<f64> = octaves
        .iter()
        .map(|o| {
            let times: Vec<f64> = dream
                .trace
                .iter()
                .zip(&seconds)
                .filter(|(s, _)| s.octave == o.octave)
                .map(|(_, t)| *t)
                .collect();
            times.iter().sum::<f64>() / times.len().max(1) as f64
        })
        .collect();
    let summary: Vec<String> = octaves
        .iter()
        .zip(&per_step)
        .map(|(o, t)| {
            format!(
                "{:.3} -> {:.3} at {}x{} ({t:.3} s/step)",
                o.first, o.last, o.width, o.height
            )
        })
        .collect();
    progress.finish(&format!("objective per octave: {}", summary.join("; ")));
    let octaves = octaves
        .iter()
        .zip(&per_step)
        .map(|(o, t)| json!({"octave": o.octave, "height": o.height, "width": o.width, "first": o.first, "last": o.last, "seconds_per_step": t}))
        .collect();
    Ok((dream, octaves))
}

/// The objective before each step as (octave, step, value) rows.
fn steps_json(trace: &[AscentStep]) -> serde_json::Value {
    trace
        .iter()
        .map(|s| json!({"octave": s.octave, "step": s.step, "height": s.height, "width": s.width, "value": s.mean()}))
        .collect()
}

/// One series per octave, numbered by the step over the whole run, so each octave's rise is its own line.
fn octave_series(trace: &[AscentStep], prefix: &str) -> Vec<Series> {
    let mut series: Vec<Series> = Vec::new();
    for (i, s) in trace.iter().enumerate() {
        let point = ((i + 1) as f64, f64::from(s.mean()));
        match series.get_mut(s.octave) {
            Some(line) => line.points.push(point),
            None => series.push(Series::new(
                format!("{prefix}octave {} ({}x{})", s.octave + 1, s.width, s.height),
                vec![point],
            )),
        }
    }
    series
}

fn from_photo(
    common: &Common,
    args: &DreamArgs,
    model: &Vgg16,
    image: &Path,
    photo: &Tensor,
    config: &DreamConfig,
) -> anyhow::Result<()> {
    let (_, _, h, w) = photo.dims4()?;
    let name = image
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let what = match &args.layers {
        Some(_) => config.layers.to_string(),
        None => format!("preset {} ({})", args.preset, config.layers),
    };
    println!(
        "dreaming {name} at {w}x{h}: {what}; {} octaves of {} steps",
        config.ascent.octaves, config.ascent.steps
    );
    let total = config.ascent.octaves * config.ascent.steps;
    let mut snapshots = Snapshots::new(args.snapshot_every, "snapshot");
    let (dream, octaves) = climb("dream".into(), total, &mut snapshots, &common.out, |f| {
        dream::dream(model, photo, config, common.seed(), f)
    })?;
    let mut written = snapshots.finish()?;

    let (input, dreamed) = (
        tensor_to_rgb(&photo.get(0)?)?,
        tensor_to_rgb(&dream.image.get(0)?)?,
    );
    let caption = match &args.layers {
        Some(_) => format!("dream\n{}", config.layers),
        None => format!("dream: {}\n{}", args.preset, config.layers),
    };
    save_rgb_png(
        common.out.join("dream-side-by-side.png"),
        &side_by_side(&[input, dreamed.clone()], &[&name, &caption])?,
    )?;
    save_rgb_png(common.out.join("dream.png"), &dreamed)?;
    line_chart(
        common.out.join("objective.png"),
        &LineChart {
            title: format!("deep dream on {name}: {}", config.layers),
            x_label: "step (octaves one after another)".into(),
            y_label: "weighted mean activation".into(),
            series: octave_series(&dream.trace, ""),
            y_range: None,
        },
    )?;
    let mut files = vec![
        "dream-side-by-side.png".to_string(),
        "dream.png".into(),
        "objective.png".into(),
    ];
    files.append(&mut written);
    common.finish_lesson(
        "dream",
        json!({
            "image": image,
            "preset": if args.layers.is_some() { None } else { Some(&args.preset) },
            "config": config,
            "size": [h, w],
            "octaves": octaves,
            "steps": steps_json(&dream.trace),
        }),
        &files,
    )
}

fn from_noise(
    common: &Common,
    args: &DreamArgs,
    model: &Vgg16,
    size: usize,
    ascent: &AscentConfig,
) -> anyhow::Result<()> {
    let blocks = if args.blocks.is_empty() {
        vec![1, 2, 3, 4, 5]
    } else {
        args.blocks.clone()
    };
    let layers = blocks
        .iter()
        .map(|&b| dream::last_conv(b))
        .collect::<glassbox_synthesis::Result<Vec<_>>>()?;
    println!(
        "dreaming from noise at {size}x{size} on {}; {} octaves of {} steps each",
        layers.join(", "),
        ascent.octaves,
        ascent.steps
    );
    let (mut panels, mut captions, mut series, mut runs, mut files) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (&block, layer) in blocks.iter().zip(&layers) {
        let total = ascent.octaves * ascent.steps;
        let mut snapshots = Snapshots::new(args.snapshot_every, format!("snapshot-block{block}"));
        let (dream, octaves) = climb(
            format!("block {block}"),
            total,
            &mut snapshots,
            &common.out,
            |f| dream::dream_from_noise(model, block, size, ascent, common.seed(), f),
        )?;
        files.append(&mut snapshots.finish()?);
        panels.push(tensor_to_rgb(&dream.image.get(0)?)?);
        captions.push(format!("block {block}\n{layer}"));
        let points = dream
            .trace
            .iter()
            .enumerate()
            .map(|(i, s)| ((i + 1) as f64, f64::from(s.mean())))
            .collect();
        series.push(Series::new(format!("block {block} ({layer})"), points));
        runs.push(json!({
            "block": block,
            "layer": layer,
            "octaves": octaves,
            "steps": steps_json(&dream.trace),
        }));
    }
    let captions: Vec<&str> = captions.iter().map(String::as_str).collect();
    save_rgb_png(
        common.out.join("dream-from-noise.png"),
        &side_by_side(&panels, &captions)?,
    )?;
    line_chart(
        common.out.join("objective-from-noise.png"),
        &LineChart {
            title: "dreams from noise: each block's last convolution".into(),
            x_label: "step (octaves one after another)".into(),
            y_label: "mean activation".into(),
            series,
            y_range: None,
        },
    )?;
    files.splice(
        0..0,
        [
            "dream-from-noise.png".to_string(),
            "objective-from-noise.png".into(),
        ],
    );
    common.finish_lesson(
        "dream from noise",
        json!({"size": size, "ascent": ascent, "blocks": runs}),
        &files,
    )
}
