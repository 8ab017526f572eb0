//! `glassbox ae ...` end to end on the embedded subset: a short run writes its checkpoint, figures and
//! metrics with the loss falling; the same directory resumes; another model's checkpoint is refused with
//! a way out; bad options are clear errors.

mod common;

use common::{glassbox, json, text};
use std::path::Path;

#[test]
fn ae_trains_resumes_and_refuses_another_models_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ae");
    let out_s = out.to_str().unwrap();
    let args = |model: &'static str, epochs: &'static str| -> Vec<&str> {
        vec![
            "ae",
            "mnist",
            "--model",
            model,
            "--epochs",
            epochs,
            "--train-limit",
            "600",
            "--test-limit",
            "200",
            "--batch-size",
            "32",
            "--out",
            out_s,
        ]
    };
    let o = glassbox(&args("deep", "1"), None);
    assert!(o.status.success(), "{}", text(&o));
    let o = glassbox(&args("deep", "3"), None);
    let s = text(&o);
    assert!(o.status.success(), "{s}");
    assert!(s.contains("resumed after epoch 1"), "{s}");
    for f in [
        "checkpoint.safetensors",
        "loss.png",
        "reconstructions.png",
        "codes.png",
        "lattice.png",
        "blends.png",
    ] {
        assert!(out.join(f).is_file(), "{f} missing: {s}");
    }
    let m = json(&out.join("metrics.json"));
    let losses: Vec<f64> = m["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eval"]["test_loss"].as_f64().unwrap())
        .collect();
    assert_eq!(losses.len(), 3);
    // Binary cross-entropy starts at ln 2 = 0.693 for an untrained sigmoid output.
    assert!(losses[2] < 0.45 && losses[2] < losses[0], "{losses:?}");
    assert_eq!(m["summary"]["parameters"], 1_068_306);
    assert_eq!(m["summary"]["course"]["epochs"], 50);

    // The shallow model cannot continue the deep one's checkpoint.
    let o = glassbox(&args("shallow", "1"), None);
    let s = text(&o);
    assert!(!o.status.success(), "{s}");
    assert!(
        s.contains("dense-autoencoder-784-512-256-2") && s.contains("--fresh"),
        "{s}"
    );
    let mut fresh = args("shallow", "1");
    fresh.push("--fresh");
    let o = glassbox(&fresh, None);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn vae_trains_and_reports_its_elbo() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("vae");
    let o = glassbox(
        &[
            "vae",
            "mnist",
            "--latent",
            "2",
            "--epochs",
            "2",
            "--train-limit",
            "1000",
            "--test-limit",
            "200",
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    let s = text(&o);
    assert!(o.status.success(), "{s}");
    for f in [
        "samples-of-one-code.png",
        "random-digits.png",
        "codes.png",
        "lattice.png",
        "blends.png",
    ] {
        assert!(out.join(f).is_file(), "{f} missing: {s}");
    }
    let m = json(&out.join("metrics.json"));
    let elbo = m["summary"]["test_elbo_nats"].as_f64().unwrap();
    let loss = m["summary"]["test_loss"].as_f64().unwrap();
    assert_eq!(elbo, -loss);
    // An untrained decoder scores about 784 ln 2 = 543 nats; two short epochs reach about 200.
    assert!((-300.0..-100.0).contains(&elbo), "ELBO {elbo}: {s}");
    let o = glassbox(
        &[
            "vae",
            "mnist",
            "--latent",
            "0",
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    let s = text(&o);
    assert!(!o.status.success() && s.contains("--latent 0"), "{s}");
}

#[test]
fn gan_trains_both_setups_resumes_and_draws_the_same_noise_each_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    for setup in ["dcgan", "course"] {
        let out = tmp.path().join(setup);
        let out_s = out.to_str().unwrap();
        let args = |epochs: &'static str| -> Vec<&str> {
            vec![
                "gan",
                "mnist",
                "--setup",
                setup,
                "--epochs",
                epochs,
                "--train-limit",
                "96",
                "--batch-size",
                "32",
                "--out",
                out_s,
            ]
        };
        let o = glassbox(&args("1"), None);
        assert!(o.status.success(), "{}", text(&o));
        let o = glassbox(&args("2"), None);
        let s = text(&o);
        assert!(
            o.status.success() && s.contains("resumed after epoch 1"),
            "{s}"
        );
        for f in [
            "samples.png",
            "samples-epoch-1.png",
            "evolution.png",
            "losses.png",
            "samples/epoch-002.png",
            "checkpoint.safetensors",
        ] {
            assert!(out.join(f).is_file(), "{setup}: {f} missing: {s}");
        }
        let m = json(&out.join("metrics.json"));
        assert_eq!(m["epochs"].as_array().unwrap().len(), 2);
        assert_eq!(m["summary"]["training_digits"], 96);
        let e = &m["epochs"][1]["eval"];
        for key in ["generator_loss", "d_real", "d_fake"] {
            assert!(
                e[key].as_f64().unwrap().is_finite(),
                "{setup}: {key} in {e}"
            );
        }
    }
    let out = tmp.path().join("bad");
    let o = glassbox(
        &[
            "gan",
            "mnist",
            "--real-label",
            "2",
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    let s = text(&o);
    assert!(!o.status.success() && s.contains("--real-label 2"), "{s}");
}

/// A CNN trained briefly on the embedded digits judges a briefly trained VAE's samples: the histogram
/// counts every sample, real digits (the floor) score a smaller FID and a balanced histogram, and the
/// VAE's own checkpoint is refused as a judge with the model named.
#[test]
fn samples_are_judged_by_the_mnist_cnn() {
    let tmp = tempfile::tempdir().unwrap();
    let cnn = tmp.path().join("cnn");
    let o = glassbox(
        &[
            "mnist",
            "train",
            "--epochs",
            "1",
            "--train-limit",
            "2000",
            "--test-limit",
            "200",
            "--out",
            cnn.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let judge = cnn.join("checkpoint.safetensors");
    let out = tmp.path().join("vae");
    let vae = |judge: &Path| {
        glassbox(
            &[
                "vae",
                "mnist",
                "--epochs",
                "1",
                "--train-limit",
                "1000",
                "--test-limit",
                "500",
                "--judge-with",
                judge.to_str().unwrap(),
                "--judge-samples",
                "500",
                "--out",
                out.to_str().unwrap(),
                "--fresh",
            ],
            None,
        )
    };
    let o = vae(&judge);
    let s = text(&o);
    assert!(o.status.success(), "{s}");
    let m = json(&out.join("metrics.json"));
    let samples = &m["judge"]["samples"];
    let floor = &m["judge"]["floor_train_vs_test"];
    let histogram: Vec<u64> = samples["histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(histogram.iter().sum::<u64>(), 500, "{samples}");
    let (fid, floor_fid) = (
        samples["fid"].as_f64().unwrap(),
        floor["fid"].as_f64().unwrap(),
    );
    assert!(
        floor_fid.is_finite() && floor_fid >= 0.0 && floor_fid < fid,
        "floor {floor_fid}, samples {fid}"
    );
    assert!(floor["entropy"].as_f64().unwrap() > 2.1, "{floor}");
    let entropy = samples["entropy"].as_f64().unwrap();
    assert!((0.0..=10f64.ln() + 1e-9).contains(&entropy), "{entropy}");
    assert!(s.contains("FID") && s.contains("classes:"), "{s}");

    // The VAE's checkpoint is not a judge.
    let o = vae(&out.join("checkpoint.safetensors"));
    let s = text(&o);
    assert!(
        !o.status.success() && s.contains("mnist-cnn") && s.contains("vae-784"),
        "{s}"
    );
}

/// The tiger lesson on the shared photos (skipped with a note without them; a failure under CI): the
/// memorized autoencoder draws the tiger when fed the cat, and many photos come out worse than the one.
#[test]
fn the_tiger_is_memorized_and_many_photos_are_not() {
    if glassbox_core::testdata::data_file("images/photos/tiger-bw-100.jpg").is_none() {
        return;
    }
    let data = glassbox_core::testdata::data_dir().expect("the tiger was found in it");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("tiger");
    let o = glassbox(
        &[
            "ae",
            "tiger",
            "--epochs",
            "10",
            "--out",
            out.to_str().unwrap(),
        ],
        Some(data.to_str().unwrap()),
    );
    let s = text(&o);
    assert!(o.status.success(), "{s}");
    for f in [
        "memorization.png",
        "many.png",
        "memorize/checkpoint.safetensors",
    ] {
        assert!(out.join(f).is_file(), "{f} missing: {s}");
    }
    let m = json(&out.join("metrics.json"));
    let cat = &m["memorization"][1];
    assert_eq!(cat["input"], "another photo");
    let (to_tiger, to_input) = (
        cat["output_to_tiger_mse"].as_f64().unwrap(),
        cat["output_to_input_mse"].as_f64().unwrap(),
    );
    assert!(
        to_tiger < to_input / 5.0,
        "fed the cat: {to_tiger} to the tiger, {to_input} to the cat"
    );
    assert!(
        cat["output_tiger_correlation"].as_f64().unwrap() > 0.9,
        "{cat}"
    );
    let alone = m["memorization"][0]["output_to_input_mse"]
        .as_f64()
        .unwrap();
    let many = m["many"]["mean_mse"].as_f64().unwrap();
    assert_eq!(m["many"]["per_image"].as_array().unwrap().len(), 26);
    assert!(
        many > 5.0 * alone,
        "26 photos {many}, the tiger alone {alone}"
    );

    // A file that is not an image, named in the error.
    let bad = tmp.path().join("not-a-photo.png");
    std::fs::write(&bad, b"hello").unwrap();
    let o = glassbox(
        &[
            "ae",
            "tiger",
            "--other",
            bad.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        Some(data.to_str().unwrap()),
    );
    let s = text(&o);
    assert!(!o.status.success() && s.contains("not-a-photo.png"), "{s}");
}

/// A loss that blows up (the second epoch resumed with a learning rate of 1e6) stops the run with a
/// message that names the epoch and the batch, and the checkpoint on disk is still the first epoch's.
#[test]
fn a_diverging_run_stops_clearly_and_keeps_the_last_good_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("vae");
    let run = |epochs: &'static str, lr: &'static str| {
        glassbox(
            &[
                "vae",
                "mnist",
                "--latent",
                "2",
                "--epochs",
                epochs,
                "--lr",
                lr,
                "--train-limit",
                "512",
                "--test-limit",
                "100",
                "--out",
                out.to_str().unwrap(),
            ],
            None,
        )
    };
    let o = run("1", "0.001");
    assert!(o.status.success(), "{}", text(&o));
    let before = std::fs::read(out.join("checkpoint.safetensors")).unwrap();
    let o = run("2", "1e6");
    let s = text(&o);
    assert!(!o.status.success(), "{s}");
    assert!(s.contains("epoch 2") && s.contains("learning rate"), "{s}");
    let after = std::fs::read(out.join("checkpoint.safetensors")).unwrap();
    assert!(
        before == after,
        "the checkpoint changed after the run diverged"
    );
    let m = json(&out.join("metrics.json"));
    assert_eq!(m["epochs"].as_array().unwrap().len(), 1);
}

#[test]
fn ae_refuses_bad_options_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    for (flags, expected) in [
        (vec!["--train-limit", "0"], "--train-limit 0"),
        (vec!["--epochs", "0"], "epochs"),
        (vec!["--batch-size", "0"], "batch size"),
        (vec!["--model", "vae"], "invalid value 'vae'"),
    ] {
        let mut args = vec!["ae", "mnist", "--out", out];
        args.extend(flags.iter().copied());
        let o = glassbox(&args, None);
        let s = text(&o);
        assert!(
            !o.status.success() && s.contains(expected),
            "{flags:?}: {s}"
        );
    }
}
