//! The renderer against answers known in closed form (white furnaces), against itself (the same image for
//! any thread count), and Mitsuba's Cornell box definition (tests/fixtures/mitsuba/cornell_box.json, dumped
//! by xtask/bench/mitsuba_cornell.py from Mitsuba 3 itself).

use glassbox_synthesis::render::geometry::Rgb;
use glassbox_synthesis::render::integrator::Kind;
use glassbox_synthesis::render::scene::Scene;
use glassbox_synthesis::render::{render, scenes, RenderSettings, Rendered};

fn run(scene: &Scene, kind: Kind, spp: u32, seed: u64) -> Rendered {
    let mut integrator = kind.build(scene).expect("integrator");
    let out = render(
        scene,
        integrator.as_mut(),
        RenderSettings { spp, seed },
        &|_| {},
    );
    assert_eq!(
        out.record.invalid, 0,
        "{kind:?} produced NaN or infinite samples"
    );
    out
}

/// Inside a closed enclosure of albedo 1/2 that emits 1 everywhere, radiance is 1 + 1/2 + ... + (1/2)^(d-1)
/// for max depth d, whatever the geometry: every integrator must converge there (learning ones included, so
/// the Q table's mixture density is checked to be the density samples are drawn with).
#[test]
fn enclosed_white_furnace_converges_to_the_analytic_value() {
    let depth = 40;
    let expected: f64 = (0..depth).map(|k| 0.5f64.powi(k)).sum();
    let scene = scenes::enclosed_furnace(0.5, Rgb::ONE, depth as u32, 24);
    for kind in [Kind::Plain, Kind::Nee, Kind::Guided, Kind::Learned] {
        let out = run(&scene, kind, 64, 7);
        let mean = out.image.mean();
        for c in mean {
            assert!(
                (c / expected - 1.0).abs() < 0.01,
                "{kind:?}: mean {c} vs {expected}"
            );
        }
    }
}

/// A convex diffuse sphere under a uniform sky reflects exactly albedo times the sky: pixels that see the
/// sphere converge to 0.4, the rest to 1. Checked per pixel where coverage is certain (the silhouette's
/// pixels mix both), through environment sampling (nee), the sky's distribution (sky-is) and the table.
#[test]
fn convex_sphere_under_a_uniform_sky_reflects_albedo_times_the_sky() {
    let scene = scenes::sphere_under_uniform_sky(0.4, Rgb::ONE, 24);
    let coverage = |x: u32, y: u32| {
        let mut hits = 0;
        for j in 0..8 {
            for i in 0..8 {
                let ray = scene.camera.ray(
                    x as f32 + (i as f32 + 0.5) / 8.0,
                    y as f32 + (j as f32 + 0.5) / 8.0,
                );
                hits += usize::from(scene.intersect(&ray).is_some());
            }
        }
        hits
    };
    for kind in [Kind::Plain, Kind::Nee, Kind::SkyIs, Kind::Guided] {
        let out = run(&scene, kind, 256, 3);
        let (mut inside, mut n_inside, mut outside, mut n_outside) = (0.0f64, 0, 0.0f64, 0);
        for y in 0..24 {
            for x in 0..24 {
                let v = out.image.at(x, y).average() as f64;
                match coverage(x, y) {
                    64 => {
                        inside += v;
                        n_inside += 1;
                    }
                    0 => {
                        outside += v;
                        n_outside += 1;
                    }
                    _ => {}
                }
            }
        }
        assert!(
            n_inside > 50 && n_outside > 50,
            "the camera must see both sphere and sky"
        );
        let (inside, outside) = (inside / n_inside as f64, outside / n_outside as f64);
        assert!((inside - 0.4).abs() < 0.004, "{kind:?}: sphere {inside}");
        // A few "sky" pixels graze the silhouette between the coverage grid's points.
        assert!((outside - 1.0).abs() < 2e-3, "{kind:?}: sky {outside}");
    }
}

/// The same seed gives the same image on one thread and on four, for a learning integrator too.
#[test]
fn renders_are_identical_for_any_thread_count() {
    for (name, kind) in [
        ("cornell", Kind::Nee),
        ("cornell", Kind::Guided),
        ("door", Kind::Nee),
        ("sky", Kind::SkyIs),
        ("sky", Kind::Learned),
    ] {
        let mut scene = scenes::by_name(name).unwrap();
        scene.resize(32, 32);
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| run(&scene, kind, 4, 5));
        let four = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap()
            .install(|| run(&scene, kind, 4, 5));
        assert_eq!(one.image, four.image, "{name} {kind:?}");
        assert!(
            one.image.mean().iter().all(|&m| m > 0.0),
            "{name} {kind:?}: a black image tests nothing"
        );
        let other_seed = run(&scene, kind, 4, 6);
        assert_ne!(
            one.image, other_seed.image,
            "{name} {kind:?}: the seed must matter"
        );
    }
}

#[test]
fn unknown_scene_and_integrator_are_named() {
    let e = scenes::by_name("kitchen").unwrap_err().to_string();
    assert!(
        e.contains("kitchen") && e.contains("cornell, door, sky"),
        "{e}"
    );
    let e = "pathguide".parse::<Kind>().unwrap_err().to_string();
    assert!(e.contains("pathguide") && e.contains("sky-is"), "{e}");
    let cornell = scenes::cornell_box();
    let e = Kind::SkyIs
        .build(&cornell)
        .err()
        .expect("no sky in the Cornell box")
        .to_string();
    assert!(e.contains("no sky"), "{e}");
}
