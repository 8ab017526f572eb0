//! Our Cornell box is Mitsuba's: the same world-space triangles with the same winding, reflectances and
//! emission, the same camera rays, the same image size and path depth, checked against Mitsuba 3's own
//! dump of `mitsuba.cornell_box()` (tests/fixtures/mitsuba/cornell_box.json, written by
//! xtask/bench/mitsuba_cornell.py `scene`). The images and the benchmark against Mitsuba mean something only
//! while this holds.

use std::path::PathBuf;

use glassbox_synthesis::render::geometry::Vec3;
use glassbox_synthesis::render::material::Material;
use glassbox_synthesis::render::scene::Scene;
use glassbox_synthesis::render::scenes;
use serde_json::Value;

/// Positions and directions: the fixture rounds to 7 significant digits and both sides compute in f32.
const TOLERANCE: f32 = 1e-5;

fn fixture() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/mitsuba/cornell_box.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading Mitsuba's scene dump {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn number(v: &Value, what: &str) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("{what}: expected a number, found {v}"))
}

fn vec3(v: &Value, what: &str) -> Vec3 {
    match v.as_array().map(Vec::as_slice) {
        Some([x, y, z]) => Vec3::new(
            number(x, what) as f32,
            number(y, what) as f32,
            number(z, what) as f32,
        ),
        _ => panic!("{what}: expected [x, y, z], found {v}"),
    }
}

fn close(a: Vec3, b: Vec3) -> bool {
    (a.x - b.x).abs() <= TOLERANCE
        && (a.y - b.y).abs() <= TOLERANCE
        && (a.z - b.z).abs() <= TOLERANCE
}

/// Colours are the same decimal numbers on both sides, so only f32 rounding may tell them apart; a
/// tolerance as wide as the positions' would pass a changed last digit.
fn same_colour(a: Vec3, b: Vec3) -> bool {
    let same = |x: f32, y: f32| (x - y).abs() <= 1e-6 * y.abs().max(1.0);
    same(a.x, b.x) && same(a.y, b.y) && same(a.z, b.z)
}

/// One of Mitsuba's triangles with what it is made of.
#[derive(Debug)]
struct Expected {
    shape: String,
    vertices: [Vec3; 3],
    normal: Vec3,
    reflectance: Vec3,
    radiance: Option<Vec3>,
}

fn mitsuba_triangles(dump: &Value) -> Vec<Expected> {
    let shapes = dump["shapes"]
        .as_object()
        .expect("the dump has an object \"shapes\"");
    let mut out = Vec::new();
    for (name, shape) in shapes {
        let vertices: Vec<Vec3> = shape["vertices"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no vertices"))
            .iter()
            .map(|v| vec3(v, name))
            .collect();
        let reflectance = vec3(&shape["reflectance_rgb"], name);
        let radiance = match &shape["emitter"] {
            Value::Null => None,
            emitter => Some(vec3(&emitter["radiance_rgb"], name)),
        };
        let faces = shape["triangles"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no triangles"));
        let normals = shape["face_normals"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no face normals"));
        assert_eq!(faces.len(), normals.len(), "{name}: a normal per triangle");
        for (face, normal) in faces.iter().zip(normals) {
            let corner = |k: usize| {
                let i = face[k]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{name}: bad triangle {face}"));
                vertices[i as usize]
            };
            out.push(Expected {
                shape: name.clone(),
                vertices: [corner(0), corner(1), corner(2)],
                normal: vec3(normal, name),
                reflectance,
                radiance,
            });
        }
    }
    out
}

/// Our triangle `t` as three corners.
fn corners(scene: &Scene, t: usize) -> [Vec3; 3] {
    let tri = &scene.bvh.triangles[t];
    [tri.p0, tri.p0 + tri.e1, tri.p0 + tri.e2]
}

/// The same corners in the same cyclic order, so the same winding and normal, starting at any corner.
fn same_triangle(a: [Vec3; 3], b: [Vec3; 3]) -> bool {
    (0..3).any(|r| (0..3).all(|k| close(a[k], b[(k + r) % 3])))
}

#[test]
fn the_triangles_and_their_materials_and_emission_are_mitsubas() {
    let dump = fixture();
    let scene = scenes::cornell_box();
    let expected = mitsuba_triangles(&dump);
    let ours = scene.bvh.triangles.len();
    let mut matched_by: Vec<Option<usize>> = vec![None; ours];
    let mut problems = Vec::new();
    for (m, want) in expected.iter().enumerate() {
        let hits: Vec<usize> = (0..ours)
            .filter(|&t| same_triangle(corners(&scene, t), want.vertices))
            .collect();
        let t = match hits.as_slice() {
            [t] => *t,
            [] => {
                problems.push(format!(
                    "{}: no triangle of ours has the corners {:?} in this winding",
                    want.shape, want.vertices
                ));
                continue;
            }
            many => {
                problems.push(format!("{}: {want:?} matches {many:?}", want.shape));
                continue;
            }
        };
        if let Some(other) = matched_by[t].replace(m) {
            problems.push(format!(
                "our triangle {t} stands for two of Mitsuba's: {:?} and {want:?}",
                expected[other]
            ));
        }
        let tri = &scene.bvh.triangles[t];
        if !close(tri.normal, want.normal) {
            problems.push(format!(
                "{}: our normal {:?}, Mitsuba's {:?}",
                want.shape, tri.normal, want.normal
            ));
        }
        match scene.materials[tri.material as usize] {
            Material::Diffuse { reflectance } if same_colour(reflectance, want.reflectance) => {}
            other => problems.push(format!(
                "{}: our material {other:?}, Mitsuba's diffuse {:?}",
                want.shape, want.reflectance
            )),
        }
        let radiance = (tri.light != u32::MAX).then(|| scene.emitters[tri.light as usize].radiance);
        let same_emission = match (radiance, want.radiance) {
            (None, None) => true,
            (Some(a), Some(b)) => same_colour(a, b),
            _ => false,
        };
        if !same_emission {
            problems.push(format!(
                "{}: we emit {radiance:?}, Mitsuba {:?}",
                want.shape, want.radiance
            ));
        }
    }
    for (t, m) in matched_by.iter().enumerate() {
        if m.is_none() {
            problems.push(format!(
                "our triangle {t} {:?} is none of Mitsuba's",
                corners(&scene, t)
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} of Mitsuba's triangles, {ours} of ours:\n{}",
        expected.len(),
        problems.join("\n")
    );
    let emitting = expected.iter().filter(|e| e.radiance.is_some()).count();
    assert!(emitting > 0, "the dump has no emitting triangle");
    assert_eq!(scene.emitters.len(), 1, "Mitsuba's box has one area light");
}

/// Mitsuba's `perspective` sensor: film point `(sx, sy)` in [0, 1]^2 from the top left goes to the camera-
/// space direction ((1 - 2 sx) t, (1 - 2 sy) t / aspect, 1), t = tan(x_fov / 2), camera +x being the
/// image's left, then through `to_world`.
fn mitsuba_direction(sensor: &Value, sx: f64, sy: f64) -> [f64; 3] {
    let film = &sensor["film"];
    let (w, h) = (
        number(&film["width"], "film width"),
        number(&film["height"], "film height"),
    );
    let fov = number(&sensor["fov"], "fov");
    let x_fov = match sensor["fov_axis"].as_str() {
        // The field of view is along the smaller side, which for a square film is x.
        Some("smaller") if w <= h => fov,
        Some("x") => fov,
        other => {
            panic!("fov_axis {other:?} for a {w}x{h} film is not what this test derives x_fov for")
        }
    };
    // Mitsuba's own derivation, reported by the dump, must agree with ours.
    let loaded = number(&sensor["x_fov_loaded"], "x_fov_loaded");
    assert!(
        (x_fov - loaded).abs() < 1e-4,
        "x_fov {x_fov} vs Mitsuba's {loaded}"
    );
    let t = (0.5 * x_fov.to_radians()).tan();
    let aspect = w / h;
    let local = [(1.0 - 2.0 * sx) * t, (1.0 - 2.0 * sy) * t / aspect, 1.0];
    let m = &sensor["to_world"];
    let row = |i: usize| {
        (0..3)
            .map(|j| number(&m[i][j], "to_world") * local[j])
            .sum::<f64>()
    };
    let d = [row(0), row(1), row(2)];
    let len = d.iter().map(|c| c * c).sum::<f64>().sqrt();
    d.map(|c| c / len)
}

#[test]
fn the_camera_rays_are_mitsubas() {
    let dump = fixture();
    let sensor = &dump["sensor"];
    assert_eq!(sensor["type"], "perspective");
    let scene = scenes::cornell_box();
    let cam = &scene.camera;
    let (w, h) = (cam.width as f32, cam.height as f32);
    let eye = Vec3::new(
        number(&sensor["to_world"][0][3], "eye") as f32,
        number(&sensor["to_world"][1][3], "eye") as f32,
        number(&sensor["to_world"][2][3], "eye") as f32,
    );
    // The corners and the centre, and a point off every axis of symmetry (a swapped or mirrored axis would
    // still pass at the centre and, for a square image, at the corners of one diagonal).
    let points = [
        (0.0, 0.0),
        (w, 0.0),
        (0.0, h),
        (w, h),
        (0.5 * w, 0.5 * h),
        (0.5, 0.5),
        (37.25, 201.5),
    ];
    for (x, y) in points {
        let ray = cam.ray(x, y);
        assert!(
            close(ray.origin, eye),
            "origin {:?}, Mitsuba's eye {eye:?}",
            ray.origin
        );
        let want = mitsuba_direction(sensor, f64::from(x / w), f64::from(y / h));
        let want = Vec3::new(want[0] as f32, want[1] as f32, want[2] as f32);
        assert!(
            close(ray.direction, want),
            "film point ({x}, {y}): our direction {:?}, Mitsuba's {want:?}",
            ray.direction
        );
    }
}

#[test]
fn the_image_size_and_path_depth_are_mitsubas() {
    let dump = fixture();
    let scene = scenes::cornell_box();
    let film = &dump["sensor"]["film"];
    assert_eq!(
        (scene.camera.width, scene.camera.height),
        (
            number(&film["width"], "film width") as u32,
            number(&film["height"], "film height") as u32
        ),
        "image size"
    );
    assert_eq!((scene.camera.width, scene.camera.height), (256, 256));
    let integrator = &dump["integrator"];
    assert_eq!(integrator["type"], "path");
    assert_eq!(
        scene.max_depth,
        number(&integrator["max_depth"], "max_depth") as u32,
        "max depth"
    );
    assert_eq!(scene.max_depth, 8);
    assert_eq!(
        scene.rr_depth,
        number(&integrator["rr_depth"], "rr_depth") as u32,
        "Russian roulette depth"
    );
    assert_eq!(
        integrator["hide_emitters"], false,
        "we show emitters seen directly"
    );
}
