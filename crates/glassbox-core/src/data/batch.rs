//! Seeded mini-batches over any indexed data set.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// The mini-batches of one epoch: indices into the data set, shuffled with the run's seed when asked.
#[derive(Clone, Debug)]
pub struct Batches {
    order: Vec<usize>,
    batch_size: usize,
}

impl Batches {
    /// All `n` items in order (evaluation).
    pub fn sequential(n: usize, batch_size: usize) -> Self {
        assert!(batch_size > 0, "batch size must be positive");
        Batches {
            order: (0..n).collect(),
            batch_size,
        }
    }

    /// All `n` items in an order drawn from `rng` (training). The same generator state gives the same order.
    pub fn shuffled(n: usize, batch_size: usize, rng: &mut StdRng) -> Self {
        let mut b = Self::sequential(n, batch_size);
        b.order.shuffle(rng);
        b
    }

    /// Number of batches, counting a final partial one.
    pub fn len(&self) -> usize {
        self.order.len().div_ceil(self.batch_size)
    }

    /// Whether there are no items (and so no batches).
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Number of items over all batches.
    pub fn items(&self) -> usize {
        self.order.len()
    }

    /// The batches as slices of indices; the last one may be shorter (Keras and PyTorch keep it too).
    pub fn iter(&self) -> std::slice::Chunks<'_, usize> {
        self.order.chunks(self.batch_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::Seed;

    #[test]
    fn covers_every_item_once_and_is_reproducible() {
        let a = Batches::shuffled(10, 4, &mut Seed(1).stream("shuffle"));
        let b = Batches::shuffled(10, 4, &mut Seed(1).stream("shuffle"));
        let c = Batches::shuffled(10, 4, &mut Seed(2).stream("shuffle"));
        let flat = |x: &Batches| x.iter().flatten().copied().collect::<Vec<_>>();
        assert_eq!(flat(&a), flat(&b));
        assert_ne!(flat(&a), flat(&c));
        let mut sorted = flat(&a);
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        assert_eq!(a.len(), 3);
        assert_eq!(a.iter().map(|s| s.len()).collect::<Vec<_>>(), vec![4, 4, 2]);
    }
}
