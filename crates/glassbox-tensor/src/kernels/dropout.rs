//! Dropout whose mask is a pure function of (seed, element index): nothing is stored between the forward
//! and backward passes, the same seed gives the same mask on every run and thread count, and the pass is
//! one vectorizable loop instead of candle's random tensor, comparison, cast and two products.

use super::activation::dispatch_avx2;

/// splitmix64's finalizer: a good 64-bit mix of the element index and the seed.
#[inline(always)]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Whether element `index` is kept: its 24-bit uniform draw is at least `p`.
#[inline(always)]
pub fn keeps(seed: u64, index: u64, threshold: u32) -> bool {
    ((mix(seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15)) >> 40) as u32) >= threshold
}

/// The 24-bit threshold below which an element is dropped.
pub fn threshold(p: f32) -> u32 {
    (p.clamp(0.0, 1.0) as f64 * (1u64 << 24) as f64).round() as u32
}

dispatch_avx2! {
    fn chunk(x: &[f32], out: &mut [f32], seed: u64, start: u64, threshold: u32, scale: f32) {
        for (i, (o, v)) in out.iter_mut().zip(x).enumerate() {
            *o = if keeps(seed, start + i as u64, threshold) { v * scale } else { 0.0 };
        }
    }
}

/// `x * mask / (1 - p)`; applying it to the output gradient with the same seed is the backward pass.
pub fn dropout(x: &[f32], p: f32, seed: u64) -> Vec<f32> {
    const CHUNK: usize = 1 << 14;
    let threshold = threshold(p);
    let scale = if p >= 1.0 { 0.0 } else { 1.0 / (1.0 - p) };
    // Each piece zeroed by the thread that writes it, not all of it on this one first.
    super::parallel::zeros_accumulated_in_parallel(x.len(), CHUNK, |c, o| {
        let x = &x[c * CHUNK..(c * CHUNK + o.len())];
        chunk(x, o, seed, (c * CHUNK) as u64, threshold, scale);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_about_p_and_scales_the_rest() {
        let x = vec![1.0f32; 200_000];
        for p in [0.0, 0.25, 0.5, 0.9] {
            let y = dropout(&x, p, 7);
            let dropped = y.iter().filter(|v| **v == 0.0).count() as f32 / x.len() as f32;
            assert!((dropped - p).abs() < 0.005, "p {p}: dropped {dropped}");
            let kept = y
                .iter()
                .find(|v| **v != 0.0)
                .copied()
                .unwrap_or(1.0 / (1.0 - p));
            assert!((kept - 1.0 / (1.0 - p)).abs() < 1e-6);
        }
        assert!(dropout(&x, 1.0, 7).iter().all(|v| *v == 0.0));
        assert_eq!(dropout(&x, 0.5, 7), dropout(&x, 0.5, 7));
        assert_ne!(dropout(&x, 0.5, 7), dropout(&x, 0.5, 8));
    }
}
