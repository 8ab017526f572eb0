//! Parsers that take a path get their input as a file: one scratch directory per process, one file name
//! per thread and extension, rewritten for every input.

use std::path::PathBuf;
use std::sync::OnceLock;

/// Writes `data` to this thread's scratch file ending in `extension` (which some parsers look at, as
/// `.gz` for IDX) and returns its path.
pub fn file(extension: &str, data: &[u8]) -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("glassbox-fuzz-")
            .tempdir()
            .expect("a scratch directory for fuzz inputs")
    });
    let thread = format!("{:?}", std::thread::current().id());
    let name: String = thread.chars().filter(char::is_ascii_alphanumeric).collect();
    let path = dir.path().join(format!("input-{name}.{extension}"));
    std::fs::write(&path, data).expect("writing a scratch input");
    path
}
