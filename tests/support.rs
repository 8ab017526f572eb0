//! Shared helpers of the workspace-wide integration tests.

use std::path::PathBuf;

/// The full data directory from `GLASSBOX_DATA`, or `None` with the reason printed so a test can skip;
/// under CI (where `.ci/run` sets it to `../shared/data`) a missing directory fails the test.
pub fn full_data() -> Option<PathBuf> {
    glassbox_core::testdata::data_dir()
}

/// A file of the workspace's `tests/fixtures/`, or of the folder `GLASSBOX_FIXTURES` names: a test
/// binary carried to another machine (`cargo xtask gpu-check --bundle`) finds its fixtures there.
pub fn fixture(name: &str) -> PathBuf {
    std::env::var_os("GLASSBOX_FIXTURES")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures"))
        .join(name)
}

/// The formula weights of the PyTorch fixtures (tests/fixtures/formula.py): `n` values, an integer hash of
/// (index, seed) mapped to a uniform value in (-scale, scale), computed in f64 and rounded to f32 the same
/// way on both sides, so both get the same bits.
pub fn formula(n: usize, seed: u32, scale: f64) -> Vec<f32> {
    let offset = seed.wrapping_mul(0x9E37_79B9);
    (0..n as u32)
        .map(|i| {
            let mut x = i.wrapping_add(offset);
            x ^= x >> 16;
            x = x.wrapping_mul(0x7FEB_352D);
            x ^= x >> 15;
            x = x.wrapping_mul(0x846C_A68B);
            x ^= x >> 16;
            let u = (f64::from(x) + 0.5) / 4_294_967_296.0 * 2.0 - 1.0;
            (scale * u) as f32
        })
        .collect()
}
