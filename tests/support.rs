//! Shared helpers of the workspace-wide integration tests.

use std::path::PathBuf;

/// The full data directory from `GLASSBOX_DATA`, or `None` with the reason printed so a test can skip;
/// under CI (where `.ci/run` sets it to `../shared/data`) a missing directory fails the test.
pub fn full_data() -> Option<PathBuf> {
    glassbox_core::testdata::data_dir()
}

/// A file of the workspace's `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}
