//! White furnaces, scenes whose answer is known in closed form: inside a closed diffuse enclosure of albedo
//! rho that emits Le everywhere, every pixel converges to Le (1 + rho + ... + rho^(d-1)) for max depth d,
//! Le / (1 - rho) in the limit; a convex diffuse object under a uniform sky reflects rho times the sky.

use std::f32::consts::PI;

use crate::render::camera::Camera;
use crate::render::geometry::{Rgb, Vec3};
use crate::render::light::UniformEnvironment;
use crate::render::material::Material;
use crate::render::scene::{Scene, SceneBuilder};
use crate::render::shape::Triangle;

/// A unit-radius UV sphere at the origin, normals outward (`inward` false) or inward.
pub fn sphere(segments: usize, material: u32, inward: bool) -> Vec<Triangle> {
    let rings = segments / 2;
    let p = |i: usize, j: usize| {
        let theta = PI * i as f32 / rings as f32;
        let phi = 2.0 * PI * j as f32 / segments as f32;
        Vec3::new(
            theta.sin() * phi.cos(),
            theta.cos(),
            theta.sin() * phi.sin(),
        )
    };
    let mut tris = Vec::new();
    for i in 0..rings {
        for j in 0..segments {
            let (a, b, c, d) = (p(i, j), p(i + 1, j), p(i + 1, j + 1), p(i, j + 1));
            for (x, y, z) in [(a, c, b), (a, d, c)] {
                if (y - x).cross(z - x).length() < 1e-9 {
                    continue; // the poles' degenerate halves
                }
                tris.push(if inward {
                    Triangle::new(x, z, y, material)
                } else {
                    Triangle::new(x, y, z, material)
                });
            }
        }
    }
    tris
}

/// The camera inside a closed sphere of albedo `albedo` emitting `radiance` inwards.
pub fn enclosed_furnace(albedo: f32, radiance: Rgb, max_depth: u32, size: u32) -> Scene {
    let mut b = SceneBuilder::default();
    let m = b.material(Material::diffuse(albedo, albedo, albedo));
    b.add_emitter(sphere(24, m, true), radiance);
    let camera = Camera::look_at(
        Vec3::new(0.1, 0.05, 0.0),
        Vec3::new(0.0, 0.2, -1.0),
        Vec3::new(0.0, 1.0, 0.0),
        70.0,
        size,
        size,
    );
    b.build("furnace", camera, None, max_depth)
}

/// A diffuse sphere of albedo `albedo` alone under a uniform sky of `radiance`, filling the image's centre.
pub fn sphere_under_uniform_sky(albedo: f32, radiance: Rgb, size: u32) -> Scene {
    let mut b = SceneBuilder::default();
    let m = b.material(Material::diffuse(albedo, albedo, albedo));
    b.add(sphere(48, m, false));
    let camera = Camera::look_at(
        Vec3::new(0.0, 0.0, 3.0),
        Vec3::ZERO,
        Vec3::new(0.0, 1.0, 0.0),
        50.0,
        size,
        size,
    );
    b.build(
        "sphere-sky",
        camera,
        Some(Box::new(UniformEnvironment { radiance })),
        8,
    )
}
