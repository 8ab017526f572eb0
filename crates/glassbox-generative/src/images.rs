//! The images a model trains on: MNIST digits, or photos held in memory; all the same size, pixels in
//! 0..1. Denoising adds fixed noise to each image.

use candle_core::{Device, Tensor};
use glassbox_core::data::MnistSplit;
use glassbox_core::seed::Seed;
use rand_distr::{Distribution, StandardNormal};

use crate::Result;

/// A numbered collection of same-sized images.
pub trait ImageSet {
    /// Images in the set.
    fn len(&self) -> usize;

    /// Whether the set has no images.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `(channels, height, width)` of every image.
    fn dims(&self) -> (usize, usize, usize);

    /// The images at `indices` as `(N, C, H, W)` with pixels in 0..1.
    fn batch(&self, indices: &[usize], device: &Device) -> Result<Tensor>;
}

impl ImageSet for MnistSplit {
    fn len(&self) -> usize {
        self.count
    }

    fn dims(&self) -> (usize, usize, usize) {
        (1, self.rows, self.cols)
    }

    fn batch(&self, indices: &[usize], device: &Device) -> Result<Tensor> {
        Ok(self.images_tensor(indices, device)?)
    }
}

/// Images in one `(N, C, H, W)` tensor, optionally seen several times per epoch.
pub struct InMemory {
    images: Tensor,
    copies: usize,
}

impl InMemory {
    /// `images` `(N, C, H, W)`, each seen once per epoch.
    pub fn new(images: Tensor) -> Result<Self> {
        Self::repeated(images, 1)
    }

    /// Each image `copies` times per epoch (index `i` is image `i mod N`): a handful of photos then fill
    /// several mini-batches an epoch.
    pub fn repeated(images: Tensor, copies: usize) -> Result<Self> {
        images.dims4()?;
        Ok(InMemory {
            images,
            copies: copies.max(1),
        })
    }

    /// The images, `(N, C, H, W)` (each once).
    pub fn tensor(&self) -> &Tensor {
        &self.images
    }
}

impl ImageSet for InMemory {
    fn len(&self) -> usize {
        self.images.dim(0).unwrap_or(0) * self.copies
    }

    fn dims(&self) -> (usize, usize, usize) {
        let d = self.images.dims();
        (d[1], d[2], d[3])
    }

    fn batch(&self, indices: &[usize], device: &Device) -> Result<Tensor> {
        let n = self.images.dim(0)?;
        let ids: Vec<u32> = indices.iter().map(|&i| (i % n) as u32).collect();
        let ids = Tensor::new(ids.as_slice(), self.images.device())?;
        Ok(self.images.index_select(&ids, 0)?.to_device(device)?)
    }
}

/// Gaussian noise, `x + std N(0, 1)` clipped to 0..1, the same for an image every time it is drawn (the
/// course noises the data set once, before training).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Noise {
    /// The noise's standard deviation, in pixel units of 0..1.
    pub std: f32,
}

impl Noise {
    /// The noisy version of `clean` (images `indices` of the set `split`).
    pub fn apply(
        self,
        clean: &Tensor,
        indices: &[usize],
        split: &str,
        seed: Seed,
    ) -> Result<Tensor> {
        let per_image = clean.elem_count() / indices.len().max(1);
        let mut values = Vec::with_capacity(clean.elem_count());
        for &i in indices {
            let mut rng = seed.stream(&format!("noise/{split}/{i}"));
            values.extend((0..per_image).map(|_| {
                let n: f32 = StandardNormal.sample(&mut rng);
                self.std * n
            }));
        }
        let noise = Tensor::from_vec(values, clean.shape(), clean.device())?;
        Ok((clean + noise)?.clamp(0f32, 1f32)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_fixed_per_image_and_clipped() {
        let clean = Tensor::full(0.5f32, (3, 1, 4, 4), &Device::Cpu).unwrap();
        let noise = Noise { std: 0.5 };
        let a = noise.apply(&clean, &[7, 8, 9], "train", Seed(1)).unwrap();
        // Image 8 alone gets the same noise as image 8 in a batch.
        let b = noise
            .apply(&clean.narrow(0, 1, 1).unwrap(), &[8], "train", Seed(1))
            .unwrap();
        let a8: Vec<f32> = a.get(1).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let b8: Vec<f32> = b.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(a8, b8);
        let all: Vec<f32> = a.flatten_all().unwrap().to_vec1().unwrap();
        assert!(all.iter().all(|v| (0.0..=1.0).contains(v)));
        // Another split or seed: other noise; std 0.5 moves values by about 0.4 on average.
        let c = noise.apply(&clean, &[7, 8, 9], "test", Seed(1)).unwrap();
        assert_ne!(all, c.flatten_all().unwrap().to_vec1::<f32>().unwrap());
        let mean_move = all.iter().map(|v| (v - 0.5).abs()).sum::<f32>() / all.len() as f32;
        assert!((0.2..0.45).contains(&mean_move), "{mean_move}");
    }

    #[test]
    fn in_memory_batches_pick_the_indexed_images() {
        let data: Vec<f32> = (0..3 * 4).map(|v| v as f32).collect();
        let set =
            InMemory::new(Tensor::from_vec(data, (3, 1, 2, 2), &Device::Cpu).unwrap()).unwrap();
        assert_eq!(set.len(), 3);
        assert_eq!(set.dims(), (1, 2, 2));
        let b = set.batch(&[2, 0], &Device::Cpu).unwrap();
        assert_eq!(
            b.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            [8.0, 9.0, 10.0, 11.0, 0.0, 1.0, 2.0, 3.0]
        );
        let twice = InMemory::repeated(set.tensor().clone(), 2).unwrap();
        assert_eq!(twice.len(), 6);
        let b = twice.batch(&[4], &Device::Cpu).unwrap();
        assert_eq!(
            b.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            [4.0, 5.0, 6.0, 7.0]
        );
    }
}
