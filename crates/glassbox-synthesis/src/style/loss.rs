//! Gatys et al.'s losses ("Image Style Transfer Using Convolutional Neural Networks", CVPR 2016), as the
//! PyTorch tutorial computes them (`tests/fixtures/generate_style.py` is the same arithmetic in PyTorch):
//!
//! ```text
//! F_l        layer l's activations of the image, C x (H W)
//! G_l        F_l F_l^T / (C H W)                                the Gram matrix: which features fire together
//! style      sum_l  w_l mean((G_l - A_l)^2)                     A_l: the style image's Gram matrix
//! content    mean((F_c - P_c)^2)                                P_c: the content image's activations at layer c
//! tv         (sum (x[i+1,j] - x[i,j])^2 + sum (x[i,j+1] - x[i,j])^2) / (3 H W)     on the 0..255 pixels
//! total      content_weight content + style_weight style + tv_weight tv
//! ```
//!
//! Dividing the Gram matrix by the element count makes a layer's style loss independent of the image size,
//! so one set of weights serves 256 and 512 pixels. The activations are VGG16's after their ReLU.

use candle_core::Tensor;
use glassbox_convnet::vgg::Vgg16;

use crate::layers::{check_layer, LayerMix};
use crate::Result;

/// What the losses compare, and how much each counts.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LossConfig {
    /// The layer whose activations the result must keep from the content image.
    pub content_layer: String,
    /// The layers whose Gram matrices it must take from the style image, each with its weight.
    pub style_layers: LayerMix,
    pub content_weight: f64,
    pub style_weight: f64,
    pub tv_weight: f64,
}

/// Gatys et al.'s choice of style layers: the first convolution of every block, equally weighted.
pub const GATYS_STYLE_LAYERS: [&str; 5] = [
    "block1_conv1",
    "block2_conv1",
    "block3_conv1",
    "block4_conv1",
    "block5_conv1",
];

impl Default for LossConfig {
    /// block4_conv2 for content (Gatys et al.'s conv4_2), the five first convolutions for style. The
    /// weights balance the two on the caffe-preprocessed VGG16 (activations about 60 times larger than
    /// with torchvision's preprocessing, so the PyTorch tutorial's 1e6 does not carry over); see
    /// docs/lessons/synthesis.md for the runs that chose them.
    fn default() -> Self {
        LossConfig {
            content_layer: "block4_conv2".into(),
            style_layers: LayerMix(
                GATYS_STYLE_LAYERS
                    .iter()
                    .map(|n| (n.to_string(), 1.0 / GATYS_STYLE_LAYERS.len() as f32))
                    .collect(),
            ),
            content_weight: 1.0,
            style_weight: 1e3,
            tv_weight: 0.0,
        }
    }
}

impl LossConfig {
    /// Every layer known to VGG16 and every weight finite and non-negative, with something to optimize.
    pub fn check(&self) -> Result<()> {
        check_layer(&self.content_layer)?;
        for (name, weight) in &self.style_layers.0 {
            check_layer(name)?;
            if !(*weight >= 0.0 && weight.is_finite()) {
                return Err(glassbox_core::Error::invalid(
                    "style layer weight",
                    format!("{name}={weight}"),
                    "a finite number >= 0",
                )
                .into());
            }
        }
        for (what, w) in [
            ("content weight", self.content_weight),
            ("style weight", self.style_weight),
            ("total variation weight", self.tv_weight),
        ] {
            if !(w >= 0.0 && w.is_finite()) {
                return Err(glassbox_core::Error::invalid(what, w, "a finite number >= 0").into());
            }
        }
        if self.content_weight == 0.0 && self.style_weight == 0.0 && self.tv_weight == 0.0 {
            return Err(glassbox_core::Error::invalid(
                "loss weights",
                "all 0",
                "at least one positive weight",
            )
            .into());
        }
        Ok(())
    }

    /// The layers VGG16 must return: the content layer first, then the style layers in order.
    fn taps(&self) -> Vec<&str> {
        std::iter::once(self.content_layer.as_str())
            .chain(self.style_layers.names())
            .collect()
    }
}

/// `(1, C, H, W)` activations to their `(C, C)` Gram matrix, divided by `C H W`.
pub fn gram(features: &Tensor) -> Result<Tensor> {
    let (n, c, h, w) = features.dims4()?;
    if n != 1 {
        return Err(candle_core::Error::Msg(format!(
            "a Gram matrix is per image; got a batch of {n}"
        ))
        .into());
    }
    let f = features.reshape((c, h * w))?;
    Ok((f.matmul(&f.t()?)? / (c * h * w) as f64)?)
}

/// The mean squared difference of two tensors of the same shape, as a scalar.
pub fn mean_squared(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    Ok((a - b)?.sqr()?.mean_all()?)
}

/// The squared differences of neighbouring pixels, down and across, over the element count.
pub fn total_variation(image: &Tensor) -> Result<Tensor> {
    let (_, _, h, w) = image.dims4()?;
    let down = (image.narrow(2, 1, h - 1)? - image.narrow(2, 0, h - 1)?)?
        .sqr()?
        .sum_all()?;
    let across = (image.narrow(3, 1, w - 1)? - image.narrow(3, 0, w - 1)?)?
        .sqr()?
        .sum_all()?;
    Ok(((down + across)? / image.elem_count() as f64)?)
}

/// The three losses and their weighted total at one image (scalars on the host).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Losses {
    pub content: f64,
    pub style: f64,
    pub tv: f64,
    pub total: f64,
    /// Each style layer's unweighted loss, in the order of [`LossConfig::style_layers`].
    pub style_layers: Vec<f64>,
}

/// The content image's activations and the style image's Gram matrices, computed once.
pub struct Targets {
    config: LossConfig,
    content: Tensor,
    grams: Vec<Tensor>,
}

impl Targets {
    /// Runs VGG16 on both images (`(1, 3, H, W)` in `0..=255`, of any sizes) and keeps what the losses
    /// compare with.
    pub fn new(
        model: &Vgg16,
        config: &LossConfig,
        content: &Tensor,
        style: &Tensor,
    ) -> Result<Self> {
        config.check()?;
        let content = model
            .layers(&model.preprocess(content)?, &[&config.content_layer])?
            .remove(0)
            .detach();
        let style_names = config.style_layers.names();
        let grams = model
            .layers(&model.preprocess(style)?, &style_names)?
            .iter()
            .map(|f| Ok(gram(f)?.detach()))
            .collect::<Result<_>>()?;
        Ok(Targets {
            config: config.clone(),
            content,
            grams,
        })
    }

    pub fn config(&self) -> &LossConfig {
        &self.config
    }

    /// The style image's Gram matrix at the `k`-th style layer.
    pub fn style_gram(&self, k: usize) -> &Tensor {
        &self.grams[k]
    }

    /// The weighted total as a scalar tensor (to differentiate) and every loss on the host, for an image
    /// `(1, 3, H, W)` in `0..=255` of the content image's size.
    pub fn losses(&self, model: &Vgg16, image: &Tensor) -> Result<(Tensor, Losses)> {
        let c = &self.config;
        let (_, _, h, w) = image.dims4()?;
        let (_, _, ch, cw) = self.content.dims4()?;
        let mut taps = model.layers(&model.preprocess(image)?, &c.taps())?;
        let style_features = taps.split_off(1);
        let features = taps.remove(0);
        if features.dims() != self.content.dims() {
            return Err(candle_core::Error::Msg(format!(
                "style transfer: the image is {w}x{h}, its {} is {:?} but the content's is {:?} ({cw}x{ch}); give an image of the content's size",
                c.content_layer,
                features.dims(),
                self.content.dims()
            ))
            .into());
        }
        let content = mean_squared(&features, &self.content)?;
        let mut style = Tensor::zeros((), image.dtype(), image.device())?;
        let mut per_layer = Vec::new();
        for ((f, target), (_, weight)) in style_features
            .iter()
            .zip(&self.grams)
            .zip(&c.style_layers.0)
        {
            let layer = mean_squared(&gram(f)?, target)?;
            per_layer.push(f64::from(layer.to_scalar::<f32>()?));
            style = (style + (layer * f64::from(*weight))?)?;
        }
        let tv = total_variation(image)?;
        let total = ((&content * c.content_weight)? + (&style * c.style_weight)?)?;
        let total = (total + (&tv * c.tv_weight)?)?;
        let host = |t: &Tensor| -> Result<f64> { Ok(f64::from(t.to_scalar::<f32>()?)) };
        let losses = Losses {
            content: host(&content)?,
            style: host(&style)?,
            tv: host(&tv)?,
            total: host(&total)?,
            style_layers: per_layer,
        };
        Ok((total, losses))
    }

    /// [`losses`](Self::losses) and the total's gradient with respect to the image.
    pub fn losses_and_gradient(&self, model: &Vgg16, image: &Tensor) -> Result<(Losses, Tensor)> {
        let var = candle_core::Var::from_tensor(image)?;
        let (total, losses) = self.losses(model, var.as_tensor())?;
        let grads = total.backward()?;
        let gradient = grads.get(var.as_tensor()).cloned().ok_or_else(|| {
            candle_core::Error::Msg("the loss does not depend on the image".into())
        })?;
        Ok((losses, gradient))
    }
}
