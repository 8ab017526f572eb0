//! A scene: triangles in a BVH, their materials, the lights and the camera, and the queries integrators ask.

use super::bvh::Bvh;
use super::camera::Camera;
use super::geometry::{Aabb, Frame, Ray, Rgb, Vec3};
use super::light::{AreaEmitter, Environment};
use super::material::Material;
use super::shape::Triangle;

/// Where a ray met a surface, with what the integrators need about it.
#[derive(Debug, Clone, Copy)]
pub struct Interaction {
    /// The point hit.
    pub point: Vec3,
    /// The geometric normal: the side the surface reflects on and a light emits on.
    pub normal: Vec3,
    /// The shading frame around the normal.
    pub frame: Frame,
    /// Index into `Scene::materials`.
    pub material: u32,
    /// Index into `Scene::emitters`, or `u32::MAX`.
    pub emitter: u32,
    /// The ray's parameter at the hit.
    pub t: f32,
}

impl Interaction {
    /// A ray leaving the surface, started a little off it so it does not hit the surface again.
    pub fn spawn(&self, direction: Vec3) -> Ray {
        Ray::new(self.offset_point(direction), direction)
    }

    /// The origin of a ray leaving towards `direction`: pushed off the surface along the normal, on that side.
    pub fn offset_point(&self, direction: Vec3) -> Vec3 {
        let scale = 1e-4
            * (1.0
                + self
                    .point
                    .x
                    .abs()
                    .max(self.point.y.abs())
                    .max(self.point.z.abs()));
        let n = if direction.dot(self.normal) >= 0.0 {
            self.normal
        } else {
            -self.normal
        };
        self.point + n * scale
    }
}

/// Everything one render reads. Built once; shared read-only by every thread.
#[derive(Debug)]
pub struct Scene {
    /// The name `glassbox render --scene` takes.
    pub name: String,
    /// The triangles and their hierarchy.
    pub bvh: Bvh,
    /// Every material, indexed by triangles.
    pub materials: Vec<Material>,
    /// The area lights.
    pub emitters: Vec<AreaEmitter>,
    /// Light from infinitely far away (a sky), if any.
    pub environment: Option<Box<dyn Environment>>,
    /// The sensor.
    pub camera: Camera,
    /// Mitsuba's `max_depth`: 1 shows only directly seen lights, 2 adds direct lighting, ...
    pub max_depth: u32,
    /// The depth at which Russian roulette starts (Mitsuba's `rr_depth`, 5).
    pub rr_depth: u32,
}

/// Collects shapes and lights, then builds the BVH.
#[derive(Debug, Default)]
pub struct SceneBuilder {
    triangles: Vec<Triangle>,
    materials: Vec<Material>,
    emitter_radiance: Vec<Rgb>,
}

impl SceneBuilder {
    /// Adds a material and returns its index.
    pub fn material(&mut self, m: Material) -> u32 {
        self.materials.push(m);
        (self.materials.len() - 1) as u32
    }

    /// Adds triangles that do not emit.
    pub fn add(&mut self, triangles: impl IntoIterator<Item = Triangle>) {
        self.triangles.extend(triangles);
    }

    /// Adds triangles that emit `radiance` on their front side, as one emitter.
    pub fn add_emitter(&mut self, triangles: impl IntoIterator<Item = Triangle>, radiance: Rgb) {
        let id = self.emitter_radiance.len() as u32;
        self.emitter_radiance.push(radiance);
        self.triangles.extend(triangles.into_iter().map(|mut t| {
            t.light = id;
            t
        }));
    }

    /// The finished scene: the hierarchy is built and the emitters are gathered.
    pub fn build(
        self,
        name: &str,
        camera: Camera,
        environment: Option<Box<dyn Environment>>,
        max_depth: u32,
    ) -> Scene {
        let bvh = Bvh::new(self.triangles);
        let emitters = self
            .emitter_radiance
            .iter()
            .enumerate()
            .map(|(id, &radiance)| {
                let tris = (0..bvh.triangles.len() as u32)
                    .filter(|&t| bvh.triangles[t as usize].light == id as u32)
                    .collect();
                AreaEmitter::new(radiance, tris, &bvh.triangles)
            })
            .collect();
        Scene {
            name: name.to_string(),
            bvh,
            materials: self.materials,
            emitters,
            environment,
            camera,
            max_depth,
            rr_depth: 5,
        }
    }
}

impl Scene {
    /// The closest surface `ray` meets, if any.
    pub fn intersect(&self, ray: &Ray) -> Option<Interaction> {
        let hit = self.bvh.intersect(ray, 0.0, f32::INFINITY)?;
        let tri = &self.bvh.triangles[hit.triangle as usize];
        let point = tri.point(hit.u, hit.v);
        Some(Interaction {
            point,
            normal: tri.normal,
            frame: Frame::from_normal(tri.normal),
            material: tri.material,
            emitter: tri.light,
            t: hit.t,
        })
    }

    /// Whether the segment from `from` (a surface point, already offset) to `to` is blocked.
    pub fn occluded(&self, from: Vec3, to: Vec3) -> bool {
        let d = to - from;
        let dist = d.length();
        self.bvh
            .occluded(&Ray::new(from, d / dist), 0.0, dist * (1.0 - 1e-4))
    }

    /// The box around every triangle.
    pub fn bounds(&self) -> Aabb {
        self.bvh.bounds()
    }

    /// Radiance an emitter sends from `it` back along `-dir` (front side only).
    pub fn emitted(&self, it: &Interaction, dir: Vec3) -> Rgb {
        if it.emitter == u32::MAX || dir.dot(it.normal) >= 0.0 {
            return Rgb::ZERO;
        }
        self.emitters[it.emitter as usize].radiance
    }

    /// How many light sources next-event estimation picks among (each area emitter and the environment).
    pub fn light_count(&self) -> usize {
        self.emitters.len() + usize::from(self.environment.is_some())
    }

    /// The same scene at another image size.
    pub fn resize(&mut self, width: u32, height: u32) {
        self.camera = self.camera.resized(width, height);
    }
}
