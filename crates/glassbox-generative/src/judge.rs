//! Judging generated digits with the trained MNIST CNN (glassbox-convnet): which digit each sample looks
//! like and how sure the CNN is, the balance of the classes (entropy of the histogram; ln 10 = 2.303 is
//! perfect balance, well below it means the generator collapsed onto a few modes), and the Fréchet
//! distance between the CNN's 128 penultimate features of the samples and of real digits (FID with the
//! MNIST CNN standing in for Inception). The distance between the training and test digits themselves is
//! the floor a perfect generator would reach.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use glassbox_convnet::mnist::{load_trained, MnistCnn};
use glassbox_core::stats::{frechet_distance, Gaussian};
use serde::Serialize;

use crate::images::ImageSet;
use crate::Result;

/// Below this entropy of the class histogram, a set of samples is reported as collapsed.
pub const COLLAPSE_ENTROPY: f64 = 2.0;

/// What the CNN says about a set of digits.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    /// Digits judged.
    pub samples: usize,
    /// How many samples the CNN reads as each digit.
    pub histogram: [usize; 10],
    /// Of the histogram, in nats (ln 10 = 2.303 at best).
    pub entropy: f64,
    /// The mean probability of each sample's top class.
    pub mean_confidence: f64,
    /// The Fréchet distance of the features to the reference digits'.
    pub fid: f64,
    /// Set when the entropy is under [`COLLAPSE_ENTROPY`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// The trained CNN, used only to look.
pub struct Judge {
    cnn: MnistCnn,
    device: Device,
}

/// Features, top classes and their probabilities.
struct Looked {
    features: Vec<Vec<f64>>,
    classes: Vec<usize>,
    confidence: Vec<f64>,
}

impl Judge {
    /// The CNN trained by `glassbox mnist train` (its checkpoint).
    pub fn load(checkpoint: &Path, device: &Device) -> Result<Judge> {
        Ok(Judge {
            cnn: load_trained(checkpoint, device)?,
            device: device.clone(),
        })
    }

    fn look(&self, images: &Tensor) -> Result<Looked> {
        let mut looked = Looked {
            features: Vec::new(),
            classes: Vec::new(),
            confidence: Vec::new(),
        };
        let n = images.dim(0)?;
        for start in (0..n).step_by(1000) {
            let batch = images
                .narrow(0, start, 1000.min(n - start))?
                .to_device(&self.device)?;
            let (features, logits) = self.cnn.features_and_logits(&batch)?;
            let probs = candle_nn::ops::softmax_last_dim(&logits)?;
            let features: Vec<Vec<f32>> = features.to_dtype(DType::F32)?.to_vec2()?;
            looked.features.extend(
                features
                    .into_iter()
                    .map(|r| r.into_iter().map(f64::from).collect()),
            );
            for row in probs.to_vec2::<f32>()? {
                let (class, p) = row.iter().enumerate().fold((0, f32::MIN), |best, (k, &p)| {
                    if p > best.1 {
                        (k, p)
                    } else {
                        best
                    }
                });
                looked.classes.push(class);
                looked.confidence.push(f64::from(p));
            }
        }
        Ok(looked)
    }

    /// The Gaussian of the CNN's features over the first `limit` images of a set (pixels in 0..1).
    pub fn reference(&self, set: &dyn ImageSet, limit: usize) -> Result<Gaussian> {
        let indices: Vec<usize> = (0..set.len().min(limit)).collect();
        let images = set.batch(&indices, &Device::Cpu)?;
        Ok(Gaussian::fit(&self.look(&images)?.features)?)
    }

    /// Judges digits `(N, 1, 28, 28)` with pixels in 0..1 against the reference features.
    pub fn judge(&self, samples: &Tensor, reference: &Gaussian) -> Result<Verdict> {
        let looked = self.look(samples)?;
        let n = looked.classes.len();
        let mut histogram = [0usize; 10];
        for &c in &looked.classes {
            histogram[c] += 1;
        }
        let entropy = entropy(&histogram);
        let fid = frechet_distance(&Gaussian::fit(&looked.features)?, reference)?;
        Ok(Verdict {
            samples: n,
            histogram,
            entropy,
            mean_confidence: looked.confidence.iter().sum::<f64>() / n.max(1) as f64,
            fid,
            warning: (entropy < COLLAPSE_ENTROPY).then(|| {
                format!(
                    "the samples' classes have entropy {entropy:.2} < {COLLAPSE_ENTROPY} nats: the generator has collapsed onto a few digits"
                )
            }),
        })
    }
}

/// The entropy in nats of the distribution a histogram gives.
pub fn entropy(histogram: &[usize]) -> f64 {
    let total: usize = histogram.iter().sum();
    if total == 0 {
        return 0.0;
    }
    histogram
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / total as f64;
            -p * p.ln()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_of_balanced_and_collapsed_histograms() {
        assert!((entropy(&[7; 10]) - 10f64.ln()).abs() < 1e-12);
        assert_eq!(entropy(&[0, 0, 5, 0, 0, 0, 0, 0, 0, 0]), 0.0);
        // Two classes half and half: ln 2.
        assert!((entropy(&[3, 3, 0, 0, 0, 0, 0, 0, 0, 0]) - 2f64.ln()).abs() < 1e-12);
        assert_eq!(entropy(&[0; 10]), 0.0);
    }
}
