//! `glassbox render` and `glassbox render compare` on tiny images: the files they write, what metrics.json
//! holds, the cached reference, and clear refusals of bad options.

mod common;

use common::{glassbox, json, text};

#[test]
fn renders_a_scene_and_writes_png_pfm_and_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    let o = glassbox(
        &[
            "render",
            "--scene",
            "cornell",
            "--integrator",
            "guided",
            "--spp",
            "4",
            "--size",
            "32x24",
            "--threads",
            "2",
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    let s = text(&o);
    assert!(o.status.success(), "{s}");
    assert!(
        s.contains("cornell guided 4 spp") && s.contains("Q table"),
        "{s}"
    );
    let png = image::open(out.join("render_cornell_guided_4spp.png")).unwrap();
    assert_eq!((png.width(), png.height()), (32, 24));
    let pfm = glassbox_synthesis::render::film::Image::load_pfm(
        &out.join("render_cornell_guided_4spp.pfm"),
    )
    .unwrap();
    assert!(
        pfm.mean().iter().all(|&m| m > 0.01 && m.is_finite()),
        "{:?}",
        pfm.mean()
    );
    let m = json(&out.join("metrics.json"));
    assert_eq!(m["integrator"], "guided", "{m}");
    assert_eq!(m["threads"], 2, "{m}");
    assert!(m["q_table_cells"].as_u64().unwrap() > 0, "{m}");
    let zero = m["zero_radiance_share"].as_f64().unwrap();
    assert!((0.0..1.0).contains(&zero), "{m}");
    assert!(m["mean_path_length"].as_f64().unwrap() >= 1.0, "{m}");
}

#[test]
fn compares_integrators_against_a_cached_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("c");
    let args = [
        "render",
        "compare",
        "--scene",
        "sky",
        "--size",
        "16x16",
        "--spp",
        "2",
        "--seeds",
        "1,2",
        "--integrators",
        "plain,sky-is",
        "--reference-spp",
        "16",
        "--out",
        out.to_str().unwrap(),
    ];
    let o = glassbox(&args, None);
    let s = text(&o);
    assert!(o.status.success(), "{s}");
    for f in [
        "compare_sky_2spp.png",
        "compare_sky_2spp_closeup.png",
        "compare_sky_2spp.md",
        "reference_sky_16x16_nee_16spp_seed1000.pfm",
    ] {
        assert!(out.join(f).is_file(), "{f} missing: {s}");
    }
    let m = json(&out.join("metrics.json"));
    let rows = m["integrators"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{m}");
    for r in rows {
        assert_eq!(r["relmse"].as_array().unwrap().len(), 2, "{m}");
        let e = r["relmse_mean"].as_f64().unwrap();
        assert!(e.is_finite() && e > 0.0, "{m}");
    }
    let table = std::fs::read_to_string(out.join("compare_sky_2spp.md")).unwrap();
    assert!(
        table.contains("| sky-is |") && table.contains("relMSE"),
        "{table}"
    );
    // The second run reads the reference instead of rendering it again.
    let o = glassbox(&args, None);
    assert!(text(&o).contains("reference from"), "{}", text(&o));
}

#[test]
fn refuses_bad_options_with_clear_messages() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    let missing = tmp.path().join("nothing.pfm");
    let cases: [(&[&str], &str); 7] = [
        (&["render", "--scene", "kitchen"], "kitchen"),
        (
            &["render", "--scene", "cornell", "--integrator", "sky-is"],
            "no sky",
        ),
        (&["render", "--integrator", "magic"], "magic"),
        (&["render", "--spp", "0"], "--spp 0"),
        (&["render", "--size", "3x3"], "WxH"),
        (&["render", "--threads", "0"], "--threads 0"),
        (
            &[
                "render",
                "compare",
                "--reference-pfm",
                missing.to_str().unwrap(),
                "--size",
                "16x16",
            ],
            "nothing.pfm",
        ),
    ];
    for (args, needle) in cases {
        let mut all = args.to_vec();
        all.extend(["--out", out]);
        let o = glassbox(&all, None);
        let s = text(&o);
        assert!(!o.status.success(), "{args:?} should fail: {s}");
        assert!(s.contains(needle), "{args:?}: expected {needle:?} in: {s}");
        assert!(!s.contains("panicked"), "{s}");
    }
    let o = glassbox(
        &[
            "render",
            "--integrator",
            "guided",
            "--guide-probability",
            "1",
            "--spp",
            "1",
            "--size",
            "8x8",
            "--out",
            out,
        ],
        None,
    );
    assert!(
        !o.status.success() && text(&o).contains("guide probability"),
        "{}",
        text(&o)
    );
}
