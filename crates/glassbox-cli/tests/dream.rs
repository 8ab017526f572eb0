//! `glassbox dream` with the shared VGG16 convolution weights and the cat photo (skipped with a note
//! when GLASSBOX_WEIGHTS and GLASSBOX_DATA do not lead to them; a failure under CI): the files it writes,
//! the objective in metrics.json, and clear refusals.

mod common;

use common::{glassbox, json, text};
use glassbox_core::testdata;

#[test]
fn dreams_on_the_cat_and_from_noise_and_refuses_bad_input() {
    let (Some(weights), Some(photo)) = (
        testdata::weights_file("vgg16_features_hed.safetensors"),
        testdata::data_file("images/photos/chelsea.png"),
    ) else {
        return;
    };
    let (w, p) = (weights.to_str().unwrap(), photo.to_str().unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("dream");
    let o = glassbox(
        &[
            "dream",
            p,
            "--preset",
            "eyes",
            "--size",
            "64",
            "--octaves",
            "2",
            "--steps",
            "3",
            "--snapshot-every",
            "2",
            "--weights",
            w,
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    let s = text(&o);
    assert!(o.status.success(), "{s}");
    assert!(s.contains("dreaming chelsea.png at 64x43"), "{s}");
    for f in [
        "dream-side-by-side.png",
        "dream.png",
        "objective.png",
        "snapshot-002.png",
        "snapshot-004.png",
        "snapshot-006.png",
    ] {
        assert!(out.join(f).is_file(), "{f} missing: {s}");
    }
    assert!(!out.join("snapshot-003.png").exists());
    let dreamed = image::open(out.join("dream.png")).unwrap();
    assert_eq!((dreamed.width(), dreamed.height()), (64, 43));
    let m = json(&out.join("metrics.json"));
    let metrics = &m["metrics"];
    assert_eq!(metrics["config"]["layers"][0][0], "block4_conv3", "{m}");
    assert_eq!(metrics["config"]["ascent"]["normalize"], "mean_abs", "{m}");
    let steps = metrics["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 6);
    for octave in 0..2 {
        let values: Vec<f64> = steps
            .iter()
            .filter(|s| s["octave"] == octave)
            .map(|s| s["value"].as_f64().unwrap())
            .collect();
        assert_eq!(values.len(), 3);
        assert!(values[2] > values[0], "octave {octave}: {values:?}");
    }
    assert_eq!(metrics["octaves"].as_array().unwrap().len(), 2);

    // From noise, one block, with a layer mix refused beside it.
    let noise = tmp.path().join("noise");
    let o = glassbox(
        &[
            "dream",
            "--from-noise",
            "--blocks",
            "3",
            "--size",
            "32",
            "--octaves",
            "1",
            "--steps",
            "3",
            "--weights",
            w,
            "--out",
            noise.to_str().unwrap(),
        ],
        None,
    );
    let s = text(&o);
    assert!(o.status.success(), "{s}");
    assert!(noise.join("dream-from-noise.png").is_file());
    assert!(noise.join("objective-from-noise.png").is_file());
    let m = json(&noise.join("metrics.json"));
    let block = &m["metrics"]["blocks"][0];
    assert_eq!(block["layer"], "block3_conv3", "{m}");
    let o3 = &block["octaves"][0];
    assert!(o3["last"].as_f64() > o3["first"].as_f64(), "{m}");

    // Refusals: each names what was wrong and what would do.
    let missing = tmp.path().join("no-such-cat.png");
    let garbage = tmp.path().join("garbage.png");
    std::fs::write(&garbage, b"not an image").unwrap();
    for (args, wants) in [
        (
            vec![p, "--preset", "dogs"],
            vec!["dogs", "eyes", "shapes", "textures", "strokes"],
        ),
        (
            vec![p, "--layers", "block4_conv9=1"],
            vec!["block4_conv9", "block4_conv3", "block5_pool"],
        ),
        (vec![p, "--size", "5000"], vec!["5000", "32 to 1024"]),
        (vec![missing.to_str().unwrap()], vec!["no-such-cat.png"]),
        (vec![garbage.to_str().unwrap()], vec!["garbage.png"]),
        (vec![p, "--blocks", "3"], vec!["--blocks", "--from-noise"]),
        (
            vec!["--from-noise", "--blocks", "7"],
            vec!["block \"7\"", "1 to 5"],
        ),
        (
            vec![p, "--size", "40", "--octaves", "4"],
            vec!["octaves", "16 pixels"],
        ),
    ] {
        let mut all = vec!["dream"];
        all.extend(&args);
        all.extend(["--weights", w, "--out", out.to_str().unwrap()]);
        let o = glassbox(&all, None);
        let s = text(&o);
        assert!(!o.status.success(), "{args:?} accepted: {s}");
        for want in wants {
            assert!(s.contains(want), "{args:?}: {want:?} missing from {s}");
        }
    }
}
