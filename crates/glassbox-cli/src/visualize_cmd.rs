//! `glassbox vgg visualize`: filter visualization by gradient ascent, with its grid, objective curve
//! and metrics.json.

use std::path::Path;

use clap::Args;
use glassbox_convnet::vgg::{self, Target, Vgg16};
use glassbox_core::imaging::{grid, save_rgb_png, side_by_side, tensor_to_rgb};
use glassbox_core::plot::{line_chart, LineChart, Series};
use glassbox_core::train::Progress;
use glassbox_tensor::ascent::{contrast_stretch, AscentConfig, StepNorm};
use image::Rgb;
use serde_json::json;

use crate::cli::Common;

/// The regularizers and schedule of gradient ascent (defaults: [`AscentConfig::default`]).
#[derive(Debug, Args)]
pub struct AscentArgs {
    /// Gradient steps per octave.
    #[arg(long, default_value_t = 20)]
    steps: usize,
    /// How far pixels (0..255) move per step, root mean square.
    #[arg(long, default_value_t = 2.0)]
    step_size: f32,
    /// Octaves (rounds on ever larger images) and the scale between them.
    #[arg(long, default_value_t = 3)]
    octaves: usize,
    #[arg(long, default_value_t = 1.4)]
    octave_scale: f32,
    /// Largest random shift before each step, in pixels (0: off).
    #[arg(long, default_value_t = 4)]
    jitter: usize,
    /// Gaussian blur every N steps (0: off), and its sigma in pixels.
    #[arg(long, default_value_t = 4)]
    blur_every: usize,
    #[arg(long, default_value_t = 0.5)]
    blur_sigma: f32,
    /// Pull towards grey per step, a fraction in 0..1 (0: off).
    #[arg(long, default_value_t = 0.0)]
    l2_decay: f32,
}

impl AscentArgs {
    pub fn config(&self) -> anyhow::Result<AscentConfig> {
        let check = |ok: bool, what: &str, value: String, want: &str| {
            if ok {
                Ok(())
            } else {
                Err(glassbox_core::Error::invalid(what, value, want))
            }
        };
        check(
            self.steps >= 1,
            "--steps",
            self.steps.to_string(),
            "at least 1",
        )?;
        check(
            (1..=8).contains(&self.octaves),
            "--octaves",
            self.octaves.to_string(),
            "1 to 8",
        )?;
        check(
            self.step_size > 0.0 && self.step_size.is_finite(),
            "--step-size",
            self.step_size.to_string(),
            "a positive number",
        )?;
        check(
            (1.0..=4.0).contains(&self.octave_scale),
            "--octave-scale",
            self.octave_scale.to_string(),
            "1 to 4",
        )?;
        check(
            (0.0..1.0).contains(&self.l2_decay),
            "--l2-decay",
            self.l2_decay.to_string(),
            "0 <= d < 1",
        )?;
        check(
            (0.0..=10.0).contains(&self.blur_sigma),
            "--blur-sigma",
            self.blur_sigma.to_string(),
            "0 to 10 pixels",
        )?;
        Ok(AscentConfig {
            steps: self.steps,
            step_size: self.step_size,
            jitter: self.jitter,
            blur_every: self.blur_every,
            blur_sigma: self.blur_sigma,
            l2_decay: self.l2_decay,
            octaves: self.octaves,
            octave_scale: self.octave_scale,
            range: (0.0, 255.0),
            normalize: StepNorm::Rms,
        })
    }
}

pub fn visualize(
    common: &Common,
    device: &candle_core::Device,
    weights: &Path,
    target: &Target,
    size: usize,
    config: &AscentConfig,
) -> anyhow::Result<()> {
    if !(16..=1024).contains(&size) {
        anyhow::bail!("invalid --size {size}: give 16 to 1024 pixels");
    }
    let model = Vgg16::load(weights, device)?;
    let layer = target.layer();
    let channels = vgg::visualize::filter_count(layer)?;
    println!(
        "VGG16 from {}; {layer} has {channels} filters",
        weights.display()
    );
    let total = (config.steps * config.octaves) as u64;
    let mut progress =
        Progress::new(format!("ascent {layer}"), total, "images").value_name("objective");
    let images = target.images();
    let result = vgg::visualize(
        &model,
        target,
        (size, size),
        config,
        glassbox_core::seed::Seed(common.seed),
        |s| progress.batch(images, f64::from(s.mean()), None),
    )?;
    let trace = &result.trace;
    let (first, last) = (&trace[0], &trace[trace.len() - 1]);
    progress.finish(&format!(
        "objective {:.3} -> {:.3} (mean over the batch)",
        first.mean(),
        last.mean()
    ));

    let shown = contrast_stretch(&result.images)? * 255.0;
    let shown = shown?;
    let labels: Vec<String> = match target {
        Target::Filters { filters, .. } => filters.iter().map(|f| format!("filter {f}")).collect(),
        Target::Layer { layer } => vec![format!("all of {layer}")],
    };
    let mut rows = Vec::new();
    for chunk in (0..labels.len()).collect::<Vec<_>>().chunks(8) {
        let panels = chunk
            .iter()
            .map(|&i| tensor_to_rgb(&shown.get(i)?))
            .collect::<glassbox_core::Result<Vec<_>>>()?;
        let captions: Vec<&str> = chunk.iter().map(|&i| labels[i].as_str()).collect();
        rows.push(side_by_side(&panels, &captions)?);
    }
    let grid_file = format!("filters-{layer}.png");
    save_rgb_png(
        common.out.join(&grid_file),
        &grid(&rows, 1, 0, Rgb([255, 255, 255])),
    )?;
    let curve_file = format!("objective-{layer}.png");
    let mean: Vec<(f64, f64)> = trace
        .iter()
        .enumerate()
        .map(|(i, s)| ((i + 1) as f64, f64::from(s.mean())))
        .collect();
    line_chart(
        common.out.join(&curve_file),
        &LineChart {
            title: format!("gradient ascent on {layer}"),
            x_label: "step (octaves one after another)".into(),
            y_label: "mean activation".into(),
            series: vec![Series::new("mean over images", mean)],
            y_range: None,
        },
    )?;
    let per_image_first = &first.objective;
    let per_image_last = &last.objective;
    let rose = per_image_first
        .iter()
        .zip(per_image_last)
        .filter(|(a, b)| b > a)
        .count();
    println!(
        "the objective rose for {rose} of {} images; {} steps in {} octaves up to {size}x{size}",
        per_image_first.len(),
        trace.len(),
        config.octaves
    );
    common.finish_lesson(
        "vgg visualize",
        json!({
            "weights": weights,
            "target": target,
            "size": size,
            "ascent": config,
            "labels": labels,
            "first_objective": per_image_first,
            "last_objective": per_image_last,
            "rose": rose,
            "steps": trace,
        }),
        &[grid_file, curve_file],
    )
}
