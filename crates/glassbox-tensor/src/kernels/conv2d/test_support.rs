//! What the convolution paths' tests share: inputs, geometries and the error measure.

use super::ConvGeometry;

/// Deterministic values in (-1, 1) (xorshift).
pub(crate) fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// `batch` images of `c` channels, `hw` in size, into `m` channels by square `k x k` filters with
/// padding `p` and stride `s`, no dilation.
pub(crate) fn geometry(
    batch: usize,
    c: usize,
    hw: (usize, usize),
    m: usize,
    k: usize,
    p: usize,
    s: usize,
) -> ConvGeometry {
    ConvGeometry {
        batch,
        in_channels: c,
        height: hw.0,
        width: hw.1,
        out_channels: m,
        kernel_h: k,
        kernel_w: k,
        padding: p,
        stride: s,
        dilation: 1,
    }
}

/// The largest difference relative to the reference's mean magnitude; a non-finite value fails.
pub(crate) fn relative_error(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    assert!(got.iter().all(|v| v.is_finite()), "non-finite output");
    let mean = want.iter().map(|v| v.abs()).sum::<f32>() / want.len() as f32;
    let worst = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    worst / mean
}
