//! Deep dreaming (Mordvintsev, Olah & Tyka 2015): gradient ascent on a photo, so that what some VGG16
//! layers respond to grows in it. The climbing is [`glassbox_tensor::ascent`]'s, with steps divided by
//! the mean absolute gradient and octaves that re-inject the detail shrinking lost
//! ([`Start::Photo`]).
//!
//! - [`mod@objective`]: the weighted mean activation of a layer mix.
//! - [`presets`]: named mixes with their step settings.
//! - [`dream`] from a photo; [`dream_from_noise`] from grey noise, one block at a time (the course's
//!   "noise first" figure).

pub mod objective;
pub mod presets;

use candle_core::Tensor;
use glassbox_convnet::vgg::{Vgg16, CONVS};
use glassbox_core::seed::Seed;
use glassbox_tensor::ascent::{ascend_from, noise_image, AscentConfig, AscentStep, Start};

pub use objective::{objective, smallest_side};
pub use presets::{dream_ascent, noise_ascent, preset, Preset, PRESETS};

use crate::layers::LayerMix;
use crate::Result;

/// What to climb and how.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DreamConfig {
    /// The layers whose weighted mean activation is climbed.
    pub layers: LayerMix,
    /// Steps, step size, jitter, blur and octaves of the climb.
    pub ascent: AscentConfig,
}

/// The dreamed image `(1, 3, H, W)` in `0..=255` and the objective before every step.
pub struct Dream {
    /// The dreamed image, `(1, 3, H, W)` in `0..=255`.
    pub image: Tensor,
    /// The objective before every step.
    pub trace: Vec<AscentStep>,
}

/// One octave's climb: its image size and the objective before its first and before its last step.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct OctaveSummary {
    /// The octave, from 0.
    pub octave: usize,
    /// The image's height at this octave.
    pub height: usize,
    /// The image's width at this octave.
    pub width: usize,
    /// The objective before the octave's first step.
    pub first: f32,
    /// The objective before its last step.
    pub last: f32,
}

impl Dream {
    /// The objective at the first and the last step of each octave.
    pub fn octaves(&self) -> Vec<OctaveSummary> {
        let mut out: Vec<OctaveSummary> = Vec::new();
        for s in &self.trace {
            match out.last_mut() {
                Some(o) if o.octave == s.octave => o.last = s.mean(),
                _ => out.push(OctaveSummary {
                    octave: s.octave,
                    height: s.height,
                    width: s.width,
                    first: s.mean(),
                    last: s.mean(),
                }),
            }
        }
        out
    }
}

/// Dreams on `photo` (`(1, 3, H, W)`, `0..=255`); `on_step` sees each step and the image it produced.
pub fn dream(
    model: &Vgg16,
    photo: &Tensor,
    config: &DreamConfig,
    seed: Seed,
    on_step: impl FnMut(&AscentStep, &Tensor),
) -> Result<Dream> {
    let (_, channels, h, w) = photo.dims4()?;
    if channels != 3 {
        return Err(
            glassbox_core::Error::invalid("dream photo channels", channels, "3 (RGB)").into(),
        );
    }
    check_octaves(config, (h, w))?;
    let mut rng = seed.stream("dream");
    let (image, trace) = ascend_from(
        Start::Photo(photo),
        &config.ascent,
        &mut rng,
        |x| objective(model, &config.layers, x).map_err(candle_core::Error::wrap),
        on_step,
    )?;
    Ok(Dream { image, trace })
}

/// The last convolution of `block` (1 to 5): block1_conv2, block2_conv2, block3_conv3, ...
pub fn last_conv(block: usize) -> Result<&'static str> {
    let prefix = format!("block{block}_");
    CONVS
        .iter()
        .rev()
        .find(|c| c.name.starts_with(&prefix))
        .map(|c| c.name)
        .ok_or_else(|| glassbox_core::Error::invalid("VGG16 block", block, "1 to 5").into())
}

/// Dreams from grey noise (128 ± 20) on the mean output of `block`'s last convolution, to a square of
/// `size` pixels: what the block reacts to most. The noise starts at the first octave's size and is
/// enlarged between octaves (there is no photo whose detail could be re-injected).
pub fn dream_from_noise(
    model: &Vgg16,
    block: usize,
    size: usize,
    ascent: &AscentConfig,
    seed: Seed,
    on_step: impl FnMut(&AscentStep, &Tensor),
) -> Result<Dream> {
    let config = DreamConfig {
        layers: LayerMix::parse(last_conv(block)?)?,
        ascent: ascent.clone(),
    };
    check_octaves(&config, (size, size))?;
    let mut rng = seed.stream("dream-from-noise");
    let first = ascent.octave_sizes((size, size))[0];
    let noise = noise_image(
        (1, 3, first.0, first.1),
        128.0,
        20.0,
        &mut rng,
        model.device(),
    )?;
    let (image, trace) = ascend_from(
        Start::Image {
            image: &noise,
            size: (size, size),
        },
        ascent,
        &mut rng,
        |x| objective(model, &config.layers, x).map_err(candle_core::Error::wrap),
        on_step,
    )?;
    Ok(Dream { image, trace })
}

/// The first octave must leave every layer of the mix at least one pixel.
fn check_octaves(config: &DreamConfig, size: (usize, usize)) -> Result<()> {
    let first = config.ascent.octave_sizes(size)[0];
    let need = smallest_side(&config.layers);
    if first.0.min(first.1) < need {
        return Err(glassbox_core::Error::invalid(
            "octaves",
            config.ascent.octaves,
            format!(
                "fewer: {} octaves of {} shrink {}x{} to {}x{}, and {} needs at least {need} pixels a side",
                config.ascent.octaves,
                config.ascent.octave_scale,
                size.1,
                size.0,
                first.1,
                first.0,
                config.layers,
            ),
        )
        .into());
    }
    Ok(())
}
