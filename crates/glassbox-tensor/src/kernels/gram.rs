//! Gram matrices `G = s F F^T` of feature maps `F: (C, L)` (channels by positions) and their backward
//! pass, for style transfer's losses.
//!
//! The product is short and wide (C = 64..512 rows, L up to 262,144 positions at 512x512): a general
//! matrix product parallelizes over the output's rows and columns, of which there are few, and leaves
//! the long inner dimension to one thread. Here each part takes a fixed slice of the positions, forms
//! its partial `F_k F_k^T`, and the partials are summed in part order; the parts follow the number of
//! positions alone, so the result is the same on every run, whatever the thread count. The backward pass
//! `dF = s (dG + dG^T) F` is one well-shaped product.

use super::gemm::{sgemm, Mat, MatMut, Threads};
use super::parallel::{for_parts, reduction_parts, threads};

/// Below this many positions per part the split is not worth the partial sums.
const MIN_POSITIONS_PER_PART: usize = 4096;

/// `s F F^T` for row-major `f: (c, l)`, as a row-major `(c, c)`.
pub fn gram(f: &[f32], c: usize, l: usize, scale: f32) -> Vec<f32> {
    assert_eq!(f.len(), c * l, "gram: features are not c x l");
    let parts = reduction_parts(l, MIN_POSITIONS_PER_PART);
    if parts == 1 {
        // Few positions (deep layers: many channels): the product's own threading over the output.
        let mut g = vec![0f32; c * c];
        let f = Mat::rows(f, c, l);
        sgemm(
            MatMut::rows(&mut g, c, c),
            false,
            f,
            f.t(),
            Threads::Pool(threads()),
        );
        g.iter_mut().for_each(|v| *v *= scale);
        return g;
    }
    let partials = for_parts(l, parts, |_, range| {
        let mut g = vec![0f32; c * c];
        let slice = Mat {
            data: &f[range.start..],
            rows: c,
            cols: range.len(),
            rs: l,
            cs: 1,
        };
        sgemm(
            MatMut::rows(&mut g, c, c),
            false,
            slice,
            slice.t(),
            Threads::One,
        );
        g
    });
    let mut partials = partials.into_iter();
    let mut g = partials.next().unwrap_or_else(|| vec![0f32; c * c]);
    for p in partials {
        g.iter_mut().zip(&p).for_each(|(a, b)| *a += b);
    }
    g.iter_mut().for_each(|v| *v *= scale);
    g
}

/// The gradient of `s F F^T` with respect to `F`: `s (dG + dG^T) F`, row-major `(c, l)`.
pub fn gram_backward(f: &[f32], dg: &[f32], c: usize, l: usize, scale: f32) -> Vec<f32> {
    assert_eq!(f.len(), c * l, "gram backward: features are not c x l");
    assert_eq!(dg.len(), c * c, "gram backward: the gradient is not c x c");
    let mut sym = vec![0f32; c * c];
    for i in 0..c {
        for j in 0..c {
            sym[i * c + j] = scale * (dg[i * c + j] + dg[j * c + i]);
        }
    }
    let mut df = vec![0f32; c * l];
    sgemm(
        MatMut::rows(&mut df, c, l),
        false,
        Mat::rows(&sym, c, c),
        Mat::rows(f, c, l),
        Threads::Pool(threads()),
    );
    df
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(f: &[f32], c: usize, l: usize) -> Vec<f64> {
        let mut g = vec![0f64; c * c];
        for i in 0..c {
            for j in 0..c {
                g[i * c + j] = (0..l)
                    .map(|k| f64::from(f[i * l + k]) * f64::from(f[j * l + k]))
                    .sum();
            }
        }
        g
    }

    /// Against a plain f64 triple loop, on a shape whose positions split over threads with a remainder.
    #[test]
    fn gram_matches_a_plain_sum() {
        let (c, l) = (5, 4099);
        let f: Vec<f32> = (0..c * l)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
            .collect();
        let g = gram(&f, c, l, 0.5);
        let want = reference(&f, c, l);
        for (a, b) in g.iter().zip(&want) {
            assert!(
                (f64::from(*a) - 0.5 * b).abs() < 1e-3 * (1.0 + b.abs()),
                "{a} vs {}",
                0.5 * b
            );
        }
        for i in 0..c {
            for j in 0..c {
                assert_eq!(g[i * c + j], g[j * c + i], "symmetric");
            }
        }
    }

    /// d/dF of sum(W . s F F^T) for a non-symmetric W, against central differences.
    #[test]
    fn backward_matches_finite_differences() {
        let (c, l) = (3, 7);
        let mut f: Vec<f32> = (0..c * l)
            .map(|i| ((i * 13 % 17) as f32 - 8.0) / 8.0)
            .collect();
        let w: Vec<f32> = (0..c * c).map(|i| (i as f32 - 3.0) / 4.0).collect();
        let s = 0.25;
        let loss = |f: &[f32]| -> f64 {
            gram(f, c, l, s)
                .iter()
                .zip(&w)
                .map(|(g, w)| f64::from(g * w))
                .sum()
        };
        let df = gram_backward(&f, &w, c, l, s);
        for k in 0..c * l {
            let keep = f[k];
            f[k] = keep + 1e-2;
            let up = loss(&f);
            f[k] = keep - 1e-2;
            let down = loss(&f);
            f[k] = keep;
            let numeric = (up - down) / 2e-2;
            assert!(
                (numeric - f64::from(df[k])).abs() < 1e-3,
                "{k}: {numeric} vs {}",
                df[k]
            );
        }
    }
}
