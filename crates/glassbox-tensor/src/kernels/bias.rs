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

/// Images per part of [`channel_sums`]: each part zeroes and adds a partial sum per channel.
const IMAGES_PER_PART: usize = 4;

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

/// `x += bias[c]` over every plane of channel `c` of `x: (images, bias.len(), plane)` (a convolution's
/// output), images in parallel.
pub fn add_to_channels_in_place(x: &mut [f32], bias: &[f32], plane: usize) {
    use rayon::prelude::*;
    let image = (bias.len() * plane).max(1);
    x.par_chunks_mut(image).for_each(|x| {
        for (channel, &b) in x.chunks_exact_mut(plane.max(1)).zip(bias) {
            channel.iter_mut().for_each(|v| *v += b);
        }
    });
}

/// The gradient of [`add_to_channels_in_place`]'s bias: the sum of each channel of `g: (images,
/// channels, plane)` over images and plane. Images are split into parts by their count alone and the
/// partial sums added in part order, so the result is the same bit for bit with any thread count.
pub fn channel_sums(g: &[f32], channels: usize, plane: usize) -> Vec<f32> {
    let image = (channels * plane).max(1);
    let images = g.len() / image;
    let partials = for_parts(
        images,
        reduction_parts(images, IMAGES_PER_PART),
        |_, range| {
            let mut sum = vec![0.0f32; channels];
            for x in g[range.start * image..range.end * image].chunks_exact(image) {
                for (s, channel) in sum.iter_mut().zip(x.chunks_exact(plane.max(1))) {
                    *s += lanes_sum(channel);
                }
            }
            sum
        },
    );
    let mut total = vec![0.0f32; channels];
    for p in partials {
        for (t, v) in total.iter_mut().zip(p) {
            *t += v;
        }
    }
    total
}

/// A sum in eight independent lanes, which the compiler vectorizes (a plain `iter().sum()` must keep the
/// sequential order and runs one add at a time).
pub(crate) fn lanes_sum(xs: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks = xs.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (l, v) in lanes.iter_mut().zip(c) {
            *l += v;
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_by_hand() {
        // Two images of two channels of three pixels.
        let mut x = vec![
            1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0,
        ];
        assert_eq!(
            channel_sums(&x, 2, 3),
            [
                1.0 + 2.0 + 3.0 + 7.0 + 8.0 + 9.0,
                4.0 + 5.0 + 6.0 + 10.0 + 11.0 + 12.0
            ]
        );
        add_to_channels_in_place(&mut x, &[100.0, -1.0], 3);
        assert_eq!(
            x,
            [101.0, 102.0, 103.0, 3.0, 4.0, 5.0, 107.0, 108.0, 109.0, 9.0, 10.0, 11.0]
        );
        // More pixels than one block of lanes, and a tail.
        let long: Vec<f32> = (0..21).map(|i| i as f32).collect();
        assert_eq!(channel_sums(&long, 1, 21), [210.0]);
    }

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
