//! A bias added to every row of a matrix, and its gradient (the column sums of the output's gradient), in
//! one pass each: candle's broadcast add and its backward (a sum over the leading dimension, a strided
//! reduction) cost a fully connected head with thousands of outputs more than its product's memory traffic
//! should.

use super::parallel::{for_parts, reduction_parts};

/// Rows per part below which splitting costs more than it saves.
const ROWS_PER_PART: usize = 64;

/// A function of the row count alone, so that the column sums are grouped the same way (and come out
/// the same bit for bit) with any number of threads.
fn parts(rows: usize) -> usize {
    reduction_parts(rows, ROWS_PER_PART)
}

/// `x + bias` for row-major `x: (rows, bias.len())`.
pub fn add_to_rows(x: &[f32], bias: &[f32]) -> Vec<f32> {
    let mut out = x.to_vec();
    add_to_rows_in_place(&mut out, bias);
    out
}

/// `x += bias` on every row of row-major `x: (rows, bias.len())`, for a result of one's own (a product
/// just made) that needs no second buffer.
pub fn add_to_rows_in_place(x: &mut [f32], bias: &[f32]) {
    use rayon::prelude::*;
    let cols = bias.len().max(1);
    let rows = x.len() / cols;
    let block = rows.div_ceil(parts(rows)).max(1) * cols;
    x.par_chunks_mut(block).for_each(|x| {
        for row in x.chunks_exact_mut(cols) {
            for (v, &b) in row.iter_mut().zip(bias) {
                *v += b;
            }
        }
    });
}

/// The sum of the rows of row-major `g: (rows, cols)`: each part sums its rows, and the partial sums are
/// added in part order, so the result is the same on every run, whatever the thread count.
pub fn column_sums(g: &[f32], cols: usize) -> Vec<f32> {
    let cols_nz = cols.max(1);
    let rows = g.len() / cols_nz;
    let partials = for_parts(rows, parts(rows), |_, range| {
        let mut sum = vec![0.0f32; cols];
        for row in g[range.start * cols..range.end * cols].chunks_exact(cols_nz) {
            for (s, &v) in sum.iter_mut().zip(row) {
                *s += v;
            }
        }
        sum
    });
    let mut total = vec![0.0f32; cols];
    for p in partials {
        for (t, v) in total.iter_mut().zip(p) {
            *t += v;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hand() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(
            add_to_rows(&x, &[10.0, 20.0, 30.0]),
            [11.0, 22.0, 33.0, 14.0, 25.0, 36.0]
        );
        assert_eq!(column_sums(&x, 3), [5.0, 7.0, 9.0]);
        assert_eq!(column_sums(&x, 2), [9.0, 12.0]);
        assert_eq!(column_sums(&[], 3), [0.0, 0.0, 0.0]);
    }
}
