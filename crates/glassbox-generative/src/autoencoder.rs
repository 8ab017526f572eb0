//! What every autoencoder here is: an encoder from images to a code, a decoder back, and the loss that
//! compares the decoder's output with the target image.

use candle_core::{Result, Tensor};

/// How a decoder's raw output becomes pixels and is scored against the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reconstruction {
    /// A sigmoid makes pixels in 0..1; the loss is binary cross-entropy averaged over pixels, Keras's
    /// `binary_crossentropy` (computed from the logits, so it stays finite where the sigmoid saturates).
    BinaryCrossEntropy,
    /// The output is the pixels; the loss is the mean squared error (Keras's `mse`).
    MeanSquaredError,
}

impl Reconstruction {
    /// The mean loss of raw outputs against targets in 0..1 (same shape).
    pub fn loss(self, raw: &Tensor, target: &Tensor) -> Result<Tensor> {
        match self {
            Reconstruction::BinaryCrossEntropy => bce_with_logits(raw, target),
            Reconstruction::MeanSquaredError => (raw - target)?.sqr()?.mean_all(),
        }
    }

    /// The pixels a raw output stands for.
    pub fn pixels(self, raw: &Tensor) -> Result<Tensor> {
        match self {
            Reconstruction::BinaryCrossEntropy => candle_nn::ops::sigmoid(raw),
            Reconstruction::MeanSquaredError => Ok(raw.clone()),
        }
    }
}

pub use glassbox_tensor::ops::bce_with_logits;

/// An encoder and a decoder, trained to give back their input.
pub trait Autoencoder {
    /// The name checkpoints carry, with the sizes that make it this model (a checkpoint of another
    /// model is refused).
    fn model_name(&self) -> String;

    /// Codes for images `(N, C, H, W)` in 0..1.
    fn encode(&self, x: &Tensor) -> Result<Tensor>;

    /// The decoder's output before its final activation, `(N, C, H, W)`.
    fn decode_raw(&self, code: &Tensor) -> Result<Tensor>;

    /// How outputs are scored and turned into pixels.
    fn reconstruction(&self) -> Reconstruction;

    /// Decoded pixels for codes.
    fn decode(&self, code: &Tensor) -> Result<Tensor> {
        self.reconstruction().pixels(&self.decode_raw(code)?)
    }

    /// Images in, reconstructed pixels out.
    fn reconstruct(&self, x: &Tensor) -> Result<Tensor> {
        self.decode(&self.encode(x)?)
    }

    /// The mean loss that training minimizes for inputs and their targets. `noise_seed` seeds whatever the
    /// model draws at random (a VAE's code samples); a deterministic autoencoder ignores it.
    fn training_loss(&self, input: &Tensor, target: &Tensor, noise_seed: u64) -> Result<Tensor> {
        let _ = noise_seed;
        let raw = self.decode_raw(&self.encode(input)?)?;
        self.reconstruction().loss(&raw, target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Binary cross-entropy by its definition, for logits small enough not to saturate, and its value where
    /// the sigmoid saturates (logit ±100: the naive formula gives ln 0).
    #[test]
    fn bce_matches_its_definition_and_survives_saturation() {
        let z = [-3.0f32, -0.5, 0.0, 0.7, 4.0];
        let t = [0.0f32, 0.25, 1.0, 0.5, 1.0];
        let want: f64 = z
            .iter()
            .zip(&t)
            .map(|(&z, &t)| {
                let p = 1.0 / (1.0 + (-f64::from(z)).exp());
                -f64::from(t) * p.ln() - (1.0 - f64::from(t)) * (1.0 - p).ln()
            })
            .sum::<f64>()
            / 5.0;
        let zt = Tensor::new(&z, &Device::Cpu).unwrap();
        let tt = Tensor::new(&t, &Device::Cpu).unwrap();
        let got = bce_with_logits(&zt, &tt)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!((f64::from(got) - want).abs() < 1e-6, "{got} vs {want}");

        // A confident right answer costs ~e^-100; a confident wrong one costs 100 (not infinity).
        let z = Tensor::new(&[100.0f32, -100.0], &Device::Cpu).unwrap();
        let t = Tensor::new(&[1.0f32, 1.0], &Device::Cpu).unwrap();
        let got = bce_with_logits(&z, &t).unwrap().to_scalar::<f32>().unwrap();
        assert!((got - 50.0).abs() < 1e-4, "{got}");
    }
}
