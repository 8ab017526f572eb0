//! Mitsuba's `perspective` sensor: a pinhole at `origin` looking at `target`, the field of view measured
//! along the image's smaller side (`fov_axis: smaller`), pixel (0, 0) at the top left.

use super::geometry::{Ray, Vec3};

/// Mitsuba's perspective sensor: a pinhole looking from an origin at a target, with a field of view.
#[derive(Debug, Clone)]
pub struct Camera {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    origin: Vec3,
    /// World directions of the image plane's axes at unit distance: `left` grows to the image's left.
    left: Vec3,
    up: Vec3,
    forward: Vec3,
    /// Half-extents of the image plane at unit distance.
    half_x: f32,
    half_y: f32,
}

impl Camera {
    /// Mitsuba's `look_at`: `left = normalize(up x dir)`, `up' = dir x left`.
    pub fn look_at(
        origin: Vec3,
        target: Vec3,
        up: Vec3,
        fov_degrees: f32,
        width: u32,
        height: u32,
    ) -> Camera {
        let forward = (target - origin).normalize();
        let left = up.cross(forward).normalize();
        let up = forward.cross(left);
        let (half_x, half_y) = half_extents((0.5 * fov_degrees.to_radians()).tan(), width, height);
        Camera {
            width,
            height,
            origin,
            left,
            up,
            forward,
            half_x,
            half_y,
        }
    }

    /// The same camera with another image size (the field of view stays on the smaller side).
    pub fn resized(&self, width: u32, height: u32) -> Camera {
        let (half_x, half_y) = half_extents(self.half_x.min(self.half_y), width, height);
        Camera {
            width,
            height,
            half_x,
            half_y,
            ..self.clone()
        }
    }

    /// The ray through the film position `(x, y)` in pixels, y downwards.
    pub fn ray(&self, x: f32, y: f32) -> Ray {
        let sx = 1.0 - 2.0 * x / self.width as f32;
        let sy = 1.0 - 2.0 * y / self.height as f32;
        let d = self.left * (sx * self.half_x) + self.up * (sy * self.half_y) + self.forward;
        Ray::new(self.origin, d.normalize())
    }
}

/// The image plane's half-extents at unit distance: `tan_half` on the smaller side, stretched on the larger.
fn half_extents(tan_half: f32, width: u32, height: u32) -> (f32, f32) {
    let (w, h) = (width as f32, height as f32);
    if w <= h {
        (tan_half, tan_half * h / w)
    } else {
        (tan_half * w / h, tan_half)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_left_is_world_minus_x_for_the_cornell_camera() {
        let cam = crate::render::scenes::cornell_box().camera;
        let centre = cam.ray(128.0, 128.0);
        assert!((centre.direction - Vec3::new(0.0, 0.0, -1.0)).length() < 1e-6);
        let left_edge = cam.ray(0.0, 128.0).direction;
        assert!(left_edge.x < 0.0 && left_edge.y.abs() < 1e-6);
        let top = cam.ray(128.0, 0.0).direction;
        assert!(top.y > 0.0);
        // The field of view spans the image's side.
        let angle = left_edge
            .dot(cam.ray(256.0, 128.0).direction)
            .acos()
            .to_degrees();
        assert!((angle - 39.3077).abs() < 1e-3, "{angle}");
    }
}
