//! The real MNIST files: counts and label statistics as published, and clear errors for damaged copies.

use std::io::{Read, Write};
use std::path::Path;

use glassbox_core::data::idx::{read_idx, IMAGES_MAGIC, LABELS_MAGIC};
use glassbox_core::data::{DataLocator, DataSource, Mnist};
use glassbox_tests::full_data;

const TRAIN_COUNTS: [usize; 10] = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949];
const TEST_COUNTS: [usize; 10] = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009];

#[test]
fn full_mnist_has_the_published_counts() {
    let Some(dir) = full_data() else {
        return;
    };
    let m = Mnist::load(&DataLocator::only(&dir)).unwrap();
    assert_eq!(m.source, DataSource::Flag(dir.clone()));
    assert_eq!((m.train.count, m.test.count), (60_000, 10_000));
    assert_eq!((m.train.rows, m.train.cols), (28, 28));
    assert_eq!(m.train.label_counts(), TRAIN_COUNTS);
    assert_eq!(m.test.label_counts(), TEST_COUNTS);
    // The uncompressed training images are byte-for-byte the published file (md5 from ../shared/README.md).
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(dir.join("mnist/train-images-idx3-ubyte.gz")).unwrap(),
    )
    .read_to_end(&mut raw)
    .unwrap();
    assert_eq!(raw.len(), 47_040_016);
    let md5 = glassbox_core::assets::checksum::bytes_digest(
        &raw,
        glassbox_core::assets::checksum::Algorithm::Md5,
    );
    assert_eq!(md5, "6bbc9ace898e44ae57da46a324031adb");
}

#[test]
fn the_embedded_subset_is_the_start_of_the_full_set() {
    let embedded = Mnist::embedded().unwrap();
    let Some(dir) = full_data() else {
        return;
    };
    let full = Mnist::load(&DataLocator::only(&dir)).unwrap();
    assert_eq!(embedded.train.images[..], full.train.images[..5000 * 784]);
    assert_eq!(embedded.test.labels[..], full.test.labels[..1000]);
}

/// Writes `bytes` to `dir/name` and returns the error message of reading it as `magic`.
fn error_for(dir: &Path, name: &str, bytes: &[u8], magic: u32) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    read_idx(&path, magic).unwrap_err().to_string()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[test]
fn damaged_copies_of_real_files_are_rejected_clearly() {
    // Real bytes: the embedded test labels (the start of the real file).
    let labels = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../crates/glassbox-core/embedded/mnist/t10k-labels-idx1-ubyte.gz"),
    )
    .unwrap();
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&labels[..])
        .read_to_end(&mut raw)
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();

    // A truncated file (raw and gzip).
    let msg = error_for(
        d,
        "trunc-labels-idx1-ubyte",
        &raw[..raw.len() - 100],
        LABELS_MAGIC,
    );
    assert!(
        msg.contains("trunc-labels-idx1-ubyte")
            && msg.contains("truncated")
            && msg.contains("only"),
        "{msg}"
    );
    let msg = error_for(
        d,
        "trunc-labels-idx1-ubyte.gz",
        &labels[..labels.len() / 2],
        LABELS_MAGIC,
    );
    assert!(
        msg.contains("trunc-labels-idx1-ubyte.gz") && msg.contains("gzip stream is truncated"),
        "{msg}"
    );

    // A wrong magic: an images file read as labels, and garbage.
    let msg = error_for(d, "swapped.gz", &labels, IMAGES_MAGIC);
    assert!(
        msg.contains("swapped.gz")
            && msg.contains("wrong magic number labels (2049)")
            && msg.contains("expected 2051"),
        "{msg}"
    );

    // A header count larger than the data.
    let mut bigger = raw.clone();
    bigger[4..8].copy_from_slice(&((raw.len() as u32 - 8) + 5).to_be_bytes());
    let msg = error_for(d, "bigcount.gz", &gzip(&bigger), LABELS_MAGIC);
    assert!(
        msg.contains("bigcount.gz") && msg.contains("truncated: the header promises"),
        "{msg}"
    );

    // A file named .gz that is not gzip.
    let msg = error_for(d, "plain-labels.gz", &raw, LABELS_MAGIC);
    assert!(
        msg.contains("plain-labels.gz") && msg.contains("named .gz but is not gzip"),
        "{msg}"
    );
}
