//! Streaming checksums of files, as lowercase hex.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use md5::Md5;
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Which digest a checksum uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// SHA-256, the hub's and models.toml's checksum.
    Sha256,
    /// MD5, the checksum the MNIST mirrors publish.
    Md5,
}

impl Algorithm {
    /// The name reports use: `sha256` or `md5`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Md5 => "md5",
        }
    }
}

/// An incremental digest of either kind, for code that hashes while it downloads.
pub enum Hasher {
    /// A SHA-256 in progress.
    Sha256(Sha256),
    /// An MD5 in progress.
    Md5(Md5),
}

impl Hasher {
    /// A fresh digest of `algorithm`.
    pub fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Md5 => Hasher::Md5(Md5::new()),
        }
    }

    /// Hashes the next `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Md5(h) => h.update(bytes),
        }
    }

    /// The digest of everything hashed, as lowercase hex.
    pub fn finish_hex(self) -> String {
        match self {
            Hasher::Sha256(h) => hex(&h.finalize()),
            Hasher::Md5(h) => hex(&h.finalize()),
        }
    }
}

/// The hex digest of a whole file.
pub fn file_digest(path: &Path, algorithm: Algorithm) -> Result<String> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Hasher::new(algorithm);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finish_hex())
}

/// The hex digest of bytes in memory.
pub fn bytes_digest(bytes: &[u8], algorithm: Algorithm) -> String {
    let mut hasher = Hasher::new(algorithm);
    hasher.update(bytes);
    hasher.finish_hex()
}

/// Checks a file's digest, naming the file and both values on a mismatch.
pub fn verify_file(path: &Path, algorithm: Algorithm, expected: &str) -> Result<()> {
    let found = file_digest(path, algorithm)?;
    if found.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(Error::Mismatch {
            path: path.to_path_buf(),
            what: algorithm.name(),
            expected: expected.to_ascii_lowercase(),
            found,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        assert_eq!(
            bytes_digest(b"abc", Algorithm::Sha256),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            bytes_digest(b"abc", Algorithm::Md5),
            "900150983cd24fb0d6963f7d28e17f72"
        );
    }

    #[test]
    fn verify_reports_both_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        verify_file(&path, Algorithm::Md5, "900150983CD24FB0D6963F7D28E17F72").unwrap();
        let err = verify_file(&path, Algorithm::Md5, "00")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("expected 00") && err.contains("900150983cd2"),
            "{err}"
        );
    }
}
