//! glassbox_synthesis::style against PyTorch on the shared VGG16: two Gram matrices, each style layer's loss,
//! the content, style and total-variation losses, their weighted total and its gradient with respect to the
//! image must match tests/fixtures/style.safetensors (written by tests/fixtures/generate_style.py, which
//! documents the images and weights) to 1e-4 relative. For a tensor, relative means the largest absolute
//! difference over the largest absolute value of PyTorch's tensor (an element near zero has no meaningful
//! relative error of its own).
//!
//! Print the measured errors with `cargo test -p glassbox-tests --profile ci --test style_pytorch -- --nocapture`.

use std::path::Path;

use candle_core::{Device, Tensor};
use glassbox_convnet::vgg::Vgg16;
use glassbox_core::imaging::{load_image, LoadOptions};
use glassbox_synthesis::layers::LayerMix;
use glassbox_synthesis::style::{gram, LossConfig, Targets, GATYS_STYLE_LAYERS};

const TOLERANCE: f64 = 1e-4;

/// The central `h x w` window of a shared photo, `(1, 3, h, w)` in 0..255, as the generator cuts it.
fn window(path: &Path, h: usize, w: usize) -> Tensor {
    let img = load_image(path, &LoadOptions::rgb()).unwrap();
    let (_, ih, iw) = img.dims3().unwrap();
    img.narrow(1, (ih - h) / 2, h)
        .unwrap()
        .narrow(2, (iw - w) / 2, w)
        .unwrap()
        .unsqueeze(0)
        .unwrap()
}

fn relative(ours: &Tensor, theirs: &Tensor) -> f64 {
    assert_eq!(ours.dims(), theirs.dims());
    let diff = (ours - theirs).unwrap().abs().unwrap().max_all().unwrap();
    let scale = theirs.abs().unwrap().max_all().unwrap();
    let diff = f64::from(diff.to_scalar::<f32>().unwrap());
    let scale = f64::from(scale.to_scalar::<f32>().unwrap());
    assert!(
        diff.is_finite() && scale > 0.0,
        "diff {diff}, scale {scale}"
    );
    diff / scale
}

#[test]
fn losses_and_gradient_match_pytorch() {
    let (Some(weights), Some(photos)) = (
        glassbox_core::testdata::weights_file("vgg16_features_hed.safetensors"),
        glassbox_core::testdata::data_file("images/photos"),
    ) else {
        return;
    };
    let fixture = candle_core::safetensors::load(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/style.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    let model = Vgg16::load(&weights, &Device::Cpu).unwrap();
    let content = window(&photos.join("chelsea.png"), 64, 80);
    let style = window(&photos.join("brick.png"), 72, 72);
    let image = ((&content + window(&photos.join("coffee.png"), 64, 80)).unwrap() / 2.0).unwrap();
    let config = LossConfig {
        content_layer: "block4_conv2".into(),
        style_layers: LayerMix(
            GATYS_STYLE_LAYERS
                .iter()
                .map(|n| (n.to_string(), 0.2))
                .collect(),
        ),
        content_weight: 1.0,
        style_weight: 1e3,
        tv_weight: 0.1,
    };
    let targets = Targets::new(&model, &config, &content, &style).unwrap();
    let (losses, gradient) = targets.losses_and_gradient(&model, &image).unwrap();

    let mut checks: Vec<(String, f64)> = Vec::new();
    let taps = model
        .layers(
            &model.preprocess(&image).unwrap(),
            &["block1_conv1", "block2_conv1"],
        )
        .unwrap();
    for (name, f) in ["block1_conv1", "block2_conv1"].iter().zip(&taps) {
        let theirs = &fixture[&format!("gram.{name}")];
        checks.push((format!("gram {name}"), relative(&gram(f).unwrap(), theirs)));
    }
    let scalar = |name: &str| f64::from(fixture[name].to_vec1::<f32>().unwrap()[0]);
    for (name, ours) in [
        ("content", losses.content),
        ("style", losses.style),
        ("tv", losses.tv),
        ("total", losses.total),
    ] {
        checks.push((
            name.into(),
            (ours - scalar(name)).abs() / scalar(name).abs(),
        ));
    }
    let layers = fixture["style_layers"].to_vec1::<f32>().unwrap();
    for (k, (ours, theirs)) in losses.style_layers.iter().zip(&layers).enumerate() {
        let theirs = f64::from(*theirs);
        checks.push((
            format!("style {}", GATYS_STYLE_LAYERS[k]),
            (ours - theirs).abs() / theirs.abs(),
        ));
    }
    checks.push((
        "input gradient".into(),
        relative(&gradient, &fixture["gradient"]),
    ));
    for (name, err) in &checks {
        println!("{name:>20}: {err:.2e}");
    }
    assert_eq!(checks.len(), 12);
    for (name, err) in &checks {
        assert!(
            err.is_finite() && *err <= TOLERANCE,
            "{name}: relative error {err:.2e}"
        );
    }
}
