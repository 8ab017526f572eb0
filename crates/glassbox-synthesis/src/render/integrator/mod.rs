//! Integrators: what a camera ray's radiance is estimated with. Each is one struct implementing
//! [`Integrator`]; the render loop (`render::render`) does not know which it drives.
//!
//! - [`path::PathTracer`]: BSDF sampling only (`plain`), or with next-event estimation and multiple
//!   importance sampling (`nee`, Mitsuba's `path` integrator).
//! - [`guided::GuidedPathTracer`]: directions from a mixture of the BSDF and a guide: the Q table (`guided`,
//!   Dahm & Keller; `learned`, the table learning only the sky it sees) or the sky's own distribution (`sky-is`).

pub mod guided;
pub mod path;

use std::str::FromStr;

use super::geometry::{Ray, Rgb};
use super::guiding::{QTable, QTableConfig, Update};
use super::sampler::Sampler;
use super::scene::Scene;

/// What a pass of paths reports: counts for the lesson's table, and the Q table's updates.
#[derive(Debug, Default, Clone)]
pub struct PathRecord {
    /// Paths traced.
    pub paths: u64,
    /// Paths that brought back no light at all.
    pub zero_paths: u64,
    /// Ray segments traced (camera ray included), for the mean path length.
    pub segments: u64,
    /// Samples whose estimate was NaN or infinite (dropped; should stay 0).
    pub invalid: u64,
    /// The Q table's updates, for learning integrators.
    pub updates: Vec<Update>,
}

impl PathRecord {
    /// Adds another record's counts and updates (in the order given).
    pub fn merge(&mut self, other: PathRecord) {
        self.paths += other.paths;
        self.zero_paths += other.zero_paths;
        self.segments += other.segments;
        self.invalid += other.invalid;
        self.updates.extend(other.updates);
    }
}

/// A way to estimate the light along camera rays; learning integrators also update between passes.
pub trait Integrator: Sync {
    /// The radiance arriving along `-ray.direction` at the camera.
    fn radiance(
        &self,
        scene: &Scene,
        ray: Ray,
        sampler: &mut Sampler,
        record: &mut PathRecord,
    ) -> Rgb;

    /// Whether the integrator learns between passes (then the render runs one sample per pixel per pass).
    fn learns(&self) -> bool {
        false
    }

    /// Takes a pass's updates, in tile order.
    fn learn(&mut self, _updates: &[Update]) {}

    /// The learned table, for its size and memory.
    fn table(&self) -> Option<&QTable> {
        None
    }
}

/// The integrators `glassbox render --integrator` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Path tracing with BSDF sampling only.
    Plain,
    /// Next-event estimation: a light sampled at every vertex, combined by multiple importance sampling.
    Nee,
    /// Q-learning path guiding of all light (Dahm & Keller).
    Guided,
    /// Sky importance sampling.
    SkyIs,
    /// Q-learning of the sky's light only (learned importance of the sky).
    Learned,
}

impl Kind {
    /// Every kind, in the order the lesson compares them.
    pub const ALL: [Kind; 5] = [
        Kind::Plain,
        Kind::Nee,
        Kind::Guided,
        Kind::SkyIs,
        Kind::Learned,
    ];

    /// The name `--integrator` takes.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Plain => "plain",
            Kind::Nee => "nee",
            Kind::Guided => "guided",
            Kind::SkyIs => "sky-is",
            Kind::Learned => "learned",
        }
    }

    /// A ready integrator of this kind for `scene`.
    pub fn build(self, scene: &Scene) -> crate::Result<Box<dyn Integrator>> {
        self.build_with(scene, QTableConfig::default())
    }

    /// As [`Kind::build`], with the Q table's resolution and guide share from `guiding` (its `recursive` is
    /// set by the kind: `guided` learns all light, `learned` only the sky).
    pub fn build_with(
        self,
        scene: &Scene,
        guiding: QTableConfig,
    ) -> crate::Result<Box<dyn Integrator>> {
        let valid = (1..=1024).contains(&guiding.resolution)
            && guiding.guide_probability > 0.0
            && guiding.guide_probability < 1.0;
        if !valid {
            return Err(glassbox_core::Error::InvalidOption {
                option: "guiding".into(),
                value: format!("resolution {}, guide probability {}", guiding.resolution, guiding.guide_probability),
                expected: "a resolution of 1..=1024 voxels and a guide probability strictly between 0 and 1".into(),
            }
            .into());
        }
        Ok(match self {
            Kind::Plain => Box::new(path::PathTracer { next_event: false }),
            Kind::Nee => Box::new(path::PathTracer { next_event: true }),
            Kind::Guided => Box::new(guided::GuidedPathTracer::q_learning(
                scene,
                QTableConfig {
                    recursive: true,
                    ..guiding
                },
            )),
            Kind::Learned => Box::new(guided::GuidedPathTracer::q_learning(
                scene,
                QTableConfig {
                    recursive: false,
                    ..guiding
                },
            )),
            Kind::SkyIs => {
                if scene.environment.is_none() {
                    return Err(glassbox_core::Error::InvalidOption {
                        option: "--integrator".into(),
                        value: "sky-is".into(),
                        expected: format!("an integrator for a scene with no sky ('{}' has none): plain, nee, guided or learned", scene.name),
                    }
                    .into());
                }
                Box::new(guided::GuidedPathTracer::sky(guiding.guide_probability))
            }
        })
    }
}

impl FromStr for Kind {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                glassbox_core::Error::InvalidOption {
                    option: "--integrator".into(),
                    value: s.into(),
                    expected: Kind::ALL.map(Kind::name).join(", "),
                }
                .into()
            })
    }
}

/// Mitsuba's Russian roulette: from `rr_depth` on, a path survives with probability
/// min(max channel of the throughput, 0.95) and is reweighted by its inverse.
#[inline]
pub(crate) fn russian_roulette(
    depth: u32,
    scene: &Scene,
    throughput: &mut Rgb,
    sampler: &mut Sampler,
) -> bool {
    if depth < scene.rr_depth {
        return true;
    }
    let q = throughput.max_component().min(0.95);
    if sampler.next_1d() >= q {
        return false;
    }
    *throughput = *throughput / q;
    true
}

/// The power heuristic (Veach), Mitsuba's `mis_weight`.
#[inline]
pub(crate) fn power_heuristic(a: f32, b: f32) -> f32 {
    let (a2, b2) = (a * a, b * b);
    let w = a2 / (a2 + b2);
    if w.is_finite() {
        w
    } else {
        0.0
    }
}
