//! The course's other two style-transfer figures:
//! - `glassbox style reconstruct`: noise optimized towards a painting's Gram matrices alone, with the style
//!   layers up to block 1, 2, ... 5 (Gatys et al.'s figure 1, style row): the deeper the layers, the larger
//!   the structures that take on the painting's colours and strokes; with `--content`, towards a photo's
//!   activations at one layer (block1_conv1, block2_conv1, block4_conv2; the content row): the deeper the
//!   layer, the more of the exact pixels is lost while the arrangement stays.
//! - `glassbox style gallery`: one content photo in every style (the four shared paintings and the brick
//!   and grass textures by default), with the same close-up region cut from every result.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use glassbox_core::imaging::{grid, save_rgb_png, side_by_side, upscale};
use glassbox_synthesis::layers::LayerMix;
use glassbox_synthesis::photo::{check_side, load_photo};
use glassbox_synthesis::style::{start_image, Start, Targets, GATYS_STYLE_LAYERS};
use image::{imageops, Rgb};
use serde_json::json;

use crate::cli::Common;
use crate::style_cmd::{load_pair, run_transfer, to_picture, StyleSettings};

#[derive(Debug, Subcommand)]
pub enum StyleFigure {
    /// Style alone from noise, with the style layers up to each block (content weight 0).
    Reconstruct(ReconstructArgs),
    /// One content photo in several styles, with a close-up of one region across all results.
    Gallery(GalleryArgs),
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false, id = "image")]
pub struct ReconstructArgs {
    /// Reconstruct this image's style, with the style layers up to each block.
    #[arg(long, value_name = "IMAGE", group = "image")]
    pub style: Option<PathBuf>,
    /// Reconstruct this photo's content instead, from block1_conv1, block2_conv1 and block4_conv2.
    #[arg(long, value_name = "IMAGE", group = "image")]
    pub content: Option<PathBuf>,
    #[command(flatten)]
    pub settings: StyleSettings,
}

/// The layers of the content reconstructions: the course's first two, and Gatys et al.'s content layer.
const CONTENT_RECONSTRUCTION_LAYERS: [&str; 3] = ["block1_conv1", "block2_conv1", "block4_conv2"];

#[derive(Debug, Args)]
pub struct GalleryArgs {
    #[arg(long, value_name = "IMAGE")]
    pub content: PathBuf,
    /// Style images (default: the shared paintings and the brick and grass textures).
    #[arg(long, value_name = "IMAGE", num_args = 1..)]
    pub styles: Vec<PathBuf>,
    /// The close-up: its centre as fractions of the width and height, and its side as a fraction of the
    /// longer side.
    #[arg(long, default_value = "0.5,0.7,0.25", value_name = "X,Y,SIDE")]
    pub crop: String,
    #[command(flatten)]
    pub settings: StyleSettings,
}

pub fn run(
    common: &Common,
    device: &candle_core::Device,
    figure: &StyleFigure,
) -> anyhow::Result<()> {
    match figure {
        StyleFigure::Reconstruct(args) => reconstruct(common, device, args),
        StyleFigure::Gallery(args) => gallery(common, device, args),
    }
}

fn reconstruct(
    common: &Common,
    device: &candle_core::Device,
    args: &ReconstructArgs,
) -> anyhow::Result<()> {
    let s = &args.settings;
    let mut config = s.transfer()?;
    config.start = Start::Noise;
    let model = s.model(common, device)?;
    let (path, what) = match (&args.style, &args.content) {
        (Some(p), _) => (p, "style"),
        (None, Some(p)) => (p, "content"),
        (None, None) => anyhow::bail!("give --style IMAGE or --content IMAGE"),
    };
    let image = load_photo(path, Some(check_side("--size", s.size)?))?.to_device(device)?;
    // Each reconstruction: its label, its caption, and the losses it optimizes (one term only).
    let mut variants = Vec::new();
    if what == "style" {
        for depth in 1..=GATYS_STYLE_LAYERS.len() {
            let layers = &GATYS_STYLE_LAYERS[..depth];
            let mut losses = s.losses()?;
            losses.style_layers = LayerMix(
                layers
                    .iter()
                    .map(|n| (n.to_string(), 1.0 / depth as f32))
                    .collect(),
            );
            losses.content_weight = 0.0;
            variants.push((
                format!("reconstruct-block{depth}"),
                format!("up to {}", layers[depth - 1]),
                losses,
            ));
        }
    } else {
        for layer in CONTENT_RECONSTRUCTION_LAYERS {
            let mut losses = s.losses()?;
            losses.content_layer = layer.to_string();
            losses.style_weight = 0.0;
            variants.push((
                format!("reconstruct-{layer}"),
                format!("content at {layer}"),
                losses,
            ));
        }
    }
    let mut panels = vec![to_picture(&image)?];
    let mut captions = vec![what.to_string()];
    let mut written = Vec::new();
    let mut runs = Vec::new();
    for (label, caption, losses) in &variants {
        // One image serves as both targets: the term whose weight is 0 does not count.
        let targets = Targets::new(&model, losses, &image, &image)?;
        let start = start_image(&image, Start::Noise, common.seed())?;
        let (result, snapshots, seconds) = run_transfer(
            &model,
            &targets,
            &start,
            &config,
            s.snapshot_every,
            &common.out,
            label,
        )?;
        written.extend(snapshots);
        panels.push(to_picture(&result.image)?);
        captions.push(caption.clone());
        runs.push(json!({
            "label": label,
            "losses": losses,
            "first": result.first,
            "last": result.last,
            "seconds": seconds,
        }));
    }
    let captions: Vec<&str> = captions.iter().map(String::as_str).collect();
    let figure = format!("{what}-reconstructions.png");
    save_rgb_png(common.out.join(&figure), &side_by_side(&panels, &captions)?)?;
    written.push(figure);
    common.finish_lesson(
        "style reconstruct",
        json!({what: path, "size": s.size, "transfer": config, "runs": runs}),
        &written,
    )
}

/// The paintings and textures the gallery uses when no style is given.
const DEFAULT_STYLES: [&str; 6] = [
    "images/paintings/van-gogh-starry-night-1889.jpg",
    "images/paintings/hokusai-great-wave-1831.jpg",
    "images/paintings/munch-scream-1893.jpg",
    "images/paintings/turner-shipwreck-1805.jpg",
    "images/photos/brick.png",
    "images/photos/grass.png",
];

fn gallery(
    common: &Common,
    device: &candle_core::Device,
    args: &GalleryArgs,
) -> anyhow::Result<()> {
    let s = &args.settings;
    let losses = s.losses()?;
    let config = s.transfer()?;
    let crop = parse_crop(&args.crop)?;
    let styles: Vec<PathBuf> = if args.styles.is_empty() {
        let locator = common.locator();
        DEFAULT_STYLES
            .iter()
            .map(|p| {
                locator.find_file(p).map(|(_, path)| path).ok_or_else(|| {
                    glassbox_core::Error::NotFound {
                        what: format!("style image {p}"),
                        searched: locator.searched(p),
                        hint: Some(
                            "set GLASSBOX_DATA or --data-dir to the shared data, or give --styles"
                                .into(),
                        ),
                    }
                })
            })
            .collect::<Result<_, _>>()?
    } else {
        args.styles.clone()
    };
    let model = s.model(common, device)?;
    let mut results = Vec::new();
    let mut runs = Vec::new();
    let mut written = Vec::new();
    let mut content_picture = None;
    for (k, style_path) in styles.iter().enumerate() {
        let (content, style) = load_pair(&args.content, style_path, s.size)?;
        let (content, style) = (content.to_device(device)?, style.to_device(device)?);
        content_picture.get_or_insert(to_picture(&content)?);
        let targets = Targets::new(&model, &losses, &content, &style)?;
        let start = start_image(&content, config.start, common.seed())?;
        let label = format!("gallery-{k}");
        let (result, snapshots, seconds) =
            run_transfer(&model, &targets, &start, &config, 0, &common.out, &label)?;
        written.extend(snapshots);
        let name = style_path.file_stem().map_or_else(
            || format!("style {k}"),
            |n| n.to_string_lossy().into_owned(),
        );
        results.push((name, to_picture(&style)?, to_picture(&result.image)?));
        runs.push(json!({
            "style": style_path,
            "first": result.first,
            "last": result.last,
            "seconds": seconds,
        }));
    }
    let content_picture = content_picture.expect("at least one style");
    let (w, h) = content_picture.dimensions();
    let side = ((w.max(h) as f32 * crop.2) as u32).clamp(8, w.min(h));
    let x = ((w as f32 * crop.0) as u32)
        .saturating_sub(side / 2)
        .min(w - side);
    let y = ((h as f32 * crop.1) as u32)
        .saturating_sub(side / 2)
        .min(h - side);
    let zoom = (256 / side).max(1);
    let close = |img: &image::RgbImage| {
        upscale(&imageops::crop_imm(img, x, y, side, side).to_image(), zoom)
    };

    let mut styles_row = vec![content_picture.clone()];
    let mut results_row = vec![content_picture.clone()];
    let mut close_row = vec![close(&content_picture)];
    let mut captions = vec!["content".to_string()];
    for (name, style, result) in &results {
        styles_row.push(style.clone());
        results_row.push(result.clone());
        close_row.push(close(result));
        captions.push(name.clone());
    }
    let captions: Vec<&str> = captions.iter().map(String::as_str).collect();
    let rows = [
        side_by_side(&styles_row, &captions)?,
        side_by_side(&results_row, &captions)?,
        side_by_side(&close_row, &captions)?,
    ];
    save_rgb_png(
        common.out.join("style-gallery.png"),
        &grid(&rows, 1, 4, Rgb([255, 255, 255])),
    )?;
    written.push("style-gallery.png".into());
    common.finish_lesson(
        "style gallery",
        json!({
            "content": args.content,
            "size": s.size,
            "losses": losses,
            "transfer": config,
            "close_up": {"x": x, "y": y, "side": side},
            "runs": runs,
        }),
        &written,
    )
}

/// `x,y,side` fractions, each in 0..1.
fn parse_crop(text: &str) -> anyhow::Result<(f32, f32, f32)> {
    let v: Vec<f32> = text
        .split(',')
        .map(|p| p.trim().parse::<f32>())
        .collect::<Result<_, _>>()
        .ok()
        .filter(|v: &Vec<f32>| {
            v.len() == 3 && v.iter().all(|f| (0.0..=1.0).contains(f)) && v[2] > 0.0
        })
        .ok_or_else(|| {
            glassbox_core::Error::invalid(
                "--crop",
                text,
                "three fractions X,Y,SIDE in 0..1, SIDE > 0",
            )
        })?;
    Ok((v[0], v[1], v[2]))
}
