//! Parsers that take a path get their input as a file: one scratch directory per process, one file name
//! per thread and extension (or one directory per thread), rewritten for every input.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn root() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("glassbox-fuzz-")
            .tempdir()
            .expect("a scratch directory for fuzz inputs")
    })
    .path()
}

fn thread_name() -> String {
    let thread = format!("{:?}", std::thread::current().id());
    thread.chars().filter(char::is_ascii_alphanumeric).collect()
}

/// Writes `data` to this thread's scratch file ending in `extension` (which some parsers look at, as
/// `.gz` for IDX) and returns its path.
pub fn file(extension: &str, data: &[u8]) -> PathBuf {
    let path = root().join(format!("input-{}.{extension}", thread_name()));
    std::fs::write(&path, data).expect("writing a scratch input");
    path
}

/// This thread's scratch directory, emptied.
pub fn dir() -> PathBuf {
    let path = root().join(format!("dir-{}", thread_name()));
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(&path).expect("a scratch directory");
    path
}
