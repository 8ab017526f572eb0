//! glassbox-convnet's VGG16 against PyTorch (`tests/fixtures/vgg.json`, written by
//! `tests/fixtures/generate_vgg.py`): the real shared convolution weights and a full VGG16 built from a
//! closed formula, on the central 224x224 crops of two shared photos; every layer's mean, std, max and
//! sampled values, and the logits, to 1e-4 relative. The same comparison runs on an accelerator when
//! `GLASSBOX_TEST_DEVICE` names one (`cargo xtask gpu-check`).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use glassbox_convnet::vgg::{layer_names, Vgg16, CONVS};
use glassbox_core::imaging::{load_image, LoadOptions, Normalization};
use glassbox_tests::{fixture, full_data};
use serde_json::Value;

const TOLERANCE: f64 = 1e-4;

/// The formula weights (tests/fixtures/formula.py) as a tensor.
fn formula(shape: &[usize], seed: u32, scale: f64, device: &Device) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::from_vec(glassbox_tests::formula(n, seed, scale), shape, device).unwrap()
}

fn formula_network(device: &Device) -> Vgg16 {
    let mut specs: Vec<(String, Vec<usize>, f64)> = Vec::new();
    for c in CONVS {
        let fan_in = (c.in_channels * 9) as f64;
        specs.push((
            format!("features.{}.weight", c.index),
            vec![c.out_channels, c.in_channels, 3, 3],
            (6.0 / fan_in).sqrt(),
        ));
        specs.push((
            format!("features.{}.bias", c.index),
            vec![c.out_channels],
            0.01,
        ));
    }
    for (name, o, i) in [
        ("classifier.0", 4096, 25088),
        ("classifier.3", 4096, 4096),
        ("classifier.6", 1000, 4096),
    ] {
        specs.push((
            format!("{name}.weight"),
            vec![o, i],
            (6.0 / i as f64).sqrt(),
        ));
        specs.push((format!("{name}.bias"), vec![o], 0.01));
    }
    let tensors: HashMap<String, Tensor> = specs
        .into_iter()
        .enumerate()
        .map(|(seed, (name, shape, scale))| (name, formula(&shape, seed as u32, scale, device)))
        .collect();
    Vgg16::from_tensors(tensors, Normalization::TORCHVISION, Path::new("formula")).unwrap()
}

/// The central 224x224 crop, RGB 0..255, `(1, 3, 224, 224)`, on `device`.
fn crop(path: &Path, device: &Device) -> Tensor {
    let img = load_image(path, &LoadOptions::rgb()).unwrap();
    let (_, h, w) = img.dims3().unwrap();
    img.narrow(1, (h - 224) / 2, 224)
        .unwrap()
        .narrow(2, (w - 224) / 2, 224)
        .unwrap()
        .unsqueeze(0)
        .unwrap()
        .to_device(device)
        .unwrap()
}

fn close(ours: f64, theirs: f64, scale: f64, what: &str) {
    let err = (ours - theirs).abs() / scale.max(1e-6);
    assert!(
        err <= TOLERANCE,
        "{what}: ours {ours}, PyTorch {theirs} (relative {err:.2e})"
    );
}

/// Compares every layer named in `expected` (and the logits if stored); returns the worst relative error.
fn compare(model: &Vgg16, x: &Tensor, expected: &Value, what: &str) -> f64 {
    let layers = expected["layers"].as_object().unwrap();
    let names: Vec<&str> = layer_names()
        .into_iter()
        .filter(|n| layers.contains_key(*n))
        .collect();
    let outs = model.layers(x, &names).unwrap();
    let mut worst = 0.0f64;
    for (name, out) in names.iter().zip(&outs) {
        let e = &layers[*name];
        let dims: Vec<usize> = e["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(out.dims(), dims.as_slice(), "{what} {name}");
        let flat: Vec<f32> = out.flatten_all().unwrap().to_vec1().unwrap();
        let n = flat.len() as f64;
        let mean = flat.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let std = (flat
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n)
            .sqrt();
        let max = flat.iter().copied().fold(f32::MIN, f32::max) as f64;
        // Statistics relative to the layer's spread; samples relative to its largest magnitude.
        let spread = e["std"]
            .as_f64()
            .unwrap()
            .max(e["mean"].as_f64().unwrap().abs());
        let magnitude = e["max"].as_f64().unwrap().abs().max(spread);
        for (ours, key, scale) in [
            (mean, "mean", spread),
            (std, "std", spread),
            (max, "max", magnitude),
        ] {
            let theirs = e[key].as_f64().unwrap();
            close(ours, theirs, scale, &format!("{what} {name} {key}"));
            worst = worst.max((ours - theirs).abs() / scale);
        }
        for s in e["samples"].as_array().unwrap() {
            let (i, theirs) = (s[0].as_u64().unwrap() as usize, s[1].as_f64().unwrap());
            close(
                f64::from(flat[i]),
                theirs,
                magnitude,
                &format!("{what} {name} value {i}"),
            );
            worst = worst.max((f64::from(flat[i]) - theirs).abs() / magnitude);
        }
    }
    if let Some(logits) = expected["logits"].as_array() {
        let ours: Vec<f32> = model
            .logits(x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let scale = logits
            .iter()
            .map(|v| v.as_f64().unwrap().abs())
            .fold(0.0, f64::max);
        for (k, (o, t)) in ours.iter().zip(logits).enumerate() {
            let t = t.as_f64().unwrap();
            close(f64::from(*o), t, scale, &format!("{what} logit {k}"));
            worst = worst.max((f64::from(*o) - t).abs() / scale);
        }
    }
    worst
}

/// Both networks (the shared weights only when given) on both photos, on `device`, against the fixture.
fn check(data: &Path, shared: Option<&Path>, device: &Device) {
    let fixture: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("vgg.json")).unwrap()).unwrap();
    let formula_model = formula_network(device);
    let shared = shared.map(|path| Vgg16::load(path, device).unwrap());
    for photo in fixture["photos"].as_array().unwrap() {
        let photo = photo.as_str().unwrap();
        let x = crop(&data.join("images/photos").join(photo), device);
        if let Some(shared) = &shared {
            let worst = compare(
                shared,
                &shared.preprocess(&x).unwrap(),
                &fixture["shared"][photo],
                &format!("shared {photo}"),
            );
            eprintln!("shared weights, {photo} on {device:?}: worst relative error {worst:.2e}");
        }
        let worst = compare(
            &formula_model,
            &formula_model.preprocess(&x).unwrap(),
            &fixture["formula"][photo],
            &format!("formula {photo}"),
        );
        eprintln!("formula VGG16, {photo} on {device:?}: worst relative error {worst:.2e}");
    }
}

#[test]
fn vgg16_matches_pytorch_on_the_shared_weights_and_a_formula_network() {
    let Some(data) = full_data() else {
        return;
    };
    let Some(shared_path) = glassbox_core::testdata::weights_file("vgg16_features_hed.safetensors")
    else {
        return;
    };
    check(&data, Some(&shared_path), &Device::Cpu);
}

/// The same on the accelerator under test. The formula network needs no file, so it always runs there;
/// the shared weights (59 MB, too big to carry to a lent GPU machine) join when they are found.
#[test]
fn vgg16_matches_pytorch_on_the_test_device() {
    let Some(device) = glassbox_core::testdata::test_device() else {
        return;
    };
    let Some(data) = full_data() else {
        return;
    };
    let shared = glassbox_core::testdata::optional_weights_file("vgg16_features_hed.safetensors")
        .inspect_err(|why| println!("the shared weights are not checked on {device:?}: {why}"))
        .ok();
    check(&data, shared.as_deref(), &device);
}
