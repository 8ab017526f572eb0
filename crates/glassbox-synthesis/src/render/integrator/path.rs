//! The unidirectional path tracer, written to match Mitsuba 3's `path` integrator (same depth rule, Russian
//! roulette and power-heuristic MIS), with next-event estimation switchable off for the plain tracer the
//! lesson compares Q-learning against.

use super::{power_heuristic, russian_roulette, Integrator, PathRecord};
use crate::render::geometry::{Ray, Rgb, Vec3};
use crate::render::material::Material;
use crate::render::sampler::Sampler;
use crate::render::scene::{Interaction, Scene};

/// A path tracer: BSDF sampling, with or without next-event estimation.
#[derive(Debug, Clone, Copy)]
pub struct PathTracer {
    /// Sample a light at every vertex and weight both strategies by the power heuristic.
    pub next_event: bool,
}

/// Where the previous bounce came from, for the MIS weight of light found by BSDF sampling.
#[derive(Debug, Clone, Copy)]
struct Previous {
    bsdf_pdf: f32,
}

impl Integrator for PathTracer {
    fn radiance(
        &self,
        scene: &Scene,
        mut ray: Ray,
        sampler: &mut Sampler,
        record: &mut PathRecord,
    ) -> Rgb {
        let mut l = Rgb::ZERO;
        let mut throughput = Rgb::ONE;
        let mut previous: Option<Previous> = None;
        let mut depth = 0u32;
        loop {
            record.segments += 1;
            let Some(it) = scene.intersect(&ray) else {
                if let Some(env) = &scene.environment {
                    let le = env.radiance(ray.direction);
                    let w = match previous {
                        Some(p) if self.next_event => power_heuristic(
                            p.bsdf_pdf,
                            env.pdf(ray.direction) / scene.light_count() as f32,
                        ),
                        _ => 1.0,
                    };
                    l += throughput.times(le) * w;
                }
                break;
            };
            let le = scene.emitted(&it, ray.direction);
            if !le.is_black() {
                let w = match previous {
                    Some(p) if self.next_event => {
                        power_heuristic(p.bsdf_pdf, area_light_pdf(scene, &it, ray.direction))
                    }
                    _ => 1.0,
                };
                l += throughput.times(le) * w;
            }
            if depth + 1 >= scene.max_depth {
                break;
            }
            let material = &scene.materials[it.material as usize];
            let wi = it.frame.to_local(-ray.direction);
            if self.next_event {
                l += throughput.times(sample_light(scene, &it, material, wi, sampler));
            }
            let Some(bs) = material.sample(wi, sampler.next_2d()) else {
                break;
            };
            throughput = throughput.times(bs.weight);
            previous = Some(Previous { bsdf_pdf: bs.pdf });
            ray = it.spawn(it.frame.to_world(bs.wo));
            depth += 1;
            if !russian_roulette(depth, scene, &mut throughput, sampler) || throughput.is_black() {
                break;
            }
        }
        l
    }
}

/// The density (solid angle, including the choice among lights) with which next-event estimation would
/// have picked the emitter point `it` seen along `dir`.
pub(crate) fn area_light_pdf(scene: &Scene, it: &Interaction, dir: Vec3) -> f32 {
    let emitter = &scene.emitters[it.emitter as usize];
    let cos_light = dir.dot(it.normal).abs();
    if cos_light <= 0.0 {
        return 0.0;
    }
    it.t * it.t / (emitter.area * cos_light) / scene.light_count() as f32
}

/// One light sample, weighted by the power heuristic against BSDF sampling: f cos Le w / pdf.
pub(crate) fn sample_light(
    scene: &Scene,
    it: &Interaction,
    material: &Material,
    wi: Vec3,
    sampler: &mut Sampler,
) -> Rgb {
    let count = scene.light_count();
    if count == 0 {
        return Rgb::ZERO;
    }
    let pick = ((sampler.next_1d() * count as f32) as usize).min(count - 1);
    let u = sampler.next_2d();
    let (dir, le, light_pdf, shadow) = if pick < scene.emitters.len() {
        let emitter = &scene.emitters[pick];
        let q = emitter.sample(&scene.bvh.triangles, u);
        let d = q.point - it.point;
        let dist2 = d.dot(d);
        if dist2 <= 0.0 {
            return Rgb::ZERO;
        }
        let dir = d / dist2.sqrt();
        let cos_light = -dir.dot(q.normal);
        if cos_light <= 0.0 {
            return Rgb::ZERO;
        }
        let pdf = dist2 / (emitter.area * cos_light) / count as f32;
        (dir, emitter.radiance, pdf, Shadow::To(q.point))
    } else {
        let env = scene.environment.as_ref().expect("counted");
        let Some((dir, pdf)) = env.sample(u) else {
            return Rgb::ZERO;
        };
        (dir, env.radiance(dir), pdf / count as f32, Shadow::Infinite)
    };
    if light_pdf <= 0.0 || le.is_black() {
        return Rgb::ZERO;
    }
    let wo = it.frame.to_local(dir);
    let f = material.eval(wi, wo);
    if f.is_black() {
        return Rgb::ZERO;
    }
    let blocked = match shadow {
        Shadow::To(point) => scene.occluded(it.offset_point(dir), point),
        Shadow::Infinite => scene.bvh.occluded(&it.spawn(dir), 0.0, f32::INFINITY),
    };
    if blocked {
        return Rgb::ZERO;
    }
    f.times(le) * (power_heuristic(light_pdf, material.pdf(wi, wo)) / light_pdf)
}

/// What a light sample's shadow ray must reach: a point on an emitter, or infinity.
enum Shadow {
    To(Vec3),
    Infinite,
}
