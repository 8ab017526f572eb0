//! A fully connected layer's bias on the CPU kernel ([`crate::kernels::bias`]) with its backward pass; the
//! product stays candle's matmul (the gemm crate).

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

use super::uses_fast_path;
use crate::kernels::bias;
use crate::kernels::storage::f32_slice;

/// `x + bias` for `x: (rows, cols)` and `bias: (cols)`: candle's `broadcast_add`, with a backward pass that
/// sums the gradient's rows in one pass.
pub fn add_bias(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    if !uses_fast_path(x) || x.rank() != 2 || b.rank() != 1 || x.dim(1)? != b.dim(0)? {
        return x.broadcast_add(b);
    }
    x.contiguous()?.apply_op2(&b.contiguous()?, AddBias)
}

/// `x W^T + b` for `x: (rows, inputs)`, PyTorch's and candle's layout of `W: (outputs, inputs)`.
pub fn linear(x: &Tensor, weight: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let product = x.matmul(&weight.t()?)?;
    match b {
        Some(b) => add_bias(&product, b),
        None => Ok(product),
    }
}

struct AddBias;

impl CustomOp2 for AddBias {
    fn name(&self) -> &'static str {
        "glassbox-add-bias"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice("add_bias input", xs, xl)?;
        let b = f32_slice("add_bias bias", bs, bl)?;
        Ok((CpuStorage::F32(bias::add_to_rows(x, b)), xl.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        b: &Tensor,
        _out: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let sums = grad.apply_op1_no_bwd(&ColumnSums)?;
        debug_assert_eq!(sums.dims(), b.dims());
        Ok((Some(grad), Some(sums)))
    }
}

struct ColumnSums;

impl candle_core::CustomOp1 for ColumnSums {
    fn name(&self) -> &'static str {
        "glassbox-column-sums"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = f32_slice("add_bias gradient", s, l)?;
        let (_, cols) = l.shape().dims2()?;
        Ok((
            CpuStorage::F32(bias::column_sums(g, cols)),
            Shape::from(cols),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Value and gradients agree with candle's broadcast add and matmul, for a wide and a narrow head.
    #[test]
    fn agrees_with_candle() {
        let dev = Device::Cpu;
        for (rows, inputs, outputs) in [(1, 3, 1), (70, 16, 89), (130, 8, 1000)] {
            let x = Var::randn(0f32, 1.0, (rows, inputs), &dev).unwrap();
            let w = Var::randn(0f32, 1.0, (outputs, inputs), &dev).unwrap();
            let b = Var::randn(0f32, 1.0, outputs, &dev).unwrap();
            let target = Tensor::randn(0f32, 1.0, (rows, outputs), &dev).unwrap();
            let loss = |y: Tensor| (y * &target).unwrap().sum_all().unwrap();
            let ours = linear(x.as_tensor(), w.as_tensor(), Some(b.as_tensor())).unwrap();
            let reference = x
                .as_tensor()
                .matmul(&w.as_tensor().t().unwrap())
                .unwrap()
                .broadcast_add(b.as_tensor())
                .unwrap();
            let close = |a: &Tensor, b: &Tensor, what: &str| {
                let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap();
                let diff = diff.to_scalar::<f32>().unwrap();
                assert!(diff < 1e-4, "{rows}x{inputs}x{outputs} {what}: {diff}");
            };
            close(&ours, &reference, "value");
            let (g_ours, g_ref) = (
                loss(ours).backward().unwrap(),
                loss(reference).backward().unwrap(),
            );
            for (v, what) in [(&x, "x"), (&w, "weight"), (&b, "bias")] {
                close(g_ours.get(v).unwrap(), g_ref.get(v).unwrap(), what);
            }
        }
    }
}
