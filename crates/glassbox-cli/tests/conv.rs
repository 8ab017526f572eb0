//! `glassbox conv ...` end to end: sizes and faces always; yellow and filters with a photo from
//! GLASSBOX_DATA (skipped with a note when it is not set; a failure under CI).

mod common;

use common::{glassbox, text};
use glassbox_core::imaging::{load_image, LoadOptions, Resize};
use glassbox_core::seed::Seed;
use glassbox_tensor::conv::filters::three_by_three;
use glassbox_tensor::lesson::filters;
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

/// `(min, max, mean, fraction below 0, fraction above 1.5)` of a list of responses.
fn stats(v: &[f32]) -> [f64; 5] {
    let n = v.len() as f64;
    [
        f64::from(v.iter().copied().fold(f32::INFINITY, f32::min)),
        f64::from(v.iter().copied().fold(f32::NEG_INFINITY, f32::max)),
        v.iter().map(|&x| f64::from(x)).sum::<f64>() / n,
        v.iter().filter(|&&x| x < 0.0).count() as f64 / n,
        v.iter().filter(|&&x| x > 1.5).count() as f64 / n,
    ]
}

fn assert_stats(what: &str, written: &serde_json::Value, expected: [f64; 5]) {
    let keys = [
        "min",
        "max",
        "mean",
        "fraction_negative",
        "fraction_above_1_5",
    ];
    for (key, want) in keys.iter().zip(expected) {
        let got = written[key].as_f64().unwrap_or(f64::NAN);
        // Values are sums of three f32 products; fractions may flip for a pixel that is 0 up to rounding.
        let tolerance = if key.starts_with("fraction") {
            2e-3
        } else {
            1e-4
        };
        assert!(
            (got - want).abs() <= tolerance,
            "{what} {key}: written {got}, by hand {want}"
        );
    }
}

#[test]
fn conv_yellow_and_filters_on_a_real_photo() {
    let Some(dir) = glassbox_core::testdata::data_dir() else {
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
    // The response worked out pixel by pixel, R + G - B on colours in 0..1, from the photo as the command
    // loads it (astronaut.png, longer side 320).
    let photo = Path::new(&dir).join("images/photos/astronaut.png");
    let options = LoadOptions::rgb().with_resize(Resize::LongerSide(320));
    let image = load_image(&photo, &options).unwrap();
    let (_, h, w) = image.dims3().unwrap();
    let rgb: Vec<f32> = image.flatten_all().unwrap().to_vec1().unwrap();
    let plane = h * w;
    let by_hand: Vec<f32> = (0..plane)
        .map(|i| rgb[i] / 255.0 + rgb[plane + i] / 255.0 - rgb[2 * plane + i] / 255.0)
        .collect();
    let m = metrics(&out);
    assert_eq!(m["metrics"]["size"], serde_json::json!([h, w]));
    let raw = stats(&by_hand);
    // The astronaut photo has both signs, so the ReLU has something to remove.
    assert!(raw[0] < -0.1 && raw[1] > 1.0, "{raw:?}");
    assert_stats("response", &m["metrics"]["response"], raw);
    let relu: Vec<f32> = by_hand.iter().map(|&x| x.max(0.0)).collect();
    assert_stats("relu", &m["metrics"]["relu"], stats(&relu));

    let out = tmp.path().join("filters");
    let o = glassbox(
        &[
            "conv",
            "filters",
            "--seed",
            "7",
            "--out",
            out.to_str().unwrap(),
        ],
        Some(&dir),
    );
    let s = text(&o);
    assert!(o.status.success(), "{s}");
    assert_pngs(&out, &["filters_binary.png", "filters_photo.png"]);
    // Each filter's best response on the seed's binary image, and where, found by plain loops.
    let size = 20;
    let binary: Vec<f32> = filters::random_binary(Seed(7), size)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let m = metrics(&out);
    let matches = m["metrics"]["binary"]["matches"].as_array().unwrap();
    let bank = three_by_three();
    assert_eq!(matches.len(), bank.len());
    for (f, written) in bank.iter().zip(matches) {
        let response = |r: usize, c: usize| -> f32 {
            (0..9)
                .map(|k| f.weights[k] * binary[(r + k / 3) * size + c + k % 3])
                .sum()
        };
        let cells = (0..size - 2).flat_map(|r| (0..size - 2).map(move |c| (r, c)));
        let max = cells
            .clone()
            .map(|(r, c)| response(r, c))
            .fold(f32::NEG_INFINITY, f32::max);
        let at: Vec<serde_json::Value> = cells
            // Ties up to rounding (the blur's weights are ninths), as the lesson counts them.
            .filter(|&(r, c)| response(r, c) >= max - 1e-4)
            .map(|(r, c)| serde_json::json!([r, c]))
            .collect();
        assert_eq!(written["filter"], serde_json::json!(f.name));
        let written_max = written["max"].as_f64().unwrap_or(f64::NAN);
        assert!(
            (written_max - f64::from(max)).abs() < 1e-5,
            "{written} vs {max}"
        );
        assert_eq!(
            written["positions"],
            serde_json::Value::Array(at),
            "{written}"
        );
    }
}
