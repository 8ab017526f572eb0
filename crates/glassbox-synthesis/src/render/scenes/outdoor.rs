//! Boxes on a ground plane under sun and sky: the scene for sky importance sampling.

use crate::render::camera::Camera;
use crate::render::geometry::{Transform, Vec3};
use crate::render::material::Material;
use crate::render::scene::{Scene, SceneBuilder};
use crate::render::shape::{cube, cuboid, rectangle};
use crate::render::sky::{Sky, SunSky};

/// Boxes on a ground plane under `sky`.
pub fn outdoor(sky: SunSky) -> Scene {
    let mut b = SceneBuilder::default();
    let ground = b.material(Material::diffuse(0.35, 0.33, 0.3));
    let red = b.material(Material::diffuse(0.6, 0.15, 0.1));
    let white = b.material(Material::diffuse(0.8, 0.8, 0.8));
    let glossy = b.material(Material::Glossy {
        reflectance: Vec3::new(0.6, 0.65, 0.75),
        exponent: 60.0,
    });
    let x = Vec3::new(1.0, 0.0, 0.0);
    let y = Vec3::new(0.0, 1.0, 0.0);
    b.add(rectangle(
        &Transform::rotate(x, -90.0).then(Transform::scale(Vec3::new(30.0, 30.0, 1.0))),
        ground,
    ));
    b.add(cuboid(
        Vec3::new(-1.5, 0.0, -1.0),
        Vec3::new(-0.3, 1.6, 0.2),
        white,
    ));
    b.add(cube(
        &Transform::translate(Vec3::new(0.9, 0.5, 0.3))
            .then(Transform::rotate(y, 30.0))
            .then(Transform::scale(Vec3::splat(0.5))),
        red,
    ));
    b.add(cuboid(
        Vec3::new(0.2, 0.0, -2.2),
        Vec3::new(1.6, 0.7, -1.4),
        glossy,
    ));
    // An arch: light under it comes only from the sky's sides.
    b.add(cuboid(
        Vec3::new(-2.6, 0.0, 1.0),
        Vec3::new(-2.3, 1.2, 1.3),
        white,
    ));
    b.add(cuboid(
        Vec3::new(-1.2, 0.0, 1.0),
        Vec3::new(-0.9, 1.2, 1.3),
        white,
    ));
    b.add(cuboid(
        Vec3::new(-2.6, 1.2, 0.7),
        Vec3::new(-0.9, 1.4, 1.6),
        white,
    ));
    let camera = Camera::look_at(
        Vec3::new(3.5, 2.6, 5.0),
        Vec3::new(-0.4, 0.5, -0.2),
        Vec3::new(0.0, 1.0, 0.0),
        45.0,
        256,
        256,
    );
    b.build("sky", camera, Some(Box::new(Sky::new(sky))), 8)
}
