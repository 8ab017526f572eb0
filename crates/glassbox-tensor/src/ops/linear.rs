//! A fully connected layer on the CPU: with a bias, one op over the rows of any leading shape (the product
//! on the gemm crate, the bias on [`crate::kernels::bias`]) with its own backward pass; without, candle's
//! matmul.

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Storage, Tensor, D};

use crate::kernels::gemm::{sgemm_new, sgemm_new_deep, Mat, Threads};
use crate::kernels::parallel::threads;

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
    if let Some(b) = b {
        if fused_applies(x, weight, b)? {
            return x
                .contiguous()?
                .apply_op3(&weight.contiguous()?, &b.contiguous()?, FusedLinear);
        }
    }
    if x.rank() > 2 {
        // Elsewhere, the rows as one matrix and the result back in `x`'s leading shape.
        let rows = x.flatten_to(x.rank() - 2)?;
        return linear(&rows, weight, b)?.reshape(output_shape(x.shape(), weight.dim(0)?));
    }
    let product = x.matmul(&weight.t()?)?;
    match b {
        Some(b) => add_bias(&product, b),
        None => Ok(product),
    }
}

/// Whether [`FusedLinear`] serves `x (..., inputs)`, `weight (outputs, inputs)` and `b (outputs)`.
fn fused_applies(x: &Tensor, weight: &Tensor, b: &Tensor) -> Result<bool> {
    Ok([x, weight, b].into_iter().all(uses_fast_path)
        && x.rank() >= 2
        && weight.rank() == 2
        && b.rank() == 1
        && x.dim(D::Minus1)? == weight.dim(1)?
        && b.dim(0)? == weight.dim(0)?)
}

/// The input's shape with the last dimension replaced by the `outputs`.
fn output_shape(x: &Shape, outputs: usize) -> Shape {
    let mut dims = x.dims().to_vec();
    if let Some(last) = dims.last_mut() {
        *last = outputs;
    }
    Shape::from(dims)
}

/// `x W^T + b` as one op over the rows of `x` (every dimension but the last flattened, so that a
/// sequence's states `(steps, batch, inputs)` take one product without a reshape node, whose backward
/// pass costs candle a zeroed gradient and an addition), with its own backward pass.
///
/// The products are the `gemm` crate's, laid out as candle's matmul and its backward pass lay them out
/// (`dW` as `(x^T dY)^T`), and the bias is added in place with the arithmetic of [`add_bias`]: on 2-D
/// input the results
/// equal the path of `matmul` then `add_bias` bit for bit (a test checks it), so models keep their
/// numbers.
struct FusedLinear;

impl FusedLinear {
    fn dims(x: &Layout, w: &Layout) -> Result<(usize, usize, usize)> {
        let (outputs, inputs) = w.shape().dims2()?;
        Ok((x.shape().elem_count() / inputs, inputs, outputs))
    }
}

impl candle_core::CustomOp3 for FusedLinear {
    fn name(&self) -> &'static str {
        "glassbox-linear"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (rows, inputs, outputs) = Self::dims(xl, wl)?;
        let x = f32_slice("linear input", xs, xl)?;
        let w = f32_slice("linear weight", ws, wl)?;
        let b = f32_slice("linear bias", bs, bl)?;
        let mut y = sgemm_new_deep(
            Mat::rows(x, rows, inputs),
            Mat::rows(w, outputs, inputs).t(),
        );
        bias::add_to_rows_in_place(&mut y, b);
        Ok((CpuStorage::F32(y), output_shape(xl.shape(), outputs)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _out: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let (gs, gl) = grad.storage_and_layout();
        let (xs, xl) = x.storage_and_layout();
        let (ws, wl) = w.storage_and_layout();
        let (Storage::Cpu(gs), Storage::Cpu(xs), Storage::Cpu(ws)) = (&*gs, &*xs, &*ws) else {
            candle_core::bail!("linear: the fused op runs on the CPU only");
        };
        let (rows, inputs, outputs) = Self::dims(xl, wl)?;
        let g = f32_slice("linear gradient", gs, gl)?;
        let pool = Threads::Pool(threads());
        let dy = Mat::rows(g, rows, outputs);
        let dx = x
            .track_op()
            .then(|| {
                let w = Mat::rows(f32_slice("linear weight", ws, wl)?, outputs, inputs);
                Tensor::from_vec(sgemm_new(dy, w, pool), x.shape(), x.device())
            })
            .transpose()?;
        let dw = w
            .track_op()
            .then(|| {
                let x = Mat::rows(f32_slice("linear input", xs, xl)?, rows, inputs);
                Tensor::from_vec(sgemm_new(dy.t(), x, pool), (outputs, inputs), w.device())
            })
            .transpose()?;
        let db = b
            .track_op()
            .then(|| Tensor::from_vec(bias::column_sums(g, outputs), outputs, b.device()))
            .transpose()?;
        Ok((dx, dw, db))
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

    /// Random input, weight (of standard deviation `w_std`), bias and a target to weight the outputs by.
    fn case(rows: usize, inputs: usize, outputs: usize, w_std: f32) -> (Var, Var, Var, Tensor) {
        let dev = Device::Cpu;
        (
            Var::randn(0f32, 1.0, (rows, inputs), &dev).unwrap(),
            Var::randn(0f32, w_std, (outputs, inputs), &dev).unwrap(),
            Var::randn(0f32, 1.0, outputs, &dev).unwrap(),
            Tensor::randn(0f32, 1.0, (rows, outputs), &dev).unwrap(),
        )
    }

    /// The fused op equals the path it replaced (candle's matmul, then `add_bias`) bit for bit, value and
    /// gradients, so models trained before it keep their numbers; a 3-D input gives the 2-D result in its
    /// shape, with the input's gradient in the input's shape.
    #[test]
    fn the_fused_op_equals_matmul_then_bias_exactly() {
        for (rows, inputs, outputs) in [(5, 3, 2), (3200, 256, 89), (96, 300, 700)] {
            let (x, w, b, target) = case(rows, inputs, outputs, 0.1);
            let loss = |y: &Tensor| (y * &target).unwrap().sum_all().unwrap();
            let fused = linear(x.as_tensor(), w.as_tensor(), Some(b.as_tensor())).unwrap();
            let before = add_bias(
                &x.as_tensor().matmul(&w.as_tensor().t().unwrap()).unwrap(),
                b.as_tensor(),
            )
            .unwrap();
            let vec = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert_eq!(vec(&fused), vec(&before), "{rows}x{inputs}x{outputs} value");
            let (gf, gb) = (
                loss(&fused).backward().unwrap(),
                loss(&before).backward().unwrap(),
            );
            for (v, what) in [(&x, "x"), (&w, "weight"), (&b, "bias")] {
                let (a, e) = (vec(gf.get(v).unwrap()), vec(gb.get(v).unwrap()));
                assert_eq!(a, e, "{rows}x{inputs}x{outputs} {what}");
                assert!(a.iter().any(|g| g.abs() > 1e-3));
            }
            if rows % 5 == 0 {
                let x3 = x.as_tensor().reshape((5, rows / 5, inputs)).unwrap();
                let y3 = linear(&x3, w.as_tensor(), Some(b.as_tensor())).unwrap();
                assert_eq!(y3.dims(), [5, rows / 5, outputs]);
                assert_eq!(vec(&y3), vec(&fused));
                let x3 = Var::from_tensor(&x3).unwrap();
                let y3 = linear(x3.as_tensor(), w.as_tensor(), Some(b.as_tensor())).unwrap();
                let g3 = loss(&y3.reshape((rows, outputs)).unwrap())
                    .backward()
                    .unwrap();
                let dx3 = g3.get(x3.as_tensor()).unwrap();
                assert_eq!(dx3.dims(), [5, rows / 5, inputs]);
                assert_eq!(vec(dx3), vec(gb.get(&x).unwrap()));
            }
        }
    }

    /// Value and gradients agree with candle's broadcast add and matmul, for a wide and a narrow head.
    #[test]
    fn agrees_with_candle() {
        for (rows, inputs, outputs) in [(1, 3, 1), (70, 16, 89), (130, 8, 1000)] {
            let (x, w, b, target) = case(rows, inputs, outputs, 1.0);
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
