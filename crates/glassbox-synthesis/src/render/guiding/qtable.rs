//! The Q table: for surface points grouped by voxel and by the normal's main axis, the incoming radiance per
//! hemisphere patch, Q(x, w), learned with Dahm & Keller's update
//!
//! Q(x, w) <- (1 - a) Q(x, w) + a (Le(y, -w) + (2 pi / n) sum_k Q(y, w_k) f_s(y) cos(theta_k)),  a = 1 / (1 + visits)
//!
//! where y is the point the path met leaving x along w. A render reads the table frozen during a pass and
//! applies the pass's updates afterwards, in pixel-tile order, so a render is the same for any thread count.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use rayon::prelude::*;

use super::hemisphere::{centre_cosine, patch_of, PATCHES, PATCH_DENSITY};
use crate::render::geometry::{Aabb, Vec3};
use crate::render::material::Material;

/// The resolution and use of the Q table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QTableConfig {
    /// Voxels along the scene's longest side.
    pub resolution: u32,
    /// The share of directions drawn from the table rather than the BSDF (Dahm & Keller mix; never 1, so no
    /// direction the BSDF can take becomes impossible).
    pub guide_probability: f32,
    /// Learn the full recursive target (guiding toward all light) or only the emitted part of the next hit
    /// (learned importance of the sky: which patches see bright, unoccluded sky).
    pub recursive: bool,
}

impl Default for QTableConfig {
    fn default() -> Self {
        QTableConfig {
            resolution: 32,
            guide_probability: 0.5,
            recursive: true,
        }
    }
}

/// One learned value: the target for patch `patch` of the cell `key`.
#[derive(Debug, Clone, Copy)]
pub struct Update {
    /// The cell: voxel and normal bucket (see [`QTable::key`]).
    pub key: u64,
    /// The cell's index when it existed during the pass (saves a lookup), else `u32::MAX`.
    pub cell: u32,
    /// The hemisphere patch.
    pub patch: u16,
    /// The target: light arriving through that patch.
    pub value: f32,
}

/// The table's row for one cell.
#[derive(Debug, Clone)]
pub struct Cell {
    q: [f32; PATCHES],
    visits: [u32; PATCHES],
    /// Normalized CDF of Q_k cos_k over the patches (with a floor so no patch has probability 0).
    cdf: [f32; PATCHES],
    /// sum_k Q_k cos_k: times 2 albedo / n it is the diffuse part of the update's target.
    weighted_sum: f32,
}

impl Cell {
    fn new() -> Self {
        let mut c = Cell {
            q: [0.0; PATCHES],
            visits: [0; PATCHES],
            cdf: [0.0; PATCHES],
            weighted_sum: 0.0,
        };
        c.rebuild();
        c
    }

    fn rebuild(&mut self) {
        let max = self.q.iter().copied().fold(0.0f32, f32::max);
        // A floor of 1/1000 of the brightest patch (or cosine sampling when nothing is known yet).
        let floor = 1e-3 * max + 1e-12;
        let mut sum = 0.0f64;
        let mut weighted = 0.0f64;
        for k in 0..PATCHES {
            let c = centre_cosine(k);
            sum += ((self.q[k] + floor) * c) as f64;
            weighted += (self.q[k] * c) as f64;
            self.cdf[k] = sum as f32;
        }
        let total = sum as f32;
        for v in self.cdf.iter_mut() {
            *v /= total;
        }
        self.cdf[PATCHES - 1] = 1.0;
        self.weighted_sum = weighted as f32;
    }

    /// The probability of choosing `patch`.
    #[inline]
    pub fn probability(&self, patch: usize) -> f32 {
        self.cdf[patch] - if patch == 0 { 0.0 } else { self.cdf[patch - 1] }
    }

    /// A patch drawn in proportion to Q cos, its probability, and `u` rescaled within it.
    #[inline]
    pub fn sample(&self, u: f32) -> (usize, f32, f32) {
        let k = self.cdf.partition_point(|&c| c <= u).min(PATCHES - 1);
        let start = if k == 0 { 0.0 } else { self.cdf[k - 1] };
        let p = self.cdf[k] - start;
        (k, p, ((u - start) / p).clamp(0.0, 0.999_999_94))
    }

    /// (2 pi / n) sum_k Q(y, w_k) f_s(y) cos(theta_k): the radiance the cell's point reflects, with f_s the
    /// material's albedo over pi. Exact for diffuse points; at a glossy point the lobe is replaced by its
    /// diffuse equivalent, which costs one product instead of 128 lobe evaluations. The table only steers
    /// where paths go (every estimate divides by the exact density), so an approximate target costs variance
    /// at worst, never bias.
    #[inline]
    pub fn reflected(&self, material: &Material) -> f32 {
        2.0 / PATCHES as f32 * material.albedo() * self.weighted_sum
    }

    /// The value of `patch`.
    pub fn q(&self, patch: usize) -> f32 {
        self.q[patch]
    }
}

/// FxHash's multiply: the keys are already well spread voxel numbers.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// Dahm & Keller's table: for each voxel and normal bucket, the light arriving through every patch of
/// the hemisphere, learned from the paths' own hits; only cells that paths reach are stored.
#[derive(Debug, Clone)]
pub struct QTable {
    /// Its resolution and use.
    pub config: QTableConfig,
    origin: Vec3,
    inv_voxel: f32,
    dims: [u64; 3],
    index: HashMap<u64, u32, BuildHasherDefault<KeyHasher>>,
    cells: Vec<Cell>,
}

impl QTable {
    /// An empty table over `bounds`.
    pub fn new(bounds: Aabb, config: QTableConfig) -> QTable {
        let extent = bounds.extent().max(Vec3::splat(1e-3));
        let voxel = extent.max_component() / config.resolution.max(1) as f32;
        let dims = [extent.x, extent.y, extent.z].map(|e| ((e / voxel).ceil() as u64).max(1));
        QTable {
            config,
            origin: bounds.min,
            inv_voxel: 1.0 / voxel,
            dims,
            index: HashMap::default(),
            cells: Vec::new(),
        }
    }

    /// The cell key of a surface point: its voxel and which of the six axis directions its normal is nearest.
    #[inline]
    pub fn key(&self, point: Vec3, normal: Vec3) -> u64 {
        let rel = (point - self.origin) * self.inv_voxel;
        let v = [rel.x, rel.y, rel.z];
        let mut ix = [0u64; 3];
        for a in 0..3 {
            ix[a] = (v[a].max(0.0) as u64).min(self.dims[a] - 1);
        }
        let abs = Vec3::new(normal.x.abs(), normal.y.abs(), normal.z.abs());
        let axis = abs.max_axis();
        let bucket = 2 * axis as u64 + u64::from(normal[axis] < 0.0);
        ((ix[0] * self.dims[1] + ix[1]) * self.dims[2] + ix[2]) * 6 + bucket
    }

    /// The cell of `key`, if a path has reached it.
    #[inline]
    pub fn cell(&self, key: u64) -> Option<&Cell> {
        self.index.get(&key).map(|&i| &self.cells[i as usize])
    }

    /// The cell's index and row, when it exists.
    #[inline]
    pub fn find(&self, key: u64) -> Option<(u32, &Cell)> {
        self.index.get(&key).map(|&i| (i, &self.cells[i as usize]))
    }

    /// Applies a pass's updates, each cell's in the order given (so the result does not depend on threads),
    /// creating cells on first visit, then refreshes the touched cells' distributions. Cells are independent,
    /// so they are updated in parallel after a stable counting sort of the updates by cell.
    pub fn learn(&mut self, updates: &[Update]) {
        let mut cell_of: Vec<u32> = Vec::with_capacity(updates.len());
        for u in updates {
            let i = if u.cell != u32::MAX {
                u.cell
            } else {
                let next = self.cells.len() as u32;
                let i = *self.index.entry(u.key).or_insert(next);
                if i == next {
                    self.cells.push(Cell::new());
                }
                i
            };
            cell_of.push(if u.value.is_finite() { i } else { u32::MAX });
        }
        let mut start = vec![0u32; self.cells.len() + 1];
        for &i in &cell_of {
            if i != u32::MAX {
                start[i as usize + 1] += 1;
            }
        }
        for i in 0..self.cells.len() {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut order = vec![0u32; start[self.cells.len()] as usize];
        for (k, &i) in cell_of.iter().enumerate() {
            if i != u32::MAX {
                order[fill[i as usize] as usize] = k as u32;
                fill[i as usize] += 1;
            }
        }
        self.cells.par_iter_mut().enumerate().for_each(|(i, cell)| {
            let (a, b) = (start[i] as usize, start[i + 1] as usize);
            if a == b {
                return;
            }
            for &u in &order[a..b] {
                let u = &updates[u as usize];
                let k = u.patch as usize;
                let rate = 1.0 / (1.0 + cell.visits[k] as f32);
                cell.q[k] = (1.0 - rate) * cell.q[k] + rate * u.value;
                cell.visits[k] += 1;
            }
            cell.rebuild();
        });
    }

    /// Cells stored.
    pub fn cell_count(&self) -> usize {
        self.cells.len()
    }

    /// Bytes the table holds: the cells and the index.
    pub fn memory_bytes(&self) -> usize {
        self.cells.capacity() * std::mem::size_of::<Cell>() + self.index.capacity() * (8 + 4 + 8)
    }

    /// The guided sampler's full density (solid angle) of the local direction `wo` at a diffuse point with
    /// row `cell`: the guide's share times the patch density, plus the BSDF's share times `bsdf_pdf`. The
    /// integrator weights every guided sample by it; without a row the BSDF samples alone.
    #[inline]
    pub fn mixture_pdf(&self, cell: Option<&Cell>, wo: Vec3, bsdf_pdf: f32) -> f32 {
        let c = self.config.guide_probability;
        match cell {
            Some(cell) if wo.z > 0.0 => {
                c * cell.probability(patch_of(wo)) * PATCH_DENSITY + (1.0 - c) * bsdf_pdf
            }
            _ => bsdf_pdf,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::PI;

    use crate::render::geometry::Frame;

    use crate::render::guiding::hemisphere::sample_in_patch;
    use crate::render::sampler::Sampler;

    fn learned_table() -> (QTable, u64) {
        let mut t = QTable::new(
            Aabb {
                min: Vec3::ZERO,
                max: Vec3::ONE,
            },
            QTableConfig::default(),
        );
        let key = t.key(Vec3::new(0.5, 0.5, 0.5), Vec3::new(0.0, 1.0, 0.0));
        let updates: Vec<Update> = (0..PATCHES)
            .map(|k| Update {
                key,
                cell: u32::MAX,
                patch: k as u16,
                value: (k % 7) as f32 * 3.0,
            })
            .collect();
        t.learn(&updates);
        (t, key)
    }

    /// The guided density integrates to one over the sphere (it is zero below the surface), and a direction
    /// drawn from a patch has the density the mixture reports.
    #[test]
    fn patch_pdf_integrates_to_one() {
        let (t, key) = learned_table();
        let cell = t.cell(key);
        let frame = Frame::from_normal(Vec3::new(0.0, 1.0, 0.0));
        let mut s = Sampler::new(1, 2, 3);
        let n = 2_000_000;
        let mut integral = 0.0f64;
        for _ in 0..n {
            // Uniform over the whole sphere, density 1 / (4 pi).
            let (u, v) = s.next_2d();
            let z = 1.0 - 2.0 * u;
            let r = (1.0 - z * z).max(0.0).sqrt();
            let w = Vec3::new(r * (2.0 * PI * v).cos(), r * (2.0 * PI * v).sin(), z);
            let local = frame.to_local(w);
            let bsdf_pdf = if local.z > 0.0 { local.z / PI } else { 0.0 };
            integral += (t.mixture_pdf(cell, local, bsdf_pdf) * 4.0 * PI) as f64;
        }
        let mean = integral / n as f64;
        assert!(
            (mean - 1.0).abs() < 0.005,
            "mixture pdf integrates to {mean}"
        );
        // Patch probabilities alone sum to one and follow Q cos.
        let c = cell.unwrap();
        let total: f32 = (0..PATCHES).map(|k| c.probability(k)).sum();
        assert!((total - 1.0).abs() < 1e-5);
        assert!(
            c.probability(6) > 10.0 * c.probability(7),
            "Q=18 patch must beat the Q=0 patch"
        );
        let d = sample_in_patch(6, (0.3, 0.8));
        let p = t.mixture_pdf(cell, d, d.z / PI);
        assert!((p - (0.5 * c.probability(6) * PATCH_DENSITY + 0.5 * d.z / PI)).abs() < 1e-5);
    }

    /// The update with a = 1 / (1 + visits) keeps the running mean of the targets.
    #[test]
    fn update_is_the_running_mean() {
        let mut t = QTable::new(
            Aabb {
                min: Vec3::ZERO,
                max: Vec3::ONE,
            },
            QTableConfig::default(),
        );
        let key = t.key(Vec3::splat(0.1), Vec3::new(1.0, 0.0, 0.0));
        let values = [4.0, 1.0, 7.0];
        t.learn(&values.map(|value| Update {
            key,
            cell: u32::MAX,
            patch: 3,
            value,
        }));
        assert!((t.cell(key).unwrap().q(3) - 4.0).abs() < 1e-6);
        assert_ne!(
            key,
            t.key(Vec3::splat(0.1), Vec3::new(-1.0, 0.0, 0.0)),
            "opposite normals share a cell"
        );
    }
}
