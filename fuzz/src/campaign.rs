//! Running targets on many inputs: each input under `catch_unwind`, its heap measured against the
//! target's limit, its time against a hang limit. What CI's short runs and replays of found inputs share.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::mutate::{mutate, Rng};
use crate::{alloc, Target};

/// An input that made a target misbehave, and how.
#[derive(Clone, Debug)]
pub struct Failure {
    pub input: Vec<u8>,
    pub problem: String,
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub executions: u64,
    pub elapsed: Duration,
    /// The most heap any one input took.
    pub peak_heap: usize,
    pub slowest: Duration,
    pub failures: Vec<Failure>,
}

/// An input slower than this is a hang.
pub const HANG: Duration = Duration::from_secs(10);

/// The last panic's message, captured instead of printed (a campaign may panic thousands of times).
static PANIC_MESSAGE: Mutex<Option<String>> = Mutex::new(None);
/// Runs take turns: heap measurements of concurrent inputs would mix, and the panic hook is global.
static TURN: Mutex<()> = Mutex::new(());

/// Runs `target` on one input; `Ok` with the heap it took, or what went wrong.
pub fn run_one(target: &Target, input: &[u8]) -> std::result::Result<(usize, Duration), String> {
    let start = Instant::now();
    let (outcome, heap) = alloc::measure(|| catch_unwind(AssertUnwindSafe(|| (target.run)(input))));
    let took = start.elapsed();
    if outcome.is_err() {
        let message = PANIC_MESSAGE
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or_else(|| "a panic".into());
        return Err(format!("panicked: {message}"));
    }
    let limit = target.heap_limit(input.len());
    if heap > limit {
        return Err(format!(
            "took {} MiB of heap for {} bytes of input (the limit is {} MiB)",
            heap >> 20,
            input.len(),
            limit >> 20
        ));
    }
    if took > HANG {
        return Err(format!("took {took:?} (a hang: the limit is {HANG:?})"));
    }
    Ok((heap, took))
}

/// Runs `f` with panics captured into [`PANIC_MESSAGE`] and other runs waiting their turn.
fn quietly<R>(f: impl FnOnce() -> R) -> R {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let payload = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        *PANIC_MESSAGE.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(format!("{payload}{location}"));
    }));
    let result = f();
    std::panic::set_hook(previous);
    result
}

fn record(
    report: &mut Report,
    input: &[u8],
    outcome: std::result::Result<(usize, Duration), String>,
) {
    report.executions += 1;
    match outcome {
        Ok((heap, took)) => {
            report.peak_heap = report.peak_heap.max(heap);
            report.slowest = report.slowest.max(took);
        }
        Err(problem) => report.failures.push(Failure {
            input: input.to_vec(),
            problem,
        }),
    }
}

/// Runs every input once (seeds, or inputs a campaign found).
pub fn replay(target: &Target, inputs: &[Vec<u8>]) -> Report {
    quietly(|| {
        let start = Instant::now();
        let mut report = Report::default();
        for input in inputs {
            record(&mut report, input, run_one(target, input));
        }
        report.elapsed = start.elapsed();
        report
    })
}

/// Mutates the target's seeds for `budget`, inputs at most `max_len` bytes; the same `seed` makes the
/// same inputs. Stops early after a few failures (they are usually one bug).
pub fn mutation_run(target: &Target, budget: Duration, seed: u64, max_len: usize) -> Report {
    let seeds = (target.seeds)();
    quietly(|| {
        let start = Instant::now();
        let mut rng = Rng::new(seed);
        let mut report = Report::default();
        while start.elapsed() < budget && report.failures.len() < 5 {
            let parent = &seeds[rng.below(seeds.len())];
            let input = mutate(parent, &seeds, &mut rng, max_len);
            record(&mut report, &input, run_one(target, &input));
        }
        report.elapsed = start.elapsed();
        report
    })
}
