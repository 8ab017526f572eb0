//! Keeping freed buffers in the process. A training step allocates and frees the same large buffers
//! (activations, gradients, GEMM scratch) every time; glibc's malloc serves blocks above its mmap
//! threshold with fresh `mmap`s and returns freed heap tops to the OS, so every step page-faults and
//! zeroes those pages again. Binaries call [`tune_allocator`] once at start-up (through
//! [`super::process::tune_process`]); it is a process-wide setting, so the library never changes it on its
//! own.

/// Blocks up to this size come from the heap and go back to it (glibc's ceiling for the mmap threshold on
/// 64-bit).
pub const MMAP_THRESHOLD: usize = 32 << 20;
/// Free memory at the top of the heap up to this size stays with the process.
pub const TRIM_THRESHOLD: usize = 1 << 30;

/// Raises glibc's mmap and trim thresholds to [`MMAP_THRESHOLD`] and [`TRIM_THRESHOLD`], so that freed
/// buffers are reused instead of unmapped. A no-op on other platforms and C libraries.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only adjusts malloc's parameters; it is safe to call at any time.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int);
        }
    }
}

/// The same settings for another process on glibc, as the value of its `GLIBC_TUNABLES` environment
/// variable (what the benchmark gives PyTorch, so that both sides run with the same allocator).
pub fn glibc_tunables() -> String {
    format!(
        "glibc.malloc.mmap_threshold={MMAP_THRESHOLD}:glibc.malloc.trim_threshold={TRIM_THRESHOLD}"
    )
}
