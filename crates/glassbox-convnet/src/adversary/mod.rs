//! Adversarial examples under an L-infinity budget (Goodfellow et al. 2015; Madry et al. 2018): small
//! changes to every pixel, each at most `eps`, chosen with the gradient of the loss with respect to the
//! input, that change the network's answer while the image looks the same.
//!
//! - FGSM: one step of `eps` in the direction of the gradient's sign.
//! - PGD: `steps` steps of `step_size` from a random start in the eps-ball, each followed by projection
//!   back onto the ball and the valid pixel range. It ascends Carlini & Wagner's margin loss (the best
//!   wrong logit minus the right one), whose gradient does not shrink as the softmax saturates on
//!   confident digits (on the MNIST CNN the two leave about as many digits right at eps 0.1, but the
//!   margin's gradient cannot vanish; `glassbox adversary mnist --loss cross-entropy` runs the other, and
//!   docs/lessons/cnn.md gives both).
//!
//! The classifier is any function from images to logits whose graph candle can differentiate; the images
//! are in `0..=1`. [`perturb`] climbs any other differentiable objective the same way ([`edges`] uses it
//! to erase what HED sees in one region of a photo).

pub mod edges;

use candle_core::{Tensor, Var, D};
use glassbox_core::seed::Seed;
use rand::Rng;

use crate::Result;

/// How to attack.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Attack {
    /// The L-infinity budget, in pixel units of `0..=1`.
    pub eps: f64,
    /// 1 with `step_size = eps` and no random start is FGSM.
    pub steps: usize,
    /// The size of each signed-gradient step, in pixel units of `0..=1`.
    pub step_size: f64,
    /// Start from a uniform random point of the budget's box (PGD) instead of the image itself.
    pub random_start: bool,
    /// What each step increases.
    pub loss: AttackLoss,
}

/// What the attack increases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum AttackLoss {
    /// The mean cross-entropy (FGSM as Goodfellow et al. define it).
    CrossEntropy,
    /// The mean of (largest wrong logit - right logit), whose gradient never vanishes.
    Margin,
}

impl Attack {
    /// FGSM: one step of `eps` from the image itself, on the cross-entropy.
    pub fn fgsm(eps: f64) -> Self {
        Attack {
            eps,
            steps: 1,
            step_size: eps,
            random_start: false,
            loss: AttackLoss::CrossEntropy,
        }
    }

    /// PGD with Madry et al.'s step size, 2.5 eps / steps.
    pub fn pgd(eps: f64, steps: usize) -> Self {
        Attack {
            eps,
            steps,
            step_size: 2.5 * eps / steps.max(1) as f64,
            random_start: true,
            loss: AttackLoss::Margin,
        }
    }
}

/// The attack's loss of `logits` against `labels`, to be increased.
fn classifier_loss(
    logits: &Tensor,
    labels: &Tensor,
    loss: AttackLoss,
) -> candle_core::Result<Tensor> {
    match loss {
        AttackLoss::CrossEntropy => candle_nn::loss::cross_entropy(logits, labels),
        AttackLoss::Margin => {
            let classes = logits.dim(D::Minus1)?;
            let one_hot = candle_nn::encoding::one_hot(labels.clone(), classes, 1f32, 0f32)?;
            let right = (logits * &one_hot)?.sum(D::Minus1)?;
            let best_wrong = (logits - (one_hot * 1e4)?)?.max(D::Minus1)?;
            (best_wrong - right)?.mean_all()
        }
    }
}

/// Adversarial versions of `images` (`0..=1`) for a classifier's `labels`, within `attack.eps` of them.
pub fn attack(
    classify: impl Fn(&Tensor) -> candle_core::Result<Tensor>,
    images: &Tensor,
    labels: &Tensor,
    attack: &Attack,
    seed: Seed,
) -> Result<Tensor> {
    perturb(images, attack, seed, |x| {
        classifier_loss(&classify(x)?, labels, attack.loss)
    })
}

/// Raises any scalar `objective` of images in `0..=1` by sign steps from `images`, staying within
/// `attack.eps` of them and in `0..=1` (`attack.loss` is not used: the objective is the loss).
pub fn perturb(
    images: &Tensor,
    attack: &Attack,
    seed: Seed,
    objective: impl Fn(&Tensor) -> candle_core::Result<Tensor>,
) -> Result<Tensor> {
    let images = images.detach();
    let lo = (&images - attack.eps)?.clamp(0f32, 1f32)?;
    let hi = (&images + attack.eps)?.clamp(0f32, 1f32)?;
    let mut x = images.clone();
    if attack.random_start {
        let mut rng = seed.stream("pgd-start");
        let noise: Vec<f32> = (0..images.elem_count())
            .map(|_| rng.random_range(-attack.eps..=attack.eps) as f32)
            .collect();
        let noise = Tensor::from_vec(noise, images.shape(), images.device())?;
        x = (&x + noise)?.maximum(&lo)?.minimum(&hi)?;
    }
    for _ in 0..attack.steps {
        let var = Var::from_tensor(&x)?;
        let grads = objective(var.as_tensor())?.backward()?;
        let g = grads
            .get(var.as_tensor())
            .cloned()
            .unwrap_or(x.zeros_like()?);
        x = (&x + (g.sign()? * attack.step_size)?)?
            .maximum(&lo)?
            .minimum(&hi)?
            .detach();
    }
    Ok(x)
}

/// How many of `logits`' argmaxes equal `labels`.
pub fn correct(logits: &Tensor, labels: &Tensor) -> Result<usize> {
    Ok(logits
        .argmax(D::Minus1)?
        .eq(labels)?
        .to_dtype(candle_core::DType::F32)?
        .sum_all()?
        .to_scalar::<f32>()? as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// A linear classifier of 2 pixels: logits (x0 - x1, x1 - x0).
    fn linear(x: &Tensor) -> candle_core::Result<Tensor> {
        let w = Tensor::new(&[[1f32, -1.0], [-1.0, 1.0]], x.device())?;
        x.flatten_from(1)?.matmul(&w.t()?)
    }

    #[test]
    fn fgsm_moves_every_pixel_by_eps_against_the_label_within_the_range() {
        let x = Tensor::new(&[[0.7f32, 0.2], [0.98, 0.5]], &Device::Cpu).unwrap();
        let y = Tensor::new(&[0u32, 0], &Device::Cpu).unwrap();
        let adv = attack(linear, &x, &y, &Attack::fgsm(0.1), Seed(1)).unwrap();
        // Class 0 wants x0 up and x1 down; the attack does the opposite, clamped to 0..1.
        let v: Vec<Vec<f32>> = adv.to_vec2().unwrap();
        assert!(
            (v[0][0] - 0.6).abs() < 1e-6 && (v[0][1] - 0.3).abs() < 1e-6,
            "{v:?}"
        );
        assert!(
            (v[1][0] - 0.88).abs() < 1e-6 && (v[1][1] - 0.6).abs() < 1e-6,
            "{v:?}"
        );
    }

    #[test]
    fn pgd_stays_in_the_ball_and_flips_what_fgsm_cannot() {
        // Margin 0.3: eps 0.1 of FGSM moves it by 0.2 (not enough), PGD with eps 0.2 by up to 0.4.
        let x = Tensor::new(&[[0.65f32, 0.35]], &Device::Cpu).unwrap();
        let y = Tensor::new(&[0u32], &Device::Cpu).unwrap();
        let f = attack(linear, &x, &y, &Attack::fgsm(0.1), Seed(1)).unwrap();
        assert_eq!(correct(&linear(&f).unwrap(), &y).unwrap(), 1);
        let p = attack(linear, &x, &y, &Attack::pgd(0.2, 10), Seed(1)).unwrap();
        assert_eq!(correct(&linear(&p).unwrap(), &y).unwrap(), 0);
        let d = (&p - &x)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d <= 0.2 + 1e-6, "{d}");
    }
}
