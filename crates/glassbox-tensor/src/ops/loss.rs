//! Losses shared by the lessons: binary cross-entropy in candle ops (autograd through candle, any device),
//! softmax cross-entropy on the CPU kernel with its backward pass.

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor};

use crate::kernels::cross_entropy;
use crate::kernels::storage::f32_slice;

/// Binary cross-entropy of logits `z` against targets `t` in 0..1, averaged over every element:
/// `mean(max(z, 0) - z t + ln(1 + e^-|z|))`, which is `-t ln σ(z) - (1 - t) ln(1 - σ(z))` without overflow
/// where the sigmoid saturates (PyTorch's `binary_cross_entropy_with_logits`; Keras's
/// `binary_crossentropy` on a sigmoid output).
pub fn bce_with_logits(z: &Tensor, t: &Tensor) -> Result<Tensor> {
    let softplus = (z.abs()?.neg()?.exp()? + 1.0)?.log()?;
    ((z.relu()? - (z * t)?)? + softplus)?.mean_all()
}

/// Softmax cross-entropy of `logits: (rows, classes)` against class indices `targets: (rows)`, averaged
/// over rows: the value and gradient of `candle_nn::loss::cross_entropy`, on the CPU in two passes per row
/// ([`crate::kernels::cross_entropy`]) instead of a dozen. A target out of range is an error.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    if !super::uses_fast_path(logits) {
        return candle_nn::loss::cross_entropy(logits, targets);
    }
    let (rows, _) = logits.dims2()?;
    if targets.dims1()? != rows {
        candle_core::bail!(
            "cross_entropy: {rows} rows of logits but {} targets",
            targets.dims1()?
        );
    }
    let targets = targets.to_dtype(DType::U32)?.contiguous()?;
    logits.contiguous()?.apply_op2(&targets, CrossEntropy)
}

struct CrossEntropy;

/// The logits, the targets and the number of classes out of the two operands.
fn operands<'a>(
    ls: &'a CpuStorage,
    ll: &Layout,
    ts: &'a CpuStorage,
    tl: &Layout,
) -> Result<(&'a [f32], &'a [u32], usize)> {
    let logits = f32_slice("cross_entropy logits", ls, ll)?;
    let targets = match (ts, tl.contiguous_offsets()) {
        (CpuStorage::U32(v), Some((start, end))) => &v[start..end],
        _ => candle_core::bail!("cross_entropy: targets must be contiguous u32"),
    };
    let (_, classes) = ll.shape().dims2()?;
    Ok((logits, targets, classes))
}

impl CustomOp2 for CrossEntropy {
    fn name(&self) -> &'static str {
        "glassbox-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        ls: &CpuStorage,
        ll: &Layout,
        ts: &CpuStorage,
        tl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (logits, targets, classes) = operands(ls, ll, ts, tl)?;
        let loss = cross_entropy::cross_entropy(logits, targets, classes)?;
        Ok((CpuStorage::F32(vec![loss]), Shape::from(())))
    }

    fn bwd(
        &self,
        logits: &Tensor,
        targets: &Tensor,
        _loss: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let backward = CrossEntropyBackward {
            grad: grad.to_scalar::<f32>()?,
        };
        Ok((Some(logits.apply_op2_no_bwd(targets, &backward)?), None))
    }
}

/// `(logits, targets) -> d loss / d logits` for a loss gradient `grad`.
struct CrossEntropyBackward {
    grad: f32,
}

impl CustomOp2 for CrossEntropyBackward {
    fn name(&self) -> &'static str {
        "glassbox-cross-entropy-backward"
    }

    fn cpu_fwd(
        &self,
        ls: &CpuStorage,
        ll: &Layout,
        ts: &CpuStorage,
        tl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (logits, targets, classes) = operands(ls, ll, ts, tl)?;
        let grad = cross_entropy::cross_entropy_backward(logits, targets, classes, self.grad)?;
        Ok((CpuStorage::F32(grad), ll.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// The value and the gradient agree with candle-nn's composition on random logits, wide and narrow.
    #[test]
    fn agrees_with_candle_nn() {
        let dev = Device::Cpu;
        for (rows, classes) in [(1, 1), (3, 89), (70, 1000), (5, 8003)] {
            let logits =
                Var::from_tensor(&(Tensor::randn(0f32, 3.0, (rows, classes), &dev).unwrap()))
                    .unwrap();
            let targets: Vec<u32> = (0..rows as u32)
                .map(|r| (r * 7919) % classes as u32)
                .collect();
            let targets = Tensor::new(targets, &dev).unwrap();
            let ours = cross_entropy(logits.as_tensor(), &targets).unwrap();
            let reference = candle_nn::loss::cross_entropy(logits.as_tensor(), &targets).unwrap();
            let (a, b) = (
                ours.to_scalar::<f32>().unwrap(),
                reference.to_scalar::<f32>().unwrap(),
            );
            assert!(
                (a - b).abs() < 1e-5 * b.abs().max(1.0),
                "{rows}x{classes}: {a} vs {b}"
            );
            let g_ours = (ours * 3.0).unwrap().backward().unwrap();
            let g_ref = (reference * 3.0).unwrap().backward().unwrap();
            let diff = (g_ours.get(&logits).unwrap() - g_ref.get(&logits).unwrap())
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(diff < 1e-6, "{rows}x{classes}: gradients differ by {diff}");
        }
        let logits = Tensor::zeros((2, 4), DType::F32, &dev).unwrap();
        let err = cross_entropy(&logits, &Tensor::new(&[1u32, 4], &dev).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("out of range"), "{err}");
        assert!(cross_entropy(&logits, &Tensor::new(&[1u32], &dev).unwrap()).is_err());
    }
}
