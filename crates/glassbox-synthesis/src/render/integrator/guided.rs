//! Path tracing with directions drawn from a one-sample mixture of the BSDF and a guide, the density being the
//! mixture's exact density, so the estimate stays unbiased (Dahm & Keller 2017, section 3):
//!
//! p(w) = c p_guide(w) + (1 - c) p_bsdf(w)
//!
//! The guide is the Q table (learned between passes) or the sky's own sampling distribution. Guiding acts at
//! diffuse vertices, where f cos is a patch-wise constant times cos; glossy lobes are narrower than a patch
//! and keep their own sampling. No next-event estimation: like the paper, light is found by the paths alone.

use super::{russian_roulette, Integrator, PathRecord};
use crate::render::geometry::{Ray, Rgb, Vec3};
use crate::render::guiding::hemisphere::{patch_of, sample_in_patch};
use crate::render::guiding::qtable::Cell;
use crate::render::guiding::{QTable, QTableConfig, Update};
use crate::render::sampler::Sampler;
use crate::render::scene::{Interaction, Scene};

/// What a guided path tracer draws some of its directions from.
#[derive(Debug, Clone)]
pub enum Guide {
    /// Q(x, w): Dahm & Keller's table.
    Table(QTable),
    /// The environment's piecewise-constant distribution, chosen with this probability.
    Sky(f32),
}

/// A path tracer with next-event estimation that draws a share of its directions from a guide instead of
/// the BSDF, weighting by the mixture's density so the image stays unbiased.
#[derive(Debug, Clone)]
pub struct GuidedPathTracer {
    /// Where the guided directions come from.
    pub guide: Guide,
}

impl GuidedPathTracer {
    /// Guided by a Q table learned as it renders (Dahm & Keller).
    pub fn q_learning(scene: &Scene, config: QTableConfig) -> Self {
        GuidedPathTracer {
            guide: Guide::Table(QTable::new(scene.bounds(), config)),
        }
    }

    /// Guided by the sky's brightness with this probability (sky importance sampling).
    pub fn sky(probability: f32) -> Self {
        GuidedPathTracer {
            guide: Guide::Sky(probability),
        }
    }

    /// The Q-learning target for the segment that left a vertex along `dir` and met `next` (or nothing);
    /// `cell` is `next`'s row of the table.
    fn target(
        table: &QTable,
        scene: &Scene,
        dir: Vec3,
        next: Option<&Interaction>,
        cell: Option<&Cell>,
    ) -> f32 {
        match next {
            None => scene
                .environment
                .as_ref()
                .map_or(0.0, |env| env.radiance(dir).average()),
            Some(y) => {
                let emitted = scene.emitted(y, dir).average();
                if !table.config.recursive {
                    return emitted;
                }
                let reflected = cell.map_or(0.0, |cell| {
                    cell.reflected(&scene.materials[y.material as usize])
                });
                emitted + reflected
            }
        }
    }
}

/// A scattered direction with its weight f cos / p and the total mixture density.
struct Scatter {
    wo_world: Vec3,
    weight: Rgb,
}

impl GuidedPathTracer {
    fn scatter(
        &self,
        scene: &Scene,
        it: &Interaction,
        wi: Vec3,
        cell: Option<&Cell>,
        sampler: &mut Sampler,
    ) -> Option<Scatter> {
        let material = &scene.materials[it.material as usize];
        let choose = sampler.next_1d();
        let u = sampler.next_2d();
        if !material.is_diffuse() {
            let bs = material.sample(wi, u)?;
            return Some(Scatter {
                wo_world: it.frame.to_world(bs.wo),
                weight: bs.weight,
            });
        }
        match &self.guide {
            Guide::Table(table) => {
                let c = table.config.guide_probability;
                let Some(cell) = cell else {
                    let bs = material.sample(wi, u)?;
                    return Some(Scatter {
                        wo_world: it.frame.to_world(bs.wo),
                        weight: bs.weight,
                    });
                };
                let wo = if choose < c {
                    let (patch, _, rest) = cell.sample(u.0);
                    sample_in_patch(patch, (rest, u.1))
                } else {
                    material.sample(wi, u)?.wo
                };
                let pdf = table.mixture_pdf(Some(cell), wo, material.pdf(wi, wo));
                let f = material.eval(wi, wo);
                (pdf > 0.0 && !f.is_black()).then(|| Scatter {
                    wo_world: it.frame.to_world(wo),
                    weight: f / pdf,
                })
            }
            Guide::Sky(c) => {
                let env = scene.environment.as_ref()?;
                let wo_world = if choose < *c {
                    env.sample(u)?.0
                } else {
                    it.frame.to_world(material.sample(wi, u)?.wo)
                };
                let wo = it.frame.to_local(wo_world);
                let pdf = c * env.pdf(wo_world) + (1.0 - c) * material.pdf(wi, wo);
                let f = material.eval(wi, wo);
                (pdf > 0.0 && !f.is_black()).then(|| Scatter {
                    wo_world,
                    weight: f / pdf,
                })
            }
        }
    }
}

/// The vertex the current ray left, waiting for the ray's hit to give its update's target.
#[derive(Debug, Clone, Copy)]
struct Pending {
    key: u64,
    cell: u32,
    patch: u16,
}

impl Pending {
    fn update(self, value: f32) -> Update {
        Update {
            key: self.key,
            cell: self.cell,
            patch: self.patch,
            value,
        }
    }
}

impl Integrator for GuidedPathTracer {
    fn radiance(
        &self,
        scene: &Scene,
        mut ray: Ray,
        sampler: &mut Sampler,
        record: &mut PathRecord,
    ) -> Rgb {
        let table = match &self.guide {
            Guide::Table(t) => Some(t),
            Guide::Sky(_) => None,
        };
        let mut l = Rgb::ZERO;
        let mut throughput = Rgb::ONE;
        let mut depth = 0u32;
        let mut pending: Option<Pending> = None;
        loop {
            record.segments += 1;
            let hit = scene.intersect(&ray);
            // The hit's cell, looked up once: for the last segment's target and for this vertex's scattering.
            let (key, found) = match (table, &hit) {
                (Some(t), Some(y)) => {
                    let key = t.key(y.point, y.normal);
                    (key, t.find(key))
                }
                _ => (0, None),
            };
            let cell = found.map(|(_, c)| c);
            if let (Some(table), Some(from)) = (table, pending.take()) {
                record.updates.push(from.update(Self::target(
                    table,
                    scene,
                    ray.direction,
                    hit.as_ref(),
                    cell,
                )));
            }
            let Some(it) = hit else {
                if let Some(env) = &scene.environment {
                    l += throughput.times(env.radiance(ray.direction));
                }
                break;
            };
            l += throughput.times(scene.emitted(&it, ray.direction));
            if depth + 1 >= scene.max_depth {
                break;
            }
            let wi = it.frame.to_local(-ray.direction);
            let Some(s) = self.scatter(scene, &it, wi, cell, sampler) else {
                break;
            };
            if table.is_some() {
                let local = it.frame.to_local(s.wo_world);
                if local.z > 0.0 {
                    pending = Some(Pending {
                        key,
                        cell: found.map_or(u32::MAX, |(i, _)| i),
                        patch: patch_of(local) as u16,
                    });
                }
            }
            throughput = throughput.times(s.weight);
            ray = it.spawn(s.wo_world);
            depth += 1;
            if !russian_roulette(depth, scene, &mut throughput, sampler) || throughput.is_black() {
                // The segment was chosen; trace it anyway so the table learns where it leads.
                if let (Some(table), Some(from)) = (table, pending.take()) {
                    let next = scene.intersect(&ray);
                    let cell = next
                        .as_ref()
                        .and_then(|y| table.cell(table.key(y.point, y.normal)));
                    record.updates.push(from.update(Self::target(
                        table,
                        scene,
                        ray.direction,
                        next.as_ref(),
                        cell,
                    )));
                }
                break;
            }
        }
        l
    }

    fn learns(&self) -> bool {
        matches!(self.guide, Guide::Table(_))
    }

    fn learn(&mut self, updates: &[Update]) {
        if let Guide::Table(t) = &mut self.guide {
            t.learn(updates);
        }
    }

    fn table(&self) -> Option<&QTable> {
        match &self.guide {
            Guide::Table(t) => Some(t),
            Guide::Sky(_) => None,
        }
    }
}
