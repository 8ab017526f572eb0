//! What a dream climbs: a weighted sum, over a [`LayerMix`], of each layer's mean activation.
//!
//! The mean rather than the sum: with the step normalized (see
//! [`StepNorm`](glassbox_tensor::ascent::StepNorm)) a single layer's dream is the same either way, since
//! the two differ by a constant factor; but in a mix the sum would weigh each layer by its number of
//! values (block3's maps have 4 times block4's positions and half its channels), and the weights would
//! change meaning with the image size. With the mean, `block4_conv3=1.0,block5_conv1=0.5` means what it
//! says at any size, and objectives of different octaves stay comparable.

use candle_core::Tensor;
use glassbox_convnet::vgg::Vgg16;

use crate::layers::{feature_layers, LayerMix};
use crate::Result;

/// Images `(N, 3, H, W)` in `0..=255` to one value per image `(N,)`: preprocessed as the model's weights
/// want (its normalization), then `sum_l w_l mean(layer_l)`.
pub fn objective(model: &Vgg16, mix: &LayerMix, images: &Tensor) -> Result<Tensor> {
    let inputs = model.preprocess(images)?;
    let maps = model.layers(&inputs, &mix.names())?;
    let mut total: Option<Tensor> = None;
    for (map, (_, weight)) in maps.iter().zip(&mix.0) {
        let term = (map.flatten_from(1)?.mean(1)? * f64::from(*weight))?;
        total = Some(match total {
            None => term,
            Some(t) => (t + term)?,
        });
    }
    Ok(total.expect("a LayerMix has at least one layer"))
}

/// The smallest image side that still leaves every layer of `mix` at least one pixel: each pool before
/// (and including) the deepest layer halves the side.
pub fn smallest_side(mix: &LayerMix) -> usize {
    let all = feature_layers();
    let deepest = mix
        .names()
        .iter()
        .filter_map(|n| all.iter().position(|a| a == n))
        .max()
        .unwrap_or(0);
    let pools = all[..=deepest]
        .iter()
        .filter(|n| n.ends_with("_pool"))
        .count();
    1 << pools
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_side_counts_the_pools_up_to_the_deepest_layer() {
        let side = |text: &str| smallest_side(&LayerMix::parse(text).unwrap());
        assert_eq!(side("block1_conv1"), 1);
        assert_eq!(side("block1_pool"), 2);
        assert_eq!(side("block2_conv1,block4_conv3"), 8);
        assert_eq!(side("block5_conv1=1,block3_conv1=2"), 16);
        assert_eq!(side("block5_pool"), 32);
    }
}
