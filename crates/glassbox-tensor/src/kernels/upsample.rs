//! Nearest-neighbour upsampling by an integer factor (the decoders' and generators' "UpSampling2D"),
//! forward and backward, one plane per task.

use rayon::prelude::*;

/// `y[p, i, j] = x[p, i / s, j / s]` for each of the `x.len() / (h w)` planes of `h x w`.
pub fn upsample_nearest_forward(x: &[f32], h: usize, w: usize, s: usize) -> Vec<f32> {
    let (oh, ow) = (h * s, w * s);
    let mut y = vec![0.0f32; x.len() * s * s];
    if y.is_empty() {
        return y;
    }
    y.par_chunks_mut(oh * ow)
        .zip(x.par_chunks(h * w))
        .for_each(|(yp, xp)| {
            for (i, src) in xp.chunks_exact(w).enumerate() {
                let first = &mut yp[i * s * ow..(i * s + 1) * ow];
                for (pair, &v) in first.chunks_exact_mut(s).zip(src) {
                    pair.fill(v);
                }
                let (head, rest) = yp[i * s * ow..(i + 1) * s * ow].split_at_mut(ow);
                for row in rest.chunks_exact_mut(ow) {
                    row.copy_from_slice(head);
                }
            }
        });
    y
}

/// The input gradient: each input pixel collects the sum of its `s x s` block of `gy`.
pub fn upsample_nearest_backward(gy: &[f32], h: usize, w: usize, s: usize) -> Vec<f32> {
    let (oh, ow) = (h * s, w * s);
    let len = gy.len() / (s * s).max(1);
    if len == 0 {
        return Vec::new();
    }
    super::parallel::zeros_accumulated_in_parallel(len, h * w, |p, dp| {
        let gp = &gy[p * oh * ow..(p + 1) * oh * ow];
        for (i, dst) in dp.chunks_exact_mut(w).enumerate() {
            for row in gp[i * s * ow..(i + 1) * s * ow].chunks_exact(ow) {
                for (d, block) in dst.iter_mut().zip(row.chunks_exact(s)) {
                    *d += block.iter().sum::<f32>();
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_pixels_and_sums_gradients_over_blocks() {
        // Two 1x2 planes, factor 2.
        let y = upsample_nearest_forward(&[1.0, 2.0, 3.0, 4.0], 1, 2, 2);
        assert_eq!(
            y,
            [1., 1., 2., 2., 1., 1., 2., 2., 3., 3., 4., 4., 3., 3., 4., 4.]
        );
        let gy: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let dx = upsample_nearest_backward(&gy, 1, 2, 2);
        assert_eq!(
            dx,
            [
                0. + 1. + 4. + 5.,
                2. + 3. + 6. + 7.,
                8. + 9. + 12. + 13.,
                10. + 11. + 14. + 15.
            ]
        );
    }
}
