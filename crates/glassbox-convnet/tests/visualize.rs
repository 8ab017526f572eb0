//! Filter visualization on the real shared VGG16 weights: gradient ascent must raise each filter's mean
//! activation within every octave, keep pixels in range, and refuse targets that do not exist.

use std::path::PathBuf;

use candle_core::Device;
use glassbox_convnet::vgg::{visualize, Target, Vgg16};
use glassbox_core::seed::Seed;
use glassbox_tensor::ascent::AscentConfig;

fn shared_weights() -> Option<PathBuf> {
    let dir = std::env::var_os("GLASSBOX_WEIGHTS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("GLASSBOX_DATA").map(|d| PathBuf::from(d).join("../weights"))
        })?;
    let p = dir.join("vgg16_features_hed.safetensors");
    p.is_file().then_some(p).or_else(|| {
        eprintln!("skipped: no vgg16_features_hed.safetensors under GLASSBOX_WEIGHTS / GLASSBOX_DATA/../weights");
        None
    })
}

fn config() -> AscentConfig {
    AscentConfig {
        steps: 6,
        octaves: 2,
        octave_scale: 1.5,
        ..Default::default()
    }
}

#[test]
fn the_objective_rises_for_every_filter_and_octave() {
    let Some(p) = shared_weights() else { return };
    let v = Vgg16::load(&p, &Device::Cpu).unwrap();
    let target = Target::Filters {
        layer: "block3_conv1".into(),
        filters: vec![0, 7, 100],
    };
    let out = visualize(&v, &target, (36, 36), &config(), Seed(3), |_| {}).unwrap();
    assert_eq!(out.images.dims(), [3, 3, 36, 36]);
    assert_eq!(out.trace.len(), 12);
    assert_eq!((out.trace[0].height, out.trace[11].height), (24, 36));
    for octave in 0..2 {
        let steps: Vec<_> = out.trace.iter().filter(|s| s.octave == octave).collect();
        for i in 0..3 {
            let (a, b) = (steps[0].objective[i], steps[5].objective[i]);
            assert!(
                b > a * 1.5 && b > 0.0,
                "octave {octave}, image {i}: {a} -> {b}"
            );
        }
    }
    let (lo, hi) = (
        out.images.min_all().unwrap().to_scalar::<f32>().unwrap(),
        out.images.max_all().unwrap().to_scalar::<f32>().unwrap(),
    );
    assert!(lo >= 0.0 && hi <= 255.0, "{lo}..{hi}");
}

#[test]
fn a_whole_layer_climbs_too_and_bad_targets_are_refused() {
    let Some(p) = shared_weights() else { return };
    let v = Vgg16::load(&p, &Device::Cpu).unwrap();
    let layer = Target::Layer {
        layer: "block2_conv1".into(),
    };
    let out = visualize(&v, &layer, (32, 32), &config(), Seed(1), |_| {}).unwrap();
    let (a, b) = (out.trace[0].mean(), out.trace[11].mean());
    assert!(b > 1.5 * a, "{a} -> {b}");

    let err = |t: Target| {
        visualize(&v, &t, (32, 32), &config(), Seed(1), |_| {})
            .err()
            .unwrap()
            .to_string()
    };
    let e = err(Target::Filters {
        layer: "block1_conv1".into(),
        filters: vec![64],
    });
    assert!(e.contains("64") && e.contains("0 to 63"), "{e}");
    let e = err(Target::Layer {
        layer: "block1_pool".into(),
    });
    assert!(
        e.contains("block1_pool") && e.contains("block5_conv3"),
        "{e}"
    );
}
