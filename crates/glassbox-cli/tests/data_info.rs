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
