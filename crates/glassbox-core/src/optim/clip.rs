//! Gradient clipping by the global norm, as `torch.nn.utils.clip_grad_norm_` does it.

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, Storage, Tensor, Var};

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
            sum += sum_of_squares(g)?;
        }
    }
    let norm = sum.sqrt();
    let factor = max_norm / (norm + 1e-6);
    if norm.is_finite() && factor < 1.0 {
        for var in vars {
            if let Some(g) = grads.remove(var) {
                grads.insert(var, scaled(&g, factor)?);
            }
        }
    }
    Ok(norm)
}

/// A CPU tensor's contiguous f32 elements, for the fast paths below.
fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Option<R> {
    let (storage, layout) = t.storage_and_layout();
    match (&*storage, layout.contiguous_offsets()) {
        (Storage::Cpu(CpuStorage::F32(data)), Some((start, end))) => Some(f(&data[start..end])),
        _ => None,
    }
}

/// `Σ g²` in f64. On the CPU in f32 one pass over the data, eight partial sums wide (so that it
/// vectorizes), instead of an f64 copy, its square and their sum: three passes, two of them on candle's
/// worker pool, which then spins beside the next step's kernels.
fn sum_of_squares(g: &Tensor) -> candle_core::Result<f64> {
    let fast = with_f32(g, |xs| {
        let mut lanes = [0.0f64; 8];
        let chunks = xs.chunks_exact(8);
        let tail: f64 = chunks
            .remainder()
            .iter()
            .map(|&x| (x as f64) * (x as f64))
            .sum();
        for chunk in chunks {
            for (sum, &x) in lanes.iter_mut().zip(chunk) {
                *sum += (x as f64) * (x as f64);
            }
        }
        lanes.iter().sum::<f64>() + tail
    });
    match fast {
        Some(sum) => Ok(sum),
        None => g.to_dtype(DType::F64)?.sqr()?.sum_all()?.to_scalar::<f64>(),
    }
}

/// `g * factor`, on the CPU in f32 in one pass of this thread (see `sum_of_squares`).
fn scaled(g: &Tensor, factor: f64) -> candle_core::Result<Tensor> {
    let f = factor as f32;
    match with_f32(g, |xs| xs.iter().map(|&x| x * f).collect::<Vec<f32>>()) {
        Some(data) => Tensor::from_vec(data, g.shape(), g.device()),
        None => g.affine(factor, 0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// The f32 fast path against the candle-op path it replaces, on a gradient whose length is not a
    /// multiple of the eight partial sums, and a transposed (non-contiguous) one that takes the op path.
    #[test]
    fn the_f32_path_agrees_with_candle_ops() {
        let n = 1003;
        let xs: Vec<f32> = (0..n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.013)
            .collect();
        let g = Tensor::from_vec(xs.clone(), n, &Device::Cpu).unwrap();
        let by_ops = g
            .to_dtype(DType::F64)
            .unwrap()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        let fast = sum_of_squares(&g).unwrap();
        assert!(
            by_ops > 1.0 && (fast - by_ops).abs() <= 1e-12 * by_ops,
            "{fast} vs {by_ops}"
        );
        let scaled_fast: Vec<f32> = scaled(&g, 0.3).unwrap().to_vec1().unwrap();
        let scaled_ops: Vec<f32> = g.affine(0.3, 0.0).unwrap().to_vec1().unwrap();
        assert_eq!(scaled_fast, scaled_ops);
        let t = Tensor::from_vec(xs, (17, 59), &Device::Cpu)
            .unwrap()
            .t()
            .unwrap();
        assert!(
            with_f32(&t, |_| ()).is_none(),
            "a transposed view is not contiguous"
        );
        let by_ops_t = t
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap() as f64;
        assert!((sum_of_squares(&t).unwrap() - by_ops_t).abs() <= 1e-5 * by_ops_t);
    }

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
