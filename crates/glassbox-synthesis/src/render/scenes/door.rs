//! Light through a door: two rooms joined by a narrow gap; the light hangs in the room the camera cannot see,
//! so almost every path a plain tracer starts from the camera's room ends without meeting it (Veach's
//! "door ajar", the scene Dahm & Keller's guiding is made for).
//!
//! The house spans x in [-4, 4], y in [0, 3], z in [-2, 2]; a wall 0.1 thick at x = 0 separates the lit room
//! (x < 0) from the camera's room (x > 0), with a door 0.2 wide and 2.2 high at z in [1.2, 1.4].

use crate::render::camera::Camera;
use crate::render::geometry::{Transform, Vec3};
use crate::render::material::Material;
use crate::render::scene::{Scene, SceneBuilder};
use crate::render::shape::{cuboid, rectangle};

/// Light through a door (the module documentation has its layout).
pub fn door() -> Scene {
    let mut b = SceneBuilder::default();
    let white = b.material(Material::diffuse(0.75, 0.75, 0.75));
    let floor = b.material(Material::diffuse(0.6, 0.5, 0.4));
    let blue = b.material(Material::diffuse(0.25, 0.35, 0.6));
    let glossy = b.material(Material::Glossy {
        reflectance: Vec3::new(0.7, 0.7, 0.7),
        exponent: 40.0,
    });
    let (x, y) = (Vec3::new(1.0, 0.0, 0.0), Vec3::new(0.0, 1.0, 0.0));
    // The shell, faces turned inwards: rectangle [-1, 1]^2 scaled to each face.
    b.add(rectangle(
        &Transform::translate(Vec3::new(0.0, 0.0, 0.0))
            .then(Transform::rotate(x, -90.0))
            .then(Transform::scale(Vec3::new(4.0, 2.0, 1.0))),
        floor,
    ));
    b.add(rectangle(
        &Transform::translate(Vec3::new(0.0, 3.0, 0.0))
            .then(Transform::rotate(x, 90.0))
            .then(Transform::scale(Vec3::new(4.0, 2.0, 1.0))),
        white,
    ));
    b.add(rectangle(
        &Transform::translate(Vec3::new(0.0, 1.5, -2.0))
            .then(Transform::scale(Vec3::new(4.0, 1.5, 1.0))),
        white,
    ));
    b.add(rectangle(
        &Transform::translate(Vec3::new(0.0, 1.5, 2.0))
            .then(Transform::rotate(y, 180.0))
            .then(Transform::scale(Vec3::new(4.0, 1.5, 1.0))),
        white,
    ));
    b.add(rectangle(
        &Transform::translate(Vec3::new(-4.0, 1.5, 0.0))
            .then(Transform::rotate(y, 90.0))
            .then(Transform::scale(Vec3::new(2.0, 1.5, 1.0))),
        white,
    ));
    b.add(rectangle(
        &Transform::translate(Vec3::new(4.0, 1.5, 0.0))
            .then(Transform::rotate(y, -90.0))
            .then(Transform::scale(Vec3::new(2.0, 1.5, 1.0))),
        blue,
    ));
    // The dividing wall, in three pieces around the door.
    b.add(cuboid(
        Vec3::new(-0.05, 0.0, -2.0),
        Vec3::new(0.05, 3.0, 1.2),
        white,
    ));
    b.add(cuboid(
        Vec3::new(-0.05, 0.0, 1.4),
        Vec3::new(0.05, 3.0, 2.0),
        white,
    ));
    b.add(cuboid(
        Vec3::new(-0.05, 2.2, 1.2),
        Vec3::new(0.05, 3.0, 1.4),
        white,
    ));
    // Furniture in the camera's room: a table-like block and a glossy box.
    b.add(cuboid(
        Vec3::new(1.5, 0.0, -1.2),
        Vec3::new(2.5, 0.8, -0.2),
        white,
    ));
    b.add(cuboid(
        Vec3::new(0.6, 0.0, 0.2),
        Vec3::new(1.1, 0.5, 0.7),
        glossy,
    ));
    // The light: a panel over most of the lit room's ceiling, facing down, kept 1.6 away from the wall so
    // no light reaches the camera's room without a bounce in the lit room.
    b.add_emitter(
        rectangle(
            &Transform::translate(Vec3::new(-2.6, 2.99, 0.0))
                .then(Transform::rotate(x, 90.0))
                .then(Transform::scale(Vec3::new(1.0, 1.6, 1.0))),
            white,
        ),
        Vec3::splat(60.0),
    );
    let camera = Camera::look_at(
        Vec3::new(3.8, 1.6, -1.7),
        Vec3::new(0.0, 0.9, 0.9),
        Vec3::new(0.0, 1.0, 0.0),
        60.0,
        256,
        256,
    );
    let mut scene = b.build("door", camera, None, 12);
    // No Russian roulette (paths end at the depth limit): roulette by throughput works against guiding, whose
    // paths toward the light carry a small throughput precisely because their density is high, and it
    // amplifies the rare long paths that find the door by chance. At 256 spp (128x128, 3 seeds) it cost plain
    // tracing 2.9x and guided tracing 14x in relMSE (docs/lessons/path-tracing.md).
    scene.rr_depth = scene.max_depth;
    scene
}
