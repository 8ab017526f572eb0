//! Max pooling (no padding, any window and stride) forward and backward, one plane per task.

use rayon::prelude::*;

/// The sizes of one pooling: `planes` = batch x channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeometry {
    /// Planes (images times channels), each pooled on its own.
    pub planes: usize,
    /// Plane height.
    pub height: usize,
    /// Plane width.
    pub width: usize,
    /// Window side.
    pub kernel: usize,
    /// Steps between windows.
    pub stride: usize,
}

impl PoolGeometry {
    /// The output's (height, width); `None` when the window does not fit or the stride is 0.
    pub fn output_hw(&self) -> Option<(usize, usize)> {
        if self.kernel == 0
            || self.stride == 0
            || self.height < self.kernel
            || self.width < self.kernel
        {
            return None;
        }
        Some((
            (self.height - self.kernel) / self.stride + 1,
            (self.width - self.kernel) / self.stride + 1,
        ))
    }

    fn out_hw(&self) -> (usize, usize) {
        self.output_hw()
            .expect("PoolGeometry checked by the caller")
    }
}

/// The flat index (in the plane) of the first largest value of each window, as PyTorch picks it. A NaN
/// wins its window, so it propagates.
fn window_argmax(plane: &[f32], g: &PoolGeometry, r: usize, q: usize) -> usize {
    let (mut best, mut best_at) = (f32::NEG_INFINITY, r * g.stride * g.width + q * g.stride);
    for i in 0..g.kernel {
        let row = (r * g.stride + i) * g.width + q * g.stride;
        for (j, &v) in plane[row..row + g.kernel].iter().enumerate() {
            if v > best || v.is_nan() {
                best = v;
                best_at = row + j;
                if v.is_nan() {
                    return best_at;
                }
            }
        }
    }
    best_at
}

/// Max pooling of `(planes, height, width)` floats: each window's largest value.
pub fn max_pool_forward(x: &[f32], g: &PoolGeometry) -> Vec<f32> {
    let (oh, ow) = g.out_hw();
    let plane_in = g.height * g.width;
    let mut y = vec![0.0f32; g.planes * oh * ow];
    y.par_chunks_mut(oh * ow).enumerate().for_each(|(p, out)| {
        let plane = &x[p * plane_in..(p + 1) * plane_in];
        if g.kernel == 2 && g.stride == 2 {
            for r in 0..oh {
                let (top, bottom) = (&plane[2 * r * g.width..], &plane[(2 * r + 1) * g.width..]);
                for q in 0..ow {
                    let a = top[2 * q].max(top[2 * q + 1]);
                    let b = bottom[2 * q].max(bottom[2 * q + 1]);
                    out[r * ow + q] = a.max(b);
                }
            }
            if out.iter().any(|v| v.is_nan()) {
                for (i, o) in out.iter_mut().enumerate() {
                    *o = plane[window_argmax(plane, g, i / ow, i % ow)];
                }
            }
        } else {
            for (i, o) in out.iter_mut().enumerate() {
                *o = plane[window_argmax(plane, g, i / ow, i % ow)];
            }
        }
    });
    y
}

/// Routes each output gradient to the input that won its window.
pub fn max_pool_backward(x: &[f32], gy: &[f32], g: &PoolGeometry) -> Vec<f32> {
    let (oh, ow) = g.out_hw();
    let plane_in = g.height * g.width;
    super::parallel::zeros_accumulated_in_parallel(x.len(), plane_in, |p, dplane| {
        let plane = &x[p * plane_in..(p + 1) * plane_in];
        let grads = &gy[p * oh * ow..(p + 1) * oh * ow];
        for (i, &gv) in grads.iter().enumerate() {
            dplane[window_argmax(plane, g, i / ow, i % ow)] += gv;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_first_maximum_and_routes_the_gradient_there() {
        let g = PoolGeometry {
            planes: 1,
            height: 2,
            width: 4,
            kernel: 2,
            stride: 2,
        };
        let x = [1.0, 5.0, 2.0, 2.0, 5.0, 0.0, 2.0, -1.0];
        assert_eq!(max_pool_forward(&x, &g), vec![5.0, 2.0]);
        assert_eq!(
            max_pool_backward(&x, &[10.0, 20.0], &g),
            vec![0.0, 10.0, 20.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        );
    }

    #[test]
    fn overlapping_windows_accumulate() {
        let g = PoolGeometry {
            planes: 1,
            height: 1,
            width: 3,
            kernel: 1,
            stride: 1,
        };
        assert_eq!(
            max_pool_backward(&[1.0, 2.0, 3.0], &[1.0, 1.0, 1.0], &g),
            vec![1.0, 1.0, 1.0]
        );
        let g = PoolGeometry {
            planes: 1,
            height: 3,
            width: 3,
            kernel: 2,
            stride: 1,
        };
        let x = [0.0, 0.0, 0.0, 0.0, 9.0, 0.0, 0.0, 0.0, 0.0];
        assert_eq!(max_pool_backward(&x, &[1.0; 4], &g)[4], 4.0);
    }
}
