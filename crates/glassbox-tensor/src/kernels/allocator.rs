//! Keeping freed buffers in the process. A training step allocates and frees the same large buffers
//! (activations, gradients, GEMM scratch) every time; glibc's malloc serves blocks above its mmap
//! threshold with fresh `mmap`s and returns freed heap tops to the OS, so every step page-faults and
//! zeroes those pages again (5% of an LSTM training step here, `perf`). Binaries call [`tune_allocator`]
//! once at start-up; it is a process-wide setting, so the library never changes it on its own.

/// Raises glibc's mmap and trim thresholds so that freed buffers up to 32 MB (glibc's ceiling for the
/// mmap threshold on 64-bit) are reused instead of unmapped. A no-op on other platforms and C libraries.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const MMAP_THRESHOLD: libc::c_int = 32 << 20;
        const TRIM_THRESHOLD: libc::c_int = 1 << 30;
        // SAFETY: mallopt only adjusts malloc's parameters; it is safe to call at any time.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        }
    }
}
