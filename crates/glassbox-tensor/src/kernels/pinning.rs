//! Rayon's workers, one to a CPU. When a thread outside the pool hands it work (every op called from a
//! training loop does), the caller sleeps and the pool's workers wake; Linux then often runs both workers on
//! one CPU and leaves the other idle for milliseconds: a worker that has just run counts as cache-hot and
//! is not moved, and rayon's idle workers yield to each other in turn before they sleep. Traced with
//! `perf sched` on `kernels_bench --case char_lstm_train` (AMD Zen 4, 2 cores), Adam's update and the
//! head's products ran that way every step. With each worker kept on a CPU of its own, alternated
//! processes (`GLASSBOX_PIN_THREADS=0` against the default, `xtask/bench/ab_kernels.py`) read 318.6 against
//! 340.1 sequences/s (docs/benchmarks.md, the tenth Zen 4 session).
//!
//! A process-wide choice, like the allocator's: binaries make it once at start-up through
//! [`super::process::tune_process`], before anything uses rayon; the library never does on its own.

/// Set to `0` to leave the workers where the scheduler puts them.
pub const PIN_VAR: &str = "GLASSBOX_PIN_THREADS";

/// What [`pin_pool_workers`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pinning {
    /// Worker `i` runs on CPU `cpus[i]` only.
    Pinned {
        /// The CPU of each worker, in worker order.
        cpus: Vec<usize>,
    },
    /// The workers move freely, for the reason given.
    Free(&'static str),
}

/// What the process's first [`pin_pool_workers`] did.
static DECISION: std::sync::OnceLock<Pinning> = std::sync::OnceLock::new();

/// What [`pin_pool_workers`] did in this process (`glassbox data info` prints it).
pub fn decision() -> Pinning {
    DECISION
        .get()
        .cloned()
        .unwrap_or(Pinning::Free("the binary did not ask for it"))
}

impl std::fmt::Display for Pinning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pinning::Pinned { cpus } => {
                let cpus: Vec<String> = cpus.iter().map(|c| c.to_string()).collect();
                let (n, s) = (cpus.len(), if cpus.len() == 1 { "" } else { "s" });
                write!(
                    f,
                    "{n} rayon worker{s}, pinned to CPU{s} {}",
                    cpus.join(", ")
                )
            }
            Pinning::Free(why) => write!(f, "rayon workers not pinned ({why})"),
        }
    }
}

/// Builds rayon's global pool with its usual number of workers (`RAYON_NUM_THREADS`, else one per CPU the
/// process may use), each pinned to one of the CPUs the process may run on, in order. Leaves the workers
/// free where [`PIN_VAR`] is `0`, where there are more workers than CPUs (the scheduler must share them
/// out), off Linux, and when the global pool was already built (rayon builds it once).
pub fn pin_pool_workers() -> Pinning {
    DECISION.get_or_init(choose_and_build).clone()
}

fn choose_and_build() -> Pinning {
    if std::env::var(PIN_VAR).is_ok_and(|v| v.trim() == "0") {
        return Pinning::Free("GLASSBOX_PIN_THREADS=0");
    }
    let Some(allowed) = allowed_cpus() else {
        return Pinning::Free("the process's CPUs are unknown on this platform");
    };
    let workers = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1);
    if workers > allowed.len() {
        return Pinning::Free("more workers than CPUs");
    }
    let cpus = allowed[..workers].to_vec();
    let plan = cpus.clone();
    let built = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .start_handler(move |i| pin_current_thread(plan[i]))
        .build_global();
    match built {
        Ok(()) => Pinning::Pinned { cpus },
        Err(_) => Pinning::Free("rayon's pool was already running"),
    }
}

/// The CPUs this process may run on, in increasing order.
#[cfg(target_os = "linux")]
fn allowed_cpus() -> Option<Vec<usize>> {
    // SAFETY: `set` is a plain bit set, zeroed, and the kernel writes at most its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return None;
        }
        let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect();
        (!cpus.is_empty()).then_some(cpus)
    }
}

#[cfg(not(target_os = "linux"))]
fn allowed_cpus() -> Option<Vec<usize>> {
    None
}

/// Keeps the calling thread on `cpu`. A failure leaves it free: pinning is only about speed.
#[cfg(target_os = "linux")]
fn pin_current_thread(cpu: usize) {
    // SAFETY: as in `allowed_cpus`; `cpu` comes from the process's own set, below CPU_SETSIZE.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

#[cfg(not(target_os = "linux"))]
fn pin_current_thread(_cpu: usize) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_allowed_cpus_include_the_one_running_this_test() {
        let cpus = allowed_cpus().expect("sched_getaffinity works on Linux");
        // SAFETY: sched_getcpu takes no arguments.
        let now = unsafe { libc::sched_getcpu() };
        assert!(
            now >= 0 && cpus.contains(&(now as usize)),
            "{now} not in {cpus:?}"
        );
        assert!(cpus.windows(2).all(|w| w[0] < w[1]));
    }

    /// A pinned thread runs on its CPU and nowhere else (checked in a thread of its own, so the test
    /// process's other threads stay free).
    #[test]
    fn a_pinned_thread_stays_on_its_cpu() {
        let cpus = allowed_cpus().unwrap();
        let target = *cpus.last().unwrap();
        let seen = std::thread::spawn(move || {
            pin_current_thread(target);
            let mut seen = Vec::new();
            for _ in 0..50 {
                std::thread::yield_now();
                // SAFETY: as above.
                seen.push(unsafe { libc::sched_getcpu() } as usize);
            }
            let mine = allowed_cpus().unwrap();
            (seen, mine)
        })
        .join()
        .unwrap();
        assert!(seen.0.iter().all(|&c| c == target), "ran on {:?}", seen.0);
        assert_eq!(seen.1, vec![target]);
    }
}
