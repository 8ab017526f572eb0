//! Named dreams: each a layer mix and a few step settings (`glassbox dream IMG --preset NAME`).

use glassbox_tensor::ascent::{AscentConfig, StepNorm};

use super::DreamConfig;
use crate::layers::LayerMix;
use crate::Result;

/// A named layer mix with its step settings.
#[derive(Clone, Copy, Debug)]
pub struct Preset {
    /// The name `glassbox dream --preset` takes.
    pub name: &'static str,
    /// What it tends to draw, in a few words.
    pub about: &'static str,
    /// The layer mix, as [`LayerMix::parse`](crate::layers::LayerMix::parse) reads it.
    pub layers: &'static str,
    /// Gradient steps per octave.
    pub steps: usize,
    /// How far the pixels move per step.
    pub step_size: f32,
    /// Octaves.
    pub octaves: usize,
    /// The largest random shift before each step, in pixels.
    pub jitter: usize,
}

/// Deeper layers draw larger, more object-like things; the step sizes are in pixels (0..255) per step,
/// the DeepDream notebook's 1.5 for the deep mixes and less for the shallow ones, whose gradients
/// concentrate on few pixels.
pub const PRESETS: [Preset; 4] = [
    Preset {
        name: "eyes",
        about: "eyes, fur and animal faces (blocks 4 and 5)",
        layers: "block4_conv3=1.0,block5_conv1=0.5",
        steps: 10,
        step_size: 1.5,
        octaves: 4,
        jitter: 8,
    },
    Preset {
        name: "shapes",
        about: "arches, rings and cell-like shapes (block 4)",
        layers: "block4_conv1=1.0,block4_conv2=0.5",
        steps: 10,
        step_size: 1.5,
        octaves: 4,
        jitter: 8,
    },
    Preset {
        name: "textures",
        about: "swirls, scales and woven patterns (block 3)",
        layers: "block3_conv1=0.5,block3_conv3=1.0",
        steps: 10,
        step_size: 1.2,
        octaves: 3,
        jitter: 6,
    },
    Preset {
        name: "strokes",
        about: "fine coloured lines and brush strokes (block 2)",
        layers: "block2_conv2=1.0",
        steps: 10,
        step_size: 1.0,
        octaves: 3,
        jitter: 4,
    },
];

/// The preset called `name`, or an error listing every name.
pub fn preset(name: &str) -> Result<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name).ok_or_else(|| {
        let names: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
        glassbox_core::Error::invalid("dream preset", name, format!("one of {}", names.join(", ")))
            .into()
    })
}

impl Preset {
    /// The preset as a dream configuration (the other ascent settings at their defaults).
    pub fn config(&self) -> DreamConfig {
        DreamConfig {
            layers: LayerMix::parse(self.layers).expect("presets name valid layers"),
            ascent: dream_ascent(self.steps, self.step_size, self.octaves, self.jitter),
        }
    }
}

/// DeepDream's climb: octaves of 1.4, steps divided by the mean absolute gradient, jitter, pixels kept
/// in 0..255, and none of filter visualization's blur or decay (the photo keeps the image natural).
pub fn dream_ascent(steps: usize, step_size: f32, octaves: usize, jitter: usize) -> AscentConfig {
    AscentConfig {
        steps,
        step_size,
        jitter,
        blur_every: 0,
        blur_sigma: 0.0,
        l2_decay: 0.0,
        octaves,
        octave_scale: 1.4,
        range: (0.0, 255.0),
        normalize: StepNorm::MeanAbs,
    }
}

/// Dreams from noise (the course's "noise first" figure): longer climbs than a photo's, which starts with
/// structure, and a small jitter, since the image starts small.
pub fn noise_ascent() -> AscentConfig {
    dream_ascent(20, 1.5, 3, 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_valid_and_an_unknown_name_lists_them() {
        for p in PRESETS {
            // config() parses the mix: a typo in a preset fails here.
            let c = p.config();
            assert_eq!(c.layers.0.len(), p.layers.split(',').count(), "{}", p.name);
            assert!((3..=4).contains(&c.ascent.octaves), "{}", p.name);
            assert_eq!(preset(p.name).unwrap().layers, p.layers);
        }
        let err = preset("dogs").unwrap_err().to_string();
        assert!(err.contains("dogs"), "{err}");
        for p in PRESETS {
            assert!(err.contains(p.name), "{} missing from: {err}", p.name);
        }
    }
}
