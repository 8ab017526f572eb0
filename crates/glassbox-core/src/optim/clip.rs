//! Gradient clipping by the global norm, as `torch.nn.utils.clip_grad_norm_` does it.

use candle_core::backprop::GradStore;
use candle_core::{DType, Var};

/// Scales the gradients of `vars` in `grads` so that their joint L2 norm is at most `max_norm`: each is
/// multiplied by `max_norm / (norm + 1e-6)` when that is below 1 (PyTorch's factor). Returns the norm
/// before clipping; a non-finite norm leaves the gradients as they are for the loss check to report.
pub fn clip_grad_norm(
    grads: &mut GradStore,
    vars: &[Var],
    max_norm: f64,
) -> candle_core::Result<f64> {
    let mut sum = 0.0;
    for var in vars {
        if let Some(g) = grads.get(var) {
            sum += g
                .to_dtype(DType::F64)?
                .sqr()?
                .sum_all()?
                .to_scalar::<f64>()?;
        }
    }
    let norm = sum.sqrt();
    let factor = max_norm / (norm + 1e-6);
    if norm.is_finite() && factor < 1.0 {
        for var in vars {
            if let Some(g) = grads.remove(var) {
                let scaled = g.affine(factor, 0.0)?;
                grads.insert(var, scaled);
            }
        }
    }
    Ok(norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    #[test]
    fn a_long_gradient_is_shortened_to_the_limit_and_a_short_one_kept() {
        let a = Var::new(&[1.0f64, 1.0], &Device::Cpu).unwrap();
        let b = Var::new(&[1.0f64], &Device::Cpu).unwrap();
        let loss = |scale: f64| {
            // d/da = (3, 0) * scale, d/db = 4 * scale: joint norm 5 * scale.
            let wa = Tensor::new(&[3.0 * scale, 0.0], &Device::Cpu).unwrap();
            let wb = Tensor::new(&[4.0 * scale], &Device::Cpu).unwrap();
            (a.as_tensor().mul(&wa).unwrap().sum_all().unwrap()
                + b.as_tensor().mul(&wb).unwrap().sum_all().unwrap())
            .unwrap()
        };
        let vars = [a.clone(), b.clone()];
        let mut grads = loss(1.0).backward().unwrap();
        assert_eq!(clip_grad_norm(&mut grads, &vars, 1.0).unwrap(), 5.0);
        let ga: Vec<f64> = grads.get(&a).unwrap().to_vec1().unwrap();
        let gb: Vec<f64> = grads.get(&b).unwrap().to_vec1().unwrap();
        let f = 1.0 / (5.0 + 1e-6);
        assert_eq!(ga, vec![3.0 * f, 0.0]);
        assert_eq!(gb, vec![4.0 * f]);
        let mut grads = loss(0.1).backward().unwrap();
        clip_grad_norm(&mut grads, &vars, 1.0).unwrap();
        let gb: Vec<f64> = grads.get(&b).unwrap().to_vec1().unwrap();
        assert!((gb[0] - 0.4).abs() < 1e-15);
    }
}
