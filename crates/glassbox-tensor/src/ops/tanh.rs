//! Tanh on candle tensors: Cephes' `tanhf` in parallel pieces with a one-pass backward on the CPU,
//! candle's `tanh` elsewhere.
//!
//! candle's own tanh runs on the calling thread alone here (`kernels::process::quiet_candle_pool`), and
//! its backward pass is four element-wise ops (`y²`, `- 1`, a product and a subtraction). The DCGAN
//! generator ends in one over 100,000 values, twice a step.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

use super::conv2d::uses_fast_path;
use crate::kernels::activation;
use crate::kernels::storage::f32_slice;

/// `tanh x`, element-wise; on CPU f32 tensors within 2 ulp of the correctly rounded value (the test
/// measures it), with the gradient `dy (1 - y²)` from the output `y`, as PyTorch computes it.
pub fn tanh(x: &Tensor) -> Result<Tensor> {
    if !uses_fast_path(x) {
        return x.tanh();
    }
    x.contiguous()?.apply_op1(Tanh)
}

struct Tanh;

impl CustomOp1 for Tanh {
    fn name(&self) -> &'static str {
        "glassbox-tanh"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice("tanh input", s, l)?;
        Ok((
            CpuStorage::F32(activation::tanh_forward(x)),
            l.shape().clone(),
        ))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op2_no_bwd(y, self)?))
    }
}

/// The backward pass: `(dy, y) -> dx`.
impl CustomOp2 for Tanh {
    fn name(&self) -> &'static str {
        "glassbox-tanh-backward"
    }

    fn cpu_fwd(
        &self,
        gs: &CpuStorage,
        gl: &Layout,
        ys: &CpuStorage,
        yl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dy = f32_slice("tanh gradient", gs, gl)?;
        let y = f32_slice("tanh output", ys, yl)?;
        if dy.len() != y.len() {
            candle_core::bail!(
                "tanh backward: gradient {:?} and output {:?} differ in shape",
                gl.shape(),
                yl.shape()
            );
        }
        Ok((
            CpuStorage::F32(activation::tanh_backward(y, dy)),
            gl.shape().clone(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Distance in units in the last place between two finite floats of the same sign or zero.
    fn ulps(a: f32, b: f32) -> u32 {
        let key = |v: f32| {
            let bits = v.to_bits() as i32;
            if bits < 0 {
                i32::MIN - bits
            } else {
                bits
            }
        };
        key(a).abs_diff(key(b))
    }

    #[test]
    fn matches_the_correctly_rounded_tanh_within_two_ulp() {
        // Every float from 1e-6 to 12 by a fixed ratio, both signs, zero, and past saturation.
        let mut xs = vec![0.0f32, 20.0, -20.0, 1e-30];
        let mut v = 1e-6f32;
        while v < 12.0 {
            xs.push(v);
            xs.push(-v);
            v *= 1.0007;
        }
        let x = Tensor::new(xs.as_slice(), &Device::Cpu).unwrap();
        let got: Vec<f32> = tanh(&x).unwrap().to_vec1().unwrap();
        let mut worst = (0, 0.0f32);
        for (&x, &y) in xs.iter().zip(&got) {
            let want = (x as f64).tanh() as f32;
            let e = ulps(y, want);
            if e > worst.0 {
                worst = (e, x);
            }
        }
        assert!(worst.0 <= 2, "{} ulp at x = {}", worst.0, worst.1);
    }

    #[test]
    fn the_gradient_is_dy_times_one_minus_y_squared() {
        let xs: Vec<f32> = (0..40_000).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
        let dys: Vec<f32> = (0..40_000).map(|i| (i as f32 * 0.11).cos()).collect();
        let x = Var::new(xs.as_slice(), &Device::Cpu).unwrap();
        let dy = Tensor::new(dys.as_slice(), &Device::Cpu).unwrap();
        let grads = (tanh(x.as_tensor()).unwrap() * &dy)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let dx: Vec<f32> = grads.get(&x).unwrap().to_vec1().unwrap();
        for ((&x, &g), &d) in xs.iter().zip(&dys).zip(&dx) {
            let y = (x as f64).tanh();
            let want = g as f64 * (1.0 - y * y);
            assert!(
                (d as f64 - want).abs() <= 1e-6 * (1.0 + want.abs()),
                "x {x}: dx {d}, want {want}"
            );
        }
    }

    #[test]
    fn a_strided_input_is_made_contiguous() {
        let x = Tensor::new(&[[0.5f32, -1.0], [2.0, 0.0]], &Device::Cpu).unwrap();
        let got: Vec<Vec<f32>> = tanh(&x.t().unwrap()).unwrap().to_vec2().unwrap();
        let want: Vec<Vec<f32>> = x.t().unwrap().tanh().unwrap().to_vec2().unwrap();
        for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
            assert!((g - w).abs() <= 1e-7, "{g} against {w}");
        }
    }
}
