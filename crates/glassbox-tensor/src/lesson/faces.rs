//! The face detector: a three-layer hierarchy of hand-designed 3x3 filters on 12x12 binary masks.
//!
//! - **Layer 1** looks at the mask, coded as +1 (ink, `#`) and -1 (background, `.`), with one ring of
//!   background around it, through five 3x3 filters (weights +1 where ink is expected, -1 where background
//!   is expected, 0 where it does not matter): Horizontal (the top of a horizontal bar), Vertical (the top
//!   end of a vertical stroke), Black (empty 3x3), Left diagonal and Right diagonal (the two shoulders of a
//!   peak). Then a 2x downsampling: the maximum over non-overlapping 2x2 blocks, 12x12 to 6x6.
//! - **Layer 2** looks at those five maps (zero padding, "same") through three filters: Eye (a Horizontal
//!   with no Vertical or diagonal at the same place), Nose (a Left diagonal with a Right diagonal just to
//!   its right) and Mouth (two Vertical stroke ends side by side, no Horizontal), then the same 2x
//!   downsampling, 6x6 to 3x3.
//! - **Layer 3** looks at the three 3x3 maps with two filters (valid, one output each): Forward (eyes at
//!   (0, 0) and (0, 2), nose at (1, 1), mouth at (2, 1)) and Profile (eye, nose and mouth down the right
//!   column); +1 where a part is expected, -1 on every other cell of every part map.
//!
//! Every unit of layers 1 and 2 **fires** (outputs 1, else 0) only when its response reaches its largest
//! possible value: a bias of `1 - max` then a ReLU, where `max` is the sum of the absolute weights in layer
//! 1 (inputs are +-1) and of the positive weights in layer 2 (inputs are 0 or 1). Responses are integers,
//! so the output is exactly 0 or 1.
//!
//! A face is **found** when the layer-3 response equals its largest possible value (4 for Forward, 3 for
//! Profile): every expected part is present at its place and no part is anywhere else.
//!
//! Why 2x and not the course's 3x downsampling: the 12x12 face is a 3x3 arrangement of 4x4 blocks (eyes,
//! nose, mouth), and layer 3 needs 3x3 maps; 12 / 3 / 3 is not a whole number, 12 / 2 / 2 = 3 is.

use candle_core::{DType, Device, Tensor};
use glassbox_core::imaging::{grid, heatmap, side_by_side, upscale, Colormap, Scale};
use glassbox_core::seed::Seed;
use image::{Rgb, RgbImage};
use rand::Rng;
use serde::Serialize;

use crate::conv::apply::{convolve_filters, max_pool};
use crate::conv::filters::Filter;
use crate::conv::Padding;
use crate::{Error, Result};

/// The course's face mask (`#` = 1).
pub const FACE: [&str; 12] = [
    "####....####",
    "............",
    "####....####",
    "####....####",
    "............",
    ".....##.....",
    "....####....",
    "............",
    "............",
    "....#..#....",
    "....####....",
    "............",
];

/// A face in profile: eye, nose and mouth down the right column of 4x4 blocks.
pub const PROFILE: [&str; 12] = [
    "........####",
    "............",
    "........####",
    "........####",
    "............",
    ".........##.",
    "........####",
    "............",
    "............",
    "........#..#",
    "........####",
    "............",
];

/// The course's face without its left eye.
pub const MISSING_EYE: [&str; 12] = [
    "........####",
    "............",
    "........####",
    "........####",
    "............",
    ".....##.....",
    "....####....",
    "............",
    "............",
    "....#..#....",
    "....####....",
    "............",
];

/// The layer-1 filters' names: the strokes faces are drawn with.
pub const LAYER1_NAMES: [&str; 5] = [
    "Horizontal",
    "Vertical",
    "Black",
    "Left diagonal",
    "Right diagonal",
];
/// The layer-2 filters' names: the parts of a face.
pub const LAYER2_NAMES: [&str; 3] = ["Eye", "Nose", "Mouth"];
/// The layer-3 filters' names: the two faces.
pub const LAYER3_NAMES: [&str; 2] = ["Forward", "Profile"];

/// A `(1, 12, 12)` mask of 0 and 1 from 12 rows of `#` (1) and `.` (0).
pub fn mask(rows: &[&str]) -> Result<Tensor> {
    let ok = rows.len() == 12
        && rows
            .iter()
            .all(|r| r.len() == 12 && r.chars().all(|c| c == '#' || c == '.'));
    if !ok {
        return Err(Error::shape(
            "face mask",
            &[rows.len(), rows.first().map_or(0, |r| r.len())],
            "12 rows of 12 characters, '#' or '.'",
        ));
    }
    let v: Vec<f32> = rows
        .iter()
        .flat_map(|r| r.chars().map(|c| if c == '#' { 1.0 } else { 0.0 }))
        .collect();
    Ok(Tensor::from_vec(v, (1, 12, 12), &Device::Cpu)?)
}

/// A random `(1, 12, 12)` mask, each pixel ink with probability 1/2, from the seed's `conv/faces/random`
/// stream.
pub fn random_mask(seed: Seed) -> Result<Tensor> {
    let mut rng = seed.stream("conv/faces/random");
    let v: Vec<f32> = (0..144)
        .map(|_| if rng.random_bool(0.5) { 1.0 } else { 0.0 })
        .collect();
    Ok(Tensor::from_vec(v, (1, 12, 12), &Device::Cpu)?)
}

fn one(name: &str, rows: [[f32; 3]; 3]) -> Filter {
    Filter::from_rows(name, &rows)
}

/// The five layer-1 filters, one channel each.
pub fn layer1_filters() -> Vec<Filter> {
    let n = -1.0;
    vec![
        one(
            LAYER1_NAMES[0],
            [[n, n, n], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]],
        ),
        one(
            LAYER1_NAMES[1],
            [[0.0, n, 0.0], [n, 1.0, n], [0.0, 1.0, 0.0]],
        ),
        one(LAYER1_NAMES[2], [[n; 3]; 3]),
        one(LAYER1_NAMES[3], [[n, n, n], [n, 1.0, 1.0], [1.0, 1.0, 1.0]]),
        one(LAYER1_NAMES[4], [[n, n, n], [1.0, 1.0, n], [1.0, 1.0, 1.0]]),
    ]
}

/// A filter over several maps from `(channel, row, column, weight)` entries (all else 0).
fn sparse(name: &str, channels: usize, entries: &[(usize, usize, usize, f32)]) -> Filter {
    let mut w = vec![0f32; channels * 9];
    for &(c, r, col, v) in entries {
        w[c * 9 + r * 3 + col] = v;
    }
    Filter::new(name, channels, 3, 3, w).expect("sized")
}

/// The three layer-2 filters over the five layer-1 maps (channels in [`LAYER1_NAMES`] order).
pub fn layer2_filters() -> Vec<Filter> {
    let (h, v, l, r) = (0, 1, 3, 4);
    vec![
        sparse(
            LAYER2_NAMES[0],
            5,
            &[
                (h, 1, 1, 1.0),
                (v, 1, 1, -1.0),
                (l, 1, 1, -1.0),
                (r, 1, 1, -1.0),
            ],
        ),
        sparse(
            LAYER2_NAMES[1],
            5,
            &[
                (l, 1, 1, 1.0),
                (r, 1, 2, 1.0),
                (h, 1, 1, -1.0),
                (v, 1, 1, -1.0),
            ],
        ),
        sparse(
            LAYER2_NAMES[2],
            5,
            &[
                (v, 1, 1, 1.0),
                (v, 1, 2, 1.0),
                (h, 1, 1, -1.0),
                (l, 1, 1, -1.0),
            ],
        ),
    ]
}

/// A layer-3 filter: +1 at the expected cell of each part map, -1 on every other cell of every part map.
fn arrangement(name: &str, parts: &[(usize, usize, usize)]) -> Filter {
    let mut w = vec![-1f32; 3 * 9];
    for &(c, r, col) in parts {
        w[c * 9 + r * 3 + col] = 1.0;
    }
    Filter::new(name, 3, 3, 3, w).expect("sized")
}

/// The two layer-3 filters over the three layer-2 maps (Eye, Nose, Mouth).
pub fn layer3_filters() -> Vec<Filter> {
    vec![
        arrangement(
            LAYER3_NAMES[0],
            &[(0, 0, 0), (0, 0, 2), (1, 1, 1), (2, 2, 1)],
        ),
        arrangement(LAYER3_NAMES[1], &[(0, 0, 2), (1, 1, 2), (2, 2, 2)]),
    ]
}

/// Bias `1 - max` then ReLU, per filter: 1 where the response reaches `max`, 0 below (integer responses).
fn fire(responses: &Tensor, maxes: &[f32]) -> Result<Tensor> {
    let bias = Tensor::from_vec(
        maxes.iter().map(|m| 1.0 - m).collect::<Vec<f32>>(),
        (maxes.len(), 1, 1),
        responses.device(),
    )?;
    Ok(responses.broadcast_add(&bias)?.relu()?.clamp(0f32, 1f32)?)
}

fn abs_sum(f: &Filter) -> f32 {
    f.weights.iter().map(|w| w.abs()).sum()
}

/// Every intermediate map of the detector on one mask, and its verdict.
#[derive(Clone, Debug)]
pub struct FaceMaps {
    /// `(1, 12, 12)`, 0 or 1.
    pub mask: Tensor,
    /// `(5, 12, 12)` layer-1 outputs (0 or 1).
    pub layer1: Tensor,
    /// `(5, 6, 6)` after the 2x2 maximum.
    pub pooled1: Tensor,
    /// `(3, 6, 6)` layer-2 outputs.
    pub layer2: Tensor,
    /// `(3, 3, 3)` after the 2x2 maximum.
    pub pooled2: Tensor,
    /// The layer-3 responses (Forward, Profile).
    pub scores: Vec<f32>,
    /// The largest possible layer-3 responses (4, 3).
    pub max_scores: Vec<f32>,
}

/// The verdict, for metrics.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// The forward face's layer-3 response.
    pub forward_score: f32,
    /// Its largest possible value.
    pub forward_max: f32,
    /// Whether the response reaches it: a forward face was found.
    pub forward: bool,
    /// The profile's layer-3 response.
    pub profile_score: f32,
    /// Its largest possible value.
    pub profile_max: f32,
    /// Whether the response reaches it: a profile was found.
    pub profile: bool,
}

impl FaceMaps {
    /// Found: the response equals its largest possible value.
    pub fn found(&self, which: usize) -> bool {
        self.scores[which] >= self.max_scores[which] - 0.5
    }

    /// The numbers and verdicts of both faces.
    pub fn verdict(&self) -> Verdict {
        Verdict {
            forward_score: self.scores[0],
            forward_max: self.max_scores[0],
            forward: self.found(0),
            profile_score: self.scores[1],
            profile_max: self.max_scores[1],
            profile: self.found(1),
        }
    }
}

/// Runs the three layers on a `(1, 12, 12)` mask of 0 and 1; each layer is one batched convolution.
pub fn detect(mask: &Tensor) -> Result<FaceMaps> {
    if mask.dims() != [1, 12, 12] {
        return Err(Error::shape("face mask", mask.dims(), "(1, 12, 12)"));
    }
    let mask = mask.to_dtype(DType::F32)?;
    // One ring of background, then ink +1 / background -1.
    let signed = mask
        .pad_with_zeros(1, 1, 1)?
        .pad_with_zeros(2, 1, 1)?
        .affine(2.0, -1.0)?;
    let f1 = layer1_filters();
    let r1 = convolve_filters(&signed, &f1, Padding::Valid)?;
    let layer1 = fire(&r1, &f1.iter().map(abs_sum).collect::<Vec<_>>())?;
    let pooled1 = max_pool(&layer1, 2)?;
    let f2 = layer2_filters();
    let r2 = convolve_filters(&pooled1, &f2, Padding::Same)?;
    let layer2 = fire(
        &r2,
        &f2.iter().map(Filter::max_response).collect::<Vec<_>>(),
    )?;
    let pooled2 = max_pool(&layer2, 2)?;
    let f3 = layer3_filters();
    let scores = convolve_filters(&pooled2, &f3, Padding::Valid)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    Ok(FaceMaps {
        mask,
        layer1,
        pooled1,
        layer2,
        pooled2,
        scores,
        max_scores: f3.iter().map(Filter::max_response).collect(),
    })
}

/// A binary map drawn white on black, cells `cell` pixels wide, with a thin gray frame.
fn binary_panel(map: &Tensor, cell: u32) -> Result<RgbImage> {
    let img = upscale(&heatmap(map, Colormap::Gray, Scale::Fixed(0.0, 1.0))?, cell);
    Ok(grid(&[img], 1, 1, Rgb([128, 128, 128])))
}

fn row(panels: Vec<RgbImage>, captions: &[String]) -> Result<RgbImage> {
    let c: Vec<&str> = captions.iter().map(String::as_str).collect();
    Ok(side_by_side(&panels, &c)?)
}

/// Every intermediate map, as the course's slides show them: the mask and the five layer-1 maps; the
/// five pooled maps; the three layer-2 maps and the three pooled ones; the two layer-3 responses.
pub fn figure(maps: &FaceMaps, title: &str) -> Result<RgbImage> {
    let mut rows = Vec::new();
    let mut panels = vec![binary_panel(&maps.mask, 12)?];
    let mut caps = vec![title.to_string()];
    for (i, n) in LAYER1_NAMES.iter().enumerate() {
        panels.push(binary_panel(&maps.layer1.get(i)?, 10)?);
        caps.push(format!("L1 {n}\n12x12"));
    }
    rows.push(row(panels, &caps)?);
    let mut panels = Vec::new();
    let mut caps = Vec::new();
    for (i, n) in LAYER1_NAMES.iter().enumerate() {
        panels.push(binary_panel(&maps.pooled1.get(i)?, 20)?);
        caps.push(format!("{n}\npooled 6x6"));
    }
    rows.push(row(panels, &caps)?);
    let mut panels = Vec::new();
    let mut caps = Vec::new();
    for (i, n) in LAYER2_NAMES.iter().enumerate() {
        panels.push(binary_panel(&maps.layer2.get(i)?, 20)?);
        caps.push(format!("L2 {n}\n6x6"));
    }
    for (i, n) in LAYER2_NAMES.iter().enumerate() {
        panels.push(binary_panel(&maps.pooled2.get(i)?, 40)?);
        caps.push(format!("{n}\npooled 3x3"));
    }
    rows.push(row(panels, &caps)?);
    let mut panels = Vec::new();
    let mut caps = Vec::new();
    for (i, n) in LAYER3_NAMES.iter().enumerate() {
        let m = maps.max_scores[i];
        let cell = Tensor::new(&[[maps.scores[i]]], &Device::Cpu)?;
        let img = upscale(
            &heatmap(&cell, Colormap::BlueWhiteRed, Scale::Fixed(-m, m))?,
            80,
        );
        panels.push(grid(&[img], 1, 1, Rgb([128, 128, 128])));
        caps.push(format!(
            "L3 {n}: {} / {}\n{}",
            maps.scores[i],
            m,
            if maps.found(i) { "FOUND" } else { "not found" }
        ));
    }
    rows.push(row(panels, &caps)?);
    Ok(grid(&rows, 1, 0, Rgb([255, 255, 255])))
}

/// The filters of the three layers: weights on blue (-1), white (0), red (+1).
pub fn filters_figure() -> Result<RgbImage> {
    let draw = |t: Tensor| -> Result<RgbImage> {
        let img = upscale(
            &heatmap(&t, Colormap::BlueWhiteRed, Scale::Fixed(-1.0, 1.0))?,
            16,
        );
        Ok(grid(&[img], 1, 1, Rgb([128, 128, 128])))
    };
    let mut rows = Vec::new();
    let f1 = layer1_filters();
    rows.push(row(
        f1.iter()
            .map(|f| draw(f.to_tensor(&Device::Cpu)?))
            .collect::<Result<_>>()?,
        &f1.iter()
            .map(|f| format!("L1 {}", f.name))
            .collect::<Vec<_>>(),
    )?);
    for (names, filters) in [
        (&LAYER1_NAMES[..], layer2_filters()),
        (&LAYER2_NAMES[..], layer3_filters()),
    ] {
        for f in filters {
            let t = f.to_tensor(&Device::Cpu)?;
            let panels = (0..f.channels)
                .map(|c| draw(t.get(c)?))
                .collect::<Result<Vec<_>>>()?;
            let caps: Vec<String> = names.iter().map(|n| format!("{}: {n}", f.name)).collect();
            rows.push(row(panels, &caps)?);
        }
    }
    Ok(grid(&rows, 1, 0, Rgb([255, 255, 255])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn positions(map: &Tensor) -> Vec<(usize, usize)> {
        map.to_vec2::<f32>()
            .unwrap()
            .iter()
            .enumerate()
            .flat_map(|(r, row)| {
                row.iter()
                    .enumerate()
                    .filter(|(_, v)| **v > 0.5)
                    .map(move |(c, _)| (r, c))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn the_course_face_is_forward_and_not_profile() {
        let m = detect(&mask(&FACE).unwrap()).unwrap();
        assert_eq!(m.layer1.dims(), &[5, 12, 12]);
        assert_eq!(m.pooled1.dims(), &[5, 6, 6]);
        assert_eq!(m.layer2.dims(), &[3, 6, 6]);
        assert_eq!(m.pooled2.dims(), &[3, 3, 3]);
        // Layer 1, exactly: bar tops in the eyes, stroke ends at the mouth's corners, the nose's shoulders.
        assert_eq!(
            positions(&m.layer1.get(0).unwrap()),
            vec![
                (0, 1),
                (0, 2),
                (0, 9),
                (0, 10),
                (2, 1),
                (2, 2),
                (2, 9),
                (2, 10)
            ]
        );
        assert_eq!(positions(&m.layer1.get(1).unwrap()), vec![(9, 4), (9, 7)]);
        assert_eq!(positions(&m.layer1.get(3).unwrap()), vec![(5, 5)]);
        assert_eq!(positions(&m.layer1.get(4).unwrap()), vec![(5, 6)]);
        // Layer 2 after pooling: the parts where Forward expects them.
        assert_eq!(positions(&m.pooled2.get(0).unwrap()), vec![(0, 0), (0, 2)]);
        assert_eq!(positions(&m.pooled2.get(1).unwrap()), vec![(1, 1)]);
        assert_eq!(positions(&m.pooled2.get(2).unwrap()), vec![(2, 1)]);
        assert_eq!(m.scores, vec![4.0, -2.0]);
        assert_eq!(m.max_scores, vec![4.0, 3.0]);
        assert!(m.found(0) && !m.found(1));
    }

    #[test]
    fn the_profile_is_profile_and_not_forward() {
        let m = detect(&mask(&PROFILE).unwrap()).unwrap();
        assert_eq!(positions(&m.pooled2.get(0).unwrap()), vec![(0, 2)]);
        assert_eq!(positions(&m.pooled2.get(1).unwrap()), vec![(1, 2)]);
        assert_eq!(positions(&m.pooled2.get(2).unwrap()), vec![(2, 2)]);
        assert_eq!(m.scores[1], 3.0);
        assert!(m.found(1) && !m.found(0));
    }

    #[test]
    fn no_face_is_neither() {
        let blank = Tensor::zeros((1, 12, 12), DType::F32, &Device::Cpu).unwrap();
        let m = detect(&blank).unwrap();
        assert_eq!(m.scores, vec![0.0, 0.0]);
        assert!(!m.found(0) && !m.found(1));
        // Blank: only Black fires, everywhere.
        assert_eq!(positions(&m.layer1.get(2).unwrap()).len(), 144);
        let m = detect(&mask(&MISSING_EYE).unwrap()).unwrap();
        assert_eq!(positions(&m.pooled2.get(0).unwrap()), vec![(0, 2)]);
        assert!(!m.found(0) && !m.found(1), "{:?}", m.scores);
        for s in 0..20 {
            let m = detect(&random_mask(Seed(s)).unwrap()).unwrap();
            assert!(!m.found(0) && !m.found(1), "seed {s}: {:?}", m.scores);
        }
    }

    #[test]
    fn masks_are_checked_and_figures_drawn() {
        assert!(mask(&FACE[..11]).is_err());
        let m = detect(&mask(&FACE).unwrap()).unwrap();
        let f = figure(&m, "face").unwrap();
        assert!(f.width() > 300 && f.height() > 300);
        filters_figure().unwrap();
    }
}
