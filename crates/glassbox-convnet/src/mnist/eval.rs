//! How well the network does on a split: loss, accuracy, the confusion matrix, every prediction.

use candle_core::{DType, Device, D};
use glassbox_core::data::MnistSplit;
use serde::Serialize;

use super::model::MnistCnn;
use crate::Result;

/// Images per forward pass when evaluating.
const EVAL_BATCH: usize = 1000;

/// The CNN's results on a set of digits.
#[derive(Clone, Debug, Serialize)]
pub struct Evaluation {
    /// Digits evaluated.
    pub count: usize,
    /// Mean cross-entropy.
    pub loss: f64,
    /// The share classified right, in 0..=1.
    pub accuracy: f64,
    /// `confusion[true][predicted]`.
    pub confusion: [[usize; 10]; 10],
    /// The predicted digit of each image.
    #[serde(skip)]
    pub predictions: Vec<u8>,
    /// The softmax probability of each prediction.
    #[serde(skip)]
    pub confidence: Vec<f32>,
}

impl Evaluation {
    /// Indices of the images predicted wrongly.
    pub fn mistakes(&self, split: &MnistSplit) -> Vec<usize> {
        (0..self.count)
            .filter(|&i| self.predictions[i] != split.labels[i])
            .collect()
    }
}

/// Runs the network (dropout off) over every image of `split`.
pub fn evaluate(model: &MnistCnn, split: &MnistSplit, device: &Device) -> Result<Evaluation> {
    let mut confusion = [[0usize; 10]; 10];
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    let mut predictions = Vec::with_capacity(split.count);
    let mut confidence = Vec::with_capacity(split.count);
    let indices: Vec<usize> = (0..split.count).collect();
    for chunk in indices.chunks(EVAL_BATCH) {
        let x = split.images_tensor(chunk, device)?;
        let y = split.labels_tensor(chunk, device)?;
        let logits = model.forward_t(&x, false)?;
        let loss = candle_nn::loss::cross_entropy(&logits, &y)?.to_scalar::<f32>()?;
        loss_sum += f64::from(loss) * chunk.len() as f64;
        let probs = candle_nn::ops::softmax_last_dim(&logits)?;
        let predicted: Vec<u32> = probs.argmax(D::Minus1)?.to_vec1()?;
        let top: Vec<f32> = probs.max(D::Minus1)?.to_dtype(DType::F32)?.to_vec1()?;
        for (k, &i) in chunk.iter().enumerate() {
            let (t, p) = (usize::from(split.labels[i]), predicted[k] as usize);
            confusion[t][p] += 1;
            correct += usize::from(t == p);
            predictions.push(p as u8);
            confidence.push(top[k]);
        }
    }
    let n = split.count.max(1) as f64;
    Ok(Evaluation {
        count: split.count,
        loss: loss_sum / n,
        accuracy: correct as f64 / n,
        confusion,
        predictions,
        confidence,
    })
}
