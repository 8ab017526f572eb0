//! Gram matrices of feature maps for style transfer: [`crate::kernels::gram`] on CPU f32 tensors, with its
//! own backward pass; candle's matmul elsewhere.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

use super::uses_fast_path;
use crate::kernels::gram as kernel;
use crate::kernels::storage::f32_slice;

/// `scale F F^T` for `features: (C, L)`, a `(C, C)` tensor. candle's own `F.matmul(F.t())` spends most of
/// its time in the backward pass (a transposed copy and two products, one of them with the long
/// dimension inside); this one forms the product over slices of the positions in parallel and takes
/// the gradient `scale (dG + dG^T) F` in one product.
pub fn gram(features: &Tensor, scale: f64) -> Result<Tensor> {
    let (_, _) = features.dims2()?;
    if !uses_fast_path(features) {
        return features.matmul(&features.t()?)? * scale;
    }
    features.contiguous()?.apply_op1(Gram {
        scale: scale as f32,
    })
}

/// The gradient of [`gram`] with respect to `features: (C, L)` given `dg`, the gradient of the `(C, C)`
/// result: `scale (dG + dG^T) F`, for a backward pass driven by hand (no graph is recorded).
pub fn gram_backward(features: &Tensor, dg: &Tensor, scale: f64) -> Result<Tensor> {
    let (c, _) = features.dims2()?;
    if dg.dims2()? != (c, c) {
        candle_core::bail!("gram backward: gradient {:?} for {c} channels", dg.dims());
    }
    if !(uses_fast_path(features) && uses_fast_path(dg)) {
        return (dg + dg.t()?)?.matmul(features)? * scale;
    }
    features.contiguous()?.apply_op2_no_bwd(
        &dg.contiguous()?,
        &GramBackward {
            scale: scale as f32,
        },
    )
}

struct Gram {
    scale: f32,
}

impl CustomOp1 for Gram {
    fn name(&self) -> &'static str {
        "glassbox-gram"
    }

    fn cpu_fwd(&self, s: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let f = f32_slice("gram features", s, layout)?;
        let (c, l) = layout.shape().dims2()?;
        Ok((
            CpuStorage::F32(kernel::gram(f, c, l, self.scale)),
            Shape::from((c, c)),
        ))
    }

    fn bwd(&self, features: &Tensor, _out: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        Ok(Some(features.apply_op2_no_bwd(
            &grad,
            &GramBackward { scale: self.scale },
        )?))
    }
}

struct GramBackward {
    scale: f32,
}

impl CustomOp2 for GramBackward {
    fn name(&self) -> &'static str {
        "glassbox-gram-backward"
    }

    fn cpu_fwd(
        &self,
        fs: &CpuStorage,
        fl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let f = f32_slice("gram features", fs, fl)?;
        let dg = f32_slice("gram gradient", gs, gl)?;
        let (c, l) = fl.shape().dims2()?;
        if gl.shape().dims2()? != (c, c) {
            candle_core::bail!("gram backward: gradient {:?} for {c} channels", gl.shape());
        }
        Ok((
            CpuStorage::F32(kernel::gram_backward(f, dg, c, l, self.scale)),
            fl.shape().clone(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// The fast op and candle's matmul agree, forward and backward, on a loss that weighs every entry.
    #[test]
    fn matches_candles_matmul_forward_and_backward() {
        let dev = Device::Cpu;
        let f = Tensor::rand(-1f32, 1f32, (6, 3000), &dev).unwrap();
        let w = Tensor::rand(-1f32, 1f32, (6, 6), &dev).unwrap();
        let run = |fast: bool| {
            let v = Var::from_tensor(&f).unwrap();
            let g = if fast {
                gram(v.as_tensor(), 0.1).unwrap()
            } else {
                (v.as_tensor().matmul(&v.as_tensor().t().unwrap()).unwrap() * 0.1).unwrap()
            };
            let loss = (&g * &w).unwrap().sum_all().unwrap();
            let grad = loss.backward().unwrap().get(v.as_tensor()).unwrap().clone();
            (g, grad)
        };
        let (g1, d1) = run(true);
        let (g2, d2) = run(false);
        let diff = |a: &Tensor, b: &Tensor| {
            let scale = b
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            let d = (a - b).unwrap().abs().unwrap().max_all().unwrap();
            d.to_scalar::<f32>().unwrap() / scale
        };
        assert!(diff(&g1, &g2) < 1e-5, "forward {}", diff(&g1, &g2));
        assert!(diff(&d1, &d2) < 1e-5, "backward {}", diff(&d1, &d2));
    }
}
