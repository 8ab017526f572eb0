//! Shared helpers of the workspace-wide integration tests.

use std::path::PathBuf;

/// The full data directory from `GLASSBOX_DATA`, or `None` (with a note on stderr) so a test can skip.
/// `.ci/run` sets it to `../shared/data` whenever that exists, so CI runs these tests for real.
pub fn full_data(test: &str) -> Option<PathBuf> {
    match std::env::var_os("GLASSBOX_DATA").filter(|v| !v.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            eprintln!(
                "skipping {test}: GLASSBOX_DATA is not set (e.g. GLASSBOX_DATA=../shared/data)"
            );
            None
        }
    }
}

/// A file of the workspace's `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}
