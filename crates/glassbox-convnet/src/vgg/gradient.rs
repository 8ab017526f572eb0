//! The input gradient of anything computed from VGG16's feature layers, with the backward pass driven by
//! hand rather than by candle's autograd.
//!
//! Style transfer and deep dreaming differentiate a loss of a few layers' activations with respect to the
//! image, hundreds of times. candle's autograd gives every node's gradient a fresh zero tensor and adds
//! into it (`GradStore::or_insert`), which at 512x512 is several passes over 64 MB tensors per layer and
//! about half of a step's time. The feature stack is a chain, so its backward pass is a loop: from the
//! deepest layer asked for down to the input, through each pool (the gradient to each window's largest
//! input) and each convolution with its ReLU (one kernel), adding each tapped layer's gradient where the
//! chain passes it. The forward pass keeps what that loop needs: every convolution's output after its
//! ReLU (the mask, and the pools' inputs). Both directions use each convolution's Winograd filters
//! transformed once (`Vgg16::prepacked`) rather than on every pass.

use candle_core::Tensor;
use glassbox_tensor::ops::{
    conv2d_relu_frozen, conv2d_relu_input_gradient, max_pool2d, max_pool2d_backward, ConvParams,
};

use super::model::{layer_names, Vgg16, CLASSIFIER_LAYERS, CONVS};
use crate::Result;

/// What [`Vgg16::backward`] needs from a forward pass.
pub struct Tape {
    /// Each convolution's input shape and its output after the ReLU, up to the deepest one run.
    convs: Vec<((usize, usize, usize, usize), Tensor)>,
    /// Whether the pool after convolution `k` ran.
    pooled: Vec<bool>,
    /// The tapped layers, in the order asked, as positions in [`layer_names`].
    taps: Vec<usize>,
}

const PARAMS: ConvParams = ConvParams {
    padding: 1,
    stride: 1,
    dilation: 1,
};

impl Vgg16 {
    /// Runs preprocessed inputs `(N, 3, H, W)` up to the deepest of `wanted` (feature layers: the
    /// convolutions and pools) and returns their outputs in the order asked, with the [`Tape`] for
    /// [`backward`](Self::backward). Nothing is recorded for candle's autograd.
    pub fn forward_with_tape(&self, x: &Tensor, wanted: &[&str]) -> Result<(Vec<Tensor>, Tape)> {
        let features: Vec<&str> = layer_names()
            .into_iter()
            .filter(|n| !CLASSIFIER_LAYERS.contains(n))
            .collect();
        let taps = wanted
            .iter()
            .map(|w| {
                features.iter().position(|n| n == w).ok_or_else(|| {
                    glassbox_core::Error::invalid(
                        "VGG16 feature layer",
                        w,
                        format!("one of {}", features.join(", ")),
                    )
                    .into()
                })
            })
            .collect::<Result<Vec<usize>>>()?;
        let last = taps.iter().copied().max().unwrap_or(0);
        let mut outputs: Vec<Option<Tensor>> = vec![None; wanted.len()];
        let mut tape = Tape {
            convs: Vec::new(),
            pooled: Vec::new(),
            taps: taps.clone(),
        };
        let mut h = x.detach();
        let mut position = 0;
        for (k, (spec, conv)) in CONVS.iter().zip(self.convs()).enumerate() {
            if position > last || taps.is_empty() {
                break;
            }
            let input_dims = h.dims4()?;
            let bias = conv.bias().expect("VGG16's convolutions have biases");
            h = conv2d_relu_frozen(&h, conv.weight(), bias, PARAMS, self.prepacked(k)?)?;
            tape.convs.push((input_dims, h.clone()));
            Self::collect(&taps, position, &h, &mut outputs);
            position += 1;
            let pool = spec.pool_after.is_some() && position <= last;
            tape.pooled.push(pool);
            if pool {
                h = max_pool2d(&h, 2, 2)?;
                Self::collect(&taps, position, &h, &mut outputs);
                position += 1;
            } else if spec.pool_after.is_some() {
                position += 1;
            }
        }
        let outputs = outputs
            .into_iter()
            .map(|o| o.expect("every tap lies on the chain run"))
            .collect();
        Ok((outputs, tape))
    }

    /// Keeps `h` for every tap at `position`.
    fn collect(taps: &[usize], position: usize, h: &Tensor, outputs: &mut [Option<Tensor>]) {
        for (slot, &t) in outputs.iter_mut().zip(taps) {
            if t == position {
                *slot = Some(h.clone());
            }
        }
    }

    /// The gradient with respect to the preprocessed input of the forward pass that made `tape`, given
    /// the gradient of each tapped layer's output (in the order the taps were asked; `None` for a tap
    /// that does not count).
    pub fn backward(&self, tape: &Tape, tap_gradients: &[Option<Tensor>]) -> Result<Tensor> {
        if tap_gradients.len() != tape.taps.len() {
            return Err(candle_core::Error::Msg(format!(
                "VGG16 backward: {} tap gradients for {} taps",
                tap_gradients.len(),
                tape.taps.len()
            ))
            .into());
        }
        let add_taps = |g: Option<Tensor>, position: usize| -> Result<Option<Tensor>> {
            let mut g = g;
            for (&t, tg) in tape.taps.iter().zip(tap_gradients) {
                if let (true, Some(tg)) = (t == position, tg) {
                    g = Some(match g {
                        Some(g) => (g + tg)?,
                        None => tg.clone(),
                    });
                }
            }
            Ok(g)
        };
        // The position of convolution k in layer_names: k plus the pools before it.
        let conv_position =
            |k: usize| k + CONVS[..k].iter().filter(|c| c.pool_after.is_some()).count();
        let mut g: Option<Tensor> = None;
        let convs = self.convs();
        for k in (0..tape.convs.len()).rev() {
            let (input_dims, y) = &tape.convs[k];
            let position = conv_position(k);
            if tape.pooled[k] {
                g = add_taps(g, position + 1)?;
                if let Some(gp) = &g {
                    g = Some(max_pool2d_backward(y, gp, 2, 2)?);
                }
            }
            g = add_taps(g, position)?;
            if let Some(gy) = &g {
                g = Some(conv2d_relu_input_gradient(
                    gy,
                    y,
                    convs[k].weight(),
                    *input_dims,
                    PARAMS,
                    self.prepacked(k)?,
                )?);
            }
        }
        let (dims, _) = tape
            .convs
            .first()
            .ok_or_else(|| candle_core::Error::Msg("VGG16 backward: an empty tape".into()))?;
        match g {
            Some(g) => Ok(g),
            None => Ok(Tensor::zeros(
                *dims,
                candle_core::DType::F32,
                self.device(),
            )?),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use candle_core::{Device, Var};
    use glassbox_core::imaging::Normalization;

    use super::*;

    /// VGG16 with seeded He-uniform weights (the shapes are what matters here).
    fn random_vgg() -> Vgg16 {
        let dev = Device::Cpu;
        let mut tensors = HashMap::new();
        for c in CONVS {
            let scale = (6.0 / (c.in_channels * 9) as f64).sqrt();
            let w = (Tensor::rand(-1f32, 1f32, (c.out_channels, c.in_channels, 3, 3), &dev)
                .unwrap()
                * scale)
                .unwrap();
            let b = Tensor::rand(-0.05f32, 0.05f32, c.out_channels, &dev).unwrap();
            tensors.insert(format!("features.{}.weight", c.index), w);
            tensors.insert(format!("features.{}.bias", c.index), b);
        }
        Vgg16::from_tensors(tensors, Normalization::CAFFE, Path::new("random")).unwrap()
    }

    /// The hand-driven backward pass equals candle's autograd on the same taps, for a loss that weighs
    /// every tapped value, with taps before and after pools, and one not counted.
    #[test]
    fn backward_matches_autograd() {
        let model = random_vgg();
        let dev = Device::Cpu;
        let x = Tensor::rand(-100f32, 100f32, (1, 3, 36, 44), &dev).unwrap();
        let taps = [
            "block3_conv2",
            "block1_conv1",
            "block2_pool",
            "block1_pool",
            "block4_conv1",
        ];
        let (outputs, tape) = model.forward_with_tape(&x, &taps).unwrap();
        let weights: Vec<Tensor> = outputs
            .iter()
            .map(|o| Tensor::rand(-1f32, 1f32, o.shape(), &dev).unwrap())
            .collect();
        let mut grads: Vec<Option<Tensor>> = weights.iter().cloned().map(Some).collect();
        grads[3] = None;
        let ours = model.backward(&tape, &grads).unwrap();

        let v = Var::from_tensor(&x).unwrap();
        let taken = model.layers(v.as_tensor(), &taps).unwrap();
        let mut loss = Tensor::zeros((), candle_core::DType::F32, &dev).unwrap();
        for (k, (t, w)) in taken.iter().zip(&weights).enumerate() {
            assert_eq!(t.dims(), outputs[k].dims());
            if k != 3 {
                loss = (loss + (t * w).unwrap().sum_all().unwrap()).unwrap();
            }
        }
        let want = loss.backward().unwrap().get(v.as_tensor()).unwrap().clone();
        let scale = want
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let diff = (ours - &want).unwrap().abs().unwrap().max_all().unwrap();
        let diff = diff.to_scalar::<f32>().unwrap();
        assert!(
            scale > 0.0 && diff / scale < 1e-4,
            "relative difference {}",
            diff / scale
        );
    }

    #[test]
    fn a_classifier_layer_is_refused_with_the_feature_layers() {
        let model = random_vgg();
        let x = Tensor::zeros((1, 3, 32, 32), candle_core::DType::F32, &Device::Cpu).unwrap();
        let err = model
            .forward_with_tape(&x, &["fc6"])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("fc6") && err.contains("block5_pool"), "{err}");
    }
}
