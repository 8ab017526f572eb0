//! Lights: area emitters (emissive shapes, one-sided like Mitsuba's `area`) and environment lights (light
//! from infinitely far away, the sky).

use std::f32::consts::PI;

use super::distribution::Distribution1D;
use super::geometry::{Rgb, Vec3};
use super::shape::Triangle;

/// One emissive shape: its triangles (indices into the BVH's order), sampled uniformly by area as Mitsuba
/// samples a shape's surface.
#[derive(Debug, Clone)]
pub struct AreaEmitter {
    /// Emitted radiance, the same everywhere on the shape.
    pub radiance: Rgb,
    /// Its triangles, as indices into the BVH's order.
    pub triangles: Vec<u32>,
    by_area: Distribution1D,
    /// Its total area.
    pub area: f32,
}

/// A point on an emitter with its normal; the density is 1 / area.
#[derive(Debug, Clone, Copy)]
pub struct EmitterPoint {
    /// The point.
    pub point: Vec3,
    /// The surface normal there.
    pub normal: Vec3,
}

impl AreaEmitter {
    /// An emitter over triangles `triangles` of `all`.
    pub fn new(radiance: Rgb, triangles: Vec<u32>, all: &[Triangle]) -> Self {
        let areas: Vec<f32> = triangles.iter().map(|&t| all[t as usize].area()).collect();
        let area = areas.iter().sum();
        AreaEmitter {
            radiance,
            triangles,
            by_area: Distribution1D::new(&areas),
            area,
        }
    }

    /// A uniformly distributed point (density 1 / area).
    pub fn sample(&self, all: &[Triangle], u: (f32, f32)) -> EmitterPoint {
        let (i, _, u0) = self.by_area.sample(u.0);
        let tri = &all[self.triangles[i] as usize];
        // Uniform on a triangle (pbrt's square-root map): barycentrics (b0, b1, 1 - b0 - b1).
        let s = u0.sqrt();
        let (b0, b1) = (1.0 - s, u.1 * s);
        EmitterPoint {
            point: tri.point(b1, 1.0 - b0 - b1),
            normal: tri.normal,
        }
    }
}

/// Light from infinitely far away.
pub trait Environment: Send + Sync + std::fmt::Debug {
    /// Radiance arriving from direction `-dir`, i.e. seen looking along `dir`.
    fn radiance(&self, dir: Vec3) -> Rgb;
    /// A direction drawn by the light's own importance sampling, with its density (solid angle).
    fn sample(&self, u: (f32, f32)) -> Option<(Vec3, f32)>;
    /// The density [`Environment::sample`] draws `dir` with.
    fn pdf(&self, dir: Vec3) -> f32;
}

/// The same radiance from every direction: the white furnace.
#[derive(Debug, Clone, Copy)]
pub struct UniformEnvironment {
    /// The radiance from every direction.
    pub radiance: Rgb,
}

impl Environment for UniformEnvironment {
    fn radiance(&self, _dir: Vec3) -> Rgb {
        self.radiance
    }

    fn sample(&self, u: (f32, f32)) -> Option<(Vec3, f32)> {
        let z = 1.0 - 2.0 * u.0;
        let r = (1.0 - z * z).max(0.0).sqrt();
        let phi = 2.0 * PI * u.1;
        Some((Vec3::new(r * phi.cos(), r * phi.sin(), z), 1.0 / (4.0 * PI)))
    }

    fn pdf(&self, _dir: Vec3) -> f32 {
        1.0 / (4.0 * PI)
    }
}
