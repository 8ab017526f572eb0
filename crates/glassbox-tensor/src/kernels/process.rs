//! Process-wide settings a binary applies once at start-up, before it starts any thread. glassbox's
//! kernels run on threads of their own (rayon's pool, the LSTM's team); these settings keep the rest of the
//! process from taking memory back and forth or competing with them for the cores. The library never
//! applies them on its own: the `glassbox` binary and the benchmarks call [`tune_process`].

use super::allocator::tune_allocator;
use super::pinning::pin_pool_workers;

/// The variable candle 0.11 reads, once, to size the pool its element-wise ops run on.
pub const CANDLE_THREADS_VAR: &str = "CANDLE_NUM_THREADS";

/// [`tune_allocator`], [`quiet_candle_pool`] and [`pin_pool_workers`].
pub fn tune_process() {
    tune_allocator();
    quiet_candle_pool();
    pin_pool_workers();
}

/// Runs candle's own element-wise ops (the additions of its backward pass, a loss's arithmetic) on the
/// calling thread, unless the user has set [`CANDLE_THREADS_VAR`]. candle 0.11 gives them a pool whose
/// workers are pinned to cores and spin 25,000 pauses after each op before they sleep; with two cores,
/// each spin took one from the glassbox kernel that ran next: 3.7% of the transposed-convolution case's
/// samples were that spin (`perf record` on `kernels_bench --case conv_transpose_train`). The heavy work is
/// glassbox's and keeps every thread. Alternated runs of `kernels_bench` with and without the setting
/// (docs/benchmarks.md) read 1-7% faster training steps; the one slower case, by 3-4%, is a lone
/// convolution's backward pass, whose large gradient addition candle now makes on one thread.
pub fn quiet_candle_pool() {
    if std::env::var_os(CANDLE_THREADS_VAR).is_none() {
        std::env::set_var(CANDLE_THREADS_VAR, "1");
    }
}
