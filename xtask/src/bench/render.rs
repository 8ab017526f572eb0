//! `cargo xtask bench render`: glassbox's path tracer against Mitsuba 3 on Mitsuba's own Cornell box.
//!
//! Our side is the release CLI, `glassbox render --scene cornell --integrator nee`, one process per timed
//! render, read back from its metrics.json; Mitsuba's side is xtask/bench/mitsuba_cornell.py's `bench`
//! (`scalar_rgb`, the `path` integrator, which does next-event estimation), one process per round timing
//! `--runs` renders after an untimed warm-up render. Both count render time only: scene set-up and the
//! acceleration structure are built before the clock starts. The sides alternate, their order reversed every
//! other round, as in the other suites.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use serde_json::Value;

use super::{build_release, median, publish, python, quiet, run_case, speedup, PythonPeer};
use crate::process;

const MITSUBA: PythonPeer = PythonPeer {
    name: "Mitsuba 3",
    modules: &["mitsuba", "numpy"],
    packages: &["mitsuba", "numpy"],
    note: "about 250 MB",
    suite: "render",
};

const SCRIPT: &str = "xtask/bench/mitsuba_cornell.py";

/// The scene's own settings on both sides (`mitsuba.cornell_box()`; glassbox's copy is checked against
/// Mitsuba's dump by crates/glassbox-synthesis/tests/render_mitsuba.rs).
const WIDTH: u32 = 256;
const HEIGHT: u32 = 256;
const MAX_DEPTH: u32 = 8;

const UNIT: &str = "M samples/s";

pub struct Options {
    pub spp: u32,
    pub rounds: usize,
    /// Timed renders per side and round.
    pub reps: usize,
    pub threads: usize,
    pub python: Option<PathBuf>,
    pub setup: bool,
}

#[derive(Clone, Copy)]
enum Side {
    Glassbox,
    Mitsuba,
}

/// What the rounds measured: samples per second of every timed render, per side.
#[derive(Default)]
struct Results {
    glassbox: Vec<f64>,
    mitsuba: Vec<f64>,
    /// "Mitsuba 3.9.1 scalar_rgb", from its own report.
    peer: String,
    /// Threads that did Mitsuba's rendering, as its script measured them, per process.
    busy_threads: Vec<u64>,
}

pub fn run(root: &Path, opts: &Options) -> anyhow::Result<()> {
    let python = python(root, opts.python.as_deref(), opts.setup, &MITSUBA)?;
    let glassbox = build_release(root, "glassbox-cli", ["--bin", "glassbox"])?.join("glassbox");
    let out = root.join("target/bench/render");
    let mut results = Results::default();
    for round in 0..opts.rounds {
        let mut sides = [Side::Glassbox, Side::Mitsuba];
        if round % 2 == 1 {
            sides.reverse();
        }
        for side in sides {
            match side {
                Side::Glassbox => {
                    for _ in 0..opts.reps {
                        results
                            .glassbox
                            .push(glassbox_render(&glassbox, &out, root, opts)?);
                    }
                }
                Side::Mitsuba => mitsuba_renders(&python, root, opts, &mut results)?,
            }
        }
        eprintln!("round {}/{}: cornell nee done", round + 1, opts.rounds);
    }
    publish(root, "render", &table(opts, &results))
}

/// One render of our CLI; its samples per second.
fn glassbox_render(bin: &Path, out: &Path, root: &Path, opts: &Options) -> anyhow::Result<f64> {
    let metrics = out.join("metrics.json");
    // A file left by an earlier render must not pass for this one's.
    if let Err(e) = std::fs::remove_file(&metrics) {
        if e.kind() != std::io::ErrorKind::NotFound {
            return Err(e).with_context(|| format!("removing {}", metrics.display()));
        }
    }
    let (spp, threads) = (opts.spp.to_string(), opts.threads.to_string());
    let mut cmd = Command::new(bin);
    cmd.args(["render", "--scene", "cornell", "--integrator", "nee"])
        .args(["--spp", &spp, "--threads", &threads, "--out"])
        .arg(out)
        .env("RAYON_NUM_THREADS", &threads);
    let shown = process::display(&cmd);
    quiet(cmd, root)?;
    let text = std::fs::read_to_string(&metrics)
        .with_context(|| format!("`{shown}` left no readable {}", metrics.display()))?;
    let report: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON: {text}", metrics.display()))?;
    check_settings(&report, opts, &shown)?;
    number(&report, "samples_per_second", &shown)
}

/// One Mitsuba process timing `opts.reps` renders; adds each render's samples per second.
fn mitsuba_renders(
    python: &Path,
    root: &Path,
    opts: &Options,
    results: &mut Results,
) -> anyhow::Result<()> {
    let mut cmd = Command::new(python);
    cmd.arg(root.join(SCRIPT)).arg("bench").args([
        "--spp",
        &opts.spp.to_string(),
        "--runs",
        &opts.reps.to_string(),
        "--threads",
        &opts.threads.to_string(),
    ]);
    let shown = process::display(&cmd);
    let report = run_case(cmd, root)?;
    check_settings(&report, opts, &shown)?;
    let samples = f64::from(WIDTH) * f64::from(HEIGHT) * f64::from(opts.spp);
    let seconds = report["seconds"]
        .as_array()
        .with_context(|| format!("`{shown}` reported no \"seconds\": {report}"))?;
    for s in seconds {
        let s = s
            .as_f64()
            .filter(|s| *s > 0.0)
            .with_context(|| format!("`{shown}` reported a render of {s} seconds"))?;
        results.mitsuba.push(samples / s);
    }
    results.peer = format!(
        "Mitsuba {} {}",
        report["mitsuba"].as_str().unwrap_or("?"),
        report["variant"].as_str().unwrap_or("?")
    );
    results
        .busy_threads
        .extend(report["busy_threads_measured"].as_u64());
    Ok(())
}

/// Both sides report what they rendered; a mismatch would compare different work.
fn check_settings(report: &Value, opts: &Options, shown: &str) -> anyhow::Result<()> {
    let wanted = [
        ("width", f64::from(WIDTH)),
        ("height", f64::from(HEIGHT)),
        ("spp", f64::from(opts.spp)),
        ("threads", opts.threads as f64),
    ];
    for (key, want) in wanted {
        let got = number(report, key, shown)?;
        if got != want {
            bail!("`{shown}` rendered with {key} {got}, not {want}");
        }
    }
    Ok(())
}

fn number(report: &Value, key: &str, shown: &str) -> anyhow::Result<f64> {
    report[key]
        .as_f64()
        .with_context(|| format!("`{shown}` reported no number \"{key}\": {report}"))
}

fn table(opts: &Options, results: &Results) -> String {
    let ours = median(&results.glassbox) / 1e6;
    let theirs = median(&results.mitsuba) / 1e6;
    let busy: Vec<String> = results.busy_threads.iter().map(u64::to_string).collect();
    format!(
        "Both sides: {threads} threads, next-event estimation (Mitsuba's `path` integrator), max depth \
         {MAX_DEPTH}, {WIDTH}x{HEIGHT}, {spp} spp, box filter; render time only. {rounds} rounds x {reps} \
         timed renders per side (glassbox: a process per render; Mitsuba: one process per round, after an \
         untimed warm-up render), medians over all of them; speed = glassbox / peer (above 1: glassbox \
         faster). Peer: {peer}; its threads measured busy, per process: {busy}.\n\n\
         | case | unit | glassbox | {peer} | speed |\n\
         |---|---|---:|---:|---:|\n\
         | cornell_nee_{spp}spp | {UNIT} | {ours:.3} | {theirs:.3} | {speed:.2}x |\n",
        threads = opts.threads,
        spp = opts.spp,
        rounds = opts.rounds,
        reps = opts.reps,
        peer = results.peer,
        busy = busy.join(", "),
        speed = speedup(UNIT, ours, theirs),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_gives_medians_in_millions_and_glassbox_over_mitsuba() {
        let opts = Options {
            spp: 64,
            rounds: 3,
            reps: 1,
            threads: 2,
            python: None,
            setup: false,
        };
        let results = Results {
            glassbox: vec![2.0e6, 3.0e6, 2.5e6],
            mitsuba: vec![1.0e6, 1.25e6, 2.0e6],
            peer: "Mitsuba 3.9.1 scalar_rgb".into(),
            busy_threads: vec![2, 2, 2],
        };
        let t = table(&opts, &results);
        assert!(
            t.contains("| cornell_nee_64spp | M samples/s | 2.500 | 1.250 | 2.00x |"),
            "{t}"
        );
        assert!(
            t.contains("2 threads, next-event estimation")
                && t.contains("max depth 8, 256x256, 64 spp")
                && t.contains("| glassbox | Mitsuba 3.9.1 scalar_rgb | speed |")
                && t.contains("per process: 2, 2, 2."),
            "{t}"
        );
    }

    #[test]
    fn a_report_of_other_work_is_refused() {
        let opts = Options {
            spp: 16,
            rounds: 1,
            reps: 1,
            threads: 2,
            python: None,
            setup: false,
        };
        let good = serde_json::json!({"width": 256, "height": 256, "spp": 16, "threads": 2});
        check_settings(&good, &opts, "x").unwrap();
        let more_threads =
            serde_json::json!({"width": 256, "height": 256, "spp": 16, "threads": 16});
        let err = check_settings(&more_threads, &opts, "x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("threads 16, not 2"), "{err}");
        let silent = serde_json::json!({"width": 256, "height": 256, "spp": 16});
        assert!(check_settings(&silent, &opts, "x").is_err());
    }
}
