//! An analytic clear sky (Preetham, Shirley & Smits, "A practical analytic model for daylight", SIGGRAPH 1999)
//! with a sun disc, and its importance sampling by a piecewise-constant 2-D distribution over (azimuth,
//! zenith angle), as pbrt samples an environment map. The world's up is +y.

use std::f32::consts::{FRAC_PI_2, PI};

use super::distribution::Distribution2D;
use super::geometry::{Rgb, Vec3};
use super::light::Environment;

/// The sky's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SunSky {
    /// Haze, 2 (very clear) to 10 (hazy); Preetham's fit covers 2..10.
    pub turbidity: f32,
    /// The sun's height above the horizon, degrees.
    pub sun_elevation: f32,
    /// The sun's azimuth from +x towards +z, degrees.
    pub sun_azimuth: f32,
    /// The disc's angular radius, degrees. The real sun's is 0.27; the default 1.0 keeps the soft shadows and
    /// lets 32-path images show structure rather than only fireflies.
    pub sun_radius: f32,
    /// The sky's radiance (luminance) at the zenith, in the renderer's units.
    pub zenith: f32,
    /// Sun irradiance at normal incidence over the zenith radiance (default 14: a clear day's order of
    /// magnitude, about 100 klx of sunlight over a zenith of about 7 kcd/m^2).
    pub sun_strength: f32,
}

impl Default for SunSky {
    fn default() -> Self {
        SunSky {
            turbidity: 3.0,
            sun_elevation: 35.0,
            sun_azimuth: 60.0,
            sun_radius: 1.0,
            zenith: 0.15,
            sun_strength: 14.0,
        }
    }
}

/// Perez et al.'s luminance distribution with Preetham's coefficients for one of Y, x, y.
#[derive(Debug, Clone, Copy)]
struct Perez([f32; 5]);

impl Perez {
    fn f(&self, cos_theta: f32, gamma: f32) -> f32 {
        let [a, b, c, d, e] = self.0;
        let cos_gamma = gamma.cos();
        (1.0 + a * (b / cos_theta.max(1e-3)).exp())
            * (1.0 + c * (d * gamma).exp() + e * cos_gamma * cos_gamma)
    }
}

/// The sky as a light: Preetham's sky above the horizon plus the sun disc, black below.
#[derive(Debug)]
pub struct Sky {
    /// The sun's position and the sky's turbidity.
    pub settings: SunSky,
    sun_dir: Vec3,
    cos_sun_radius: f32,
    sun_radiance: Rgb,
    perez: [Perez; 3],
    /// Zenith values of Y, x, y, already divided by F(0, theta_s).
    zenith: [f32; 3],
    /// Divides luminance so the zenith sky's Y is `settings.zenith`.
    scale: f32,
    distribution: Distribution2D,
}

/// Resolution of the sampling distribution: azimuth x zenith angle over the upper hemisphere (0.7 degrees).
const MAP_WIDTH: usize = 512;
const MAP_HEIGHT: usize = 128;
const SUPERSAMPLES: usize = 4;

impl Sky {
    /// The sky and sun of `settings`, with the tables for sampling them.
    pub fn new(settings: SunSky) -> Sky {
        let t = settings.turbidity;
        let theta_s = (90.0 - settings.sun_elevation).to_radians();
        let (elev, azim) = (
            settings.sun_elevation.to_radians(),
            settings.sun_azimuth.to_radians(),
        );
        let sun_dir = Vec3::new(elev.cos() * azim.cos(), elev.sin(), elev.cos() * azim.sin());
        let perez = [
            Perez([
                0.1787 * t - 1.4630,
                -0.3554 * t + 0.4275,
                -0.0227 * t + 5.3251,
                0.1206 * t - 2.5771,
                -0.0670 * t + 0.3703,
            ]),
            Perez([
                -0.0193 * t - 0.2592,
                -0.0665 * t + 0.0008,
                -0.0004 * t + 0.2125,
                -0.0641 * t - 0.8989,
                -0.0033 * t + 0.0452,
            ]),
            Perez([
                -0.0167 * t - 0.2608,
                -0.0950 * t + 0.0092,
                -0.0079 * t + 0.2102,
                -0.0441 * t - 1.6537,
                -0.0109 * t + 0.0529,
            ]),
        ];
        let chi = (4.0 / 9.0 - t / 120.0) * (PI - 2.0 * theta_s);
        let y_z = (4.0453 * t - 4.9710) * chi.tan() - 0.2155 * t + 2.4192;
        let (t1, t2, t3) = (theta_s, theta_s * theta_s, theta_s * theta_s * theta_s);
        let x_z = t * t * (0.00166 * t3 - 0.00375 * t2 + 0.00209 * t1)
            + t * (-0.02903 * t3 + 0.06377 * t2 - 0.03202 * t1 + 0.00394)
            + (0.11693 * t3 - 0.21196 * t2 + 0.06052 * t1 + 0.25886);
        let yc_z = t * t * (0.00275 * t3 - 0.00610 * t2 + 0.00317 * t1)
            + t * (-0.04214 * t3 + 0.08970 * t2 - 0.04153 * t1 + 0.00516)
            + (0.15346 * t3 - 0.26756 * t2 + 0.06670 * t1 + 0.26688);
        let zenith = [
            y_z / perez[0].f(1.0, theta_s),
            x_z / perez[1].f(1.0, theta_s),
            yc_z / perez[2].f(1.0, theta_s),
        ];
        let cos_sun_radius = settings.sun_radius.to_radians().cos();
        let solid_angle = 2.0 * PI * (1.0 - cos_sun_radius);
        // A warm white sun; radiance so the disc gives `sun_strength` irradiance at normal incidence.
        let sun_radiance = Vec3::new(1.0, 0.93, 0.82)
            * (settings.sun_strength * settings.zenith
                / solid_angle
                / Vec3::new(1.0, 0.93, 0.82).luminance());
        let mut sky = Sky {
            settings,
            sun_dir,
            cos_sun_radius,
            sun_radiance,
            perez,
            zenith,
            scale: settings.zenith / y_z.max(1e-3),
            distribution: Distribution2D::new(&[1.0], 1, 1),
        };
        sky.distribution = sky.build_distribution();
        sky
    }

    /// The direction towards the sun's centre.
    pub fn sun_direction(&self) -> Vec3 {
        self.sun_dir
    }

    /// The sky alone, without the sun disc.
    pub fn sky_radiance(&self, dir: Vec3) -> Rgb {
        if dir.y <= 0.0 {
            return Rgb::ZERO;
        }
        let gamma = dir.dot(self.sun_dir).clamp(-1.0, 1.0).acos();
        let [big_y, x, y] = [0, 1, 2].map(|i| self.zenith[i] * self.perez[i].f(dir.y, gamma));
        let big_y = big_y * self.scale;
        let (cx, cz) = (x / y * big_y, (1.0 - x - y) / y * big_y);
        let r = 3.240_454 * cx - 1.537_139 * big_y - 0.498_531 * cz;
        let g = -0.969_266 * cx + 1.876_011 * big_y + 0.041_556 * cz;
        let b = 0.055_643 * cx - 0.204_026 * big_y + 1.057_225 * cz;
        Vec3::new(r, g, b).max(Rgb::ZERO)
    }

    fn direction(u: f32, v: f32) -> Vec3 {
        let (phi, theta) = (2.0 * PI * u, FRAC_PI_2 * v);
        Vec3::new(
            theta.sin() * phi.cos(),
            theta.cos(),
            theta.sin() * phi.sin(),
        )
    }

    fn build_distribution(&self) -> Distribution2D {
        let mut weights = vec![0.0f32; MAP_WIDTH * MAP_HEIGHT];
        for row in 0..MAP_HEIGHT {
            for col in 0..MAP_WIDTH {
                let mut sum = 0.0;
                for a in 0..SUPERSAMPLES {
                    for b in 0..SUPERSAMPLES {
                        let u = (col as f32 + (a as f32 + 0.5) / SUPERSAMPLES as f32)
                            / MAP_WIDTH as f32;
                        let v = (row as f32 + (b as f32 + 0.5) / SUPERSAMPLES as f32)
                            / MAP_HEIGHT as f32;
                        // The sin(theta) of the map's Jacobian: rows near the zenith cover less solid angle.
                        sum += self.radiance(Self::direction(u, v)).luminance()
                            * (FRAC_PI_2 * v).sin();
                    }
                }
                weights[row * MAP_WIDTH + col] = sum;
            }
        }
        Distribution2D::new(&weights, MAP_WIDTH, MAP_HEIGHT)
    }
}

impl Environment for Sky {
    fn radiance(&self, dir: Vec3) -> Rgb {
        let sky = self.sky_radiance(dir);
        if dir.dot(self.sun_dir) >= self.cos_sun_radius && dir.y > 0.0 {
            sky + self.sun_radiance
        } else {
            sky
        }
    }

    fn sample(&self, u: (f32, f32)) -> Option<(Vec3, f32)> {
        let ((x, y), _) = self.distribution.sample(u);
        let dir = Self::direction(x, y);
        // The density recomputed from the direction, so sampling and `pdf` agree to the last bit (MIS needs it).
        let pdf = self.pdf(dir);
        (pdf > 0.0).then_some((dir, pdf))
    }

    fn pdf(&self, dir: Vec3) -> f32 {
        if dir.y <= 0.0 {
            return 0.0;
        }
        let theta = dir.y.clamp(-1.0, 1.0).acos();
        let mut phi = dir.z.atan2(dir.x);
        if phi < 0.0 {
            phi += 2.0 * PI;
        }
        let sin_theta = theta.sin();
        if sin_theta <= 0.0 {
            return 0.0;
        }
        self.distribution.pdf(phi / (2.0 * PI), theta / FRAC_PI_2) / (PI * PI * sin_theta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::sampler::Sampler;

    #[test]
    fn sky_is_bluish_brightest_near_the_sun_and_black_below() {
        let sky = Sky::new(SunSky::default());
        let zenith = sky.sky_radiance(Vec3::new(0.0, 1.0, 0.0));
        assert!(
            (zenith.luminance() - 0.15).abs() < 0.01,
            "zenith {zenith:?}"
        );
        assert!(zenith.z > zenith.x, "zenith should be blue: {zenith:?}");
        let s = sky.sun_direction();
        let near_sun = (s + Vec3::new(0.0, 0.0, 0.05)).normalize();
        let away = Vec3::new(-s.x, s.y, -s.z).normalize();
        assert!(sky.sky_radiance(near_sun).luminance() > 2.0 * sky.sky_radiance(away).luminance());
        assert_eq!(sky.radiance(Vec3::new(0.0, -1.0, 0.0)), Rgb::ZERO);
        assert!(sky.radiance(s).luminance() > 1000.0 * zenith.luminance());
    }

    /// Samples' densities equal `pdf`, and the estimate of the sun's irradiance on a surface facing it, made
    /// with the distribution's samples, matches `sun_strength` plus the sky's share.
    #[test]
    fn sampling_is_consistent_and_integrates_the_sky() {
        let sky = Sky::new(SunSky::default());
        let mut s = Sampler::new(9, 0, 0);
        let n = 200_000;
        let (mut est, mut uniform) = (0.0f64, 0.0f64);
        let normal = Vec3::new(0.0, 1.0, 0.0);
        for _ in 0..n {
            let (d, pdf) = sky.sample(s.next_2d()).expect("sample");
            assert!(
                (sky.pdf(d) - pdf).abs() <= 2e-3 * pdf,
                "{} vs {pdf}",
                sky.pdf(d)
            );
            est += (sky.radiance(d).luminance() * d.dot(normal).max(0.0) / pdf) as f64;
            // The same integral by uniform hemisphere sampling (sky only: uniform sampling misses the sun).
            let (u, v) = s.next_2d();
            let z = u;
            let r = (1.0 - z * z).sqrt();
            let dir = Vec3::new(r * (2.0 * PI * v).cos(), z, r * (2.0 * PI * v).sin());
            uniform += (sky.sky_radiance(dir).luminance() * z * 2.0 * PI) as f64;
        }
        let irradiance = est / n as f64;
        let sky_only = uniform / n as f64;
        let sun =
            (sky.settings.sun_strength * sky.settings.zenith) as f64 * sky.sun_direction().y as f64;
        assert!(
            (irradiance - (sky_only + sun)).abs() < 0.02 * (sky_only + sun),
            "{irradiance} vs {sky_only} + {sun}"
        );
    }
}
