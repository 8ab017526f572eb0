//! HED, holistically-nested edge detection (Xie & Tu 2015), on VGG16's convolutions: a 1x1 "side output"
//! on the last convolution of each block, each upsampled bilinearly to the input size, and a 1x1 fusion of
//! the five, through a sigmoid. The shared weights file holds its tensors as `hed.dsn1..5` and `hed.fuse`;
//! its pools round odd sizes up, as the Keras original does.

use candle_core::Tensor;
use candle_nn::ops::sigmoid;
use glassbox_tensor::ops::{conv2d, resize_bilinear, ConvParams};

use super::model::Vgg16;
use crate::Result;

/// The layers the side outputs read.
pub const SIDE_LAYERS: [&str; 5] = [
    "block1_conv2",
    "block2_conv2",
    "block3_conv3",
    "block4_conv3",
    "block5_conv3",
];

/// What HED sees in a batch: the fused edge probability and each side output's, all `(N, 1, H, W)`.
pub struct Edges {
    /// The fused edge probability, `(N, 1, H, W)`.
    pub fused: Tensor,
    /// Each side output's edge probability, shallowest first.
    pub sides: Vec<Tensor>,
}

/// HED's own tensors, read from the same file as the VGG16 weights.
pub struct Hed {
    sides: Vec<(Tensor, Tensor)>,
    fuse: (Tensor, Tensor),
}

impl Hed {
    /// The `hed.*` tensors of `model`'s file; every missing or mis-shaped one is listed.
    pub fn from_vgg(model: &Vgg16) -> Result<Hed> {
        let channels = [64, 128, 256, 512, 512];
        let mut problems = Vec::new();
        let mut get = |name: String, shape: &[usize]| match model.tensor(&name) {
            Some(t) if t.dims() == shape => Some(t.clone()),
            Some(t) => {
                problems.push(format!("{name} is {:?}, expected {shape:?}", t.dims()));
                None
            }
            None => {
                problems.push(format!("missing {name} {shape:?}"));
                None
            }
        };
        let mut sides = Vec::new();
        for (k, c) in channels.iter().enumerate() {
            let w = get(format!("hed.dsn{}.weight", k + 1), &[1, *c, 1, 1]);
            let b = get(format!("hed.dsn{}.bias", k + 1), &[1]);
            if let (Some(w), Some(b)) = (w, b) {
                sides.push((w, b));
            }
        }
        let fuse = (
            get("hed.fuse.weight".into(), &[1, 5, 1, 1]),
            get("hed.fuse.bias".into(), &[1]),
        );
        match (problems.is_empty(), fuse) {
            (true, (Some(w), Some(b))) => Ok(Hed { sides, fuse: (w, b) }),
            _ => Err(glassbox_core::Error::Tensors {
                path: model.path().to_path_buf(),
                problems: std::iter::once(
                    "no HED edge detector in this file (it needs hed.dsn1..5 and hed.fuse, as in vgg16_features_hed.safetensors)"
                        .to_string(),
                )
                .chain(problems)
                .collect(),
            }
            .into()),
        }
    }

    /// Edge probabilities for RGB images `(N, 3, H, W)` in `0..=255`.
    pub fn edges(&self, model: &Vgg16, images: &Tensor) -> Result<Edges> {
        let (_, _, h, w) = images.dims4()?;
        let x = model.preprocess(images)?;
        let maps = model.layers_ceil_pools(&x, &SIDE_LAYERS)?;
        let mut logits = Vec::new();
        for (map, (wt, b)) in maps.iter().zip(&self.sides) {
            let side = conv2d(map, wt, Some(b), ConvParams::default(), false)?;
            // Differentiable (candle's upsample_bilinear2d has no backward), for attacks on the edge map.
            logits.push(resize_bilinear(&side, h, w)?);
        }
        let stacked = Tensor::cat(&logits, 1)?;
        let fused = conv2d(
            &stacked,
            &self.fuse.0,
            Some(&self.fuse.1),
            ConvParams::default(),
            false,
        )?;
        Ok(Edges {
            fused: sigmoid(&fused)?,
            sides: logits
                .iter()
                .map(sigmoid)
                .collect::<candle_core::Result<_>>()?,
        })
    }
}
