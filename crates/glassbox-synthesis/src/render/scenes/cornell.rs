//! The Cornell box exactly as Mitsuba 3 defines it (`mitsuba.cornell_box()`, tests/fixtures/mitsuba/
//! cornell_box.json holds Mitsuba's own dump of it): five walls, two boxes, one rectangular light, camera at
//! z = 3.9, 256 x 256, max depth 8.

use crate::render::camera::Camera;
use crate::render::geometry::{Transform, Vec3};
use crate::render::material::Material;
use crate::render::scene::{Scene, SceneBuilder};
use crate::render::shape::{cube, rectangle};

pub const WHITE: [f32; 3] = [0.885_809, 0.698_859, 0.666_422];
pub const GREEN: [f32; 3] = [0.105_421, 0.377_98, 0.076_425];
pub const RED: [f32; 3] = [0.570_068, 0.043_013_5, 0.044_370_6];
pub const LIGHT_RADIANCE: [f32; 3] = [18.387, 13.9873, 6.753_57];

fn t(x: f32, y: f32, z: f32) -> Transform {
    Transform::translate(Vec3::new(x, y, z))
}

fn r(axis: [f32; 3], degrees: f32) -> Transform {
    Transform::rotate(Vec3::new(axis[0], axis[1], axis[2]), degrees)
}

fn s(x: f32, y: f32, z: f32) -> Transform {
    Transform::scale(Vec3::new(x, y, z))
}

/// Mitsuba 3's Cornell box.
pub fn cornell_box() -> Scene {
    let mut b = SceneBuilder::default();
    let [white, green, red] =
        [WHITE, GREEN, RED].map(|c| b.material(Material::diffuse(c[0], c[1], c[2])));
    let x = [1.0, 0.0, 0.0];
    let y = [0.0, 1.0, 0.0];
    b.add_emitter(
        rectangle(
            &t(0.0, 0.99, 0.01)
                .then(r(x, 90.0))
                .then(s(0.23, 0.19, 0.19)),
            white,
        ),
        Vec3::new(LIGHT_RADIANCE[0], LIGHT_RADIANCE[1], LIGHT_RADIANCE[2]),
    );
    b.add(rectangle(&t(0.0, -1.0, 0.0).then(r(x, -90.0)), white)); // floor
    b.add(rectangle(&t(0.0, 1.0, 0.0).then(r(x, 90.0)), white)); // ceiling
    b.add(rectangle(&t(0.0, 0.0, -1.0), white)); // back
    b.add(rectangle(&t(1.0, 0.0, 0.0).then(r(y, -90.0)), green));
    b.add(rectangle(&t(-1.0, 0.0, 0.0).then(r(y, 90.0)), red));
    b.add(cube(
        &t(0.335, -0.7, 0.38)
            .then(r(y, -17.0))
            .then(s(0.3, 0.3, 0.3)),
        white,
    ));
    b.add(cube(
        &t(-0.33, -0.4, -0.28)
            .then(r(y, 18.25))
            .then(s(0.3, 0.61, 0.3)),
        white,
    ));
    let camera = Camera::look_at(
        Vec3::new(0.0, 0.0, 3.9),
        Vec3::ZERO,
        Vec3::new(0.0, 1.0, 0.0),
        39.3077,
        256,
        256,
    );
    b.build("cornell", camera, None, 8)
}
