//! Vectors, rays, bounding boxes and local shading frames: the renderer's geometry in `f32`, as Mitsuba's
//! `scalar_rgb` variant works in single precision.

use std::ops::{Add, AddAssign, Div, Index, Mul, MulAssign, Neg, Sub};

/// A point, a direction or an RGB triple (the renderer's spectra are linear sRGB, as in Mitsuba's `rgb` variants).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Vec3 {
    /// The first coordinate (red).
    pub x: f32,
    /// The second coordinate (green).
    pub y: f32,
    /// The third coordinate (blue).
    pub z: f32,
}

/// Linear sRGB radiance, reflectance or throughput.
pub type Rgb = Vec3;

impl Vec3 {
    /// All zeros (black).
    pub const ZERO: Vec3 = Vec3::new(0.0, 0.0, 0.0);
    /// All ones (white).
    pub const ONE: Vec3 = Vec3::new(1.0, 1.0, 1.0);

    /// The vector (x, y, z).
    pub const fn new(x: f32, y: f32, z: f32) -> Self {
        Self { x, y, z }
    }

    /// `v` in every coordinate.
    pub const fn splat(v: f32) -> Self {
        Self::new(v, v, v)
    }

    /// The dot product.
    pub fn dot(self, o: Vec3) -> f32 {
        self.x * o.x + self.y * o.y + self.z * o.z
    }

    /// The cross product.
    pub fn cross(self, o: Vec3) -> Vec3 {
        Vec3::new(
            self.y * o.z - self.z * o.y,
            self.z * o.x - self.x * o.z,
            self.x * o.y - self.y * o.x,
        )
    }

    /// The Euclidean length.
    pub fn length(self) -> f32 {
        self.dot(self).sqrt()
    }

    /// The same direction at length 1.
    pub fn normalize(self) -> Vec3 {
        self / self.length()
    }

    /// Component-wise product (reflectance times radiance).
    pub fn times(self, o: Vec3) -> Vec3 {
        Vec3::new(self.x * o.x, self.y * o.y, self.z * o.z)
    }

    /// The smaller of each coordinate.
    pub fn min(self, o: Vec3) -> Vec3 {
        Vec3::new(self.x.min(o.x), self.y.min(o.y), self.z.min(o.z))
    }

    /// The larger of each coordinate.
    pub fn max(self, o: Vec3) -> Vec3 {
        Vec3::new(self.x.max(o.x), self.y.max(o.y), self.z.max(o.z))
    }

    /// The largest coordinate.
    pub fn max_component(self) -> f32 {
        self.x.max(self.y).max(self.z)
    }

    /// The mean of the three channels: the scalar the Q table learns and Russian roulette reads.
    pub fn average(self) -> f32 {
        (self.x + self.y + self.z) / 3.0
    }

    /// Rec. 709 luminance.
    pub fn luminance(self) -> f32 {
        0.212_671 * self.x + 0.715_160 * self.y + 0.072_169 * self.z
    }

    /// Whether every channel is 0.
    pub fn is_black(self) -> bool {
        self.x == 0.0 && self.y == 0.0 && self.z == 0.0
    }

    /// Whether every coordinate is finite.
    pub fn is_finite(self) -> bool {
        self.x.is_finite() && self.y.is_finite() && self.z.is_finite()
    }

    /// The index (0, 1, 2) of the largest component.
    pub fn max_axis(self) -> usize {
        if self.x > self.y && self.x > self.z {
            0
        } else if self.y > self.z {
            1
        } else {
            2
        }
    }
}

impl Index<usize> for Vec3 {
    type Output = f32;
    fn index(&self, i: usize) -> &f32 {
        match i {
            0 => &self.x,
            1 => &self.y,
            _ => &self.z,
        }
    }
}

impl Add for Vec3 {
    type Output = Vec3;
    fn add(self, o: Vec3) -> Vec3 {
        Vec3::new(self.x + o.x, self.y + o.y, self.z + o.z)
    }
}

impl AddAssign for Vec3 {
    fn add_assign(&mut self, o: Vec3) {
        *self = *self + o;
    }
}

impl Sub for Vec3 {
    type Output = Vec3;
    fn sub(self, o: Vec3) -> Vec3 {
        Vec3::new(self.x - o.x, self.y - o.y, self.z - o.z)
    }
}

impl Neg for Vec3 {
    type Output = Vec3;
    fn neg(self) -> Vec3 {
        Vec3::new(-self.x, -self.y, -self.z)
    }
}

impl Mul<f32> for Vec3 {
    type Output = Vec3;
    fn mul(self, s: f32) -> Vec3 {
        Vec3::new(self.x * s, self.y * s, self.z * s)
    }
}

impl Mul<Vec3> for f32 {
    type Output = Vec3;
    fn mul(self, v: Vec3) -> Vec3 {
        v * self
    }
}

impl MulAssign<f32> for Vec3 {
    fn mul_assign(&mut self, s: f32) {
        *self = *self * s;
    }
}

impl Div<f32> for Vec3 {
    type Output = Vec3;
    fn div(self, s: f32) -> Vec3 {
        self * (1.0 / s)
    }
}

/// A ray `origin + t * direction` for `t` in `(0, t_max)`.
#[derive(Debug, Clone, Copy)]
pub struct Ray {
    /// Where the ray starts.
    pub origin: Vec3,
    /// The direction it travels.
    pub direction: Vec3,
}

impl Ray {
    /// A ray from `origin` along `direction`.
    pub fn new(origin: Vec3, direction: Vec3) -> Self {
        Self { origin, direction }
    }

    /// The point at parameter `t`.
    pub fn at(&self, t: f32) -> Vec3 {
        self.origin + self.direction * t
    }
}

/// An axis-aligned box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aabb {
    /// The lower corner.
    pub min: Vec3,
    /// The upper corner.
    pub max: Vec3,
}

impl Aabb {
    /// The box around nothing: growing it by a point gives that point.
    pub const EMPTY: Aabb = Aabb {
        min: Vec3::splat(f32::INFINITY),
        max: Vec3::splat(f32::NEG_INFINITY),
    };

    /// The smallest box holding this one and `p`.
    pub fn grow(self, p: Vec3) -> Aabb {
        Aabb {
            min: self.min.min(p),
            max: self.max.max(p),
        }
    }

    /// The smallest box holding both.
    pub fn union(self, o: Aabb) -> Aabb {
        Aabb {
            min: self.min.min(o.min),
            max: self.max.max(o.max),
        }
    }

    /// The side lengths.
    pub fn extent(&self) -> Vec3 {
        self.max - self.min
    }

    /// The centre.
    pub fn centroid(&self) -> Vec3 {
        (self.min + self.max) * 0.5
    }

    /// Half the surface area, the SAH's cost weight (the factor 2 cancels).
    pub fn half_area(&self) -> f32 {
        let e = self.extent();
        if e.x < 0.0 {
            return 0.0;
        }
        e.x * e.y + e.y * e.z + e.z * e.x
    }
}

/// An orthonormal frame around a normal: directions in local coordinates have `z = cos(theta)`.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    /// The first tangent.
    pub s: Vec3,
    /// The second tangent.
    pub t: Vec3,
    /// The normal (local z).
    pub n: Vec3,
}

impl Frame {
    /// Duff et al., "Building an orthonormal basis, revisited" (JCGT 2017): branch-light and continuous
    /// except at one point, so nearby points with the same normal get the same frame (the Q table's patches
    /// rely on that).
    pub fn from_normal(n: Vec3) -> Frame {
        let sign = 1.0f32.copysign(n.z);
        let a = -1.0 / (sign + n.z);
        let b = n.x * n.y * a;
        let s = Vec3::new(1.0 + sign * n.x * n.x * a, sign * b, -sign * n.x);
        let t = Vec3::new(b, sign + n.y * n.y * a, -n.y);
        Frame { s, t, n }
    }

    /// A world direction in the frame's coordinates.
    pub fn to_local(&self, v: Vec3) -> Vec3 {
        Vec3::new(v.dot(self.s), v.dot(self.t), v.dot(self.n))
    }

    /// A direction in the frame's coordinates back in the world.
    pub fn to_world(&self, v: Vec3) -> Vec3 {
        self.s * v.x + self.t * v.y + self.n * v.z
    }
}

/// A 3x4 affine transform (row-major), as scene files and Mitsuba's `to_world` give them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transform {
    /// Rows of the 3x4 matrix.
    pub m: [[f32; 4]; 3],
}

impl Transform {
    /// The transform that changes nothing.
    pub const IDENTITY: Transform = Transform {
        m: [
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
        ],
    };

    /// A translation by `v`.
    pub fn translate(v: Vec3) -> Transform {
        let mut t = Self::IDENTITY;
        t.m[0][3] = v.x;
        t.m[1][3] = v.y;
        t.m[2][3] = v.z;
        t
    }

    /// A scaling by `v` along the axes.
    pub fn scale(v: Vec3) -> Transform {
        Transform {
            m: [
                [v.x, 0.0, 0.0, 0.0],
                [0.0, v.y, 0.0, 0.0],
                [0.0, 0.0, v.z, 0.0],
            ],
        }
    }

    /// A rotation by `degrees` about `axis`, counter-clockwise looking down the axis (Mitsuba's `rotate`).
    pub fn rotate(axis: Vec3, degrees: f32) -> Transform {
        let a = axis.normalize();
        let (s, c) = degrees.to_radians().sin_cos();
        let k = 1.0 - c;
        Transform {
            m: [
                [
                    a.x * a.x * k + c,
                    a.x * a.y * k - a.z * s,
                    a.x * a.z * k + a.y * s,
                    0.0,
                ],
                [
                    a.y * a.x * k + a.z * s,
                    a.y * a.y * k + c,
                    a.y * a.z * k - a.x * s,
                    0.0,
                ],
                [
                    a.z * a.x * k - a.y * s,
                    a.z * a.y * k + a.x * s,
                    a.z * a.z * k + c,
                    0.0,
                ],
            ],
        }
    }

    /// `self` after `other`: `(self * other)(p) = self(other(p))`, so `translate * rotate * scale` scales first.
    pub fn then(self, other: Transform) -> Transform {
        let mut r = [[0.0f32; 4]; 3];
        for (i, row) in r.iter_mut().enumerate() {
            for (j, value) in row.iter_mut().enumerate() {
                let mut sum = if j == 3 { self.m[i][3] } else { 0.0 };
                for k in 0..3 {
                    sum += self.m[i][k] * other.m[k][j];
                }
                *value = sum;
            }
        }
        Transform { m: r }
    }

    /// A point transformed (translation included).
    pub fn point(&self, p: Vec3) -> Vec3 {
        let m = &self.m;
        Vec3::new(
            m[0][0] * p.x + m[0][1] * p.y + m[0][2] * p.z + m[0][3],
            m[1][0] * p.x + m[1][1] * p.y + m[1][2] * p.z + m[1][3],
            m[2][0] * p.x + m[2][1] * p.y + m[2][2] * p.z + m[2][3],
        )
    }

    /// A direction transformed (translation left out).
    pub fn vector(&self, v: Vec3) -> Vec3 {
        let m = &self.m;
        Vec3::new(
            m[0][0] * v.x + m[0][1] * v.y + m[0][2] * v.z,
            m[1][0] * v.x + m[1][1] * v.y + m[1][2] * v.z,
            m[2][0] * v.x + m[2][1] * v.y + m[2][2] * v.z,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_is_orthonormal_and_round_trips() {
        for n in [
            Vec3::new(0.0, 0.0, -1.0),
            Vec3::new(0.3, -0.8, 0.1).normalize(),
            Vec3::new(0.0, 1.0, 0.0),
        ] {
            let f = Frame::from_normal(n);
            assert!((f.s.dot(f.t)).abs() < 1e-6 && (f.s.dot(f.n)).abs() < 1e-6);
            assert!((f.s.length() - 1.0).abs() < 1e-6 && (f.t.length() - 1.0).abs() < 1e-6);
            let v = Vec3::new(0.2, -0.5, 0.7);
            let back = f.to_world(f.to_local(v));
            assert!((back - v).length() < 1e-6, "{back:?}");
            assert!((f.to_local(n).z - 1.0).abs() < 1e-6);
        }
    }

    #[test]
    fn rotation_about_x_by_90_turns_z_to_minus_y() {
        // Mitsuba's light: rotate([1, 0, 0], 90) turns the rectangle's +z normal to point down.
        let r = Transform::rotate(Vec3::new(1.0, 0.0, 0.0), 90.0);
        let v = r.vector(Vec3::new(0.0, 0.0, 1.0));
        assert!((v - Vec3::new(0.0, -1.0, 0.0)).length() < 1e-6, "{v:?}");
        let t =
            Transform::translate(Vec3::new(1.0, 2.0, 3.0)).then(Transform::scale(Vec3::splat(2.0)));
        assert_eq!(t.point(Vec3::ONE), Vec3::new(3.0, 4.0, 5.0));
    }
}
