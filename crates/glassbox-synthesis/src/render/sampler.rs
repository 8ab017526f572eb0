//! Random numbers for the renderer: one PCG32 stream per (seed, pixel, sample), so a pixel's samples do not
//! depend on which thread rendered it or in what order, and a render is the same for any thread count.

/// An independent sampler (Mitsuba's `independent`): uniform numbers in [0, 1) from PCG32 (O'Neill 2014).
#[derive(Debug, Clone)]
pub struct Sampler {
    state: u64,
    inc: u64,
}

const MULTIPLIER: u64 = 6_364_136_223_846_793_005;

/// SplitMix64's finalizer: spreads nearby seeds (pixel 7, pixel 8) over unrelated states.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Sampler {
    /// The stream for one sample of one pixel.
    pub fn new(seed: u64, pixel: u64, sample: u64) -> Self {
        let key = mix(seed
            ^ mix(pixel.wrapping_add(0x9e37_79b9_7f4a_7c15))
            ^ mix(sample.wrapping_mul(0xd1b5_4a32_d192_ed03)));
        let mut s = Sampler {
            state: 0,
            inc: (mix(key ^ 0x5851_f42d_4c95_7f2d) << 1) | 1,
        };
        s.next_u32();
        s.state = s.state.wrapping_add(key);
        s.next_u32();
        s
    }

    /// The next 32 random bits (PCG32).
    pub fn next_u32(&mut self) -> u32 {
        let old = self.state;
        self.state = old.wrapping_mul(MULTIPLIER).wrapping_add(self.inc);
        let xorshifted = (((old >> 18) ^ old) >> 27) as u32;
        let rot = (old >> 59) as u32;
        xorshifted.rotate_right(rot)
    }

    /// Uniform in [0, 1): 24 random bits, so the result is exactly representable and never 1.
    pub fn next_1d(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
    }

    /// Two numbers uniform in [0, 1).
    pub fn next_2d(&mut self) -> (f32, f32) {
        (self.next_1d(), self.next_1d())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u32> = (0..4)
            .map({
                let mut s = Sampler::new(1, 7, 0);
                move |_| s.next_u32()
            })
            .collect();
        let b: Vec<u32> = (0..4)
            .map({
                let mut s = Sampler::new(1, 7, 0);
                move |_| s.next_u32()
            })
            .collect();
        let c: Vec<u32> = (0..4)
            .map({
                let mut s = Sampler::new(1, 8, 0);
                move |_| s.next_u32()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn uniform_mean_and_range() {
        let mut s = Sampler::new(3, 0, 0);
        let n = 100_000;
        let mut sum = 0.0f64;
        for _ in 0..n {
            let u = s.next_1d();
            assert!((0.0..1.0).contains(&u));
            sum += u as f64;
        }
        let mean = sum / n as f64;
        assert!((mean - 0.5).abs() < 0.005, "mean {mean}");
    }
}
