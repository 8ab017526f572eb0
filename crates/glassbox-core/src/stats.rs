//! Statistics of feature vectors that more than one lesson needs: a Gaussian fitted to samples, the
//! eigenvalues of a symmetric matrix, and the Fréchet distance between two Gaussians (FID's formula,
//! Heusel et al. 2017), all in f64.

use crate::{Error, Result};

/// The mean and covariance (divided by n - 1) of `n` samples of dimension `d`.
#[derive(Clone, Debug, PartialEq)]
pub struct Gaussian {
    /// The mean of each dimension.
    pub mean: Vec<f64>,
    /// Row-major `d x d`.
    pub cov: Vec<f64>,
}

impl Gaussian {
    /// Fits `rows` (each of the same length `d`, at least two rows).
    pub fn fit(rows: &[Vec<f64>]) -> Result<Gaussian> {
        let n = rows.len();
        let d = rows.first().map_or(0, Vec::len);
        if n < 2 || d == 0 || rows.iter().any(|r| r.len() != d) {
            return Err(Error::invalid(
                "samples for a Gaussian",
                format!("{n} rows of {d}"),
                "at least 2 rows, all of the same non-zero length",
            ));
        }
        let mut mean = vec![0.0; d];
        for r in rows {
            for (m, v) in mean.iter_mut().zip(r) {
                *m += v;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut cov = vec![0.0; d * d];
        for r in rows {
            let c: Vec<f64> = r.iter().zip(&mean).map(|(v, m)| v - m).collect();
            for i in 0..d {
                let ci = c[i];
                for j in i..d {
                    cov[i * d + j] += ci * c[j];
                }
            }
        }
        for i in 0..d {
            for j in i..d {
                let v = cov[i * d + j] / (n - 1) as f64;
                cov[i * d + j] = v;
                cov[j * d + i] = v;
            }
        }
        Ok(Gaussian { mean, cov })
    }

    /// The dimension `d`.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }
}

/// The middle value (the upper one of an even count; NaN sorts last), `None` for no values: seconds per
/// epoch, gradient norms per epoch.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    (!v.is_empty()).then(|| v[v.len() / 2])
}

/// The eigenvalues of a symmetric `d x d` matrix (row-major), ascending.
pub fn symmetric_eigenvalues(matrix: &[f64], d: usize) -> Vec<f64> {
    let mut eig = jacobi(matrix, d).0;
    eig.sort_by(f64::total_cmp);
    eig
}

/// Eigenvalues and eigenvectors (the columns of a row-major `d x d` matrix) of a symmetric matrix, by
/// cyclic Jacobi rotations until the off-diagonal part is negligible.
fn jacobi(matrix: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
    assert_eq!(matrix.len(), d * d, "jacobi: not a d x d matrix");
    let mut a = matrix.to_vec();
    let mut v = vec![0.0; d * d];
    (0..d).for_each(|i| v[i * d + i] = 1.0);
    for _sweep in 0..100 {
        let off: f64 = (0..d)
            .flat_map(|i| (0..d).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * d + j].powi(2))
            .sum();
        let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().max(f64::MIN_POSITIVE);
        if off <= 1e-30 * scale {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = a[p * d + q];
                if apq == 0.0 {
                    continue;
                }
                // The rotation that zeroes a[p][q] (Numerical Recipes' choice of the smaller angle).
                let theta = (a[q * d + q] - a[p * d + p]) / (2.0 * apq);
                let t = if theta == 0.0 {
                    1.0
                } else {
                    theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt())
                };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..d {
                    let (akp, akq) = (a[k * d + p], a[k * d + q]);
                    a[k * d + p] = c * akp - s * akq;
                    a[k * d + q] = s * akp + c * akq;
                    let (vkp, vkq) = (v[k * d + p], v[k * d + q]);
                    v[k * d + p] = c * vkp - s * vkq;
                    v[k * d + q] = s * vkp + c * vkq;
                }
                for k in 0..d {
                    let (apk, aqk) = (a[p * d + k], a[q * d + k]);
                    a[p * d + k] = c * apk - s * aqk;
                    a[q * d + k] = s * apk + c * aqk;
                }
            }
        }
    }
    ((0..d).map(|i| a[i * d + i]).collect(), v)
}

/// The symmetric square root `V sqrt(L) V^T` of a symmetric positive semi-definite matrix (negative
/// rounding noise in `L` is clipped to 0).
fn symmetric_sqrt(matrix: &[f64], d: usize) -> Vec<f64> {
    let (values, v) = jacobi(matrix, d);
    let roots: Vec<f64> = values.iter().map(|l| l.max(0.0).sqrt()).collect();
    let mut out = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            out[i * d + j] = (0..d).map(|k| v[i * d + k] * roots[k] * v[j * d + k]).sum();
        }
    }
    out
}

fn matmul(a: &[f64], b: &[f64], d: usize) -> Vec<f64> {
    let mut out = vec![0.0; d * d];
    for i in 0..d {
        for k in 0..d {
            let aik = a[i * d + k];
            for j in 0..d {
                out[i * d + j] += aik * b[k * d + j];
            }
        }
    }
    out
}

/// `|m1 - m2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`, with the trace of the root computed as the sum of the
/// square roots of the eigenvalues of the symmetric `S1^(1/2) S2 S1^(1/2)` (the same eigenvalues as
/// `S1 S2`).
pub fn frechet_distance(a: &Gaussian, b: &Gaussian) -> Result<f64> {
    let d = a.dim();
    if b.dim() != d {
        return Err(Error::invalid(
            "Gaussians to compare",
            format!("dimensions {d} and {}", b.dim()),
            "the same dimension",
        ));
    }
    let mean_term: f64 = a
        .mean
        .iter()
        .zip(&b.mean)
        .map(|(x, y)| (x - y).powi(2))
        .sum();
    let root = symmetric_sqrt(&a.cov, d);
    let mut middle = matmul(&matmul(&root, &b.cov, d), &root, d);
    // Symmetrize away rounding before the eigenvalues.
    for i in 0..d {
        for j in i + 1..d {
            let m = 0.5 * (middle[i * d + j] + middle[j * d + i]);
            middle[i * d + j] = m;
            middle[j * d + i] = m;
        }
    }
    let cross: f64 = symmetric_eigenvalues(&middle, d)
        .iter()
        .map(|l| l.max(0.0).sqrt())
        .sum();
    let traces: f64 = (0..d).map(|i| a.cov[i * d + i] + b.cov[i * d + i]).sum();
    Ok(mean_term + traces - 2.0 * cross)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_the_middle_or_upper_middle_value() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(3.0));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn eigenvalues_of_known_matrices() {
        // [[2, 1], [1, 2]]: 1 and 3.
        let e = symmetric_eigenvalues(&[2.0, 1.0, 1.0, 2.0], 2);
        assert!(
            (e[0] - 1.0).abs() < 1e-12 && (e[1] - 3.0).abs() < 1e-12,
            "{e:?}"
        );
        // The 3x3 second-difference matrix: 2 - 2 cos(k pi / 4), k = 1, 2, 3.
        let m = [2.0, -1.0, 0.0, -1.0, 2.0, -1.0, 0.0, -1.0, 2.0];
        let e = symmetric_eigenvalues(&m, 3);
        for (k, got) in (1..=3).zip(e) {
            let want = 2.0 - 2.0 * (k as f64 * std::f64::consts::PI / 4.0).cos();
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
    }

    #[test]
    fn the_square_root_squares_back() {
        let m = [4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0];
        let r = symmetric_sqrt(&m, 3);
        let back = matmul(&r, &r, 3);
        for (a, b) in back.iter().zip(&m) {
            assert!((a - b).abs() < 1e-10, "{back:?}");
        }
    }

    #[test]
    fn frechet_distance_in_closed_form() {
        // Same covariance: only the means count.
        let a = Gaussian {
            mean: vec![0.0, 0.0],
            cov: vec![2.0, 0.3, 0.3, 1.0],
        };
        let b = Gaussian {
            mean: vec![3.0, -4.0],
            ..a.clone()
        };
        assert!((frechet_distance(&a, &b).unwrap() - 25.0).abs() < 1e-9);
        assert!(frechet_distance(&a, &a).unwrap().abs() < 1e-9);
        // Diagonal covariances s and t: sum (sqrt s - sqrt t)^2. (4, 9) vs (1, 1): 1 + 4 = 5.
        let c = Gaussian {
            mean: vec![0.0, 0.0],
            cov: vec![4.0, 0.0, 0.0, 9.0],
        };
        let i = Gaussian {
            mean: vec![0.0, 0.0],
            cov: vec![1.0, 0.0, 0.0, 1.0],
        };
        assert!((frechet_distance(&c, &i).unwrap() - 5.0).abs() < 1e-9);
        let wrong = Gaussian {
            mean: vec![0.0],
            cov: vec![1.0],
        };
        assert!(frechet_distance(&c, &wrong).is_err());
    }

    #[test]
    fn fitted_gaussians_have_the_sample_mean_and_unbiased_covariance() {
        let rows = vec![vec![1.0, 2.0], vec![3.0, 2.0], vec![5.0, 8.0]];
        let g = Gaussian::fit(&rows).unwrap();
        assert_eq!(g.mean, vec![3.0, 4.0]);
        // x: (-2, 0, 2) -> var 8/2 = 4; y: (-2, -2, 4) -> 24/2 = 12; xy: (4 + 0 + 8)/2 = 6.
        assert_eq!(g.cov, vec![4.0, 6.0, 6.0, 12.0]);
        assert!(Gaussian::fit(&rows[..1]).is_err());
    }
}
