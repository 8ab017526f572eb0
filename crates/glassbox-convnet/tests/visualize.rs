//! Filter visualization on the real shared VGG16 weights: gradient ascent must raise each filter's mean
//! activation within every octave, keep pixels in range, and refuse targets that do not exist.

mod common;

use candle_core::Device;
use glassbox_convnet::vgg::{visualize, Target, Vgg16};
use glassbox_core::seed::Seed;
use glassbox_tensor::ascent::AscentConfig;

use common::{chelsea, shared_weights};

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
                b - a > 0.3 * a.abs().max(1.0),
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
    assert!(b - a > 0.3 * a.abs().max(1.0), "{a} -> {b}");

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

#[test]
fn an_attack_erases_the_edges_inside_a_box_within_the_budget() {
    let Some(p) = shared_weights() else { return };
    let Some(photo) = chelsea() else { return };
    use glassbox_convnet::adversary::edges::{erase_edges, EdgeTarget, Region};
    use glassbox_convnet::adversary::Attack;
    let v = Vgg16::load(&p, &Device::Cpu).unwrap();
    let hed = glassbox_convnet::vgg::Hed::from_vgg(&v).unwrap();
    // The right eye and its surroundings, 160x128.
    let image = photo
        .narrow(2, 40, 128)
        .unwrap()
        .narrow(3, 260, 160)
        .unwrap();
    let region = Region {
        x: 40,
        y: 30,
        width: 80,
        height: 64,
    };
    let out = erase_edges(
        &v,
        &hed,
        &image,
        EdgeTarget::new(region),
        &Attack::pgd(0.03, 8),
        Seed(1),
    )
    .unwrap();
    assert!(out.inside_before > 0.1, "{}", out.inside_before);
    assert!(
        out.inside_after < 0.5 * out.inside_before,
        "{} -> {}",
        out.inside_before,
        out.inside_after
    );
    assert!(out.outside_change < 0.1, "{}", out.outside_change);
    assert!(
        out.max_pixel_change <= 0.03 * 255.0 + 1e-3,
        "{}",
        out.max_pixel_change
    );
    let bad = Region {
        x: 150,
        y: 0,
        width: 20,
        height: 10,
    };
    let e = erase_edges(
        &v,
        &hed,
        &image,
        EdgeTarget::new(bad),
        &Attack::fgsm(0.03),
        Seed(1),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("inside the 160x128 image"), "{e}");
    let negative = EdgeTarget {
        keep_outside: -1.0,
        ..EdgeTarget::new(region)
    };
    let e = erase_edges(&v, &hed, &image, negative, &Attack::fgsm(0.03), Seed(1))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("keep-outside") && e.contains(">= 0"), "{e}");
}
