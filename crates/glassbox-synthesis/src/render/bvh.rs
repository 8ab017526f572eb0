//! A bounding volume hierarchy over triangles: binned surface-area heuristic, flattened depth-first, traversed
//! near child first with a small stack.

use super::geometry::{Aabb, Ray, Vec3};
use super::shape::{Hit, Triangle};

const BINS: usize = 12;
const LEAF_SIZE: usize = 4;
/// The SAH's cost of one traversal step relative to one triangle test.
const TRAVERSAL_COST: f32 = 1.0;

#[derive(Debug, Clone, Copy)]
struct Node {
    bounds: Aabb,
    /// A leaf: the first triangle; an interior node: the second child (the first follows the node).
    offset: u32,
    /// Triangles in a leaf, 0 for an interior node.
    count: u16,
    axis: u16,
}

/// The hierarchy owns the triangles, reordered so each leaf's are contiguous.
#[derive(Debug, Clone)]
pub struct Bvh {
    nodes: Vec<Node>,
    /// The scene's triangles, in the hierarchy's order (emitters refer to these indices).
    pub triangles: Vec<Triangle>,
}

struct Build {
    bounds: Aabb,
    centroid: Vec3,
}

impl Bvh {
    /// Builds the hierarchy over `triangles`.
    pub fn new(triangles: Vec<Triangle>) -> Bvh {
        let info: Vec<Build> = triangles
            .iter()
            .map(|t| {
                let b = t.bounds();
                Build {
                    bounds: b,
                    centroid: b.centroid(),
                }
            })
            .collect();
        let mut order: Vec<usize> = (0..triangles.len()).collect();
        let mut nodes = Vec::with_capacity(2 * triangles.len().max(1));
        if !triangles.is_empty() {
            build(&info, &mut order, 0, &mut nodes);
        }
        let triangles = order.iter().map(|&i| triangles[i]).collect();
        Bvh { nodes, triangles }
    }

    /// The box around every triangle.
    pub fn bounds(&self) -> Aabb {
        self.nodes.first().map_or(Aabb::EMPTY, |n| n.bounds)
    }

    /// The closest hit in `(t_min, t_max)`.
    pub fn intersect(&self, ray: &Ray, t_min: f32, t_max: f32) -> Option<Hit> {
        let mut best: Option<Hit> = None;
        self.traverse(ray, t_min, t_max, |first, triangles, t_max| {
            for (k, tri) in triangles.iter().enumerate() {
                if let Some((t, u, v)) = tri.intersect(ray, t_min, *t_max) {
                    *t_max = t;
                    best = Some(Hit {
                        t,
                        triangle: (first + k) as u32,
                        u,
                        v,
                    });
                }
            }
            false
        });
        best
    }

    /// Whether anything lies on the ray in `(t_min, t_max)`: shadow rays stop at the first hit.
    pub fn occluded(&self, ray: &Ray, t_min: f32, t_max: f32) -> bool {
        self.traverse(ray, t_min, t_max, |_, triangles, t_max| {
            triangles
                .iter()
                .any(|tri| tri.intersect(ray, t_min, *t_max).is_some())
        })
    }

    /// Visits the leaves whose boxes the ray enters within `(t_min, t_max)`, the child on the ray's near side
    /// first. `leaf` gets the leaf's first triangle index, its triangles and the interval's end (which it may
    /// shorten to the closest hit so far) and returns whether to stop; so does `traverse`.
    #[inline(always)]
    fn traverse(
        &self,
        ray: &Ray,
        t_min: f32,
        mut t_max: f32,
        mut leaf: impl FnMut(usize, &[Triangle], &mut f32) -> bool,
    ) -> bool {
        if self.nodes.is_empty() {
            return false;
        }
        let inv = Vec3::new(
            1.0 / ray.direction.x,
            1.0 / ray.direction.y,
            1.0 / ray.direction.z,
        );
        let negative = [inv.x < 0.0, inv.y < 0.0, inv.z < 0.0];
        let mut stack = [0u32; 64];
        let mut top = 0usize;
        let mut index = 0usize;
        loop {
            let node = &self.nodes[index];
            if slab(&node.bounds, ray, &inv, t_min, t_max) {
                if node.count > 0 {
                    let first = node.offset as usize;
                    if leaf(
                        first,
                        &self.triangles[first..first + node.count as usize],
                        &mut t_max,
                    ) {
                        return true;
                    }
                } else {
                    let (near, far) = if negative[node.axis as usize] {
                        (node.offset as usize, index + 1)
                    } else {
                        (index + 1, node.offset as usize)
                    };
                    stack[top] = far as u32;
                    top += 1;
                    index = near;
                    continue;
                }
            }
            if top == 0 {
                return false;
            }
            top -= 1;
            index = stack[top] as usize;
        }
    }
}

#[inline]
fn slab(b: &Aabb, ray: &Ray, inv: &Vec3, t_min: f32, t_max: f32) -> bool {
    let mut t0 = t_min;
    let mut t1 = t_max;
    for axis in 0..3 {
        let near = (b.min[axis] - ray.origin[axis]) * inv[axis];
        let far = (b.max[axis] - ray.origin[axis]) * inv[axis];
        // min/max written this way drop the NaN of 0 * inf (a ray in a box's face plane) toward the other bound.
        let (lo, hi) = if near < far { (near, far) } else { (far, near) };
        t0 = if lo > t0 { lo } else { t0 };
        // Robust traversal (Ize 2013): widen the far bound by 2 ulp-ish so grazing rays are not lost.
        let hi = hi * (1.0 + 2.0 * f32::EPSILON);
        t1 = if hi < t1 { hi } else { t1 };
    }
    t0 <= t1
}

fn build(info: &[Build], order: &mut [usize], first: usize, nodes: &mut Vec<Node>) {
    let bounds = order
        .iter()
        .fold(Aabb::EMPTY, |b, &i| b.union(info[i].bounds));
    let me = nodes.len();
    nodes.push(Node {
        bounds,
        offset: first as u32,
        count: order.len() as u16,
        axis: 0,
    });
    if order.len() <= LEAF_SIZE {
        return;
    }
    let cb = order
        .iter()
        .fold(Aabb::EMPTY, |b, &i| b.grow(info[i].centroid));
    let extent = cb.extent();
    let axis = extent.max_axis();
    if extent[axis] <= 0.0 {
        // Every centroid in one point: no split separates them.
        if order.len() <= u16::MAX as usize {
            return;
        }
    }
    let bin_of = |i: usize| -> usize {
        let f = (info[i].centroid[axis] - cb.min[axis]) / extent[axis].max(f32::MIN_POSITIVE);
        ((f * BINS as f32) as usize).min(BINS - 1)
    };
    let mut bin_bounds = [Aabb::EMPTY; BINS];
    let mut bin_count = [0usize; BINS];
    for &i in order.iter() {
        let b = bin_of(i);
        bin_bounds[b] = bin_bounds[b].union(info[i].bounds);
        bin_count[b] += 1;
    }
    // Sweep: cost of splitting after bin k.
    let mut best = (f32::INFINITY, 0usize);
    for k in 0..BINS - 1 {
        let (mut lb, mut lc) = (Aabb::EMPTY, 0);
        for j in 0..=k {
            lb = lb.union(bin_bounds[j]);
            lc += bin_count[j];
        }
        let (mut rb, mut rc) = (Aabb::EMPTY, 0);
        for j in k + 1..BINS {
            rb = rb.union(bin_bounds[j]);
            rc += bin_count[j];
        }
        if lc == 0 || rc == 0 {
            continue;
        }
        let cost = TRAVERSAL_COST
            + (lb.half_area() * lc as f32 + rb.half_area() * rc as f32)
                / bounds.half_area().max(f32::MIN_POSITIVE);
        if cost < best.0 {
            best = (cost, k);
        }
    }
    let leaf_cost = order.len() as f32;
    let mid = if best.0 < leaf_cost || order.len() > u16::MAX as usize {
        if best.0.is_finite() {
            let split = best.1;
            partition(order, |i| bin_of(i) <= split)
        } else {
            order.sort_by(|&a, &b| info[a].centroid[axis].total_cmp(&info[b].centroid[axis]));
            order.len() / 2
        }
    } else {
        return;
    };
    let (left, right) = order.split_at_mut(mid);
    nodes[me].count = 0;
    nodes[me].axis = axis as u16;
    build(info, left, first, nodes);
    nodes[me].offset = nodes.len() as u32;
    build(info, right, first + mid, nodes);
}

/// Moves the items for which `pred` holds to the front; returns how many.
fn partition(order: &mut [usize], pred: impl Fn(usize) -> bool) -> usize {
    let mut mid = 0;
    for k in 0..order.len() {
        if pred(order[k]) {
            order.swap(k, mid);
            mid += 1;
        }
    }
    mid
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::sampler::Sampler;

    fn random_triangles(n: usize, s: &mut Sampler) -> Vec<Triangle> {
        let point = |s: &mut Sampler| {
            Vec3::new(
                s.next_1d() * 10.0 - 5.0,
                s.next_1d() * 10.0 - 5.0,
                s.next_1d() * 10.0 - 5.0,
            )
        };
        (0..n)
            .map(|_| {
                let a = point(s);
                let d = |s: &mut Sampler| {
                    Vec3::new(s.next_1d() - 0.5, s.next_1d() - 0.5, s.next_1d() - 0.5)
                };
                Triangle::new(a, a + d(s), a + d(s), 0)
            })
            .collect()
    }

    /// The hierarchy must find exactly what testing every triangle finds: closest hits and occlusion.
    #[test]
    fn agrees_with_brute_force_on_random_rays() {
        let mut s = Sampler::new(11, 0, 0);
        let tris = random_triangles(2000, &mut s);
        let bvh = Bvh::new(tris.clone());
        let mut hits = 0;
        for _ in 0..20_000 {
            let o = Vec3::new(
                s.next_1d() * 12.0 - 6.0,
                s.next_1d() * 12.0 - 6.0,
                s.next_1d() * 12.0 - 6.0,
            );
            let d = Vec3::new(s.next_1d() - 0.5, s.next_1d() - 0.5, s.next_1d() - 0.5).normalize();
            let ray = Ray::new(o, d);
            let brute = tris
                .iter()
                .filter_map(|t| t.intersect(&ray, 0.0, f32::INFINITY).map(|h| h.0))
                .fold(f32::INFINITY, f32::min);
            let got = bvh
                .intersect(&ray, 0.0, f32::INFINITY)
                .map_or(f32::INFINITY, |h| h.t);
            assert_eq!(got, brute, "ray {ray:?}");
            assert_eq!(bvh.occluded(&ray, 0.0, f32::INFINITY), brute.is_finite());
            if brute.is_finite() {
                hits += 1;
                assert!(
                    !bvh.occluded(&ray, 0.0, brute * 0.999)
                        || tris
                            .iter()
                            .any(|t| t.intersect(&ray, 0.0, brute * 0.999).is_some())
                );
                let hit = bvh.intersect(&ray, 0.0, f32::INFINITY).unwrap();
                let tri = &bvh.triangles[hit.triangle as usize];
                assert!((tri.point(hit.u, hit.v) - ray.at(hit.t)).length() < 1e-3);
            }
        }
        assert!(hits > 2000, "too few hits ({hits}) to test anything");
    }
}
