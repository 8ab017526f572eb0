//! The start-up settings of `kernels::process`, in a process of their own (they change the environment).

use glassbox_tensor::kernels::process::{quiet_candle_pool, CANDLE_THREADS_VAR};

#[test]
fn candle_pool_runs_on_the_calling_thread_unless_the_user_chose_a_size() {
    // A user's choice stands.
    std::env::set_var(CANDLE_THREADS_VAR, "3");
    quiet_candle_pool();
    assert_eq!(std::env::var(CANDLE_THREADS_VAR).as_deref(), Ok("3"));
    // Otherwise one thread: candle's pool then has no workers of its own (it reads the variable when it
    // first builds the pool, which nothing in this process has done yet).
    std::env::remove_var(CANDLE_THREADS_VAR);
    quiet_candle_pool();
    assert_eq!(std::env::var(CANDLE_THREADS_VAR).as_deref(), Ok("1"));
    assert_eq!(candle_core::utils::barrier_pool().n_workers(), 0);
}
