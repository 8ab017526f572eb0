//! The variational autoencoder of the course (Kingma & Welling, "Auto-Encoding Variational Bayes", 2013),
//! as Keras's example builds it, one hidden layer deeper:
//!
//! ```text
//! encoder   784 -> Dense(512, relu) -> Dense(256, relu) -> mean: Dense(L), log-variance: Dense(L)
//! sample    z = mean + exp(log-variance / 2) * eps,  eps ~ N(0, I)     (the reparameterization trick)
//! decoder   z -> Dense(256, relu) -> Dense(512, relu) -> Dense(784, sigmoid)
//! loss      784 * binary cross-entropy(x, decoded)  +  KL(q(z|x) || N(0, I))
//!           KL = -1/2 * sum(1 + log-variance - mean^2 - exp(log-variance))
//! ```
//!
//! with latent size L = 2 (for the plots) or 50. The loss per image is the negative evidence lower bound
//! (ELBO) in nats, up to the Bernoulli likelihood's treatment of gray pixels. `encode` gives the mean (the
//! code plotted); training and [`Vae::sample_codes`] draw from the seeded generator they are given.

use candle_core::{Device, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};
use glassbox_tensor::nn::keras;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;

use crate::autoencoder::{bce_with_logits, Autoencoder, Reconstruction};

/// The sizes of a VAE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct VaeConfig {
    /// `(channels, height, width)` of the images.
    pub image: (usize, usize, usize),
    /// The encoder's two hidden widths (the decoder runs them backwards).
    pub hidden: [usize; 2],
    /// The latent code's size.
    pub latent: usize,
}

impl VaeConfig {
    /// The course's: 784-512-256-L.
    pub fn mnist(latent: usize) -> Self {
        VaeConfig {
            image: (1, 28, 28),
            hidden: [512, 256],
            latent,
        }
    }

    fn pixels(&self) -> usize {
        self.image.0 * self.image.1 * self.image.2
    }
}

/// The variational autoencoder: a dense encoder to the code's mean and log-variance, a sample by the
/// reparameterization, a dense decoder back; its loss is the negative ELBO.
pub struct Vae {
    encoder: [Linear; 2],
    mean: Linear,
    log_var: Linear,
    decoder: [Linear; 3],
    config: VaeConfig,
}

impl Vae {
    /// Creates or reads the weights under `vb`; zero sizes are refused.
    pub fn new(config: VaeConfig, vb: VarBuilder) -> Result<Self> {
        let [h1, h2] = config.hidden;
        let (pixels, latent) = (config.pixels(), config.latent);
        if latent == 0 || h1 == 0 || h2 == 0 || pixels == 0 {
            candle_core::bail!(
                "VAE: the latent size, hidden widths and image must be at least 1 (latent {latent}, hidden {:?}, image {:?})",
                config.hidden,
                config.image
            );
        }
        let dense = |i, o, name: &str| keras::dense(i, o, vb.pp(name));
        Ok(Vae {
            encoder: [dense(pixels, h1, "encoder.0")?, dense(h1, h2, "encoder.1")?],
            mean: dense(h2, latent, "mean")?,
            log_var: dense(h2, latent, "log_var")?,
            decoder: [
                dense(latent, h2, "decoder.0")?,
                dense(h2, h1, "decoder.1")?,
                dense(h1, pixels, "decoder.2")?,
            ],
            config,
        })
    }

    /// The sizes it was built with.
    pub fn config(&self) -> &VaeConfig {
        &self.config
    }

    /// The posterior's mean and log-variance `(N, L)` for images `(N, C, H, W)`.
    pub fn posterior(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let mut h = x.flatten_from(1)?;
        for layer in &self.encoder {
            h = layer.forward(&h)?.relu()?;
        }
        Ok((self.mean.forward(&h)?, self.log_var.forward(&h)?))
    }

    /// `mean + exp(log_var / 2) * eps` with `eps` drawn from `seed`.
    pub fn reparameterize(&self, mean: &Tensor, log_var: &Tensor, seed: u64) -> Result<Tensor> {
        let eps = standard_normal(mean.dims(), seed, mean.device())?;
        mean + (log_var * 0.5)?.exp()? * eps
    }

    /// `n` codes from the prior N(0, I), seeded.
    pub fn sample_codes(&self, n: usize, seed: u64, device: &Device) -> Result<Tensor> {
        standard_normal(&[n, self.config.latent], seed, device)
    }

    /// The negative ELBO per image, averaged over the batch: `784 * BCE + KL`, and its two parts.
    pub fn loss_parts(&self, x: &Tensor, seed: u64) -> Result<(Tensor, Tensor, Tensor)> {
        let (mean, log_var) = self.posterior(x)?;
        let z = self.reparameterize(&mean, &log_var, seed)?;
        let raw = self.decode_raw(&z)?;
        // Keras's `binary_crossentropy` is a mean over pixels; times the pixel count it is the sum.
        let reconstruction = (bce_with_logits(&raw, x)? * self.config.pixels() as f64)?;
        let kl = kl_to_standard_normal(&mean, &log_var)?;
        let total = (&reconstruction + &kl)?;
        Ok((total, reconstruction, kl))
    }
}

/// `KL(N(mean, exp(log_var)) || N(0, I)) = 1/2 * sum(exp(log_var) + mean^2 - 1 - log_var)` per row `(N, L)`,
/// averaged over the rows.
pub fn kl_to_standard_normal(mean: &Tensor, log_var: &Tensor) -> Result<Tensor> {
    ((log_var.exp()? + mean.sqr()?)? - log_var)?
        .affine(1.0, -1.0)?
        .sum(1)?
        .mean_all()?
        .affine(0.5, 0.0)
}

/// `N(0, 1)` values of the given shape from a seeded generator (candle's own cannot be seeded).
fn standard_normal(dims: &[usize], seed: u64, device: &Device) -> Result<Tensor> {
    let mut rng = StdRng::seed_from_u64(seed);
    let n: usize = dims.iter().product();
    let values: Vec<f32> = (0..n).map(|_| StandardNormal.sample(&mut rng)).collect();
    Tensor::from_vec(values, dims, device)
}

impl Autoencoder for Vae {
    fn model_name(&self) -> String {
        let [h1, h2] = self.config.hidden;
        format!(
            "vae-{}-{h1}-{h2}-{}",
            self.config.pixels(),
            self.config.latent
        )
    }

    fn encode(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.posterior(x)?.0)
    }

    fn decode_raw(&self, code: &Tensor) -> Result<Tensor> {
        let mut h = code.clone();
        for (k, layer) in self.decoder.iter().enumerate() {
            h = layer.forward(&h)?;
            if k < self.decoder.len() - 1 {
                h = h.relu()?;
            }
        }
        let (c, height, width) = self.config.image;
        h.reshape((h.dim(0)?, c, height, width))
    }

    fn reconstruction(&self) -> Reconstruction {
        Reconstruction::BinaryCrossEntropy
    }

    /// The negative ELBO in nats per image (the target must be the input: a VAE models its data).
    fn training_loss(&self, input: &Tensor, _target: &Tensor, noise_seed: u64) -> Result<Tensor> {
        Ok(self.loss_parts(input, noise_seed)?.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::DType;
    use candle_nn::VarMap;
    use glassbox_core::seed::{Seed, SeededInit};

    fn build(latent: usize) -> (VarMap, Vae) {
        let vm = VarMap::new();
        let vb = SeededInit::var_builder(&vm, Seed(2), DType::F32, &Device::Cpu);
        (vm, Vae::new(VaeConfig::mnist(latent), vb).unwrap())
    }

    /// 784*512+512 + 512*256+256 + 2*(256*L+L) for the encoder, the mirror for the decoder.
    #[test]
    fn parameter_count_and_shapes() {
        for latent in [2, 50] {
            let (vm, vae) = build(latent);
            let total: usize = vm.all_vars().iter().map(|v| v.elem_count()).sum();
            let encoder = 784 * 512 + 512 + 512 * 256 + 256 + 2 * (256 * latent + latent);
            let decoder = latent * 256 + 256 + 256 * 512 + 512 + 512 * 784 + 784;
            assert_eq!(total, encoder + decoder);
            let x = Tensor::rand(0f32, 1f32, (4, 1, 28, 28), &Device::Cpu).unwrap();
            assert_eq!(vae.encode(&x).unwrap().dims(), [4, latent]);
            assert_eq!(vae.reconstruct(&x).unwrap().dims(), [4, 1, 28, 28]);
        }
        let vb = candle_nn::VarBuilder::zeros(DType::F32, &Device::Cpu);
        let err = Vae::new(VaeConfig::mnist(0), vb).err().unwrap().to_string();
        assert!(err.contains("latent"), "{err}");
    }

    /// The KL term against its closed form for a posterior worked by hand: mean (1, -2), log-variance
    /// (0, ln 4): KL = 1/2 * [(1 + 1 - 0 - 1) + (4 + 4 - ln 4 - 1)] = 1/2 * (1 + 7 - ln 4).
    #[test]
    fn kl_matches_the_closed_form() {
        let mean = Tensor::new(&[[1.0f32, -2.0]], &Device::Cpu).unwrap();
        let log_var = Tensor::new(&[[0.0f32, 4f32.ln()]], &Device::Cpu).unwrap();
        let kl = kl_to_standard_normal(&mean, &log_var)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let want = 0.5 * (1.0 + 7.0 - 4f32.ln());
        assert!((kl - want).abs() < 1e-6, "{kl} vs {want}");
    }

    /// The loss's parts add up, the KL is non-negative, the same seed draws the same codes, and the
    /// reparameterized sample has the posterior's spread.
    #[test]
    fn loss_parts_and_sampling() {
        let (_, vae) = build(50);
        let x = Tensor::rand(0f32, 1f32, (8, 1, 28, 28), &Device::Cpu).unwrap();
        let (total, rec, kl) = vae.loss_parts(&x, 7).unwrap();
        let (total, rec, kl) = (
            total.to_scalar::<f32>().unwrap(),
            rec.to_scalar::<f32>().unwrap(),
            kl.to_scalar::<f32>().unwrap(),
        );
        assert!(
            (total - rec - kl).abs() < 1e-3 * total.abs(),
            "{total} {rec} {kl}"
        );
        assert!(kl.is_finite() && kl >= 0.0 && rec > 0.0);
        let again = vae.loss_parts(&x, 7).unwrap().0.to_scalar::<f32>().unwrap();
        assert_eq!(again, total);
        let mean = Tensor::full(3f32, (1000, 2), &Device::Cpu).unwrap();
        let log_var = Tensor::full(4f32.ln(), (1000, 2), &Device::Cpu).unwrap();
        let z: Vec<f32> = vae
            .reparameterize(&mean, &log_var, 11)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let m = z.iter().sum::<f32>() / z.len() as f32;
        let sd = (z.iter().map(|v| (v - m).powi(2)).sum::<f32>() / z.len() as f32).sqrt();
        // 2000 draws of N(3, 2^2): the mean within 0.15 (3.4 standard errors), the spread within 5%.
        assert!(
            (m - 3.0).abs() < 0.15 && (sd - 2.0).abs() < 0.1,
            "mean {m}, sd {sd}"
        );
    }
}
