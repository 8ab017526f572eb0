//! Softmax cross-entropy over the rows of a logit matrix in two passes per row and no intermediate tensors:
//! candle's composition (log-softmax, then gather) makes about a dozen passes and as many allocations, which
//! dominates a word model's step once the vocabulary is in the thousands.
//!
//! Rows are split into parts that follow the row count alone and their losses summed in part order, so
//! the result is the same on every run, whatever the thread count.

use super::activation::{dispatch_avx2, exp};
use super::parallel::{for_parts, reduction_parts, threads};

/// Lanes of the running maxima and sums: enough independent accumulators for the compiler to vectorize.
const LANES: usize = 16;

/// Rows per part below which splitting costs more than it saves.
const ROWS_PER_PART: usize = 16;

fn max_of(row: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let chunks = row.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (m, &x) in lanes.iter_mut().zip(chunk) {
            *m = m.max(x);
        }
    }
    tail.iter()
        .chain(&lanes)
        .fold(f32::NEG_INFINITY, |m, &x| m.max(x))
}

dispatch_avx2! {
    /// `sum_j exp(row_j - max)` into `sum`, writing each term to `out` when it is given.
    fn exp_sum(row: &[f32], max: f32, out: Option<&mut [f32]>, sum: &mut f32) {
        let mut lanes = [0.0f32; LANES];
        match out {
            Some(out) => {
                for (x, e) in row.iter().zip(out.iter_mut()) {
                    *e = exp(x - max);
                }
                for chunk in out.chunks(LANES) {
                    for (s, &e) in lanes.iter_mut().zip(chunk) {
                        *s += e;
                    }
                }
            }
            None => {
                for chunk in row.chunks(LANES) {
                    for (s, &x) in lanes.iter_mut().zip(chunk) {
                        *s += exp(x - max);
                    }
                }
            }
        }
        *sum = lanes.iter().sum();
    }
}

fn check_target(target: u32, classes: usize) -> candle_core::Result<usize> {
    let t = target as usize;
    if t >= classes {
        candle_core::bail!("cross_entropy: target {target} is out of range for {classes} classes");
    }
    Ok(t)
}

/// The mean over rows of `-ln softmax(logits_row)[target_row]`; `logits` is row-major `(targets.len(),
/// classes)`.
pub fn cross_entropy(logits: &[f32], targets: &[u32], classes: usize) -> candle_core::Result<f32> {
    let rows = targets.len();
    debug_assert_eq!(logits.len(), rows * classes);
    let parts = reduction_parts(rows, ROWS_PER_PART);
    let sums = for_parts(rows, parts, |_, range| -> candle_core::Result<f64> {
        let mut total = 0.0f64;
        for r in range {
            let row = &logits[r * classes..(r + 1) * classes];
            let t = check_target(targets[r], classes)?;
            let max = max_of(row);
            let mut sum = 0.0;
            exp_sum(row, max, None, &mut sum);
            total += f64::from(sum.ln() + max - row[t]);
        }
        Ok(total)
    });
    let total = sums.into_iter().try_fold(0.0, |a, s| s.map(|s| a + s))?;
    Ok((total / rows.max(1) as f64) as f32)
}

/// The gradient of [`cross_entropy`] times `grad`: `grad (softmax(row) - onehot(target)) / rows`.
pub fn cross_entropy_backward(
    logits: &[f32],
    targets: &[u32],
    classes: usize,
    grad: f32,
) -> candle_core::Result<Vec<f32>> {
    use rayon::prelude::*;
    let rows = targets.len();
    let mut out = vec![0.0f32; logits.len()];
    let scale = grad / rows.max(1) as f32;
    let block = rows.div_ceil(threads()).max(ROWS_PER_PART) * classes;
    out.par_chunks_mut(block.max(1))
        .zip(logits.par_chunks(block.max(1)))
        .enumerate()
        .try_for_each(|(k, (out, logits))| -> candle_core::Result<()> {
            let first = k * block / classes;
            for (r, (out, row)) in out
                .chunks_exact_mut(classes)
                .zip(logits.chunks_exact(classes))
                .enumerate()
            {
                let t = check_target(targets[first + r], classes)?;
                let max = max_of(row);
                let mut sum = 0.0;
                exp_sum(row, max, Some(out), &mut sum);
                let factor = scale / sum;
                out.iter_mut().for_each(|e| *e *= factor);
                out[t] -= scale;
            }
            Ok(())
        })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// By hand: logits (0, ln 3) give softmax (1/4, 3/4).
    #[test]
    fn a_two_class_row_by_hand() {
        let logits = [0.0, 3f32.ln(), 0.0, 3f32.ln()];
        let loss = cross_entropy(&logits, &[1, 0], 2).unwrap();
        let expected = (-(0.75f64.ln()) - 0.25f64.ln()) / 2.0;
        assert!(
            (f64::from(loss) - expected).abs() < 1e-6,
            "{loss} vs {expected}"
        );
        let grad = cross_entropy_backward(&logits, &[1, 0], 2, 2.0).unwrap();
        let want = [0.25, -0.25, -0.75, 0.75];
        for (g, w) in grad.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{grad:?}");
        }
    }

    #[test]
    fn huge_logits_do_not_overflow_and_bad_targets_are_errors() {
        let logits = [1000.0, 0.0, -1000.0];
        let loss = cross_entropy(&logits, &[0], 3).unwrap();
        assert!(loss.is_finite() && loss.abs() < 1e-6, "{loss}");
        let err = cross_entropy(&logits, &[3], 3).unwrap_err().to_string();
        assert!(
            err.contains("target 3") && err.contains("3 classes"),
            "{err}"
        );
        assert!(cross_entropy_backward(&logits, &[7], 3, 1.0).is_err());
    }
}
