//! `cargo xtask fuzz`: coverage-guided campaigns on the targets of `fuzz/` (glassbox-fuzz) with cargo-fuzz
//! and libFuzzer, one target after the other, and a summary table for docs/reliability.md.
//!
//! The corpus grows in `target/fuzz-corpus/<target>` (seeded from the project's own writers every run);
//! crashing inputs land in `fuzz/artifacts/<target>/`, to be fixed and copied into
//! `fuzz/regressions/<target>/`, which CI replays.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};

use crate::process;

pub struct Options {
    /// Targets to run; empty: all.
    pub targets: Vec<String>,
    /// Seconds per target.
    pub seconds: u64,
}

/// The targets of glassbox-fuzz (`fuzz/src/lib.rs`, `TARGETS`), checked against fuzz/Cargo.toml's binaries.
const TARGETS: &[&str] = &[
    "idx",
    "mnist",
    "checkpoint",
    "manifest",
    "corpus",
    "tokenizer",
    "image",
    "qtable",
    "pfm",
    "options",
];

/// libFuzzer's limits: one allocation may not exceed glassbox-fuzz's heap limit for the longest input
/// (64 MiB plus four copies of 16 KiB of gzip's content, 1032 times the input); the process under
/// AddressSanitizer stays under 2 GiB; an input slower than 10 s is a hang.
const LIBFUZZER_FLAGS: &[&str] = &[
    "-max_len=16384",
    "-malloc_limit_mb=128",
    "-rss_limit_mb=2048",
    "-timeout=10",
    "-print_final_stats=1",
];

/// One campaign's outcome, from libFuzzer's final statistics.
struct Outcome {
    target: String,
    executions: Option<u64>,
    seconds: f64,
    coverage: Option<u64>,
    corpus: usize,
    peak_rss_mb: Option<u64>,
    crashed: bool,
}

pub fn run(root: &Path, options: Options) -> anyhow::Result<()> {
    let targets: Vec<String> = if options.targets.is_empty() {
        TARGETS.iter().map(|t| t.to_string()).collect()
    } else {
        options.targets
    };
    if let Some(unknown) = targets.iter().find(|t| !TARGETS.contains(&t.as_str())) {
        bail!("no fuzz target {unknown:?}; known: {}", TARGETS.join(", "));
    }
    check_tools()?;

    let corpus_root = root.join("target").join("fuzz-corpus");
    let mut seeds = process::cargo();
    seeds
        .args(["run", "--release", "-q", "-p", "glassbox-fuzz", "--example"])
        .arg("write_seeds")
        .arg(&corpus_root);
    process::run(seeds, root)?;

    let mut outcomes = Vec::new();
    for target in &targets {
        outcomes.push(campaign(root, target, &corpus_root, options.seconds)?);
    }
    println!("\n{}", table(&outcomes));
    let crashed: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.crashed)
        .map(|o| o.target.as_str())
        .collect();
    if !crashed.is_empty() {
        bail!(
            "crashing inputs for {}: see fuzz/artifacts/; fix, then copy each into fuzz/regressions/<target>/",
            crashed.join(", ")
        );
    }
    Ok(())
}

fn check_tools() -> anyhow::Result<()> {
    let works = |args: &[&str]| {
        Command::new("cargo")
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !works(&["+nightly", "--version"]) {
        bail!("libFuzzer needs the nightly toolchain: rustup toolchain install nightly");
    }
    if !works(&["+nightly", "fuzz", "--version"]) {
        bail!("cargo-fuzz is not installed: cargo install cargo-fuzz");
    }
    Ok(())
}

fn campaign(
    root: &Path,
    target: &str,
    corpus_root: &Path,
    seconds: u64,
) -> anyhow::Result<Outcome> {
    let corpus = corpus_root.join(target);
    let artifacts = root.join("fuzz").join("artifacts").join(target);
    std::fs::create_dir_all(&artifacts)
        .with_context(|| format!("cannot create {}", artifacts.display()))?;
    // The rustup proxy, not $CARGO: `+nightly` picks the toolchain libFuzzer's instrumentation needs.
    let mut cmd = Command::new("cargo");
    cmd.args(["+nightly", "fuzz", "run", target, "--fuzz-dir", "fuzz"])
        .args(["--features", "libfuzzer", "-O", "--target-dir"])
        .arg(root.join("target").join("fuzz-build"))
        // Thin LTO of every AddressSanitizer binary took over a quarter of an hour each on 2 cores.
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
        .arg("--")
        .arg(&corpus)
        .args(LIBFUZZER_FLAGS)
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-artifact_prefix={}/", artifacts.display()));
    println!("$ {}", process::display(&cmd));
    let start = Instant::now();
    let output = cmd
        .current_dir(root)
        .output()
        .with_context(|| format!("could not start cargo fuzz for {target}"))?;
    let log = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = log.lines().rev().take(12).collect();
    for line in tail.iter().rev() {
        println!("  {line}");
    }
    let stat = |name: &str| -> Option<u64> {
        log.lines()
            .find_map(|l| l.strip_prefix(&format!("stat::{name}:")))
            .and_then(|v| v.trim().parse().ok())
    };
    let coverage = log
        .lines()
        .rev()
        .find_map(|l| l.split(" cov: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok());
    let corpus_files = std::fs::read_dir(&corpus).map(|d| d.count()).unwrap_or(0);
    Ok(Outcome {
        target: target.to_string(),
        executions: stat("number_of_executed_units"),
        seconds: start.elapsed().as_secs_f64(),
        coverage,
        corpus: corpus_files,
        peak_rss_mb: stat("peak_rss_mb"),
        crashed: !output.status.success(),
    })
}

fn table(outcomes: &[Outcome]) -> String {
    let opt = |v: Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
    let mut lines = vec![
        "| target | executions | wall time (s, with the build) | edges covered | corpus files | peak RSS (MB) | crashes |"
            .to_string(),
        "|---|---|---|---|---|---|---|".to_string(),
    ];
    for o in outcomes {
        lines.push(format!(
            "| {} | {} | {:.0} | {} | {} | {} | {} |",
            o.target,
            opt(o.executions),
            o.seconds,
            opt(o.coverage),
            o.corpus,
            opt(o.peak_rss_mb),
            if o.crashed {
                "yes: see fuzz/artifacts"
            } else {
                "none"
            }
        ));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    /// The list here and fuzz/Cargo.toml's binaries name the same targets.
    #[test]
    fn targets_match_the_fuzz_binaries() {
        let manifest = include_str!("../../fuzz/Cargo.toml");
        for target in super::TARGETS {
            assert!(
                manifest.contains(&format!("name = \"{target}\"")),
                "fuzz/Cargo.toml has no binary {target}"
            );
        }
        let binaries = manifest.matches("[[bin]]").count();
        assert_eq!(
            binaries,
            super::TARGETS.len(),
            "binaries in fuzz/Cargo.toml"
        );
    }
}
