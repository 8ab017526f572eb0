//! Bilinear resizing that autograd can differentiate: candle's `upsample_bilinear2d` has no backward
//! pass, so the same interpolation (PyTorch's `align_corners=False`, no antialiasing) is written as two
//! small matrix products, `Rh · x · Rwᵀ`, whose gradients candle knows.

use candle_core::{Result, Tensor};

/// The `(out, inp)` matrix whose rows hold each output sample's two interpolation weights.
fn interpolation_matrix(inp: usize, out: usize) -> Vec<f32> {
    let mut m = vec![0f32; out * inp];
    let scale = inp as f64 / out as f64;
    for o in 0..out {
        // PyTorch's source index for align_corners=False, clamped at the low edge.
        let src = ((o as f64 + 0.5) * scale - 0.5).max(0.0);
        let i0 = (src.floor() as usize).min(inp - 1);
        let i1 = (i0 + 1).min(inp - 1);
        let t = (src - i0 as f64) as f32;
        m[o * inp + i0] += 1.0 - t;
        m[o * inp + i1] += t;
    }
    m
}

/// `x: (N, C, H, W) -> (N, C, out_h, out_w)`, bilinear, differentiable with respect to `x`.
pub fn resize_bilinear(x: &Tensor, out_h: usize, out_w: usize) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    if h == 0 || w == 0 || out_h == 0 || out_w == 0 {
        candle_core::bail!("resize_bilinear: cannot resize {h}x{w} to {out_h}x{out_w}");
    }
    let dev = x.device();
    let rh =
        Tensor::from_vec(interpolation_matrix(h, out_h), (out_h, h), dev)?.to_dtype(x.dtype())?;
    let rw_t = Tensor::from_vec(interpolation_matrix(w, out_w), (out_w, w), dev)?
        .to_dtype(x.dtype())?
        .t()?;
    // Rows first: (N*C*H, W) x (W, out_w), then columns on the transposed planes.
    let y = x.reshape((n * c * h, w))?.matmul(&rw_t)?;
    let y = y
        .reshape((n * c, h, out_w))?
        .transpose(1, 2)?
        .contiguous()?;
    let y = y.reshape((n * c * out_w, h))?.matmul(&rh.t()?)?;
    y.reshape((n * c, out_w, out_h))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((n, c, out_h, out_w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn ramp(shape: (usize, usize, usize, usize)) -> Tensor {
        let n = shape.0 * shape.1 * shape.2 * shape.3;
        let v: Vec<f32> = (0..n).map(|i| ((i * 37) % 101) as f32 / 7.0).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    #[test]
    fn matches_candles_forward_when_upsampling() {
        let x = ramp((2, 3, 5, 7));
        for (oh, ow) in [(10, 14), (16, 9), (5, 7), (37, 23)] {
            let ours = resize_bilinear(&x, oh, ow).unwrap();
            let theirs = x.upsample_bilinear2d(oh, ow, false).unwrap();
            let d = (ours - theirs)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(d < 1e-4, "{oh}x{ow}: {d}");
        }
    }

    #[test]
    fn worked_by_hand_and_its_gradient_spreads_the_weights() {
        // [0, 4] to 4 samples: sources -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to the last).
        let x = Var::new(&[[[[0f32, 4.0]]]], &Device::Cpu).unwrap();
        let y = resize_bilinear(x.as_tensor(), 1, 4).unwrap();
        assert_eq!(
            y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            [0.0, 1.0, 3.0, 4.0]
        );
        let g = y.sum_all().unwrap().backward().unwrap();
        let gx = g.get(x.as_tensor()).unwrap().flatten_all().unwrap();
        // Each output's weights sum to 1, so the gradient of the sum shares out the 4 samples.
        assert_eq!(gx.to_vec1::<f32>().unwrap(), [2.0, 2.0]);
    }
}
