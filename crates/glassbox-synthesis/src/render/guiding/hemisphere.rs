//! The hemisphere cut into equal-area patches: `BANDS` bands of equal height in cos(theta) times `SECTORS`
//! sectors in phi (by Archimedes' hat-box theorem, equal height means equal area), each 2 pi / PATCHES sr.

use std::f32::consts::PI;

use crate::render::geometry::Vec3;

/// Bands in cos(theta) that split the hemisphere into patches of equal solid angle.
pub const BANDS: usize = 8;
/// Sectors in phi: a power of two from 8 to 64 ([`patch_of`] finds the sector by halving).
pub const SECTORS: usize = 16;
/// Patches per hemisphere: one Q value each.
pub const PATCHES: usize = BANDS * SECTORS;
/// The density (solid angle) of a direction drawn uniformly within one patch.
pub const PATCH_DENSITY: f32 = PATCHES as f32 / (2.0 * PI);

/// (cos, sin, tan) of 45, 22.5, 11.25 and 5.625 degrees: the halvings below a quarter turn.
const HALVINGS: [(f32, f32, f32); 4] = [
    (0.707_106_77, 0.707_106_77, 1.0),
    (0.923_879_5, 0.382_683_43, 0.414_213_57),
    (0.980_785_25, 0.195_090_32, 0.198_912_37),
    (0.995_184_7, 0.098_017_14, 0.098_491_4),
];

/// The patch a local direction (`z = cos(theta) > 0`) falls in. The sector comes from folding the direction
/// by half turns, quarter turns and then halvings (no arc tangent: this runs at every vertex of every guided
/// path).
#[inline]
pub fn patch_of(local: Vec3) -> usize {
    let band = ((local.z * BANDS as f32) as usize).min(BANDS - 1);
    let (mut x, mut y) = (local.x, local.y);
    let mut sector = 0;
    if y < 0.0 {
        (x, y) = (-x, -y);
        sector += SECTORS / 2;
    }
    if x <= 0.0 {
        (x, y) = (y, -x);
        sector += SECTORS / 4;
    }
    let levels = SECTORS.trailing_zeros() as usize - 2;
    for (level, &(c, s, t)) in HALVINGS.iter().enumerate().take(levels) {
        if y >= x * t {
            sector += SECTORS >> (level + 3);
            (x, y) = (x * c + y * s, y * c - x * s);
        }
    }
    band * SECTORS + sector
}

/// A direction uniformly distributed (in solid angle) within `patch`.
#[inline]
pub fn sample_in_patch(patch: usize, u: (f32, f32)) -> Vec3 {
    let (band, sector) = (patch / SECTORS, patch % SECTORS);
    let z = ((band as f32 + u.0) / BANDS as f32).min(1.0);
    let phi = 2.0 * PI * (sector as f32 + u.1) / SECTORS as f32;
    let r = (1.0 - z * z).max(0.0).sqrt();
    Vec3::new(r * phi.cos(), r * phi.sin(), z)
}

/// cos(theta) at a patch's centre: the cosine factor of the patch's product Q f cos.
pub fn centre_cosine(patch: usize) -> f32 {
    ((patch / SECTORS) as f32 + 0.5) / BANDS as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::sampler::Sampler;

    #[test]
    fn samples_stay_in_their_patch() {
        let mut s = Sampler::new(2, 0, 0);
        for patch in 0..PATCHES {
            for _ in 0..50 {
                let d = sample_in_patch(patch, s.next_2d());
                assert!((d.length() - 1.0).abs() < 1e-5);
                assert_eq!(patch_of(d), patch, "{d:?}");
            }
        }
    }

    /// Uniformly distributed directions land in every patch equally often: the patches have equal area.
    #[test]
    fn patches_have_equal_area() {
        let mut s = Sampler::new(4, 0, 0);
        let mut counts = vec![0usize; PATCHES];
        let n = 1_280_000;
        for _ in 0..n {
            let (u, v) = s.next_2d();
            let z = u;
            let r = (1.0 - z * z).sqrt();
            let phi = 2.0 * PI * v;
            counts[patch_of(Vec3::new(r * phi.cos(), r * phi.sin(), z))] += 1;
        }
        let expected = n as f64 / PATCHES as f64;
        for c in counts {
            assert!(
                (c as f64 - expected).abs() < 5.0 * expected.sqrt(),
                "{c} vs {expected}"
            );
        }
    }
}
