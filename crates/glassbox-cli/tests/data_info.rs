//! `glassbox data info` end to end: the embedded subset on a fresh clone, the full set through GLASSBOX_DATA.

mod common;

use common::{glassbox, text};
use std::path::Path;

#[test]
fn without_data_it_reports_the_embedded_subset() {
    let out = glassbox(&["data", "info"], None);
    let s = text(&out);
    assert!(out.status.success(), "{s}");
    // data/ is the git-ignored download cache: on a fresh clone it has no MNIST.
    let repo_cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
    if repo_cache.exists() {
        assert!(s.contains("source: repository cache"), "{s}");
    } else {
        assert!(s.contains("source: embedded subset"), "{s}");
        assert!(
            s.contains("train: 5000 images") && s.contains("test: 1000 images"),
            "{s}"
        );
    }
    assert!(
        s.contains("vgg16: not fetched") || s.contains("vgg16: /"),
        "{s}"
    );
}

#[test]
fn with_glassbox_data_it_reports_the_full_set() {
    let Some(dir) = glassbox_core::testdata::data_dir() else {
        return;
    };
    let dir = dir.to_string_lossy().into_owned();
    let out = glassbox(&["data", "info"], Some(&dir));
    let s = text(&out);
    assert!(out.status.success(), "{s}");
    assert!(s.contains("source: GLASSBOX_DATA="), "{s}");
    assert!(
        s.contains("train: 60000 images, label counts [5923, 6742"),
        "{s}"
    );
    assert!(s.contains("test: 10000 images"), "{s}");
    assert!(
        s.contains("holmes.txt")
            && s.contains("1637265 characters after normalization, 89 distinct"),
        "{s}"
    );
    let json = glassbox(&["data", "info", "--json"], Some(&dir));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("valid JSON");
    assert_eq!(v["mnist"]["train"]["count"], 60000);
}

#[test]
fn a_cuda_device_on_a_cpu_build_fails_clearly() {
    let out = glassbox(&["data", "info", "--device", "cuda"], None);
    let s = text(&out);
    if cfg!(feature = "cuda") {
        return;
    }
    assert!(!out.status.success());
    assert!(s.contains("built without CUDA"), "{s}");
    let out = glassbox(&["data", "info", "--device", "tpu"], None);
    assert!(!out.status.success());
    assert!(text(&out).contains("cpu, cuda or cuda:N"), "{}", text(&out));
}

/// `data info` says which kernel paths run, and GLASSBOX_CPU lowers them (never above what the CPU has).
#[test]
fn data_info_names_the_cpu_kernel_paths_and_honours_the_override() {
    let run = |tier: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_glassbox"));
        cmd.args(["data", "info"]).env_remove("GLASSBOX_CPU");
        if let Some(t) = tier {
            cmd.env("GLASSBOX_CPU", t);
        }
        text(&cmd.output().expect("glassbox runs"))
    };
    let native = run(None);
    assert!(
        native.contains("CPU kernels: ") && native.contains("matrix products (sgemm): "),
        "{native}"
    );
    let portable = run(Some("portable"));
    assert!(
        portable.contains("CPU kernels: portable (the CPU has "),
        "{portable}"
    );
    assert!(
        portable.contains("LSTM step: glassbox fused step, portable")
            && portable.contains("small-map convolutions: im2col + the matrix product")
            && portable.contains(
                "4x4 stride-2 convolutions (DCGAN): Winograd F(4x4, 2x2) and F(7x7, 2x2) on parity planes, portable"
            )
            && portable.contains("3x3 convolutions of batches (32-128 channels): Winograd F(4x4, 3x3)"),
        "{portable}"
    );
    let bad = run(Some("sse9"));
    assert!(
        bad.contains("GLASSBOX_CPU=\"sse9\" is not a CPU tier"),
        "{bad}"
    );
}

/// `data info` says where rayon's workers run: one pinned to each of the first CPUs by default, free
/// when asked (GLASSBOX_PIN_THREADS=0) or when there are more workers than CPUs.
#[test]
fn data_info_says_whether_the_pool_workers_are_pinned() {
    let run = |vars: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_glassbox"));
        cmd.args(["data", "info"])
            .env_remove("GLASSBOX_PIN_THREADS");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = text(&cmd.output().expect("glassbox runs"));
        out.lines()
            .find(|l| l.starts_with("Threads: "))
            .unwrap_or_else(|| panic!("no Threads line in {out}"))
            .to_string()
    };
    if cfg!(target_os = "linux") {
        let one = run(&[("RAYON_NUM_THREADS", "1")]);
        assert!(
            one.starts_with("Threads: 1 rayon worker, pinned to CPU "),
            "{one}"
        );
    }
    assert_eq!(
        run(&[("RAYON_NUM_THREADS", "1"), ("GLASSBOX_PIN_THREADS", "0")]),
        "Threads: rayon workers not pinned (GLASSBOX_PIN_THREADS=0)"
    );
    let many = run(&[("RAYON_NUM_THREADS", "4096")]);
    assert!(many.contains("not pinned"), "{many}");
}
