//! Deep dreaming on the real shared VGG16 weights and the cat photo (skipped with the reason printed
//! when GLASSBOX_DATA / GLASSBOX_WEIGHTS do not lead to them; a failure under CI).

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{Device, Tensor};
use glassbox_convnet::vgg::Vgg16;
use glassbox_core::imaging::{load_image, LoadOptions, Resize};
use glassbox_core::seed::Seed;
use glassbox_core::testdata;
use glassbox_synthesis::dream::{self, dream_ascent, DreamConfig};
use glassbox_synthesis::layers::LayerMix;
use glassbox_synthesis::photo::load_photo;

fn shared() -> Option<(Vgg16, PathBuf)> {
    let weights = testdata::weights_file("vgg16_features_hed.safetensors")?;
    let photo = testdata::data_file("images/photos/chelsea.png")?;
    Some((Vgg16::load(&weights, &Device::Cpu).unwrap(), photo))
}

fn range(x: &Tensor) -> (f32, f32) {
    (
        x.min_all().unwrap().to_scalar().unwrap(),
        x.max_all().unwrap().to_scalar().unwrap(),
    )
}

/// The "eyes" preset, shortened, on the cat at 96 px: within every octave the objective must end well
/// above where it started, and the dream must stay a picture (0..255, the photo's size).
#[test]
fn the_objective_rises_within_every_octave_on_the_cat() {
    let Some((model, path)) = shared() else {
        return;
    };
    let photo = load_photo(&path, Some(96)).unwrap();
    let mut config = dream::preset("eyes").unwrap().config();
    config.ascent.steps = 5;
    config.ascent.octaves = 3;
    let mut seen = 0;
    let started = Instant::now();
    let out = dream::dream(&model, &photo, &config, Seed(7), |_, _| seen += 1).unwrap();
    eprintln!("15 steps up to 96x64 in {:.2?}", started.elapsed());
    assert_eq!((seen, out.trace.len()), (15, 15));
    assert_eq!(out.image.dims(), photo.dims());
    let octaves = out.octaves();
    assert_eq!(octaves.len(), 3);
    assert_eq!((octaves[2].height, octaves[2].width), (64, 96));
    for o in &octaves {
        eprintln!(
            "octave {} ({}x{}): {:.3} -> {:.3}",
            o.octave, o.width, o.height, o.first, o.last
        );
        assert!(o.last > 1.2 * o.first, "{o:?}");
    }
    let (lo, hi) = range(&out.image);
    assert!(lo >= 0.0 && hi <= 255.0, "{lo}..{hi}");
}

/// The CI-sized run: 3 steps on the cat squeezed to 64x64, one octave. Each step must raise the
/// objective, and each moves pixels by `step_size` on average (the mean-|gradient| normalization), so
/// the dream differs from the photo, by at most 3 steps' worth.
#[test]
fn three_steps_at_64_pixels() {
    let Some((model, path)) = shared() else {
        return;
    };
    let options = LoadOptions::rgb().with_resize(Resize::Exact {
        width: 64,
        height: 64,
    });
    let photo = load_image(&path, &options).unwrap().unsqueeze(0).unwrap();
    let config = DreamConfig {
        layers: LayerMix::parse("block4_conv3=1.0,block5_conv1=0.5").unwrap(),
        ascent: dream_ascent(3, 1.5, 1, 4),
    };
    let out = dream::dream(&model, &photo, &config, Seed(1), |_, _| {}).unwrap();
    let values: Vec<f32> = out.trace.iter().map(|s| s.mean()).collect();
    assert_eq!(values.len(), 3);
    assert!(values.windows(2).all(|w| w[1] > w[0]), "{values:?}");
    let change = (&out.image - &photo)
        .unwrap()
        .abs()
        .unwrap()
        .mean_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(change > 0.5 && change <= 3.0 * 1.5 + 1e-3, "{change}");
}

/// From noise, one block: the dream must raise block 3's objective severalfold.
#[test]
fn a_dream_from_noise_raises_its_blocks_objective() {
    let Some((model, _)) = shared() else {
        return;
    };
    assert_eq!(dream::last_conv(3).unwrap(), "block3_conv3");
    let ascent = dream_ascent(4, 1.5, 2, 2);
    let out = dream::dream_from_noise(&model, 3, 48, &ascent, Seed(2), |_, _| {}).unwrap();
    assert_eq!(out.image.dims(), [1, 3, 48, 48]);
    let (first, last) = (out.trace[0].mean(), out.trace[out.trace.len() - 1].mean());
    assert!(last > 2.0 * first, "{first} -> {last}");
}

#[test]
fn bad_input_is_refused_clearly() {
    let err = LayerMix::parse("block4_conv3=1,block9_conv1=1")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("block9_conv1") && err.contains("block4_conv3") && err.contains("block5_pool"),
        "{err}"
    );
    let err = dream::preset("kittens").unwrap_err().to_string();
    assert!(
        err.contains("kittens") && err.contains("eyes") && err.contains("textures"),
        "{err}"
    );
    let err = dream::last_conv(6).unwrap_err().to_string();
    assert!(err.contains('6') && err.contains("1 to 5"), "{err}");
    let Some((model, path)) = shared() else {
        return;
    };
    let err = load_photo(&path, Some(5000)).unwrap_err().to_string();
    assert!(err.contains("5000") && err.contains("1024"), "{err}");
    let err = load_photo(&path.with_file_name("no-such-cat.png"), Some(64))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no-such-cat.png"), "{err}");
    // 4 octaves of 1.4 shrink 48 px to 17, too small for block5_conv1 (after four pools).
    let photo = load_photo(&path, Some(48)).unwrap();
    let config = DreamConfig {
        layers: LayerMix::parse("block5_conv1").unwrap(),
        ascent: dream_ascent(1, 1.5, 4, 0),
    };
    let err = dream::dream(&model, &photo, &config, Seed(1), |_, _| {})
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("16 pixels") && err.contains("block5_conv1"),
        "{err}"
    );
}
