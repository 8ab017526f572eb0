//! 3x3 filters (blur, horizontal edge, vertical edge, vertical stripe, diagonal) on a random binary image
//! and on a photo, all five in one batched convolution.
//!
//! On the binary image (values 0 and 1, valid convolution), a filter "matches" where its response reaches
//! its maximum over the image; the largest possible response is the sum of its positive weights (3 for the
//! stripe and the diagonal, reached where the pattern of ones sits on zeros).

use candle_core::{Device, Tensor};
use glassbox_core::imaging::{side_by_side, tensor_to_rgb, Colormap, Scale};
use glassbox_core::seed::Seed;
use image::RgbImage;
use rand::Rng;
use serde::Serialize;

use super::figures::{map_image, mark_cells, RED};
use crate::conv::apply::{convolve_filters, matches};
use crate::conv::filters::{three_by_three, Filter};
use crate::conv::Padding;
use crate::Result;

/// A `(1, size, size)` image of zeros and ones, each one with probability 1/2, from the seed's
/// `conv/binary` stream.
pub fn random_binary(seed: Seed, size: usize) -> Result<Tensor> {
    let mut rng = seed.stream("conv/binary");
    let v: Vec<f32> = (0..size * size)
        .map(|_| if rng.random_bool(0.5) { 1.0 } else { 0.0 })
        .collect();
    Ok(Tensor::from_vec(v, (1, size, size), &Device::Cpu)?)
}

/// Where one filter matches.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FilterMatch {
    /// The filter's name.
    pub filter: String,
    /// The largest response over the image.
    pub max: f32,
    /// The largest response possible on a 0/1 image (the sum of the positive weights).
    pub max_possible: f32,
    /// `(row, column)` of the response map (the top-left of the 3x3 window in the image) where `max` is
    /// reached.
    pub positions: Vec<(usize, usize)>,
}

/// The five responses `(5, H - 2, W - 2)` of a `(1, H, W)` image (valid convolution, one call) and where
/// each is largest.
pub fn binary_matches(image: &Tensor) -> Result<(Tensor, Vec<FilterMatch>)> {
    let bank = three_by_three();
    let responses = convolve_filters(image, &bank, Padding::Valid)?;
    let found = bank
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let (max, positions) = matches(&responses.get(i)?)?;
            Ok(FilterMatch {
                filter: f.name.clone(),
                max,
                max_possible: f.max_response(),
                positions,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((responses, found))
}

fn filter_image(f: &Filter) -> Result<RgbImage> {
    let t = f.to_tensor(&Device::Cpu)?;
    Ok(map_image(&t, Colormap::BlueWhiteRed, Scale::Fixed(-1.0, 1.0), 60)?.0)
}

/// The binary image, then for each filter its weights and its response with the matches framed in red.
pub fn binary_figure(
    image: &Tensor,
    responses: &Tensor,
    found: &[FilterMatch],
) -> Result<RgbImage> {
    let bank = three_by_three();
    let (input, _) = map_image(image, Colormap::Gray, Scale::Fixed(0.0, 1.0), 200)?;
    let mut panels = vec![input];
    let mut captions = vec!["20x20 random binary".to_string()];
    for (i, (f, m)) in bank.iter().zip(found).enumerate() {
        panels.push(filter_image(f)?);
        captions.push(f.name.clone());
        let (mut img, factor) = map_image(&responses.get(i)?, Colormap::Gray, Scale::MinMax, 180)?;
        mark_cells(&mut img, &m.positions, factor, RED);
        captions.push(format!(
            "max {:.2} at {} place(s)",
            m.max,
            m.positions.len()
        ));
        panels.push(img);
    }
    let captions: Vec<&str> = captions.iter().map(String::as_str).collect();
    Ok(side_by_side(&panels, &captions)?)
}

/// The five responses to a `(1, H, W)` gray photo in `0..=255` (taken as `0..=1`), same padding, one call.
pub fn photo_responses(gray: &Tensor) -> Result<Tensor> {
    convolve_filters(&(gray / 255.0)?, &three_by_three(), Padding::Same)
}

/// The photo and the five responses: the blur in gray, the others on blue-white-red (0 white).
pub fn photo_figure(gray: &Tensor, responses: &Tensor) -> Result<RgbImage> {
    let bank = three_by_three();
    let mut panels = vec![tensor_to_rgb(gray)?];
    let mut captions = vec!["input (gray)".to_string()];
    for (i, f) in bank.iter().enumerate() {
        let map = responses.get(i)?;
        let (img, _) = if i == 0 {
            map_image(&map, Colormap::Gray, Scale::Fixed(0.0, 1.0), 1)?
        } else {
            map_image(&map, Colormap::BlueWhiteRed, Scale::Symmetric, 1)?
        };
        panels.push(img);
        captions.push(f.name.clone());
    }
    let captions: Vec<&str> = captions.iter().map(String::as_str).collect();
    Ok(side_by_side(&panels, &captions)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_and_diagonal_match_exactly_where_drawn() {
        // A vertical stripe in column 1 (rows 0-2) and a diagonal from (3, 3) to (5, 5), on 7x7.
        let mut v = vec![0f32; 49];
        for r in 0..3 {
            v[r * 7 + 1] = 1.0;
        }
        for i in 3..6 {
            v[i * 7 + i] = 1.0;
        }
        let x = Tensor::from_vec(v, (1, 7, 7), &Device::Cpu).unwrap();
        let (resp, found) = binary_matches(&x).unwrap();
        assert_eq!(resp.dims(), &[5, 5, 5]);
        let stripe = &found[3];
        assert_eq!(stripe.filter, "vertical stripe");
        assert_eq!((stripe.max, stripe.max_possible), (3.0, 3.0));
        assert_eq!(stripe.positions, vec![(0, 0)]);
        let diag = &found[4];
        assert_eq!((diag.max, diag.max_possible), (3.0, 3.0));
        assert_eq!(diag.positions, vec![(3, 3)]);
        // The stripe's response row 0: window at column 0 sees the stripe in its middle (+3); at column 1
        // the stripe is on its left (-3); at column 2 nothing.
        let row0 = resp
            .get(3)
            .unwrap()
            .get(0)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(row0, vec![3.0, -3.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn random_binary_is_seeded_and_binary() {
        let a = random_binary(Seed(7), 20).unwrap();
        let b = random_binary(Seed(7), 20).unwrap();
        let c = random_binary(Seed(8), 20).unwrap();
        let va = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(va, b.flatten_all().unwrap().to_vec1::<f32>().unwrap());
        assert_ne!(va, c.flatten_all().unwrap().to_vec1::<f32>().unwrap());
        assert!(va.iter().all(|v| *v == 0.0 || *v == 1.0));
        let ones = va.iter().filter(|v| **v == 1.0).count();
        assert!((120..280).contains(&ones), "{ones}");
        let (resp, found) = binary_matches(&a).unwrap();
        assert_eq!(resp.dims(), &[5, 18, 18]);
        assert!(found
            .iter()
            .all(|m| !m.positions.is_empty() && m.max <= m.max_possible + 1e-4));
        binary_figure(&a, &resp, &found).unwrap();
    }
}
