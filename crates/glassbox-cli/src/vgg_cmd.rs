//! `glassbox vgg ...`: VGG16 (glassbox-convnet): classify photos, and a layer's filter responses.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use glassbox_convnet::vgg::{self, Vgg16};
use glassbox_core::data::locate::find_model;
use glassbox_core::imaging::{
    heatmap, load_image, save_rgb_png, side_by_side, tensor_to_rgb, Colormap, LoadOptions, Resize,
    Scale,
};
use glassbox_core::plot::{bar_chart, BarChart};
use glassbox_core::train::write_json;
use serde_json::json;

use crate::cli::Common;
use crate::visualize_cmd::AscentArgs;

#[derive(Debug, Subcommand)]
pub enum VggCommand {
    /// The top-5 ImageNet classes of each photo, with a bar chart per photo (needs the full VGG16).
    Classify {
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<PathBuf>,
        /// A safetensors file (default: VGG16 where `cargo xtask fetch-weights` puts it).
        #[arg(long, value_name = "FILE")]
        weights: Option<PathBuf>,
    },
    /// HED edges on the shared VGG16 weights: the fused edge map and the five side outputs.
    Edges {
        #[arg(value_name = "IMAGE")]
        image: PathBuf,
        /// A safetensors file with HED's tensors (default: the shared vgg16_features_hed.safetensors).
        #[arg(long, value_name = "FILE")]
        weights: Option<PathBuf>,
    },
    /// What filters want to see: gradient ascent on the input from grey noise, one image per filter.
    Visualize {
        /// A convolution: block1_conv1 ... block5_conv3.
        #[arg(long, default_value = "block1_conv2")]
        layer: String,
        /// How many filters, from --first.
        #[arg(long, default_value_t = 16)]
        filters: usize,
        #[arg(long, default_value_t = 0)]
        first: usize,
        /// Maximize the whole layer's activation (one image) instead of single filters.
        #[arg(long)]
        whole_layer: bool,
        /// The final image size in pixels (square).
        #[arg(long, default_value_t = 128)]
        size: usize,
        #[command(flatten)]
        ascent: AscentArgs,
        /// A safetensors file (default: VGG16 if fetched, else the shared convolution weights).
        #[arg(long, value_name = "FILE")]
        weights: Option<PathBuf>,
    },
    /// How the first filters of one layer respond to a photo (the course's duck slide).
    Responses {
        #[arg(value_name = "IMAGE")]
        image: PathBuf,
        /// block1_conv1 ... block5_conv3, or a pool.
        #[arg(long, default_value = "block1_conv2")]
        layer: String,
        /// How many filters, from the first.
        #[arg(long, default_value_t = 8)]
        filters: usize,
        /// A safetensors file (default: VGG16 if fetched, else the shared convolution weights).
        #[arg(long, value_name = "FILE")]
        weights: Option<PathBuf>,
    },
}

pub fn run(common: &Common, cmd: &VggCommand) -> anyhow::Result<()> {
    let device = common.device.open()?;
    let out = &common.out;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    match cmd {
        VggCommand::Classify { images, weights } => {
            let path = match weights {
                Some(w) => w.clone(),
                None => find_model(&common.locator(), "vgg16")?,
            };
            classify(common, &device, images, &path)
        }
        VggCommand::Edges { image, weights } => {
            let path = match weights {
                Some(w) => w.clone(),
                None => find_model(&common.locator(), "vgg16-features-hed")?,
            };
            edges(common, &device, image, &path)
        }
        VggCommand::Visualize {
            layer,
            filters,
            first,
            whole_layer,
            size,
            ascent,
            weights,
        } => {
            // Options first: a bad one is reported before weights are looked for or loaded.
            let config = ascent.config()?;
            let path = features_weights(common, weights.as_ref())?;
            let target = if *whole_layer {
                vgg::Target::Layer {
                    layer: layer.clone(),
                }
            } else {
                vgg::Target::Filters {
                    layer: layer.clone(),
                    filters: (*first..first + filters).collect(),
                }
            };
            crate::visualize_cmd::visualize(common, &device, &path, &target, *size, &config)
        }
        VggCommand::Responses {
            image,
            layer,
            filters,
            weights,
        } => {
            let path = features_weights(common, weights.as_ref())?;
            responses(common, &device, image, layer, *filters, &path)
        }
    }
}

/// `--weights`, else the full VGG16 if fetched, else the shared convolution weights.
pub(crate) fn features_weights(
    common: &Common,
    weights: Option<&PathBuf>,
) -> anyhow::Result<PathBuf> {
    Ok(match weights {
        Some(w) => w.clone(),
        None => find_model(&common.locator(), "vgg16")
            .or_else(|_| find_model(&common.locator(), "vgg16-features-hed"))?,
    })
}

pub(crate) fn load_photo(
    path: &Path,
    device: &candle_core::Device,
) -> anyhow::Result<candle_core::Tensor> {
    let options = LoadOptions::rgb().with_resize(Resize::imagenet_eval());
    Ok(load_image(path, &options)?
        .to_device(device)?
        .unsqueeze(0)?)
}

fn classify(
    common: &Common,
    device: &candle_core::Device,
    images: &[PathBuf],
    weights: &Path,
) -> anyhow::Result<()> {
    let model = Vgg16::load(weights, device)?;
    println!("VGG16 from {}", weights.display());
    let classes = vgg::imagenet_classes();
    let mut results = Vec::new();
    for (i, image) in images.iter().enumerate() {
        let x = model.preprocess(&load_photo(image, device)?)?;
        let logits: Vec<f32> = model.logits(&x)?.squeeze(0)?.to_vec1()?;
        let top = vgg::top_k(&logits, 5);
        println!("{}:", image.display());
        for (c, p) in &top {
            println!("  {:5.1}%  {} ({c})", 100.0 * p, classes[*c]);
        }
        let chart = format!("classify-{}.png", i + 1);
        bar_chart(
            common.out.join(&chart),
            &BarChart {
                title: format!(
                    "VGG16: {}",
                    image
                        .file_name()
                        .map(|f| f.to_string_lossy())
                        .unwrap_or_default()
                ),
                x_label: "probability".into(),
                bars: top
                    .iter()
                    .map(|(c, p)| (classes[*c].to_string(), f64::from(*p)))
                    .collect(),
                x_range: Some((0.0, 1.0)),
            },
        )?;
        println!("wrote {}", common.out.join(&chart).display());
        results.push(json!({
            "image": image,
            "top5": top.iter().map(|(c, p)| json!({"class": c, "name": classes[*c], "probability": p})).collect::<Vec<_>>(),
        }));
    }
    let metrics = common.out.join("metrics.json");
    write_json(
        &metrics,
        &json!({"run": {"lesson": "vgg classify", "weights": weights}, "metrics": {"images": results}}),
    )?;
    println!("wrote {}", metrics.display());
    Ok(())
}

fn responses(
    common: &Common,
    device: &candle_core::Device,
    image: &Path,
    layer: &str,
    filters: usize,
    weights: &Path,
) -> anyhow::Result<()> {
    let model = Vgg16::load(weights, device)?;
    println!("VGG16 from {}", weights.display());
    let photo = load_photo(image, device)?;
    let x = model.preprocess(&photo)?;
    let maps = model.layers(&x, &[layer])?.remove(0).squeeze(0)?;
    let (channels, h, w) = maps.dims3()?;
    if filters == 0 || filters > channels {
        anyhow::bail!(
            "invalid --filters {filters}: {layer} has {channels} filters; ask for 1 to {channels}"
        );
    }
    let mut panels = vec![tensor_to_rgb(&photo.squeeze(0)?)?];
    let mut captions = vec![format!("input {}x{}", photo.dim(3)?, photo.dim(2)?)];
    let mut stats = Vec::new();
    for f in 0..filters {
        let m = maps.get(f)?;
        let v: Vec<f32> = m.flatten_all()?.to_vec1()?;
        let max = v.iter().copied().fold(0.0f32, f32::max);
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        let img = heatmap(&m, Colormap::Inferno, Scale::Fixed(0.0, max.max(1e-6)))?;
        let img = glassbox_core::imaging::upscale(&img, (224 / h.max(1)).max(1) as u32);
        panels.push(img);
        captions.push(format!("filter {f}\nmax {max:.0}"));
        stats.push(json!({"filter": f, "mean": mean, "max": max}));
    }
    let captions: Vec<&str> = captions.iter().map(String::as_str).collect();
    let file = format!("responses-{layer}.png");
    save_rgb_png(common.out.join(&file), &side_by_side(&panels, &captions)?)?;
    let metrics = common.out.join("metrics.json");
    write_json(
        &metrics,
        &json!({"run": {"lesson": "vgg responses", "weights": weights, "image": image, "layer": layer},
                "metrics": {"shape": [channels, h, w], "filters": stats}}),
    )?;
    println!("{layer}: {channels} filters of {h}x{w}; drew the first {filters}");
    println!("wrote {}", common.out.join(&file).display());
    println!("wrote {}", metrics.display());
    Ok(())
}

/// Probabilities `(1, 1, H, W)` as dark lines on white (as HED's figures show edges).
pub(crate) fn edge_image(p: &candle_core::Tensor) -> anyhow::Result<image::RgbImage> {
    let inverted = ((p.squeeze(0)?.squeeze(0)? * -255.0)? + 255.0)?;
    Ok(tensor_to_rgb(&inverted.unsqueeze(0)?.repeat((3, 1, 1))?)?)
}

fn edges(
    common: &Common,
    device: &candle_core::Device,
    image: &Path,
    weights: &Path,
) -> anyhow::Result<()> {
    let model = Vgg16::load(weights, device)?;
    let hed = vgg::Hed::from_vgg(&model)?;
    println!("VGG16 + HED from {}", weights.display());
    let photo = load_image(image, &LoadOptions::rgb())?
        .to_device(device)?
        .unsqueeze(0)?;
    let out = hed.edges(&model, &photo)?;
    let p: Vec<f32> = out.fused.flatten_all()?.to_vec1()?;
    let n = p.len() as f64;
    let mean = p.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let edge_share = p.iter().filter(|&&v| v > 0.5).count() as f64 / n;
    save_rgb_png(common.out.join("edges.png"), &edge_image(&out.fused)?)?;
    let mut panels = vec![tensor_to_rgb(&photo.squeeze(0)?)?];
    let mut captions = vec!["input".to_string()];
    for (k, side) in out.sides.iter().enumerate() {
        panels.push(edge_image(side)?);
        captions.push(format!("side {} ({})", k + 1, vgg::hed::SIDE_LAYERS[k]));
    }
    panels.push(edge_image(&out.fused)?);
    captions.push("fused".into());
    let captions: Vec<&str> = captions.iter().map(String::as_str).collect();
    save_rgb_png(
        common.out.join("edges-sides.png"),
        &side_by_side(&panels, &captions)?,
    )?;
    let metrics = common.out.join("metrics.json");
    write_json(
        &metrics,
        &json!({"run": {"lesson": "vgg edges", "weights": weights, "image": image},
                "metrics": {"mean_probability": mean, "share_above_half": edge_share}}),
    )?;
    println!(
        "edge probability: mean {mean:.3}, {:.1}% of pixels above 0.5",
        100.0 * edge_share
    );
    for f in ["edges.png", "edges-sides.png", "metrics.json"] {
        println!("wrote {}", common.out.join(f).display());
    }
    Ok(())
}
