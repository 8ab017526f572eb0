//! `glassbox style` with the shared VGG16 convolution weights and photos (skipped with a note when
//! GLASSBOX_WEIGHTS and GLASSBOX_DATA do not lead to them; a failure under CI): the files, metrics.json, the
//! two figures' commands at a tiny size, and clear refusals of bad input.

mod common;

use common::{glassbox, json, text};
use glassbox_core::testdata;

#[test]
fn styles_the_cat_and_refuses_bad_input() {
    let (Some(weights), Some(images)) = (
        testdata::weights_file("vgg16_features_hed.safetensors"),
        testdata::data_file("images"),
    ) else {
        return;
    };
    let w = weights.to_str().unwrap();
    let content = images.join("photos/chelsea.png");
    let painting = images.join("paintings/munch-scream-1893.jpg");
    let (c, p) = (content.to_str().unwrap(), painting.to_str().unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("style");
    let o = glassbox(
        &[
            "style",
            "--content",
            c,
            "--style",
            p,
            "--size",
            "48",
            "--steps",
            "6",
            "--snapshot-every",
            "3",
            "--weights",
            w,
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    let s = text(&o);
    assert!(o.status.success(), "{s}");
    // The Scream is portrait, the cat landscape: the style is resized to the content's longer side, said.
    assert!(s.contains("content") && s.contains("at 48x32"), "{s}");
    assert!(s.contains("resized to 39x48"), "{s}");
    for f in [
        "result.png",
        "content.png",
        "style.png",
        "style-transfer.png",
        "losses.png",
        "gram-matrices.png",
        "style-step-0003.png",
        "style-step-0006.png",
    ] {
        assert!(out.join(f).is_file(), "{f} missing: {s}");
    }
    let result = image::open(out.join("result.png")).unwrap();
    assert_eq!((result.width(), result.height()), (48, 32));
    let m = json(&out.join("metrics.json"));
    let metrics = &m["metrics"];
    let first = metrics["first"]["total"].as_f64().unwrap();
    let last = metrics["last"]["total"].as_f64().unwrap();
    assert!(last.is_finite() && last < first, "{m}");
    assert_eq!(metrics["trace"].as_array().unwrap().len(), 6, "{m}");
    assert!(
        metrics["peak_rss_bytes"].as_u64().unwrap() > 50 << 20,
        "{m}"
    );

    // A gray and an RGBA image work as content and style (turned into RGB).
    let gray = tmp.path().join("gray.png");
    image::GrayImage::from_fn(40, 30, |x, y| image::Luma([(x * 6 + y * 2) as u8]))
        .save(&gray)
        .unwrap();
    let rgba = tmp.path().join("rgba.png");
    image::RgbaImage::from_fn(30, 30, |x, _| image::Rgba([200, (x * 8) as u8, 40, 128]))
        .save(&rgba)
        .unwrap();
    let o = glassbox(
        &[
            "style",
            "--content",
            gray.to_str().unwrap(),
            "--style",
            rgba.to_str().unwrap(),
            "--size",
            "40",
            "--steps",
            "2",
            "--weights",
            w,
            "--out",
            tmp.path().join("gray").to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));

    // The two figures, at a tiny size.
    let figs = tmp.path().join("figs");
    let f = figs.to_str().unwrap();
    let o = glassbox(
        &[
            "style",
            "reconstruct",
            "--style",
            p,
            "--size",
            "40",
            "--steps",
            "2",
            "--weights",
            w,
            "--out",
            f,
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(figs.join("style-reconstructions.png").is_file());
    let m = json(&figs.join("metrics.json"));
    assert_eq!(m["metrics"]["runs"].as_array().unwrap().len(), 5, "{m}");
    let o = glassbox(
        &[
            "style",
            "reconstruct",
            "--content",
            c,
            "--size",
            "40",
            "--steps",
            "2",
            "--weights",
            w,
            "--out",
            f,
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(figs.join("content-reconstructions.png").is_file());
    let m = json(&figs.join("metrics.json"));
    let runs = m["metrics"]["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3, "{m}");
    for run in runs {
        let (first, last) = (
            run["first"]["content"].as_f64(),
            run["last"]["content"].as_f64(),
        );
        assert!(last < first, "the content loss falls: {run}");
    }
    let o = glassbox(
        &[
            "style",
            "gallery",
            "--content",
            c,
            "--styles",
            p,
            c,
            "--size",
            "40",
            "--steps",
            "2",
            "--weights",
            w,
            "--out",
            f,
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(figs.join("style-gallery.png").is_file());

    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["style", "--content", c, "--style", p, "--size", "5000"],
            "32 to 1024",
        ),
        (
            vec![
                "style",
                "--content",
                c,
                "--style",
                p,
                "--content-layer",
                "block6_conv1",
            ],
            "block5_pool",
        ),
        (
            vec![
                "style",
                "--content",
                c,
                "--style",
                p,
                "--style-layers",
                "fc7=1",
            ],
            "block1_conv1",
        ),
        (
            vec!["style", "--content", "missing.png", "--style", p],
            "missing.png",
        ),
        (
            vec!["style", "--content", c, "--style", p, "--steps", "0"],
            "--steps",
        ),
        (
            vec!["style", "--content", c, "--style", p, "--style-weight=-1"],
            "style weight",
        ),
        (
            vec![
                "style",
                "--content",
                c,
                "--optimizer",
                "adam",
                "--style",
                p,
                "--line-search",
                "none",
            ],
            "lbfgs",
        ),
        (vec!["style", "--content", c], "--style"),
        (
            vec!["style", "gallery", "--content", c, "--crop", "2,0,0"],
            "--crop",
        ),
    ];
    for (mut args, want) in cases {
        args.extend(["--weights", w, "--out", f]);
        let o = glassbox(&args, None);
        let s = text(&o);
        assert!(!o.status.success(), "{args:?} accepted: {s}");
        assert!(s.contains(want), "{args:?}: {want:?} missing from {s}");
    }
}
