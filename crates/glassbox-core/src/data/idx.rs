//! The IDX format of the MNIST files: a big-endian header (magic, then one u32 per dimension) followed by
//! unsigned bytes. Files may be gzip-compressed. Every inconsistency is an error naming the file.

use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;

use crate::{Error, Result};

/// Magic of an IDX file of unsigned bytes with three dimensions (images: count, rows, cols).
pub const IMAGES_MAGIC: u32 = 0x0000_0803; // 2051
/// Magic of an IDX file of unsigned bytes with one dimension (labels: count).
pub const LABELS_MAGIC: u32 = 0x0000_0801; // 2049

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A parsed IDX file of unsigned bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idx {
    /// The dimensions from the header, outermost first (`[count, rows, cols]` for images).
    pub dims: Vec<usize>,
    /// The values, row-major; as many as the dimensions' product.
    pub data: Vec<u8>,
}

/// Reads and validates an IDX file from disk, decompressing it when it is gzip.
pub fn read_idx(path: &Path, expected_magic: u32) -> Result<Idx> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_idx(path, &raw, expected_magic)
}

/// Validates IDX bytes (gzip or raw) that came from `path` (used in messages only).
pub fn parse_idx(path: &Path, raw: &[u8], expected_magic: u32) -> Result<Idx> {
    let bytes = decompress_if_gzip(path, raw)?;
    parse_uncompressed(path, &bytes, expected_magic)
}

fn decompress_if_gzip(path: &Path, raw: &[u8]) -> Result<Vec<u8>> {
    let named_gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    let is_gzip = raw.starts_with(&GZIP_MAGIC);
    if named_gz && !is_gzip {
        return Err(Error::format(
            path,
            format!(
                "named .gz but is not gzip (starts with {:02x?}, gzip starts with 1f 8b)",
                &raw[..raw.len().min(4)]
            ),
        ));
    }
    if !is_gzip {
        return Ok(raw.to_vec());
    }
    let corrupt = |e: std::io::Error| {
        Error::format(path, format!("gzip stream is truncated or corrupt: {e}"))
    };
    // Inflate the header first, then at most one byte more than it promises: a few kilobytes of gzip can
    // hold gigabytes of zeros after a valid header (a bomb), and the parser needs only to see that they
    // are there. Anything short of a header goes to the parser as it is, which says what is missing.
    let mut decoder = GzDecoder::new(raw);
    let mut out = Vec::new();
    (&mut decoder)
        .take(4)
        .read_to_end(&mut out)
        .map_err(corrupt)?;
    if out.len() == 4 {
        let ndims = u64::from(out[3]);
        (&mut decoder)
            .take(4 * ndims)
            .read_to_end(&mut out)
            .map_err(corrupt)?;
        let promised = out[4..]
            .chunks_exact(4)
            .map(|d| u64::from(be_u32(d)))
            .try_fold(1u64, |acc, d| acc.checked_mul(d));
        let limit = promised.and_then(|n| n.checked_add(1)).unwrap_or(u64::MAX);
        decoder.take(limit).read_to_end(&mut out).map_err(corrupt)?;
    }
    Ok(out)
}

fn parse_uncompressed(path: &Path, bytes: &[u8], expected_magic: u32) -> Result<Idx> {
    let kind = |m: u32| match m {
        IMAGES_MAGIC => "images (2051)".to_string(),
        LABELS_MAGIC => "labels (2049)".to_string(),
        other => format!("{other} (0x{other:08x})"),
    };
    if bytes.len() < 4 {
        return Err(Error::format(
            path,
            format!("file is {} bytes, too short for an IDX header", bytes.len()),
        ));
    }
    let magic = be_u32(&bytes[0..4]);
    if magic != expected_magic {
        return Err(Error::format(
            path,
            format!(
                "wrong magic number {}: expected {} for an IDX file of {}",
                kind(magic),
                expected_magic,
                kind(expected_magic)
            ),
        ));
    }
    // The third byte is the element type (0x08 = unsigned byte), the fourth the number of dimensions.
    let ndims = (magic & 0xff) as usize;
    let header_len = 4 + 4 * ndims;
    if bytes.len() < header_len {
        return Err(Error::format(
            path,
            format!(
                "truncated header: {ndims} dimensions need {header_len} bytes, the file has {}",
                bytes.len()
            ),
        ));
    }
    let dims: Vec<usize> = (0..ndims)
        .map(|i| be_u32(&bytes[4 + 4 * i..8 + 4 * i]) as usize)
        .collect();
    let expected_len = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::format(path, format!("header dimensions {dims:?} overflow")))?;
    let body = &bytes[header_len..];
    if body.len() < expected_len {
        return Err(Error::format(
            path,
            format!(
                "truncated: the header promises {} ({} bytes of data) but only {} bytes follow",
                describe(&dims),
                expected_len,
                body.len()
            ),
        ));
    }
    if body.len() > expected_len {
        return Err(Error::format(
            path,
            format!(
                "unexpected trailing data after {} ({} bytes): at least {} more bytes",
                describe(&dims),
                expected_len,
                body.len() - expected_len
            ),
        ));
    }
    Ok(Idx {
        dims,
        data: body.to_vec(),
    })
}

fn describe(dims: &[usize]) -> String {
    match dims {
        [n, r, c] => format!("{n} items of {r}x{c}"),
        [n] => format!("{n} items"),
        other => format!("dimensions {other:?}"),
    }
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Encodes an IDX file of unsigned bytes (for tests and for writing subsets).
pub fn encode_idx(magic: u32, dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn p(name: &str) -> PathBuf {
        PathBuf::from(name)
    }

    #[test]
    fn parses_a_hand_made_file() {
        let bytes = encode_idx(
            IMAGES_MAGIC,
            &[2, 2, 3],
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
        );
        let idx = parse_idx(&p("x-idx3-ubyte"), &bytes, IMAGES_MAGIC).unwrap();
        assert_eq!(idx.dims, vec![2, 2, 3]);
        assert_eq!(idx.data[11], 12);
    }

    #[test]
    fn rejects_with_the_file_name_and_the_problem() {
        let good = encode_idx(LABELS_MAGIC, &[3], &[1, 2, 3]);
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("short-labels", good[..2].to_vec(), "too short"),
            ("trunc-labels", good[..10].to_vec(), "truncated"),
            (
                "big-count",
                encode_idx(LABELS_MAGIC, &[4], &[1, 2, 3]),
                "promises 4 items",
            ),
            (
                "trailing",
                encode_idx(LABELS_MAGIC, &[2], &[1, 2, 3]),
                "trailing",
            ),
            (
                "magic",
                encode_idx(IMAGES_MAGIC, &[1, 1, 3], &[1, 2, 3]),
                "wrong magic number images (2051)",
            ),
            ("fake.gz", good.clone(), "named .gz but is not gzip"),
        ];
        for (name, bytes, needle) in cases {
            let err = parse_idx(&p(name), &bytes, LABELS_MAGIC)
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(name) && err.contains(needle),
                "{name}: {err}"
            );
        }
    }

    #[test]
    fn reads_gzip_and_rejects_a_truncated_gzip_stream() {
        use flate2::{write::GzEncoder, Compression};
        use std::io::Write;
        let raw = encode_idx(LABELS_MAGIC, &[1000], &[7u8; 1000]);
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(&raw).unwrap();
        let gz = enc.finish().unwrap();
        let idx = parse_idx(&p("l.gz"), &gz, LABELS_MAGIC).unwrap();
        assert_eq!(idx.dims, vec![1000]);
        let err = parse_idx(&p("l.gz"), &gz[..gz.len() / 2], LABELS_MAGIC)
            .unwrap_err()
            .to_string();
        assert!(err.contains("gzip stream is truncated or corrupt"), "{err}");
    }
}
