//! Checks of a weights file against what is known about it: size, sha256 and the safetensors element count.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use glassbox_assets::checksum::{self, Algorithm};
use glassbox_assets::manifest::ModelEntry;

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{}: {what} mismatch: expected {expected}, found {found}", path.display())]
    Mismatch {
        path: PathBuf,
        what: &'static str,
        expected: String,
        found: String,
    },
    #[error("{}: not a valid safetensors file: {problem}", path.display())]
    BadHeader { path: PathBuf, problem: String },
    #[error(transparent)]
    Io(#[from] glassbox_assets::Error),
}

impl CheckError {
    /// True when the file itself is wrong (as opposed to unreadable): such a file should be deleted.
    pub fn is_bad_file(&self) -> bool {
        !matches!(self, CheckError::Io(_))
    }
}

/// The values a file must have; `None` means "not known", which is reported but not an error.
#[derive(Clone, Debug, Default)]
pub struct Expectations {
    pub size: Option<u64>,
    pub sha256: Option<String>,
    /// Where `sha256` comes from, for the report ("models.toml", "the hub's etag", ...).
    pub sha256_from: &'static str,
    pub parameters: Option<u64>,
}

impl Expectations {
    /// What the manifest pins for `entry`.
    pub fn pinned(entry: &ModelEntry) -> Self {
        Expectations {
            size: entry.size,
            sha256: entry.sha256.clone(),
            sha256_from: "models.toml",
            parameters: entry.parameters,
        }
    }
}

/// What a checked file turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    /// The element count, when the file is safetensors.
    pub parameters: Option<u64>,
    /// Whether the sha256 was compared with a known value (else it is only reported, to be pinned).
    pub sha256_verified: bool,
}

/// Checks `path`: size first (cheap), then sha256, then the element count of a safetensors header.
pub fn check_file(path: &Path, want: &Expectations) -> Result<Checked, CheckError> {
    let size = std::fs::metadata(path)
        .map_err(|e| glassbox_assets::Error::io(path, e))?
        .len();
    if let Some(expected) = want.size {
        if size != expected {
            return Err(mismatch(path, "size", expected, size));
        }
    }
    let sha256 = checksum::file_digest(path, Algorithm::Sha256)?;
    if let Some(expected) = &want.sha256 {
        if !sha256.eq_ignore_ascii_case(expected) {
            return Err(CheckError::Mismatch {
                path: path.to_path_buf(),
                what: "sha256",
                expected: format!(
                    "{} (from {})",
                    expected.to_ascii_lowercase(),
                    want.sha256_from
                ),
                found: sha256,
            });
        }
    }
    let is_safetensors = path.extension().is_some_and(|e| e == "safetensors")
        || path
            .canonicalize()
            .ok()
            .is_some_and(|p| p.extension().is_some_and(|e| e == "safetensors"));
    // The hub cache names blobs by hash, so the pointer's name decides; a pinned count forces the check.
    let parameters = if is_safetensors || want.parameters.is_some() {
        Some(safetensors_elements(path)?)
    } else {
        None
    };
    if let (Some(expected), Some(found)) = (want.parameters, parameters) {
        if expected != found {
            return Err(mismatch(path, "parameter count", expected, found));
        }
    }
    Ok(Checked {
        path: path.to_path_buf(),
        size,
        sha256,
        parameters,
        sha256_verified: want.sha256.is_some(),
    })
}

fn mismatch(path: &Path, what: &'static str, expected: u64, found: u64) -> CheckError {
    CheckError::Mismatch {
        path: path.to_path_buf(),
        what,
        expected: expected.to_string(),
        found: found.to_string(),
    }
}

/// The total number of tensor elements in a safetensors file, read from its header alone.
///
/// The header is an 8-byte little-endian length and that many bytes of JSON: `{name: {dtype, shape,
/// data_offsets}, "__metadata__": {...}}`. The offsets are also checked against the file's length, which
/// catches a truncated download that happens to have an intact header.
pub fn safetensors_elements(path: &Path) -> Result<u64, CheckError> {
    let bad = |problem: String| CheckError::BadHeader {
        path: path.to_path_buf(),
        problem,
    };
    let io = |e| CheckError::Io(glassbox_assets::Error::io(path, e));
    let mut file = File::open(path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    let mut len_bytes = [0u8; 8];
    file.read_exact(&mut len_bytes)
        .map_err(|_| bad("shorter than 8 bytes".into()))?;
    let header_len = u64::from_le_bytes(len_bytes);
    // The format caps headers at 100 MB; anything larger is not a header.
    if header_len > 100 << 20 || 8 + header_len > file_len {
        return Err(bad(format!(
            "header length {header_len} does not fit a {file_len}-byte file"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header).map_err(io)?;
    let json: serde_json::Value =
        serde_json::from_slice(&header).map_err(|e| bad(format!("header is not JSON: {e}")))?;
    let tensors = json
        .as_object()
        .ok_or_else(|| bad("header is not a JSON object".into()))?;
    let mut elements = 0u64;
    let mut data_end = 0u64;
    for (name, info) in tensors.iter().filter(|(name, _)| *name != "__metadata__") {
        let shape = info
            .get("shape")
            .and_then(|s| s.as_array())
            .ok_or_else(|| bad(format!("{name}: no shape")))?;
        let count = shape.iter().try_fold(1u64, |acc, d| {
            d.as_u64()
                .and_then(|d| acc.checked_mul(d))
                .ok_or_else(|| bad(format!("{name}: bad shape {shape:?}")))
        })?;
        elements += count;
        let end = info
            .get("data_offsets")
            .and_then(|o| o.as_array())
            .and_then(|o| o.get(1))
            .and_then(|e| e.as_u64())
            .ok_or_else(|| bad(format!("{name}: no data_offsets")))?;
        data_end = data_end.max(end);
    }
    if 8 + header_len + data_end != file_len {
        return Err(bad(format!(
            "the tensors end at byte {} but the file has {file_len} bytes (truncated?)",
            8 + header_len + data_end
        )));
    }
    Ok(elements)
}

/// A minimal safetensors file for tests: f32 tensors of the given shapes, zero-filled.
#[cfg(test)]
pub fn tiny_safetensors(shapes: &[&[u64]]) -> Vec<u8> {
    let mut entries = Vec::new();
    let mut offset = 0u64;
    for (i, shape) in shapes.iter().enumerate() {
        let bytes = 4 * shape.iter().product::<u64>();
        entries.push(format!(
            "\"t{i}\":{{\"dtype\":\"F32\",\"shape\":{shape:?},\"data_offsets\":[{offset},{}]}}",
            offset + bytes
        ));
        offset += bytes;
    }
    let header = format!(
        "{{\"__metadata__\":{{\"format\":\"pt\"}},{}}}",
        entries.join(",")
    );
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.resize(out.len() + offset as usize, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use glassbox_assets::checksum::bytes_digest;

    #[test]
    fn counts_elements_and_checks_everything_pinned() {
        let bytes = tiny_safetensors(&[&[2, 3], &[4]]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(safetensors_elements(&path).unwrap(), 10);
        let want = Expectations {
            size: Some(bytes.len() as u64),
            sha256: Some(bytes_digest(&bytes, Algorithm::Sha256)),
            sha256_from: "test",
            parameters: Some(10),
        };
        let checked = check_file(&path, &want).unwrap();
        assert!(checked.sha256_verified);
        assert_eq!(checked.parameters, Some(10));

        let err = check_file(
            &path,
            &Expectations {
                parameters: Some(11),
                ..want.clone()
            },
        )
        .unwrap_err();
        assert!(
            err.is_bad_file() && err.to_string().contains("parameter count"),
            "{err}"
        );
        let err = check_file(
            &path,
            &Expectations {
                size: Some(1),
                ..want
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("size mismatch"), "{err}");
    }

    #[test]
    fn a_truncated_file_is_not_valid_safetensors() {
        let mut bytes = tiny_safetensors(&[&[8]]);
        bytes.truncate(bytes.len() - 4);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        std::fs::write(&path, &bytes).unwrap();
        let err = safetensors_elements(&path).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
    }

    /// The real file handed to the project, when this checkout sits beside `shared/`.
    #[test]
    fn the_shared_hed_weights_match_the_manifest_when_present() {
        let entry = glassbox_assets::manifest::model("vgg16-features-hed").unwrap();
        let path = crate::repo_root()
            .join("../shared/weights")
            .join(&entry.file);
        if !path.exists() {
            eprintln!("skipped: {} is absent", path.display());
            return;
        }
        let checked = check_file(&path, &Expectations::pinned(entry)).unwrap();
        assert_eq!(checked.parameters, entry.parameters);
    }
}
