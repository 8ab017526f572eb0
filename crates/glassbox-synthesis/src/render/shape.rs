//! Triangles, and the two shapes the scenes are built from: Mitsuba's `rectangle` and `cube`.

use super::geometry::{Aabb, Ray, Transform, Vec3};

/// One triangle, stored for Möller-Trumbore: a corner and the two edges from it.
#[derive(Debug, Clone, Copy)]
pub struct Triangle {
    /// A corner.
    pub p0: Vec3,
    /// The edge from `p0` to the second corner.
    pub e1: Vec3,
    /// The edge from `p0` to the third corner.
    pub e2: Vec3,
    /// Unit geometric normal, `e1 x e2` normalized: the side a one-sided material reflects and a light emits on.
    pub normal: Vec3,
    /// Index into the scene's materials.
    pub material: u32,
    /// Index into the scene's area lights, or `u32::MAX` when the triangle does not emit.
    pub light: u32,
}

/// A ray's closest hit.
#[derive(Debug, Clone, Copy)]
pub struct Hit {
    /// The ray's parameter at the hit.
    pub t: f32,
    /// The triangle hit, an index into the BVH's order.
    pub triangle: u32,
    /// Barycentric coordinate along `e1`.
    pub u: f32,
    /// Barycentric coordinate along `e2`.
    pub v: f32,
}

impl Triangle {
    /// The triangle (a, b, c) of `material`, not emitting.
    pub fn new(a: Vec3, b: Vec3, c: Vec3, material: u32) -> Self {
        let e1 = b - a;
        let e2 = c - a;
        Triangle {
            p0: a,
            e1,
            e2,
            normal: e1.cross(e2).normalize(),
            material,
            light: u32::MAX,
        }
    }

    /// Its area.
    pub fn area(&self) -> f32 {
        0.5 * self.e1.cross(self.e2).length()
    }

    /// The box around it.
    pub fn bounds(&self) -> Aabb {
        Aabb::EMPTY
            .grow(self.p0)
            .grow(self.p0 + self.e1)
            .grow(self.p0 + self.e2)
    }

    /// The point at barycentric (u, v).
    pub fn point(&self, u: f32, v: f32) -> Vec3 {
        self.p0 + self.e1 * u + self.e2 * v
    }

    /// The distance along `ray` to the triangle when it lies in `(t_min, t_max)`, with the barycentrics.
    #[inline]
    pub fn intersect(&self, ray: &Ray, t_min: f32, t_max: f32) -> Option<(f32, f32, f32)> {
        let pvec = ray.direction.cross(self.e2);
        let det = self.e1.dot(pvec);
        if det.abs() < 1e-12 {
            return None;
        }
        let inv = 1.0 / det;
        let tvec = ray.origin - self.p0;
        let u = tvec.dot(pvec) * inv;
        if !(0.0..=1.0).contains(&u) {
            return None;
        }
        let qvec = tvec.cross(self.e1);
        let v = ray.direction.dot(qvec) * inv;
        if v < 0.0 || u + v > 1.0 {
            return None;
        }
        let t = self.e2.dot(qvec) * inv;
        (t > t_min && t < t_max).then_some((t, u, v))
    }
}

/// Mitsuba's `rectangle`: the square [-1, 1]^2 in the plane z = 0 with normal +z, then `to_world`. Corners and
/// triangles come in Mitsuba's order, (1, 2, 0) and (1, 3, 2), so the quad is split along Mitsuba's diagonal
/// (tests/render_mitsuba.rs checks every triangle against Mitsuba's dump).
pub fn rectangle(to_world: &Transform, material: u32) -> [Triangle; 2] {
    let p = [(-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0), (1.0, 1.0)]
        .map(|(x, y)| to_world.point(Vec3::new(x, y, 0.0)));
    [
        Triangle::new(p[1], p[2], p[0], material),
        Triangle::new(p[1], p[3], p[2], material),
    ]
}

/// Mitsuba's `cube`: [-1, 1]^3 with outward normals, then `to_world`. Mitsuba builds it as a mesh of four
/// corners per face, each face split as (0, 1, 2), (3, 0, 2); these are its corners, in its order.
pub fn cube(to_world: &Transform, material: u32) -> Vec<Triangle> {
    const FACES: [[[f32; 3]; 4]; 6] = [
        [
            [1.0, -1.0, -1.0],
            [1.0, -1.0, 1.0],
            [-1.0, -1.0, 1.0],
            [-1.0, -1.0, -1.0],
        ], // -y
        [
            [1.0, 1.0, -1.0],
            [-1.0, 1.0, -1.0],
            [-1.0, 1.0, 1.0],
            [1.0, 1.0, 1.0],
        ], // +y
        [
            [1.0, -1.0, -1.0],
            [1.0, 1.0, -1.0],
            [1.0, 1.0, 1.0],
            [1.0, -1.0, 1.0],
        ], // +x
        [
            [1.0, -1.0, 1.0],
            [1.0, 1.0, 1.0],
            [-1.0, 1.0, 1.0],
            [-1.0, -1.0, 1.0],
        ], // +z
        [
            [-1.0, -1.0, 1.0],
            [-1.0, 1.0, 1.0],
            [-1.0, 1.0, -1.0],
            [-1.0, -1.0, -1.0],
        ], // -x
        [
            [1.0, 1.0, -1.0],
            [1.0, -1.0, -1.0],
            [-1.0, -1.0, -1.0],
            [-1.0, 1.0, -1.0],
        ], // -z
    ];
    FACES
        .iter()
        .flat_map(|face| {
            let p = face.map(|[x, y, z]| to_world.point(Vec3::new(x, y, z)));
            [
                Triangle::new(p[0], p[1], p[2], material),
                Triangle::new(p[3], p[0], p[2], material),
            ]
        })
        .collect()
}

/// An axis-aligned box from `min` to `max` with outward normals (walls of the door scene, boxes outdoors).
pub fn cuboid(min: Vec3, max: Vec3, material: u32) -> Vec<Triangle> {
    let c = (min + max) * 0.5;
    let h = (max - min) * 0.5;
    cube(&Transform::translate(c).then(Transform::scale(h)), material)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cube_normals_point_outward_and_cover_six_faces() {
        let tris = cube(&Transform::IDENTITY, 0);
        assert_eq!(tris.len(), 12);
        let total: f32 = tris.iter().map(Triangle::area).sum();
        assert!((total - 24.0).abs() < 1e-4, "area {total}");
        for t in &tris {
            let centre = t.point(1.0 / 3.0, 1.0 / 3.0);
            assert!(
                t.normal.dot(centre) > 0.3,
                "inward normal {:?} at {:?}",
                t.normal,
                centre
            );
        }
    }

    #[test]
    fn ray_hits_triangle_at_the_right_distance() {
        // Mitsuba's first triangle of the rectangle is the half below the diagonal x + y = 0.
        let [a, _] = rectangle(&Transform::IDENTITY, 0);
        let ray = Ray::new(Vec3::new(-0.5, -0.5, 2.0), Vec3::new(0.0, 0.0, -1.0));
        let (t, ..) = a.intersect(&ray, 0.0, f32::INFINITY).expect("hit");
        assert!((t - 2.0).abs() < 1e-6);
        let miss = Ray::new(Vec3::new(0.5, 0.5, 2.0), Vec3::new(0.0, 0.0, -1.0));
        assert!(a.intersect(&miss, 0.0, f32::INFINITY).is_none());
    }
}
