use std::sync::atomic::{AtomicU64, Ordering};

use candle_core::{Result, Tensor};

use crate::ops::dropout;

/// Dropout with a reproducible mask: call `i` of [`Dropout::forward_t`] in training uses seed
/// `mix(seed, i)`, so a run with the same seed drops the same units. [`Dropout::set_calls`] restores the
/// count when training resumes from a checkpoint.
#[derive(Debug)]
pub struct Dropout {
    p: f32,
    seed: u64,
    calls: AtomicU64,
}

impl Dropout {
    /// Drops a share `p` of the values in training; masks are drawn from `seed` and the call count.
    pub fn new(p: f32, seed: u64) -> Self {
        Dropout {
            p,
            seed,
            calls: AtomicU64::new(0),
        }
    }

    /// Drops in training, passes `x` through otherwise.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        if !train {
            return Ok(x.clone());
        }
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        dropout(
            x,
            self.p,
            self.seed
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .wrapping_add(call),
        )
    }

    /// Training calls so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Sets the call count (from a checkpoint), so a resumed run draws the masks it would have.
    pub fn set_calls(&self, calls: u64) {
        self.calls.store(calls, Ordering::Relaxed)
    }
}
