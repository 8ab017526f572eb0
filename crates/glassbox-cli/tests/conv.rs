//! `glassbox conv ...` end to end: sizes and faces always; yellow and filters with a photo from
//! GLASSBOX_DATA (skipped with a note when it is not set).

mod common;

use common::{glassbox, text};
use std::path::Path;

fn metrics(dir: &Path) -> serde_json::Value {
    let s = std::fs::read_to_string(dir.join("metrics.json")).expect("metrics.json written");
    serde_json::from_str(&s).expect("metrics.json is JSON")
}

fn assert_pngs(dir: &Path, names: &[&str]) {
    for n in names {
        let bytes = std::fs::read(dir.join(n)).unwrap_or_else(|e| panic!("{n}: {e}"));
        assert!(bytes.starts_with(b"\x89PNG"), "{n} is not a PNG");
    }
}

#[test]
fn conv_sizes_writes_the_table_and_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sizes");
    let o = glassbox(&["conv", "sizes", "--out", out.to_str().unwrap()], None);
    let s = text(&o);
    assert!(o.status.success(), "{s}");
    assert!(s.contains("3x3, transposed, stride 2"), "{s}");
    assert_pngs(&out, &["sizes_padding.png", "sizes_transposed.png"]);
    let m = metrics(&out);
    let table = m["metrics"]["table"].as_array().unwrap();
    assert!(table.len() >= 10);
    for row in table {
        assert_eq!(row["output"], row["candle"], "{row}");
    }
    assert_eq!(table[0]["output"], serde_json::json!([3, 3]));
}

#[test]
fn conv_faces_finds_the_forward_face_and_the_profile() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("faces");
    let o = glassbox(&["conv", "faces", "--out", out.to_str().unwrap()], None);
    let s = text(&o);
    assert!(o.status.success(), "{s}");
    assert_pngs(
        &out,
        &[
            "faces_forward.png",
            "faces_profile.png",
            "faces_missing_eye.png",
            "faces_blank.png",
            "faces_random.png",
            "faces_filters.png",
        ],
    );
    let m = metrics(&out);
    let masks = &m["metrics"]["masks"];
    assert_eq!(masks["forward"]["forward"], true);
    assert_eq!(masks["forward"]["profile"], false);
    assert_eq!(masks["profile"]["profile"], true);
    assert_eq!(masks["profile"]["forward"], false);
    for key in ["missing_eye", "blank", "random"] {
        assert_eq!(masks[key]["forward"], false, "{key}");
        assert_eq!(masks[key]["profile"], false, "{key}");
    }
}

#[test]
fn conv_yellow_without_a_photo_says_where_it_looked() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("no-data");
    std::fs::create_dir_all(&empty).unwrap();
    let o = glassbox(
        &[
            "conv",
            "yellow",
            "--photo",
            "no-such-photo.png",
            "--data-dir",
            empty.to_str().unwrap(),
            "--out",
            tmp.path().join("y").to_str().unwrap(),
        ],
        None,
    );
    let s = text(&o);
    assert!(!o.status.success(), "{s}");
    assert!(
        s.contains("not found") && s.contains("images/photos/no-such-photo.png"),
        "{s}"
    );
}

#[test]
fn conv_yellow_and_filters_on_a_real_photo() {
    let Some(dir) = std::env::var_os("GLASSBOX_DATA") else {
        eprintln!("skipping: GLASSBOX_DATA is not set");
        return;
    };
    let dir = dir.to_string_lossy().into_owned();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("yellow");
    let o = glassbox(
        &["conv", "yellow", "--out", out.to_str().unwrap()],
        Some(&dir),
    );
    let s = text(&o);
    assert!(o.status.success(), "{s}");
    assert_pngs(&out, &["yellow.png", "yellow_relu.png"]);
    let m = metrics(&out);
    let r = &m["metrics"]["response"];
    assert!(
        r["min"].as_f64().unwrap() >= -1.0 && r["max"].as_f64().unwrap() <= 2.0,
        "{r}"
    );
    assert!(m["metrics"]["relu"]["min"].as_f64().unwrap() >= 0.0);

    let out = tmp.path().join("filters");
    let o = glassbox(
        &["conv", "filters", "--out", out.to_str().unwrap()],
        Some(&dir),
    );
    let s = text(&o);
    assert!(o.status.success(), "{s}");
    assert_pngs(&out, &["filters_binary.png", "filters_photo.png"]);
    let m = metrics(&out);
    let matches = m["metrics"]["binary"]["matches"].as_array().unwrap();
    assert_eq!(matches.len(), 5);
    for f in matches {
        assert!(!f["positions"].as_array().unwrap().is_empty(), "{f}");
    }
}
