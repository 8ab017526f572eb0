//! What a VGG16 filter wants to see: gradient ascent on the input image, from grey noise, on one
//! filter's mean activation (through a leaky ReLU, see `LEAK`), one image per filter, all climbing in
//! one batch, or on a whole layer's
//! (the course's block1_conv2, block3_conv1 and block4_conv1 grids; Chollet's "How convolutional neural
//! networks see the world", 2016). The climbing itself, with jitter, blur, L2 decay and octaves, is
//! [`glassbox_tensor::ascent`].

use candle_core::{Tensor, D};
use glassbox_core::seed::Seed;
use glassbox_tensor::ascent::{ascend, noise_image, AscentConfig, AscentStep};

use super::model::{Vgg16, CONVS};
use crate::Result;

/// The slope below zero of the activation that is climbed: the filter's ReLU, made leaky so that a
/// filter silent on the starting noise still has a gradient (with the plain ReLU, block2_conv1's first
/// two filters never started: objective 0 at every step). Climbing the pre-ReLU value instead lets a
/// plain colour win for most block1 filters, since a flat image maximizes a linear filter's mean.
const LEAK: f64 = 0.1;

/// What each image of the batch maximizes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Target {
    /// The mean activation (through a leaky ReLU) of these filters of `layer`, one image each.
    Filters {
        /// The layer (`block3_conv1`, ...).
        layer: String,
        /// Filter indices, one image each.
        filters: Vec<usize>,
    },
    /// The mean of every activation of `layer` through a leaky ReLU (its sum, up to a constant).
    Layer {
        /// The layer.
        layer: String,
    },
}

impl Target {
    /// The layer the target reads.
    pub fn layer(&self) -> &str {
        match self {
            Target::Filters { layer, .. } | Target::Layer { layer } => layer,
        }
    }

    /// How many images climb: one per filter, or one for the whole layer.
    pub fn images(&self) -> usize {
        match self {
            Target::Filters { filters, .. } => filters.len(),
            Target::Layer { .. } => 1,
        }
    }
}

/// Gradient ascent's images `(N, 3, H, W)` in `0..=255` and the objective of every step.
pub struct Visualization {
    /// The images, `(N, 3, H, W)` in `0..=255`.
    pub images: Tensor,
    /// The objective before every step.
    pub trace: Vec<AscentStep>,
}

/// How many filters `layer` has, or an error naming the convolution layers.
pub fn filter_count(layer: &str) -> Result<usize> {
    CONVS
        .iter()
        .find(|c| c.name == layer)
        .map(|c| c.out_channels)
        .ok_or_else(|| {
            let names: Vec<&str> = CONVS.iter().map(|c| c.name).collect();
            glassbox_core::Error::invalid(
                "layer to visualize",
                layer,
                format!("a convolution: {}", names.join(", ")),
            )
            .into()
        })
}

/// Climbs `target` on `model` to images of `size` (height, width), from noise seeded by `seed`.
pub fn visualize(
    model: &Vgg16,
    target: &Target,
    size: (usize, usize),
    config: &AscentConfig,
    seed: Seed,
    on_step: impl FnMut(&AscentStep),
) -> Result<Visualization> {
    let layer = target.layer().to_string();
    let channels = filter_count(&layer)?;
    let device = model.device();
    let mask = match target {
        Target::Filters { filters, .. } => {
            if filters.is_empty() {
                return Err(
                    glassbox_core::Error::invalid("filters", "none", "at least one").into(),
                );
            }
            if let Some(f) = filters.iter().find(|&&f| f >= channels) {
                return Err(glassbox_core::Error::invalid(
                    "filter",
                    f,
                    format!("0 to {} ({layer} has {channels} filters)", channels - 1),
                )
                .into());
            }
            let mut m = vec![0f32; filters.len() * channels];
            for (i, &f) in filters.iter().enumerate() {
                m[i * channels + f] = 1.0;
            }
            Tensor::from_vec(m, (filters.len(), channels), device)?
        }
        Target::Layer { .. } => Tensor::full(1.0 / channels as f32, (1, channels), device)?,
    };
    let objective = |x: &Tensor| -> candle_core::Result<Tensor> {
        let inputs = model.preprocess(x).map_err(candle_core::Error::wrap)?;
        let z = model
            .pre_activation(&inputs, &layer)
            .map_err(candle_core::Error::wrap)?;
        let maps = (z.relu()? + (z.minimum(0f32)? * LEAK)?)?;
        // (N, C) mean of each map, weighted by the mask: one filter per image, or all channels.
        maps.mean(D::Minus1)?
            .mean(D::Minus1)?
            .mul(&mask)?
            .sum(D::Minus1)
    };
    let start_size = config.octave_sizes(size)[0];
    let mut rng = seed.stream("filter-visualization");
    let start = noise_image(
        (target.images(), 3, start_size.0, start_size.1),
        128.0,
        20.0,
        &mut rng,
        device,
    )?;
    let (images, trace) = ascend(&start, size, config, &mut rng, objective, on_step)?;
    Ok(Visualization { images, trace })
}
