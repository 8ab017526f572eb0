//! MNIST: 28x28 gray handwritten digits with labels 0-9, read from the four standard IDX files.

use std::path::{Path, PathBuf};

#[cfg(feature = "candle")]
use candle_core::{Device, Tensor};

use super::idx::{self, IMAGES_MAGIC, LABELS_MAGIC};
use super::locate::{DataLocator, DataSource};
use crate::{Error, Result};

/// The data sub-directory that holds the MNIST files.
pub const SUBDIR: &str = "mnist";

/// The four files, without the optional `.gz`: (images, labels) for train, then for test.
pub const TRAIN_FILES: (&str, &str) = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte");
/// The test split's (images, labels) files.
pub const TEST_FILES: (&str, &str) = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte");

mod embedded {
    pub const TRAIN_IMAGES: &[u8] =
        include_bytes!("../../embedded/mnist/train-images-idx3-ubyte.gz");
    pub const TRAIN_LABELS: &[u8] =
        include_bytes!("../../embedded/mnist/train-labels-idx1-ubyte.gz");
    pub const TEST_IMAGES: &[u8] = include_bytes!("../../embedded/mnist/t10k-images-idx3-ubyte.gz");
    pub const TEST_LABELS: &[u8] = include_bytes!("../../embedded/mnist/t10k-labels-idx1-ubyte.gz");
}

/// One split (train or test): `count` images of `rows` x `cols` bytes, row-major, and their labels.
#[derive(Clone, Debug)]
pub struct MnistSplit {
    /// `count * rows * cols` pixels, 0 (background) to 255 (ink).
    pub images: Vec<u8>,
    /// One digit, 0 to 9, per image.
    pub labels: Vec<u8>,
    /// Images.
    pub count: usize,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
    /// The files it was read from (empty for the embedded subset).
    pub files: Vec<PathBuf>,
}

/// Both splits and where they came from.
#[derive(Clone, Debug)]
pub struct Mnist {
    /// The training split (60,000 digits; 5,000 in the embedded subset).
    pub train: MnistSplit,
    /// The test split (10,000 digits; 1,000 in the embedded subset).
    pub test: MnistSplit,
    /// Where it was read from.
    pub source: DataSource,
}

impl Mnist {
    /// Finds MNIST in the usual order (flag, `GLASSBOX_DATA`, `data/`, embedded subset) and reads it.
    /// A `--data-dir` that lacks MNIST is an error rather than a silent fall-back.
    pub fn load(locator: &DataLocator) -> Result<Mnist> {
        if let Some((source, dir)) = locator.find(SUBDIR, has_mnist) {
            return Self::load_dir(&dir, source);
        }
        if let Some(dir) = locator.explicit() {
            // `--data-dir .../mnist` itself is fine too.
            if has_mnist(dir) {
                return Self::load_dir(dir, DataSource::Flag(dir.to_path_buf()));
            }
            return Err(Error::NotFound {
                what: "MNIST (train-images-idx3-ubyte[.gz] and the three other files)".into(),
                searched: vec![dir.join(SUBDIR)],
                hint: Some("run `cargo xtask fetch-data --dest DIR`, or omit --data-dir to use the embedded subset".into()),
            });
        }
        Self::embedded()
    }

    /// Reads the four files from one directory.
    pub fn load_dir(dir: &Path, source: DataSource) -> Result<Mnist> {
        Ok(Mnist {
            train: read_split(dir, TRAIN_FILES)?,
            test: read_split(dir, TEST_FILES)?,
            source,
        })
    }

    /// The real subset compiled into glassbox-core: the first 5,000 training and 1,000 test digits.
    pub fn embedded() -> Result<Mnist> {
        let split = |images: &[u8], labels: &[u8], (iname, lname): (&str, &str)| {
            let images = idx::parse_idx(&embedded_path(iname), images, IMAGES_MAGIC)?;
            let labels = idx::parse_idx(&embedded_path(lname), labels, LABELS_MAGIC)?;
            MnistSplit::new(images, labels, vec![], &embedded_path(iname))
        };
        Ok(Mnist {
            train: split(embedded::TRAIN_IMAGES, embedded::TRAIN_LABELS, TRAIN_FILES)?,
            test: split(embedded::TEST_IMAGES, embedded::TEST_LABELS, TEST_FILES)?,
            source: DataSource::Embedded,
        })
    }
}

/// The embedded files as (display path, gzip bytes): train images, train labels, test images, test labels.
pub fn embedded_files() -> [(PathBuf, &'static [u8]); 4] {
    [
        (embedded_path(TRAIN_FILES.0), embedded::TRAIN_IMAGES),
        (embedded_path(TRAIN_FILES.1), embedded::TRAIN_LABELS),
        (embedded_path(TEST_FILES.0), embedded::TEST_IMAGES),
        (embedded_path(TEST_FILES.1), embedded::TEST_LABELS),
    ]
}

fn embedded_path(name: &str) -> PathBuf {
    PathBuf::from(format!("<embedded>/{SUBDIR}/{name}.gz"))
}

/// The path of one MNIST file in `dir`: gzip preferred, raw accepted.
pub fn file_in(dir: &Path, stem: &str) -> Option<PathBuf> {
    [format!("{stem}.gz"), stem.to_string()]
        .into_iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
}

/// Whether `dir` holds all four MNIST files (gzip or raw).
pub fn has_mnist(dir: &Path) -> bool {
    [TRAIN_FILES.0, TRAIN_FILES.1, TEST_FILES.0, TEST_FILES.1]
        .iter()
        .all(|stem| file_in(dir, stem).is_some())
}

fn read_split(dir: &Path, (images_stem, labels_stem): (&str, &str)) -> Result<MnistSplit> {
    let missing = |stem: &str| Error::NotFound {
        what: format!("MNIST file {stem}[.gz]"),
        searched: vec![dir.to_path_buf()],
        hint: None,
    };
    let images_path = file_in(dir, images_stem).ok_or_else(|| missing(images_stem))?;
    let labels_path = file_in(dir, labels_stem).ok_or_else(|| missing(labels_stem))?;
    let images = idx::read_idx(&images_path, IMAGES_MAGIC)?;
    let labels = idx::read_idx(&labels_path, LABELS_MAGIC)?;
    MnistSplit::new(
        images,
        labels,
        vec![images_path.clone(), labels_path],
        &images_path,
    )
}

impl MnistSplit {
    fn new(
        images: idx::Idx,
        labels: idx::Idx,
        files: Vec<PathBuf>,
        images_path: &Path,
    ) -> Result<Self> {
        let (count, rows, cols) = match images.dims[..] {
            [n, r, c] => (n, r, c),
            ref other => {
                return Err(Error::format(
                    images_path,
                    format!("expected 3 dimensions, found {other:?}"),
                ))
            }
        };
        let labels_path = files
            .get(1)
            .cloned()
            .unwrap_or_else(|| images_path.to_path_buf());
        if labels.dims[0] != count {
            return Err(Error::format(
                &labels_path,
                format!(
                    "{} labels for {count} images in {}",
                    labels.dims[0],
                    images_path.display()
                ),
            ));
        }
        if let Some((i, &bad)) = labels.data.iter().enumerate().find(|(_, &l)| l > 9) {
            return Err(Error::format(
                &labels_path,
                format!("label {bad} at index {i} is not a digit 0-9"),
            ));
        }
        Ok(MnistSplit {
            images: images.data,
            labels: labels.data,
            count,
            rows,
            cols,
            files,
        })
    }

    /// The pixels of image `i`, row-major, 0 = black background, 255 = ink.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.rows * self.cols;
        &self.images[i * n..(i + 1) * n]
    }

    /// How many of each digit.
    pub fn label_counts(&self) -> [usize; 10] {
        let mut counts = [0; 10];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    #[cfg(feature = "candle")]
    /// The images at `indices` as an (N, 1, rows, cols) f32 tensor scaled to 0..1 (the course divides by 255).
    pub fn images_tensor(&self, indices: &[usize], device: &Device) -> Result<Tensor> {
        let n = self.rows * self.cols;
        let mut buf = Vec::with_capacity(indices.len() * n);
        for &i in indices {
            buf.extend(self.image(i).iter().map(|&p| f32::from(p) / 255.0));
        }
        Ok(Tensor::from_vec(
            buf,
            (indices.len(), 1, self.rows, self.cols),
            device,
        )?)
    }

    #[cfg(feature = "candle")]
    /// The labels at `indices` as a u32 tensor of shape (N,).
    pub fn labels_tensor(&self, indices: &[usize], device: &Device) -> Result<Tensor> {
        let labels: Vec<u32> = indices.iter().map(|&i| u32::from(self.labels[i])).collect();
        Ok(Tensor::from_vec(labels, indices.len(), device)?)
    }

    /// A prefix of the split (for quick runs), keeping the file record.
    pub fn take(&self, n: usize) -> MnistSplit {
        let n = n.min(self.count);
        MnistSplit {
            images: self.images[..n * self.rows * self.cols].to_vec(),
            labels: self.labels[..n].to_vec(),
            count: n,
            rows: self.rows,
            cols: self.cols,
            files: self.files.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "candle")]
    #[test]
    fn the_embedded_subset_is_real_mnist() {
        let m = Mnist::embedded().unwrap();
        assert_eq!((m.train.count, m.test.count), (5000, 1000));
        assert_eq!((m.train.rows, m.train.cols), (28, 28));
        assert_eq!(
            m.train.label_counts(),
            [479, 563, 488, 493, 535, 434, 501, 550, 462, 495]
        );
        assert_eq!(
            m.test.label_counts(),
            [85, 126, 116, 107, 110, 87, 87, 99, 89, 94]
        );
        // The first training digit of MNIST is a 5, the first test digit a 7.
        assert_eq!((m.train.labels[0], m.test.labels[0]), (5, 7));
        let t = m.train.images_tensor(&[0, 1], &Device::Cpu).unwrap();
        assert_eq!(t.dims(), &[2, 1, 28, 28]);
        let max = t.max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!((max - 1.0).abs() < 1e-6);
    }

    #[test]
    fn an_explicit_dir_without_mnist_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = Mnist::load(&DataLocator::only(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("MNIST") && err.contains("fetch-data"), "{err}");
    }

    #[test]
    fn mismatched_label_count_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join(SUBDIR);
        std::fs::create_dir_all(&sub).unwrap();
        let w = |name: &str, bytes: Vec<u8>| std::fs::write(sub.join(name), bytes).unwrap();
        w(
            "train-images-idx3-ubyte",
            idx::encode_idx(IMAGES_MAGIC, &[2, 2, 2], &[0; 8]),
        );
        w(
            "train-labels-idx1-ubyte",
            idx::encode_idx(LABELS_MAGIC, &[3], &[0, 1, 2]),
        );
        w(
            "t10k-images-idx3-ubyte",
            idx::encode_idx(IMAGES_MAGIC, &[1, 2, 2], &[0; 4]),
        );
        w(
            "t10k-labels-idx1-ubyte",
            idx::encode_idx(LABELS_MAGIC, &[1], &[12]),
        );
        let err = Mnist::load(&DataLocator::only(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("3 labels for 2 images"), "{err}");
    }
}
