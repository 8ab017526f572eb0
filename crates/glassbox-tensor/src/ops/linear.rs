//! A fully connected layer on the CPU: one op over the rows of any leading shape, or over a batch's
//! flattened items (the product on the gemm crate, the bias, where there is one, on
//! [`crate::kernels::bias`]) with its own backward pass.

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
    if fused_applies(x, weight, b, Rows::Leading)? {
        return fused(x, weight, b, Rows::Leading);
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

/// [`linear`] of `x.flatten_from(1)`: each of the `N` items of `x: (N, ...)` as one row (a
/// convolutional network's feature maps into its dense head), `(N, outputs)` out. On the CPU one op,
/// without the flattened input as a node of its own: candle's backward pass zeroes and adds a
/// gradient for every node, and the DCGAN discriminator's flattened maps are 800,000 values.
pub fn flatten_linear(x: &Tensor, weight: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    if fused_applies(x, weight, b, Rows::Flattened)? {
        return fused(x, weight, b, Rows::Flattened);
    }
    linear(&x.flatten_from(1)?, weight, b)
}

/// Which dimensions of the input make a row of the fused op.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Rows {
    /// The last (a sequence's `(steps, batch, inputs)` gives `(steps, batch, outputs)`).
    Leading,
    /// All but the first (`(N, ...)` gives `(N, outputs)`).
    Flattened,
}

fn fused(x: &Tensor, weight: &Tensor, b: Option<&Tensor>, rows: Rows) -> Result<Tensor> {
    let (x, weight) = (x.contiguous()?, weight.contiguous()?);
    match b {
        Some(b) => x.apply_op3(&weight, &b.contiguous()?, FusedLinear { rows }),
        None => x.apply_op2(&weight, FusedLinear { rows }),
    }
}

/// Whether [`FusedLinear`] serves `x`, `weight (outputs, inputs)` and `b (outputs)` (or no bias), with
/// rows of `x` read as `rows` says.
fn fused_applies(x: &Tensor, weight: &Tensor, b: Option<&Tensor>, rows: Rows) -> Result<bool> {
    if ![x, weight].into_iter().chain(b).all(uses_fast_path) || x.rank() < 2 || weight.rank() != 2 {
        return Ok(false);
    }
    let (outputs, inputs) = weight.dims2()?;
    let row_len = match rows {
        Rows::Leading => x.dim(D::Minus1)?,
        Rows::Flattened => x.dims()[1..].iter().product(),
    };
    let bias_fits = match b {
        Some(b) => b.rank() == 1 && b.dim(0)? == outputs,
        None => true,
    };
    Ok(inputs > 0 && row_len == inputs && bias_fits)
}

/// The input's shape with the last dimension replaced by the `outputs`.
fn output_shape(x: &Shape, outputs: usize) -> Shape {
    let mut dims = x.dims().to_vec();
    if let Some(last) = dims.last_mut() {
        *last = outputs;
    }
    Shape::from(dims)
}

/// `x W^T (+ b)` as one op over the rows of `x` ([`Rows`]: so that a sequence's states or a network's
/// feature maps take one product without a reshape node, whose backward pass costs candle a zeroed
/// gradient and an addition), with its own backward pass; with a bias a [`candle_core::CustomOp3`],
/// without a [`CustomOp2`].
///
/// The products are the `gemm` crate's, laid out as candle's matmul and its backward pass lay them out
/// (`dW` as `(x^T dY)^T`), and the bias is added in place with the arithmetic of [`add_bias`]: on 2-D
/// input the results equal the path of `matmul` then `add_bias` (or `matmul` alone) bit for bit (a test
/// checks it), so models keep their numbers.
struct FusedLinear {
    rows: Rows,
}

impl FusedLinear {
    fn dims(x: &Layout, w: &Layout) -> Result<(usize, usize, usize)> {
        let (outputs, inputs) = w.shape().dims2()?;
        Ok((x.shape().elem_count() / inputs, inputs, outputs))
    }

    fn out_shape(&self, x: &Shape, outputs: usize) -> Result<Shape> {
        Ok(match self.rows {
            Rows::Leading => output_shape(x, outputs),
            Rows::Flattened => Shape::from((x.dims()[0], outputs)),
        })
    }

    /// `x W^T`, plus `b` where given.
    fn forward(
        &self,
        (xs, xl): (&CpuStorage, &Layout),
        (ws, wl): (&CpuStorage, &Layout),
        b: Option<&[f32]>,
    ) -> Result<(CpuStorage, Shape)> {
        let (rows, inputs, outputs) = Self::dims(xl, wl)?;
        let x = f32_slice("linear input", xs, xl)?;
        let w = f32_slice("linear weight", ws, wl)?;
        let mut y = sgemm_new_deep(
            Mat::rows(x, rows, inputs),
            Mat::rows(w, outputs, inputs).t(),
        );
        if let Some(b) = b {
            bias::add_to_rows_in_place(&mut y, b);
        }
        Ok((CpuStorage::F32(y), self.out_shape(xl.shape(), outputs)?))
    }

    /// The gradients of `x` and `w` (where tracked) and, when `bias` is given and tracked, of the bias.
    fn backward(
        x: &Tensor,
        w: &Tensor,
        bias: Option<&Tensor>,
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
        let db = bias
            .filter(|b| b.track_op())
            .map(|b| Tensor::from_vec(bias::column_sums(g, outputs), outputs, b.device()))
            .transpose()?;
        Ok((dx, dw, db))
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
        let b = f32_slice("linear bias", bs, bl)?;
        self.forward((xs, xl), (ws, wl), Some(b))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _out: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        Self::backward(x, w, Some(b), grad)
    }
}

impl CustomOp2 for FusedLinear {
    fn name(&self) -> &'static str {
        "glassbox-linear-no-bias"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.forward((xs, xl), (ws, wl), None)
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _out: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, _) = Self::backward(x, w, None, grad)?;
        Ok((dx, dw))
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
    use candle_core::{DType, Device, Var};

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

    /// Without a bias the fused op equals candle's `x.matmul(&w.t())` bit for bit, value and both
    /// gradients (the path it replaced).
    #[test]
    fn the_fused_op_without_a_bias_equals_matmul_exactly() {
        for (rows, inputs, outputs) in [(5, 3, 2), (128, 100, 6272), (96, 300, 70)] {
            let (x, w, _, target) = case(rows, inputs, outputs, 0.1);
            let loss = |y: &Tensor| (y * &target).unwrap().sum_all().unwrap();
            let fused = linear(x.as_tensor(), w.as_tensor(), None).unwrap();
            let before = x.as_tensor().matmul(&w.as_tensor().t().unwrap()).unwrap();
            let vec = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert_eq!(vec(&fused), vec(&before), "{rows}x{inputs}x{outputs} value");
            let (gf, gb) = (
                loss(&fused).backward().unwrap(),
                loss(&before).backward().unwrap(),
            );
            for (v, what) in [(&x, "x"), (&w, "weight")] {
                let (a, e) = (vec(gf.get(v).unwrap()), vec(gb.get(v).unwrap()));
                assert_eq!(a, e, "{rows}x{inputs}x{outputs} {what}");
                assert!(a.iter().any(|g| g.abs() > 1e-3));
            }
        }
    }

    /// `flatten_linear` equals `linear` of the flattened input bit for bit, with and without a bias,
    /// and hands back the input's gradient in the input's shape.
    #[test]
    fn flattened_items_are_rows() {
        let dev = Device::Cpu;
        for bias in [true, false] {
            let (_, w, b, target) = case(6, 2 * 3 * 5, 4, 0.3);
            let x = Var::randn(0f32, 1.0, (6, 2, 3, 5), &dev).unwrap();
            let b = bias.then_some(b.as_tensor());
            let loss = |y: &Tensor| (y * &target).unwrap().sum_all().unwrap();
            let fused = flatten_linear(x.as_tensor(), w.as_tensor(), b).unwrap();
            let flat = x.as_tensor().flatten_from(1).unwrap();
            let before = linear(&flat, w.as_tensor(), b).unwrap();
            assert_eq!(fused.dims(), [6, 4]);
            let vec = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert_eq!(vec(&fused), vec(&before), "bias {bias}: value");
            let (gf, gb) = (
                loss(&fused).backward().unwrap(),
                loss(&before).backward().unwrap(),
            );
            let dx = gf.get(&x).unwrap();
            assert_eq!(dx.dims(), [6, 2, 3, 5]);
            assert_eq!(vec(dx), vec(gb.get(&x).unwrap()), "bias {bias}: x");
            assert_eq!(vec(gf.get(&w).unwrap()), vec(gb.get(&w).unwrap()));
        }
        // A weight that does not fit the flattened items is candle's error, not a panic.
        let x = Tensor::zeros((2, 3, 4), DType::F32, &dev).unwrap();
        let w = Tensor::zeros((5, 11), DType::F32, &dev).unwrap();
        assert!(flatten_linear(&x, &w, None).is_err());
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
