//! An attack on an edge detector instead of a classifier: change the photo by at most `eps` per pixel so
//! that HED no longer sees the edges inside one region (an object's box) while the edges elsewhere stay
//! as they were. The objective climbed is `-(mean edge probability inside) - k (mean |change| outside)`,
//! k = [`EdgeTarget::keep_outside`].

use candle_core::{Tensor, D};
use glassbox_core::seed::Seed;

use super::{perturb, Attack};
use crate::vgg::{Hed, Vgg16};
use crate::Result;

/// The default of [`EdgeTarget::keep_outside`] (chelsea.png, eps 0.03, 20 steps: with 1, inside 0.22 ->
/// 0.04 and outside changed by 0.034; with 4, 0.22 -> 0.06 and 0.030).
pub const DEFAULT_KEEP_OUTSIDE: f64 = 4.0;

/// An error unless `keep_outside` is finite and >= 0 (callers may check it before there is an image).
pub fn check_keep_outside(keep_outside: f64) -> Result<()> {
    if !(keep_outside.is_finite() && keep_outside >= 0.0) {
        return Err(glassbox_core::Error::invalid(
            "keep-outside weight",
            keep_outside,
            "a finite number >= 0",
        )
        .into());
    }
    Ok(())
}

/// What to erase: HED's edges inside `region`, while `keep_outside` weighs how much more keeping the
/// edges outside it counts than erasing those inside (0: erase at any cost to the rest).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct EdgeTarget {
    /// The box whose edges are erased.
    pub region: Region,
    /// The weight of keeping the edges outside the box, relative to erasing those inside.
    pub keep_outside: f64,
}

impl EdgeTarget {
    /// `region` with the default weight on the rest of the photo.
    pub fn new(region: Region) -> EdgeTarget {
        EdgeTarget {
            region,
            keep_outside: DEFAULT_KEEP_OUTSIDE,
        }
    }

    /// An error unless the region fits a `width` x `height` image and the weight is finite and >= 0.
    pub fn check(&self, width: usize, height: usize) -> Result<()> {
        check_keep_outside(self.keep_outside)?;
        self.region.check(width, height)
    }
}

/// A box of pixels: left, top, width, height.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Region {
    /// Left column.
    pub x: usize,
    /// Top row.
    pub y: usize,
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
}

impl Region {
    /// The middle half of a `width` x `height` image in each direction.
    pub fn centre(width: usize, height: usize) -> Region {
        Region {
            x: width / 4,
            y: height / 4,
            width: (width / 2).max(1),
            height: (height / 2).max(1),
        }
    }

    /// An error unless the box is non-empty and inside a `width` x `height` image.
    pub fn check(&self, width: usize, height: usize) -> Result<()> {
        if self.width == 0
            || self.height == 0
            || self.x + self.width > width
            || self.y + self.height > height
        {
            return Err(glassbox_core::Error::invalid(
                "region",
                format!("{}x{} at ({}, {})", self.width, self.height, self.x, self.y),
                format!("a non-empty box inside the {width}x{height} image"),
            )
            .into());
        }
        Ok(())
    }

    /// `(1, 1, H, W)`: 1 inside, 0 outside; the box must have passed [`Region::check`].
    fn mask(&self, height: usize, width: usize, device: &candle_core::Device) -> Result<Tensor> {
        let mut m = vec![0f32; height * width];
        for row in self.y..self.y + self.height {
            m[row * width + self.x..row * width + self.x + self.width].fill(1.0);
        }
        Ok(Tensor::from_vec(m, (1, 1, height, width), device)?)
    }
}

/// What the attack did.
pub struct EdgeErasure {
    /// The adversarial photo, `(1, 3, H, W)` in `0..=255`.
    pub adversarial: Tensor,
    /// HED's fused edge map before and after, `(1, 1, H, W)`.
    pub edges_before: Tensor,
    /// HED's fused edge map on the adversarial photo, `(1, 1, H, W)`.
    pub edges_after: Tensor,
    /// Mean edge probability inside the region, before and after.
    pub inside_before: f32,
    /// Mean edge probability inside the region after the attack.
    pub inside_after: f32,
    /// Mean absolute change of the edge probability outside the region.
    pub outside_change: f32,
    /// The largest change of any pixel, in `0..=255` units.
    pub max_pixel_change: f32,
}

/// Attacks HED's edges of `photo` (`(1, 3, H, W)` in `0..=255`) inside `target.region`; `attack.eps` is
/// in units of the full range (0.03 is about 8 grey levels).
pub fn erase_edges(
    model: &Vgg16,
    hed: &Hed,
    photo: &Tensor,
    target: EdgeTarget,
    attack: &Attack,
    seed: Seed,
) -> Result<EdgeErasure> {
    let (_, _, h, w) = photo.dims4()?;
    target.check(w, h)?;
    let (region, keep_outside) = (target.region, target.keep_outside);
    let inside = region.mask(h, w, photo.device())?;
    let outside = (1.0 - &inside)?;
    let (n_in, n_out) = (
        (region.width * region.height) as f64,
        ((h * w) as f64 - (region.width * region.height) as f64).max(1.0),
    );
    let edges = |x01: &Tensor| -> candle_core::Result<Tensor> {
        let out = hed
            .edges(model, &(x01 * 255.0)?)
            .map_err(candle_core::Error::wrap)?;
        Ok(out.fused)
    };
    let x01 = (photo / 255.0)?;
    let before = edges(&x01)?.detach();
    let objective = |x: &Tensor| -> candle_core::Result<Tensor> {
        let p = edges(x)?;
        let inside_mean = (p.broadcast_mul(&inside)?.sum_all()? / n_in)?;
        let drift =
            ((&p - &before)?.abs()?.broadcast_mul(&outside)?.sum_all()? * (keep_outside / n_out))?;
        (inside_mean + drift)?.neg()
    };
    let adv01 = perturb(&x01, attack, seed, objective)?;
    let after = edges(&adv01)?.detach();
    let region_mean = |p: &Tensor| -> Result<f32> {
        Ok((p.broadcast_mul(&inside)?.sum_all()? / n_in)?.to_scalar::<f32>()?)
    };
    let outside_change = ((&after - &before)?
        .abs()?
        .broadcast_mul(&outside)?
        .sum_all()?
        / n_out)?
        .to_scalar::<f32>()?;
    let adversarial = (adv01 * 255.0)?;
    let max_pixel_change = (&adversarial - photo)?
        .abs()?
        .flatten_all()?
        .max(D::Minus1)?
        .to_scalar::<f32>()?;
    Ok(EdgeErasure {
        inside_before: region_mean(&before)?,
        inside_after: region_mean(&after)?,
        outside_change,
        max_pixel_change,
        adversarial,
        edges_before: before,
        edges_after: after,
    })
}
