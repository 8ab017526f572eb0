//! A small physically based renderer and Q-learning path guiding: the course's last reinforcement-learning
//! lesson (Dahm & Keller, "Learning light transport the reinforced way", 2017). The pieces follow pbrt-v4's
//! split, each swappable on its own:
//!
//! - [`geometry`], [`shape`], [`bvh`]: vectors, triangles (Mitsuba's `rectangle` and `cube`), the hierarchy.
//! - [`camera`], [`sampler`]: Mitsuba's perspective sensor; one random stream per pixel sample.
//! - [`material`], [`light`], [`sky`]: BSDFs, area emitters and environment lights, Preetham's sky.
//! - [`scene`], [`scenes`]: what a render reads; the Cornell box, light through a door, boxes under the sky.
//! - [`integrator`]: plain and next-event path tracing, guided by the Q table ([`guiding`]) or by the sky.
//! - [`film`]: linear images (PFM), tone-mapped PNGs, relMSE.
//!
//! [`render()`] drives any integrator over the image in tiles on rayon's pool. A pixel's samples come from
//! streams keyed by (seed, pixel, sample), and learning integrators read a table frozen during each pass and
//! apply its updates afterwards in tile order, so the same seed gives the same image on any thread count.

pub mod bvh;
pub mod camera;
pub mod distribution;
pub mod film;
pub mod geometry;
pub mod guiding;
pub mod integrator;
pub mod light;
pub mod material;
pub mod sampler;
pub mod scene;
pub mod scenes;
pub mod shape;
pub mod sky;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rayon::prelude::*;

use film::Image;
use geometry::Rgb;
use integrator::{Integrator, PathRecord};
use sampler::Sampler;
use scene::Scene;

/// Side of the square tiles the image is cut into for the threads.
const TILE: u32 = 16;

/// How many samples and from which seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RenderSettings {
    /// Samples (paths) per pixel.
    pub spp: u32,
    /// The seed every pixel sample's random stream is keyed by.
    pub seed: u64,
}

/// A finished render: the mean radiance per pixel, the time it took, and the paths' statistics.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The mean radiance per pixel.
    pub image: Image,
    /// Wall-clock seconds of the render.
    pub seconds: f64,
    /// The paths' counts.
    pub record: PathRecord,
    /// Cells and bytes of the Q table at the end, for learning integrators.
    pub table_cells: usize,
    /// See `table_cells`.
    pub table_bytes: usize,
}

impl Rendered {
    /// The share of paths that brought back no light (what guiding lowers).
    pub fn zero_share(&self) -> f64 {
        self.record.zero_paths as f64 / self.record.paths.max(1) as f64
    }

    /// Mean number of segments per path, camera ray included.
    pub fn mean_path_length(&self) -> f64 {
        self.record.segments as f64 / self.record.paths.max(1) as f64
    }

    /// Paths traced per second.
    pub fn samples_per_second(&self) -> f64 {
        self.record.paths as f64 / self.seconds
    }
}

struct Tile {
    x0: u32,
    y0: u32,
    x1: u32,
    y1: u32,
}

fn tiles(width: u32, height: u32) -> Vec<Tile> {
    let mut out = Vec::new();
    for y0 in (0..height).step_by(TILE as usize) {
        for x0 in (0..width).step_by(TILE as usize) {
            out.push(Tile {
                x0,
                y0,
                x1: (x0 + TILE).min(width),
                y1: (y0 + TILE).min(height),
            });
        }
    }
    out
}

/// Renders `scene` with `integrator`. A learning integrator runs one sample per pixel per pass and learns
/// after each; the others run every sample of a tile at once. `progress` is called with samples done so far
/// out of `width * height * spp`.
pub fn render(
    scene: &Scene,
    integrator: &mut dyn Integrator,
    settings: RenderSettings,
    progress: &(dyn Fn(u64) + Sync),
) -> Rendered {
    let (w, h) = (scene.camera.width, scene.camera.height);
    let tiles = tiles(w, h);
    let mut sums = vec![Rgb::ZERO; (w * h) as usize];
    let mut record = PathRecord::default();
    let done = AtomicU64::new(0);
    let passes: Vec<(u32, u32)> = if integrator.learns() {
        (0..settings.spp).map(|s| (s, s + 1)).collect()
    } else {
        vec![(0, settings.spp)]
    };
    let start = Instant::now();
    for (first, end) in passes {
        let shared: &dyn Integrator = &*integrator;
        let results: Vec<(Vec<Rgb>, PathRecord)> = tiles
            .par_iter()
            .map(|tile| {
                let out = render_tile(scene, shared, tile, first, end, settings.seed);
                let n = ((tile.x1 - tile.x0) * (tile.y1 - tile.y0) * (end - first)) as u64;
                progress(done.fetch_add(n, Ordering::Relaxed) + n);
                out
            })
            .collect();
        let mut updates = Vec::new();
        for (tile, (tile_sums, mut tile_record)) in tiles.iter().zip(results) {
            let tw = tile.x1 - tile.x0;
            for (k, s) in tile_sums.into_iter().enumerate() {
                let (x, y) = (tile.x0 + k as u32 % tw, tile.y0 + k as u32 / tw);
                sums[(y * w + x) as usize] += s;
            }
            updates.append(&mut tile_record.updates);
            record.merge(tile_record);
        }
        if integrator.learns() {
            integrator.learn(&updates);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let scale = 1.0 / settings.spp.max(1) as f32;
    let image = Image {
        width: w,
        height: h,
        pixels: sums.into_iter().map(|s| s * scale).collect(),
    };
    let (table_cells, table_bytes) = integrator
        .table()
        .map_or((0, 0), |t| (t.cell_count(), t.memory_bytes()));
    Rendered {
        image,
        seconds,
        record,
        table_cells,
        table_bytes,
    }
}

fn render_tile(
    scene: &Scene,
    integrator: &dyn Integrator,
    tile: &Tile,
    first: u32,
    end: u32,
    seed: u64,
) -> (Vec<Rgb>, PathRecord) {
    let mut record = PathRecord::default();
    let mut sums = Vec::with_capacity(((tile.x1 - tile.x0) * (tile.y1 - tile.y0)) as usize);
    for y in tile.y0..tile.y1 {
        for x in tile.x0..tile.x1 {
            let pixel = (y * scene.camera.width + x) as u64;
            let mut sum = Rgb::ZERO;
            for s in first..end {
                let mut sampler = Sampler::new(seed, pixel, s as u64);
                let (dx, dy) = sampler.next_2d();
                let ray = scene.camera.ray(x as f32 + dx, y as f32 + dy);
                let l = integrator.radiance(scene, ray, &mut sampler, &mut record);
                record.paths += 1;
                if !l.is_finite() {
                    record.invalid += 1;
                    continue;
                }
                if l.is_black() {
                    record.zero_paths += 1;
                }
                sum += l;
            }
            sums.push(sum);
        }
    }
    (sums, record)
}
