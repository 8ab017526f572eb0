//! `glassbox adversary vgg|edges`: adversarial photos against VGG16's classification (full weights) and
//! against the HED edge map (the shared convolution weights).

use std::path::{Path, PathBuf};

use glassbox_convnet::adversary::edges::{erase_edges, EdgeTarget, Region};
use glassbox_convnet::adversary::{attack, Attack};
use glassbox_convnet::vgg::{self, Hed, Vgg16};
use glassbox_core::data::locate::find_model;
use glassbox_core::imaging::{load_image, save_rgb_png, side_by_side, tensor_to_rgb, LoadOptions};
use serde_json::json;

use crate::cli::Common;
use crate::vgg_cmd::{edge_image, load_photo};

/// A `(1, 3, H, W)` perturbation amplified so that `±eps` spans black to white.
fn amplified(delta: &candle_core::Tensor, eps: f64) -> anyhow::Result<image::RgbImage> {
    let shown = ((delta / (2.0 * eps))? + 0.5)?.clamp(0f32, 1f32)? * 255.0;
    Ok(tensor_to_rgb(&shown?.squeeze(0)?)?)
}

/// `x,y,width,height` in pixels.
pub fn parse_region(s: &str) -> Result<Region, String> {
    let v: Vec<usize> = s
        .split(',')
        .map(|p| p.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("expected x,y,width,height in pixels: {e}"))?;
    match v[..] {
        [x, y, width, height] => Ok(Region {
            x,
            y,
            width,
            height,
        }),
        _ => Err(format!(
            "expected 4 numbers x,y,width,height, got {}",
            v.len()
        )),
    }
}

/// PGD against VGG16's top-1 class of each photo: top-5 before and after, and a figure per photo.
pub fn vgg_attack(
    common: &Common,
    images: &[PathBuf],
    weights: Option<&PathBuf>,
    attack_settings: &Attack,
) -> anyhow::Result<serde_json::Value> {
    let device = common.device.open()?;
    let path = match weights {
        Some(w) => w.clone(),
        None => find_model(&common.locator(), "vgg16")?,
    };
    let model = Vgg16::load(&path, &device)?;
    model.require_classifier()?;
    let classes = vgg::imagenet_classes();
    let classify = |x01: &candle_core::Tensor| {
        model
            .logits(
                &model
                    .preprocess(&(x01 * 255.0)?)
                    .map_err(candle_core::Error::wrap)?,
            )
            .map_err(candle_core::Error::wrap)
    };
    let mut rows = Vec::new();
    for (i, image) in images.iter().enumerate() {
        let x = (load_photo(image, &device)? / 255.0)?;
        let clean: Vec<f32> = classify(&x)?.squeeze(0)?.to_vec1()?;
        let top = vgg::top_k(&clean, 5);
        let label = candle_core::Tensor::new(&[top[0].0 as u32], &device)?;
        let adv = attack(classify, &x, &label, attack_settings, common.seed())?;
        let after: Vec<f32> = classify(&adv)?.squeeze(0)?.to_vec1()?;
        let top_after = vgg::top_k(&after, 5);
        let name = |c: usize| classes[c].to_string();
        println!(
            "{}: {} ({:.1}%) -> {} ({:.1}%)",
            image.display(),
            name(top[0].0),
            100.0 * top[0].1,
            name(top_after[0].0),
            100.0 * top_after[0].1
        );
        let panels = vec![
            tensor_to_rgb(&(x.squeeze(0)? * 255.0)?)?,
            amplified(&(&adv - &x)?, attack_settings.eps)?,
            tensor_to_rgb(&(adv.squeeze(0)? * 255.0)?)?,
        ];
        let captions = [
            format!("{} {:.0}%", name(top[0].0), 100.0 * top[0].1),
            format!("perturbation (+-{})", attack_settings.eps),
            format!("{} {:.0}%", name(top_after[0].0), 100.0 * top_after[0].1),
        ];
        let captions: Vec<&str> = captions.iter().map(String::as_str).collect();
        let file = format!("adversary-vgg-{}.png", i + 1);
        save_rgb_png(common.out.join(&file), &side_by_side(&panels, &captions)?)?;
        println!("wrote {}", common.out.join(&file).display());
        let named = |t: &[(usize, f32)]| -> Vec<serde_json::Value> {
            t.iter()
                .map(|(c, p)| json!({"class": c, "name": classes[*c], "probability": p}))
                .collect()
        };
        rows.push(
            json!({"image": image, "before": named(&top), "after": named(&top_after),
                         "fooled": top_after[0].0 != top[0].0}),
        );
    }
    Ok(json!({"weights": path, "attack": attack_settings, "images": rows}))
}

/// PGD against HED: the edges inside `region` fade while the photo and the other edges stay.
pub fn edges_attack(
    common: &Common,
    image: &Path,
    weights: Option<&PathBuf>,
    region: Option<Region>,
    keep_outside: f64,
    attack_settings: &Attack,
) -> anyhow::Result<serde_json::Value> {
    let device = common.device.open()?;
    let path = match weights {
        Some(w) => w.clone(),
        None => find_model(&common.locator(), "vgg16-features-hed")?,
    };
    let model = Vgg16::load(&path, &device)?;
    let hed = Hed::from_vgg(&model)?;
    let photo = load_image(image, &LoadOptions::rgb())?
        .to_device(&device)?
        .unsqueeze(0)?;
    let (_, _, h, w) = photo.dims4()?;
    let region = region.unwrap_or_else(|| Region::centre(w, h));
    let target = EdgeTarget {
        region,
        keep_outside,
    };
    target.check(w, h)?;
    println!(
        "erasing HED's edges of {} inside {}x{} at ({}, {}) with eps {} ({} steps)",
        image.display(),
        region.width,
        region.height,
        region.x,
        region.y,
        attack_settings.eps,
        attack_settings.steps
    );
    let out = erase_edges(&model, &hed, &photo, target, attack_settings, common.seed())?;
    println!(
        "mean edge probability inside: {:.3} -> {:.3}; outside it changed by {:.4} on average; largest pixel change {:.1} of 255",
        out.inside_before, out.inside_after, out.outside_change, out.max_pixel_change
    );
    let panels = vec![
        tensor_to_rgb(&photo.squeeze(0)?)?,
        edge_image(&out.edges_before)?,
        amplified(
            &((&out.adversarial - &photo)? / 255.0)?,
            attack_settings.eps,
        )?,
        tensor_to_rgb(&out.adversarial.squeeze(0)?)?,
        edge_image(&out.edges_after)?,
    ];
    let captions = [
        "photo".to_string(),
        format!("HED edges (box mean {:.2})", out.inside_before),
        format!("perturbation (+-{})", attack_settings.eps),
        "adversarial photo".to_string(),
        format!("HED edges (box mean {:.2})", out.inside_after),
    ];
    let captions: Vec<&str> = captions.iter().map(String::as_str).collect();
    save_rgb_png(
        common.out.join("adversary-edges.png"),
        &side_by_side(&panels, &captions)?,
    )?;
    println!("wrote {}", common.out.join("adversary-edges.png").display());
    // Not the Attack itself: its `loss` (a classifier's) plays no part here, the objective below does.
    let a = attack_settings;
    Ok(json!({
        "weights": path, "image": image, "region": region, "keep_outside": keep_outside,
        "attack": {
            "eps": a.eps, "steps": a.steps, "step_size": a.step_size, "random_start": a.random_start,
            "objective": format!(
                "-(mean edge probability inside) - {keep_outside} (mean |change of edge probability| outside)"
            ),
        },
        "inside_before": out.inside_before, "inside_after": out.inside_after,
        "outside_change": out.outside_change, "max_pixel_change": out.max_pixel_change,
    }))
}
