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
    /// The weight of the content loss.
    pub content_weight: f64,
    /// The weight of the style loss.
    pub style_weight: f64,
    /// The weight of the total-variation loss (smoothness).
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
    Ok(glassbox_tensor::ops::gram(&f, 1.0 / (c * h * w) as f64)?)
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
    /// The content loss, before `content_weight`.
    pub content: f64,
    /// The style loss (over the layer mix, each layer by its weight), before `style_weight`.
    pub style: f64,
    /// The total-variation loss, before `tv_weight`.
    pub tv: f64,
    /// The weighted sum, what the optimizer minimizes.
    pub total: f64,
    /// Each style layer's unweighted loss, in the order of [`LossConfig::style_layers`].
    pub style_layers: Vec<f64>,
}

/// The content image's activations and the style image's Gram matrices, computed once.
pub struct Targets {
    config: LossConfig,
    /// The content image's height and width: the image optimized must have them.
    content_hw: (usize, usize),
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
        let (_, _, ch, cw) = content.dims4()?;
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
            content_hw: (ch, cw),
            content,
            grams,
        })
    }

    /// The style image's Gram matrix at the `k`-th style layer.
    pub fn style_gram(&self, k: usize) -> &Tensor {
        &self.grams[k]
    }

    /// Every loss on the host, for an image `(1, 3, H, W)` in `0..=255` of the content image's size.
    pub fn losses(&self, model: &Vgg16, image: &Tensor) -> Result<Losses> {
        Ok(self.evaluate(model, image, false)?.0)
    }

    /// [`losses`](Self::losses) and the total's gradient with respect to the image. The backward pass
    /// through VGG16 is the hand-driven one ([`Vgg16::backward`]); each tapped layer's gradient is
    /// written out: `2 (F - P) / n` for the content, `s (dG + dG^T) F` with `dG = 2 (G - A) / C^2` for
    /// each style layer (glassbox-tensor's `gram_backward`).
    pub fn losses_and_gradient(&self, model: &Vgg16, image: &Tensor) -> Result<(Losses, Tensor)> {
        let (losses, gradient) = self.evaluate(model, image, true)?;
        Ok((losses, gradient.expect("asked for")))
    }

    fn evaluate(
        &self,
        model: &Vgg16,
        image: &Tensor,
        with_gradient: bool,
    ) -> Result<(Losses, Option<Tensor>)> {
        let c = &self.config;
        let (_, _, h, w) = image.dims4()?;
        let (ch, cw) = self.content_hw;
        if (h, w) != (ch, cw) {
            return Err(glassbox_core::Error::invalid(
                "style transfer image size",
                format!("{w}x{h}"),
                format!("the content image's {cw}x{ch}"),
            )
            .into());
        }
        let image = image.detach();
        let (mut taps, tape) = model.forward_with_tape(&model.preprocess(&image)?, &c.taps())?;
        let style_features = taps.split_off(1);
        let features = taps.remove(0);
        let host = |t: &Tensor| -> Result<f64> { Ok(f64::from(t.to_scalar::<f32>()?)) };
        let mut tap_gradients: Vec<Option<Tensor>> = Vec::with_capacity(1 + style_features.len());

        let diff = (&features - &self.content)?;
        let content = host(&diff.sqr()?.mean_all()?)?;
        tap_gradients.push(if with_gradient && c.content_weight > 0.0 {
            Some((diff * (2.0 * c.content_weight / features.elem_count() as f64))?)
        } else {
            None
        });

        let mut style = 0.0;
        let mut per_layer = Vec::new();
        for ((f, target), (_, weight)) in style_features
            .iter()
            .zip(&self.grams)
            .zip(&c.style_layers.0)
        {
            let (_, channels, fh, fw) = f.dims4()?;
            let flat = f.reshape((channels, fh * fw))?;
            let scale = 1.0 / (channels * fh * fw) as f64;
            let d = (glassbox_tensor::ops::gram(&flat, scale)? - target)?;
            let layer = host(&d.sqr()?.mean_all()?)?;
            per_layer.push(layer);
            style += f64::from(*weight) * layer;
            let factor = 2.0 * c.style_weight * f64::from(*weight) / (channels * channels) as f64;
            tap_gradients.push(if with_gradient && factor > 0.0 {
                let dg = (d * factor)?;
                Some(glassbox_tensor::ops::gram_backward(&flat, &dg, scale)?.reshape(f.shape())?)
            } else {
                None
            });
        }

        // Total variation's gradient is candle's: a small graph over the image alone, built only when used.
        let tv_var = (with_gradient && c.tv_weight > 0.0)
            .then(|| candle_core::Var::from_tensor(&image))
            .transpose()?;
        let tv_tensor = total_variation(tv_var.as_ref().map_or(&image, |v| v.as_tensor()))?;
        let tv = host(&tv_tensor)?;
        let losses = Losses {
            content,
            style,
            tv,
            total: c.content_weight * content + c.style_weight * style + c.tv_weight * tv,
            style_layers: per_layer,
        };
        if !with_gradient {
            return Ok((losses, None));
        }
        let through_network = model.backward(&tape, &tap_gradients)?;
        let mut gradient = input_gradient(model, &through_network)?;
        if let Some(tv_var) = &tv_var {
            let tv_grads = (tv_tensor * c.tv_weight)?.backward()?;
            if let Some(g) = tv_grads.get(tv_var.as_tensor()) {
                gradient = (gradient + g)?;
            }
        }
        Ok((losses, Some(gradient)))
    }
}

/// The gradient with respect to the `0..=255` image from the gradient with respect to the network's input,
/// through the normalization `(x / scale - mean) / std`.
fn input_gradient(model: &Vgg16, through_network: &Tensor) -> Result<Tensor> {
    let n = model.normalization();
    if n.scale == 1.0 && n.std == [1.0; 3] {
        return Ok(through_network.clone());
    }
    let divisor: Vec<f32> = n.std.iter().map(|s| s * n.scale).collect();
    let divisor = Tensor::from_vec(divisor, (1, 3, 1, 1), through_network.device())?;
    Ok(through_network.broadcast_div(&divisor)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn t(v: &[f32], shape: &[usize]) -> Tensor {
        Tensor::from_slice(v, shape, &Device::Cpu).unwrap()
    }

    /// Two channels over three positions, worked by hand: F = [[1, 2, 3], [0, -1, 2]], F F^T =
    /// [[14, 4], [4, 5]], divided by C H W = 6.
    #[test]
    fn gram_matrix_by_hand() {
        let f = t(&[1., 2., 3., 0., -1., 2.], &[1, 2, 1, 3]);
        let g: Vec<Vec<f32>> = gram(&f).unwrap().to_vec2().unwrap();
        let want = [[14. / 6., 4. / 6.], [4. / 6., 5. / 6.]];
        for (row, want) in g.iter().zip(want) {
            for (a, b) in row.iter().zip(want) {
                assert!((a - b).abs() < 1e-6, "{g:?}");
            }
        }
        assert!(
            gram(&t(&[0.; 12], &[2, 2, 1, 3])).is_err(),
            "a batch of 2 is refused"
        );
    }

    /// A 1x1x2x3 image [[0, 1, 3], [2, 2, 2]]: down differences 2, 1, -1 (squares 6), across 1, 2, 0, 0
    /// (squares 5); (6 + 5) / 6 elements.
    #[test]
    fn total_variation_by_hand() {
        let x = t(&[0., 1., 3., 2., 2., 2.], &[1, 1, 2, 3]);
        let tv = total_variation(&x).unwrap().to_scalar::<f32>().unwrap();
        assert!((tv - 11. / 6.).abs() < 1e-6, "{tv}");
        let flat = Tensor::full(7f32, (1, 3, 4, 5), &Device::Cpu).unwrap();
        assert_eq!(
            total_variation(&flat).unwrap().to_scalar::<f32>().unwrap(),
            0.0
        );
    }

    #[test]
    fn bad_configurations_are_refused_with_the_reason() {
        let bad = |c: LossConfig, needle: &str| {
            let err = c.check().unwrap_err().to_string();
            assert!(err.contains(needle), "{needle:?} not in {err}");
        };
        bad(
            LossConfig {
                content_layer: "block9_conv1".into(),
                ..Default::default()
            },
            "block5_pool",
        );
        bad(
            LossConfig {
                style_weight: -1.0,
                ..Default::default()
            },
            "style weight",
        );
        bad(
            LossConfig {
                content_weight: 0.0,
                style_weight: 0.0,
                tv_weight: 0.0,
                ..Default::default()
            },
            "at least one positive weight",
        );
        bad(
            LossConfig {
                style_layers: LayerMix(vec![("block1_conv1".into(), f32::NAN)]),
                ..Default::default()
            },
            "block1_conv1=NaN",
        );
        LossConfig::default().check().unwrap();
    }
}
