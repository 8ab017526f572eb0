//! Colour maps for heat maps and feature maps, and how values are mapped onto them.
//!
//! Viridis and inferno are matplotlib's 256-entry tables sampled at 33 control points (entries 0, 8, ...,
//! 248 and 255) and interpolated linearly: every entry of the original tables is reproduced within 2/255.
//! The diverging map runs through ColorBrewer's RdBu (reversed: blue for negative, red for positive) with
//! pure white in the middle, so that with [`Scale::Symmetric`] zero is white.

use image::Rgb;

use crate::{Error, Result};

/// A map from `t` in `0..=1` to a colour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Colormap {
    /// Black to white.
    Gray,
    /// Dark blue through green to yellow; perceptually uniform, the default for unsigned values.
    #[default]
    Viridis,
    /// Black through purple and orange to pale yellow; perceptually uniform.
    Inferno,
    /// Dark blue, white at 0.5, dark red: for signed values (weights, gradients, differences).
    BlueWhiteRed,
}

/// matplotlib's viridis, entries 0, 8, 16, ..., 248, 255 of the 256-entry table, rounded to 8 bits.
#[rustfmt::skip]
const VIRIDIS: [[u8; 3]; 33] = [
    [68, 1, 84], [71, 13, 96], [72, 24, 106], [72, 35, 116],
    [71, 45, 123], [69, 55, 129], [66, 64, 134], [62, 73, 137],
    [59, 82, 139], [55, 91, 141], [51, 99, 141], [47, 107, 142],
    [44, 114, 142], [41, 122, 142], [38, 130, 142], [35, 137, 142],
    [33, 145, 140], [31, 152, 139], [31, 160, 136], [34, 167, 133],
    [40, 174, 128], [50, 182, 122], [63, 188, 115], [78, 195, 107],
    [94, 201, 98], [112, 207, 87], [132, 212, 75], [152, 216, 62],
    [173, 220, 48], [194, 223, 35], [216, 226, 25], [236, 229, 27],
    [253, 231, 37],
];

/// matplotlib's inferno, sampled like [`VIRIDIS`].
#[rustfmt::skip]
const INFERNO: [[u8; 3]; 33] = [
    [0, 0, 4], [4, 3, 18], [11, 7, 36], [21, 11, 55],
    [33, 12, 74], [47, 10, 91], [61, 9, 101], [74, 12, 107],
    [87, 16, 110], [100, 21, 110], [113, 25, 110], [125, 30, 109],
    [138, 34, 106], [151, 39, 102], [163, 44, 97], [176, 49, 91],
    [188, 55, 84], [199, 62, 76], [210, 70, 68], [219, 80, 59],
    [228, 90, 49], [235, 102, 40], [241, 115, 29], [246, 128, 19],
    [249, 142, 9], [251, 157, 7], [252, 172, 17], [251, 188, 33],
    [249, 203, 53], [245, 219, 76], [242, 234, 105], [243, 246, 138],
    [252, 255, 164],
];

/// ColorBrewer RdBu (11 classes) reversed, with a pure white centre; evenly spaced.
#[rustfmt::skip]
const BLUE_WHITE_RED: [[u8; 3]; 11] = [
    [5, 48, 97], [33, 102, 172], [67, 147, 195], [146, 197, 222], [209, 229, 240],
    [255, 255, 255],
    [253, 219, 199], [244, 165, 130], [214, 96, 77], [178, 24, 43], [103, 0, 31],
];

fn mix(a: [u8; 3], b: [u8; 3], f: f32) -> Rgb<u8> {
    let channel = |i: usize| (a[i] as f32 + (b[i] as f32 - a[i] as f32) * f).round() as u8;
    Rgb([channel(0), channel(1), channel(2)])
}

/// Linear interpolation between evenly spaced control points.
fn even(points: &[[u8; 3]], t: f32) -> Rgb<u8> {
    let x = t * (points.len() - 1) as f32;
    let i = (x.floor() as usize).min(points.len() - 2);
    mix(points[i], points[i + 1], x - i as f32)
}

/// Linear interpolation between the 33 samples (at table entries 0, 8, ..., 248, 255) of a 256-entry table.
fn sampled256(points: &[[u8; 3]; 33], t: f32) -> Rgb<u8> {
    let entry = t * 255.0;
    let i = ((entry / 8.0).floor() as usize).min(31);
    let (lo, hi) = (8 * i, if i == 31 { 255 } else { 8 * i + 8 });
    mix(
        points[i],
        points[i + 1],
        (entry - lo as f32) / (hi - lo) as f32,
    )
}

impl Colormap {
    /// The colour of `t`, clamped to `0..=1`; NaN is treated as 0.
    pub fn color(self, t: f32) -> Rgb<u8> {
        let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
        match self {
            Colormap::Gray => {
                let v = (t * 255.0).round() as u8;
                Rgb([v, v, v])
            }
            Colormap::Viridis => sampled256(&VIRIDIS, t),
            Colormap::Inferno => sampled256(&INFERNO, t),
            Colormap::BlueWhiteRed => even(&BLUE_WHITE_RED, t),
        }
    }
}

/// How values are mapped to `0..=1` before colouring.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Scale {
    /// The smallest value to 0, the largest to 1 (a constant map is all 0).
    #[default]
    MinMax,
    /// `-m` to 0, 0 to 0.5 and `m` to 1, where `m` is the largest absolute value (an all-zero map is all
    /// 0.5). Pair it with [`Colormap::BlueWhiteRed`].
    Symmetric,
    /// `lo` to 0, `hi` to 1, values outside clamped; the same colours across several maps.
    Fixed(f32, f32),
}

impl Scale {
    /// A function from value to `0..=1` for these values. Non-finite values are ignored when finding the
    /// range, and are drawn as 0 (NaN) or clamped (infinities).
    pub fn mapper(self, values: &[f32]) -> Result<impl Fn(f32) -> f32> {
        let finite = values.iter().copied().filter(|v| v.is_finite());
        let (lo, hi, degenerate) = match self {
            Scale::MinMax => {
                let (lo, hi) = finite.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
                    (lo.min(v), hi.max(v))
                });
                (lo, hi, 0.0)
            }
            Scale::Symmetric => {
                let m = finite.fold(0.0f32, |m, v| m.max(v.abs()));
                (-m, m, 0.5)
            }
            Scale::Fixed(lo, hi) => {
                if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                    return Err(Error::invalid(
                        "colour scale",
                        format!("Fixed({lo}, {hi})"),
                        "finite bounds with lo < hi",
                    ));
                }
                (lo, hi, 0.0)
            }
        };
        let span = hi - lo;
        Ok(move |v: f32| {
            if !(span > 0.0 && span.is_finite()) {
                degenerate
            } else if v.is_nan() {
                0.0
            } else {
                ((v - lo) / span).clamp(0.0, 1.0)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_match_the_reference_tables() {
        assert_eq!(Colormap::Viridis.color(0.0), Rgb([68, 1, 84]));
        assert_eq!(Colormap::Viridis.color(1.0), Rgb([253, 231, 37]));
        assert_eq!(Colormap::Inferno.color(0.0), Rgb([0, 0, 4]));
        assert_eq!(Colormap::Inferno.color(1.0), Rgb([252, 255, 164]));
        // matplotlib viridis entry 128 is (0.127568, 0.566949, 0.550556): (33, 145, 140).
        assert_eq!(Colormap::Viridis.color(128.0 / 255.0), Rgb([33, 145, 140]));
        // Entry 100 of inferno is (0.565854, 0.143567, 0.408258): (144, 37, 104); interpolated within 2.
        let Rgb(c) = Colormap::Inferno.color(100.0 / 255.0);
        for (a, b) in c.iter().zip([144u8, 37, 104]) {
            assert!(a.abs_diff(b) <= 2, "{c:?}");
        }
        assert_eq!(Colormap::Gray.color(0.5), Rgb([128, 128, 128]));
        assert_eq!(Colormap::BlueWhiteRed.color(0.5), Rgb([255, 255, 255]));
        assert_eq!(Colormap::BlueWhiteRed.color(0.0), Rgb([5, 48, 97]));
        assert_eq!(Colormap::BlueWhiteRed.color(1.0), Rgb([103, 0, 31]));
        assert_eq!(Colormap::Gray.color(f32::NAN), Rgb([0, 0, 0]));
        assert_eq!(Colormap::Gray.color(7.0), Rgb([255, 255, 255]));
    }

    #[test]
    fn viridis_luminance_increases() {
        let luma = |Rgb([r, g, b]): Rgb<u8>| 0.299 * r as f32 + 0.587 * g as f32 + 0.114 * b as f32;
        let mut last = -1.0;
        for i in 0..=100 {
            let l = luma(Colormap::Viridis.color(i as f32 / 100.0));
            assert!(l > last, "step {i}");
            last = l;
        }
    }

    #[test]
    fn scales() {
        let v = [-2.0, 0.0, 1.0, f32::NAN];
        let f = Scale::MinMax.mapper(&v).unwrap();
        assert_eq!(
            [f(-2.0), f(0.0), f(1.0), f(f32::NAN)],
            [0.0, 2.0 / 3.0, 1.0, 0.0]
        );
        let f = Scale::Symmetric.mapper(&v).unwrap();
        assert_eq!([f(-2.0), f(0.0), f(1.0)], [0.0, 0.5, 0.75]);
        let f = Scale::Fixed(0.0, 4.0).mapper(&v).unwrap();
        assert_eq!([f(-2.0), f(1.0), f(9.0)], [0.0, 0.25, 1.0]);
        assert!(Scale::Fixed(1.0, 1.0).mapper(&v).is_err());
        // Degenerate ranges.
        let f = Scale::MinMax.mapper(&[3.0, 3.0]).unwrap();
        assert_eq!(f(3.0), 0.0);
        let f = Scale::Symmetric.mapper(&[0.0, 0.0]).unwrap();
        assert_eq!(f(0.0), 0.5);
        let f = Scale::MinMax.mapper(&[]).unwrap();
        assert_eq!(f(1.0), 0.0);
    }
}
