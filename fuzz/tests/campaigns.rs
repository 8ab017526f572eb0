//! CI's share of the fuzzing: every target's seeds and every input a campaign found
//! (`regressions/<target>/`) run clean, then a few seconds of blind mutation per target
//! (`GLASSBOX_FUZZ_SECONDS`, default 2; `GLASSBOX_FUZZ_SEED` picks the inputs). A failing input is saved
//! under the target directory with the command that replays it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use glassbox_fuzz::alloc::CountingAllocator;
use glassbox_fuzz::campaign::{self, Report};
use glassbox_fuzz::{target, Target};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Inputs at most this long: a few kilobytes reach every header and record of these formats.
const MAX_LEN: usize = 16 << 10;

fn budget() -> Duration {
    let seconds = std::env::var("GLASSBOX_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(2.0);
    Duration::from_secs_f64(seconds)
}

fn seed() -> u64 {
    std::env::var("GLASSBOX_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_203)
}

fn regressions(name: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("regressions")
        .join(name);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

/// Saves failing inputs where a developer can replay them, and says how.
fn fail(name: &str, stage: &str, report: &Report) -> ! {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("fuzz-failures")
        .join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut lines = Vec::new();
    for (i, failure) in report.failures.iter().enumerate() {
        let path = dir.join(format!("{stage}-{i}"));
        std::fs::write(&path, &failure.input).unwrap();
        let head: Vec<String> = failure
            .input
            .iter()
            .take(48)
            .map(|b| format!("{b:02x}"))
            .collect();
        lines.push(format!(
            "{}\n    {} bytes, starting {}\n    saved as {}",
            failure.problem,
            failure.input.len(),
            head.join(" "),
            path.display()
        ));
    }
    panic!(
        "fuzz target {name}, {stage}: {} failing input(s) of {} run; copy one into fuzz/regressions/{name}/ \
         once fixed\n  {}",
        report.failures.len(),
        report.executions,
        lines.join("\n  ")
    );
}

fn exercise(name: &str) {
    let target: &Target = target(name).expect("a target of this name");
    let seeds = (target.seeds)();
    assert!(!seeds.is_empty(), "{name} has no seeds");
    let report = campaign::replay(target, &seeds);
    if !report.failures.is_empty() {
        fail(name, "seeds", &report);
    }
    let found: Vec<Vec<u8>> = regressions(name).into_iter().map(|(_, b)| b).collect();
    let report = campaign::replay(target, &found);
    if !report.failures.is_empty() {
        fail(name, "regressions", &report);
    }
    let report = campaign::mutation_run(target, budget(), seed(), MAX_LEN);
    eprintln!(
        "{name}: {} inputs in {:.1?} (seed {}), {} regressions, peak heap {} KiB, slowest {:.1?}",
        report.executions,
        report.elapsed,
        seed(),
        found.len(),
        report.peak_heap >> 10,
        report.slowest
    );
    if !report.failures.is_empty() {
        fail(name, "mutations", &report);
    }
}

#[test]
fn idx() {
    exercise("idx");
}

#[test]
fn mnist() {
    exercise("mnist");
}

#[test]
fn checkpoint() {
    exercise("checkpoint");
}

#[test]
fn manifest() {
    exercise("manifest");
}

#[test]
fn corpus() {
    exercise("corpus");
}

#[test]
fn tokenizer() {
    exercise("tokenizer");
}

#[test]
fn image() {
    exercise("image");
}

#[test]
fn qtable() {
    exercise("qtable");
}

#[test]
fn pfm() {
    exercise("pfm");
}

#[test]
fn options() {
    exercise("options");
}

#[test]
fn every_target_has_a_test() {
    let source = include_str!("campaigns.rs");
    for t in glassbox_fuzz::TARGETS {
        assert!(
            source.contains(&format!("exercise(\"{}\")", t.name)),
            "no test runs target {}",
            t.name
        );
    }
}

/// The checks can fail: a target that allocates past its limit, one that panics, one that hangs are
/// each reported (so a clean run means something).
#[test]
fn the_runner_catches_panics_and_heap_over_the_limit() {
    assert!(
        glassbox_fuzz::alloc::counting(),
        "the counting allocator is not installed"
    );
    fn greedy(data: &[u8]) {
        // A clear margin over the limit: the counter is process-wide, and the other tests' threads free
        // memory while this runs (a margin of 41 bytes once read 8 KiB under the limit in CI).
        let block = vec![1u8; glassbox_fuzz::HEAP_BASE + (1 << 20) + data.len() * 8];
        std::hint::black_box(&block);
    }
    fn panicky(data: &[u8]) {
        assert!(data.len() < 3, "too long");
    }
    let greedy = Target {
        name: "greedy",
        run: greedy,
        seeds: Vec::new,
        gzip: false,
    };
    let panicky = Target {
        name: "panicky",
        run: panicky,
        seeds: Vec::new,
        gzip: false,
    };
    let report = campaign::replay(&greedy, &[vec![0; 10]]);
    assert_eq!(report.failures.len(), 1, "{report:?}");
    assert!(report.failures[0].problem.contains("heap"), "{report:?}");
    let report = campaign::replay(&panicky, &[vec![1, 2], vec![1, 2, 3, 4]]);
    assert_eq!(report.failures.len(), 1, "{report:?}");
    assert!(
        report.failures[0].problem.contains("too long"),
        "{report:?}"
    );
    assert_eq!(report.failures[0].input, vec![1, 2, 3, 4]);
}
