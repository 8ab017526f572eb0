//! Materials (BSDFs) in the local shading frame, Mitsuba's conventions: `wi` points from the surface back
//! along the path (towards the camera), `wo` is the scattered direction, both with `z = cos(theta)`; materials
//! are one-sided, black when either direction is below the surface.

use std::f32::consts::{FRAC_1_PI, PI};

use super::geometry::{Rgb, Vec3};

/// How a surface scatters light.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Material {
    /// Lambertian: f = reflectance / pi (Mitsuba's `diffuse`).
    Diffuse {
        /// Albedo per channel.
        reflectance: Rgb,
    },
    /// Energy-normalized Phong lobe around the mirror direction (Lafortune & Willems 1994):
    /// f = reflectance (n + 2) / (2 pi) cos^n(alpha), alpha the angle between `wo` and the mirror of `wi`.
    Glossy {
        /// Albedo per channel.
        reflectance: Rgb,
        /// The lobe's exponent: higher is shinier.
        exponent: f32,
    },
}

/// A scattered direction with `f cos / pdf` and the pdf (solid angle).
#[derive(Debug, Clone, Copy)]
pub struct BsdfSample {
    /// The scattered direction.
    pub wo: Vec3,
    /// `f cos / pdf`: what the path's throughput is multiplied by.
    pub weight: Rgb,
    /// The density the direction was drawn with (solid angle).
    pub pdf: f32,
}

impl Material {
    /// A Lambertian material of reflectance (r, g, b).
    pub fn diffuse(r: f32, g: f32, b: f32) -> Material {
        Material::Diffuse {
            reflectance: Vec3::new(r, g, b),
        }
    }

    /// Whether f is the same for every pair of directions (the Q table's patch products need no `wi`).
    pub fn is_diffuse(&self) -> bool {
        matches!(self, Material::Diffuse { .. })
    }

    /// The mean reflectance, the scalar the Q table's update multiplies by.
    pub fn albedo(&self) -> f32 {
        match self {
            Material::Diffuse { reflectance } | Material::Glossy { reflectance, .. } => {
                reflectance.average()
            }
        }
    }

    /// `f(wi, wo) cos(theta_o)`.
    pub fn eval(&self, wi: Vec3, wo: Vec3) -> Rgb {
        if wi.z <= 0.0 || wo.z <= 0.0 {
            return Rgb::ZERO;
        }
        match *self {
            Material::Diffuse { reflectance } => reflectance * (FRAC_1_PI * wo.z),
            Material::Glossy {
                reflectance,
                exponent,
            } => {
                let c = mirror(wi).dot(wo).max(0.0);
                reflectance * ((exponent + 2.0) / (2.0 * PI) * c.powf(exponent) * wo.z)
            }
        }
    }

    /// The density [`Material::sample`] draws `wo` with.
    pub fn pdf(&self, wi: Vec3, wo: Vec3) -> f32 {
        if wi.z <= 0.0 || wo.z <= 0.0 {
            return 0.0;
        }
        match *self {
            Material::Diffuse { .. } => FRAC_1_PI * wo.z,
            Material::Glossy { exponent, .. } => {
                let c = mirror(wi).dot(wo).max(0.0);
                (exponent + 1.0) / (2.0 * PI) * c.powf(exponent)
            }
        }
    }

    /// Draws `wo` from cosine-weighted (diffuse) or lobe (glossy) sampling; `None` when it falls below.
    pub fn sample(&self, wi: Vec3, u: (f32, f32)) -> Option<BsdfSample> {
        if wi.z <= 0.0 {
            return None;
        }
        match *self {
            Material::Diffuse { reflectance } => {
                let wo = cosine_hemisphere(u);
                (wo.z > 0.0).then_some(BsdfSample {
                    wo,
                    weight: reflectance,
                    pdf: FRAC_1_PI * wo.z,
                })
            }
            Material::Glossy {
                reflectance,
                exponent,
            } => {
                let cos_a = u.0.powf(1.0 / (exponent + 1.0));
                let sin_a = (1.0 - cos_a * cos_a).max(0.0).sqrt();
                let phi = 2.0 * PI * u.1;
                let lobe = super::geometry::Frame::from_normal(mirror(wi));
                let wo = lobe.to_world(Vec3::new(sin_a * phi.cos(), sin_a * phi.sin(), cos_a));
                if wo.z <= 0.0 {
                    return None;
                }
                let pdf = (exponent + 1.0) / (2.0 * PI) * cos_a.powf(exponent);
                Some(BsdfSample {
                    wo,
                    weight: reflectance * ((exponent + 2.0) / (exponent + 1.0) * wo.z),
                    pdf,
                })
            }
        }
    }
}

fn mirror(wi: Vec3) -> Vec3 {
    Vec3::new(-wi.x, -wi.y, wi.z)
}

/// Malley's method: a uniform disc point lifted to the hemisphere; density cos(theta) / pi.
pub fn cosine_hemisphere(u: (f32, f32)) -> Vec3 {
    let r = u.0.sqrt();
    let phi = 2.0 * PI * u.1;
    Vec3::new(r * phi.cos(), r * phi.sin(), (1.0 - u.0).max(0.0).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::sampler::Sampler;

    /// The sampling weight must equal eval / pdf, and the mean weight is the directional albedo, which for a
    /// Lambertian surface is the reflectance exactly.
    #[test]
    fn sampling_agrees_with_eval_and_pdf() {
        let mut s = Sampler::new(5, 0, 0);
        let wi = Vec3::new(0.3, -0.2, 0.9).normalize();
        for m in [
            Material::diffuse(0.5, 0.6, 0.7),
            Material::Glossy {
                reflectance: Vec3::splat(0.8),
                exponent: 30.0,
            },
        ] {
            let n = 200_000;
            let mut mean = 0.0f64;
            for _ in 0..n {
                if let Some(b) = m.sample(wi, s.next_2d()) {
                    let e = m.eval(wi, b.wo);
                    assert!(
                        (m.pdf(wi, b.wo) - b.pdf).abs() <= 1e-3 * b.pdf.max(1.0),
                        "pdf"
                    );
                    assert!(
                        (e.x / b.pdf - b.weight.x).abs() <= 1e-3 * b.weight.x.max(1.0),
                        "{e:?} {b:?}"
                    );
                    mean += b.weight.x as f64;
                }
            }
            let albedo = mean / n as f64;
            if m.is_diffuse() {
                assert!((albedo - 0.5).abs() < 1e-6, "{albedo}");
            } else {
                assert!(albedo > 0.5 && albedo < 0.8, "glossy albedo {albedo}");
            }
        }
    }
}
