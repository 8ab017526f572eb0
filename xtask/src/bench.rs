//! `cargo xtask bench kernels` and `cargo xtask bench style`: glassbox against PyTorch on the same machine,
//! in the same command, alternating, with the same thread count ([`render`]: the path tracer against
//! Mitsuba 3 the same way).
//!
//! Each case runs as a fresh process on each side (a [`Suite`]'s example and PyTorch script, e.g.
//! crates/glassbox-tensor/examples/kernels_bench.rs and xtask/bench/torch_kernels.py, which define
//! identical models, shapes and input distributions): glassbox,
//! PyTorch eager, PyTorch with `torch.compile` (inductor), and with `--candle` candle's own ops. Several
//! rounds, the order of the sides reversed every other round; every process warms up and then times
//! several repetitions. The table gives the median of all timed repetitions per side and the speed ratio
//! glassbox / peer (above 1: glassbox is faster), and torch.compile's compile time (its first step, timed
//! apart: in the first round with an empty inductor cache, later from the cache).
//!
//! Both sides run with the same malloc settings: glassbox raises glibc's mmap and trim thresholds with
//! `mallopt`; the PyTorch processes get the same values through `GLIBC_TUNABLES`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use serde_json::Value;

use crate::process;

pub mod render;

/// A set of cases: one example binary of ours and one PyTorch script that run the same cases and print
/// the same JSON line.
pub struct Suite {
    pub name: &'static str,
    /// The crate and example that are glassbox's side.
    pub package: &'static str,
    pub example: &'static str,
    /// PyTorch's side, relative to the workspace root.
    pub script: &'static str,
    pub cases: &'static [&'static str],
    /// Weights the cases read from GLASSBOX_WEIGHTS, checked before anything runs.
    pub needs_weights: Option<&'static str>,
}

/// The fast CPU kernels (crates/glassbox-tensor/examples/kernels_bench.rs, xtask/bench/torch_kernels.py).
pub const KERNELS: Suite = Suite {
    name: "kernels",
    package: "glassbox-tensor",
    example: "kernels_bench",
    script: "xtask/bench/torch_kernels.py",
    cases: &CASES,
    needs_weights: None,
};

/// Style transfer's L-BFGS step (crates/glassbox-synthesis/examples/style_bench.rs,
/// xtask/bench/torch_style.py).
pub const STYLE: Suite = Suite {
    name: "style",
    package: "glassbox-synthesis",
    example: "style_bench",
    script: "xtask/bench/torch_style.py",
    cases: &["style_lbfgs_256", "style_lbfgs_512"],
    needs_weights: Some("vgg16_features_hed.safetensors"),
};

/// The kernel cases, in the order the issues list them.
pub const CASES: [&str; 13] = [
    "mnist_train",
    "mnist_infer",
    "conv_ae_train",
    "dcgan_train",
    "conv_transpose_train",
    "lstm_train",
    "lstm_train_ids",
    "char_lstm_train",
    "vgg_input_grad",
    "vgg_forward",
    "conv64_forward",
    "conv64_backward",
    "sgemm2048",
];

pub struct Options {
    pub cases: Vec<String>,
    pub rounds: usize,
    pub reps: usize,
    pub warmup: usize,
    pub threads: usize,
    pub python: Option<PathBuf>,
    pub setup: bool,
    /// Also run candle's own ops (the starting point).
    pub candle: bool,
    /// Leave out the torch.compile side (it compiles for about a minute per case and round).
    pub no_compile: bool,
}

/// Who runs a case.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Glassbox,
    Torch,
    TorchCompiled,
    Candle,
}

impl Side {
    fn all(opts: &Options) -> Vec<Side> {
        let mut sides = vec![Side::Glassbox, Side::Torch];
        if !opts.no_compile {
            sides.push(Side::TorchCompiled);
        }
        if opts.candle {
            sides.push(Side::Candle);
        }
        sides
    }

    /// The side's column in the tables.
    fn column(self) -> &'static str {
        match self {
            Side::Glassbox => "glassbox",
            Side::Torch => "PyTorch eager",
            Side::TorchCompiled => "torch.compile",
            Side::Candle => "candle 0.11 ops",
        }
    }
}

/// One side's timed repetitions of one case.
#[derive(Default)]
struct Samples {
    unit: String,
    peer: String,
    values: Vec<f64>,
    /// torch.compile's first step, per process, in the order run.
    compile_s: Vec<f64>,
    /// Each process's peak resident memory in MB, as it reported it (one case a process).
    peak_rss_mb: Vec<f64>,
}

pub fn run(root: &Path, suite: &Suite, opts: &Options) -> anyhow::Result<()> {
    for case in &opts.cases {
        if !suite.cases.contains(&case.as_str()) {
            bail!(
                "unknown case {case}; the {} cases are {}",
                suite.name,
                suite.cases.join(", ")
            );
        }
    }
    if opts.candle && suite.name != KERNELS.name {
        bail!("--candle is for `bench kernels`");
    }
    if let Some(file) = suite.needs_weights {
        let dir = std::env::var_os("GLASSBOX_WEIGHTS").with_context(|| {
            format!("`bench {}` reads {file}: set GLASSBOX_WEIGHTS to its directory (e.g. ../shared/weights)", suite.name)
        })?;
        let path = Path::new(&dir).join(file);
        if !path.is_file() {
            bail!(
                "`bench {}` reads {}, which is not there",
                suite.name,
                path.display()
            );
        }
    }
    let python = python(root, opts.python.as_deref(), opts.setup, &TORCH)?;
    let ours = build_release(root, suite.package, ["--example", suite.example])?
        .join("examples")
        .join(suite.example);
    let script = root.join(suite.script);
    let tunables = allocator_tunables(&ours)?;
    // A fresh inductor cache, so the first round's compile time is a cold compile.
    let inductor_cache = root.join("target/bench/inductor-cache");
    if inductor_cache.exists() {
        std::fs::remove_dir_all(&inductor_cache)
            .with_context(|| format!("clearing {}", inductor_cache.display()))?;
    }
    let threads = opts.threads.to_string();
    let (reps, warmup) = (opts.reps.to_string(), opts.warmup.to_string());

    let sides = Side::all(opts);
    let mut results: Vec<Vec<Samples>> = opts
        .cases
        .iter()
        .map(|_| sides.iter().map(|_| Samples::default()).collect())
        .collect();
    for round in 0..opts.rounds {
        for (c, case) in opts.cases.iter().enumerate() {
            let mut order: Vec<usize> = (0..sides.len()).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for s in order {
                let mut cmd = match sides[s] {
                    Side::Torch | Side::TorchCompiled => {
                        let mut cmd = Command::new(&python);
                        cmd.arg(&script)
                            .args(["--threads", &threads])
                            .env("GLIBC_TUNABLES", &tunables)
                            .env("TORCHINDUCTOR_CACHE_DIR", &inductor_cache);
                        if sides[s] == Side::TorchCompiled {
                            cmd.arg("--compile");
                        }
                        cmd
                    }
                    Side::Glassbox => Command::new(&ours),
                    Side::Candle => {
                        let mut cmd = Command::new(&ours);
                        cmd.args(["--impl", "candle"]);
                        cmd
                    }
                };
                cmd.args(["--case", case, "--reps", &reps, "--warmup", &warmup])
                    .env("RAYON_NUM_THREADS", &threads)
                    .env("OMP_NUM_THREADS", &threads)
                    .env("MKL_NUM_THREADS", &threads);
                let line = run_case(cmd, root)?;
                let slot = &mut results[c][s];
                slot.unit = line["unit"].as_str().unwrap_or("?").to_string();
                slot.peer = line["peer"].as_str().unwrap_or("?").to_string();
                slot.values.extend(
                    line["samples"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_f64),
                );
                slot.compile_s.extend(line["compile_s"].as_f64());
                slot.peak_rss_mb.extend(line["peak_rss_mb"].as_f64());
            }
            eprintln!("round {}/{}: {case} done", round + 1, opts.rounds);
        }
    }
    publish(
        root,
        suite.name,
        &table(&opts.cases, &sides, &results, opts, &tunables),
    )
}

/// Builds one target of `package` (e.g. `["--example", "style_bench"]`) in release and returns the directory
/// cargo puts release builds in, which CARGO_TARGET_DIR moves.
fn build_release(root: &Path, package: &str, target: [&str; 2]) -> anyhow::Result<PathBuf> {
    let mut build = process::cargo();
    build
        .args(["build", "--release", "-p", package])
        .args(target);
    process::run(build, root)?;
    let dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    Ok(dir.join("release"))
}

/// Prints a suite's table and keeps it as `target/bench/<suite>.md`.
fn publish(root: &Path, suite: &str, table: &str) -> anyhow::Result<()> {
    println!("{table}");
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let path = out.join(format!("{suite}.md"));
    std::fs::write(&path, table).with_context(|| format!("writing {}", path.display()))?;
    println!("(also written to {})", path.display());
    Ok(())
}

/// glassbox's malloc settings as `GLIBC_TUNABLES`, from the bench binary itself (one source of truth).
fn allocator_tunables(ours: &Path) -> anyhow::Result<String> {
    let out = Command::new(ours)
        .arg("--allocator-env")
        .output()
        .with_context(|| format!("could not start {}", ours.display()))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || !text.starts_with("glibc.malloc.") {
        bail!(
            "{} --allocator-env printed {text:?} ({})",
            ours.display(),
            out.status
        );
    }
    Ok(text)
}

/// Runs one case and returns its JSON line.
pub(crate) fn run_case(cmd: Command, root: &Path) -> anyhow::Result<Value> {
    let shown = process::display(&cmd);
    let stdout = quiet(cmd, root)?;
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'));
    let line = line.with_context(|| format!("`{shown}` printed no JSON line: {stdout}"))?;
    serde_json::from_str(line).with_context(|| format!("`{shown}` printed {line}"))
}

/// Runs `cmd` in `root` without echoing it (its timing is what counts) and returns its standard output; a
/// failure carries its standard error.
fn quiet(mut cmd: Command, root: &Path) -> anyhow::Result<String> {
    let shown = process::display(&cmd);
    let out = cmd
        .current_dir(root)
        .output()
        .with_context(|| format!("could not start `{shown}`"))?;
    if !out.status.success() {
        bail!(
            "`{shown}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub(crate) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Speed of `a` relative to `b`: for throughputs a / b, for times b / a.
pub(crate) fn speedup(unit: &str, a: f64, b: f64) -> f64 {
    if unit == "ms" {
        b / a
    } else {
        a / b
    }
}

fn table(
    cases: &[String],
    sides: &[Side],
    results: &[Vec<Samples>],
    opts: &Options,
    tunables: &str,
) -> String {
    let peer = |side: Side| {
        let s = sides.iter().position(|&x| x == side)?;
        results.first().map(|r| r[s].peer.clone())
    };
    let mut out = format!(
        "{} threads, {} rounds x {} timed repetitions per side (after {} warm-up), medians over all of them; \
         speed = glassbox / peer (above 1: glassbox faster). Peers: {}. Both sides with the same malloc \
         thresholds (PyTorch: GLIBC_TUNABLES={tunables}).\n\n",
        opts.threads,
        opts.rounds,
        opts.reps,
        opts.warmup,
        sides
            .iter()
            .skip(1)
            .filter_map(|&s| peer(s))
            .collect::<Vec<_>>()
            .join("; ")
    );
    out.push_str("| case | unit | glassbox | PyTorch eager | speed |");
    let mut rule = String::from("|---|---|---:|---:|---:|");
    if sides.contains(&Side::TorchCompiled) {
        out.push_str(" torch.compile | speed | compile s (cold / cached) |");
        rule.push_str("---:|---:|---:|");
    }
    if sides.contains(&Side::Candle) {
        out.push_str(" candle 0.11 ops | speed |");
        rule.push_str("---:|---:|");
    }
    out.push('\n');
    out.push_str(&rule);
    out.push('\n');
    for (case, r) in cases.iter().zip(results) {
        let unit = &r[0].unit;
        let ours = median(&r[0].values);
        out.push_str(&format!("| {case} | {unit} | {ours:.1} |"));
        for (s, side) in sides.iter().enumerate().skip(1) {
            let theirs = median(&r[s].values);
            out.push_str(&format!(
                " {theirs:.1} | {:.2}x |",
                speedup(unit, ours, theirs)
            ));
            if *side == Side::TorchCompiled {
                let c = &r[s].compile_s;
                let cold = c.first().copied().unwrap_or(f64::NAN);
                out.push_str(&format!(
                    " {cold:.0} / {:.0} |",
                    median(c.get(1..).unwrap_or(&[]))
                ));
            }
        }
        out.push('\n');
    }
    out.push_str(&memory_table(cases, sides, results));
    out
}

/// Peak resident memory per case and side: the largest any of the side's processes reported (each runs
/// one case), and ours over each peer's (below 1: glassbox needs less).
fn memory_table(cases: &[String], sides: &[Side], results: &[Vec<Samples>]) -> String {
    let names: Vec<&str> = sides.iter().skip(1).map(|s| s.column()).collect();
    let mut out = String::from("\nPeak resident memory, MB (the largest over a side's processes; ratio = glassbox / peer):\n\n| case | glassbox |");
    let mut rule = String::from("|---|---:|");
    for name in &names {
        out.push_str(&format!(" {name} | ratio |"));
        rule.push_str("---:|---:|");
    }
    out.push('\n');
    out.push_str(&rule);
    out.push('\n');
    let peak = |v: &[f64]| v.iter().copied().fold(f64::NAN, f64::max);
    for (case, r) in cases.iter().zip(results) {
        let ours = peak(&r[0].peak_rss_mb);
        out.push_str(&format!("| {case} | {ours:.0} |"));
        for samples in r.iter().skip(1) {
            let theirs = peak(&samples.peak_rss_mb);
            out.push_str(&format!(" {theirs:.0} | {:.2} |", ours / theirs));
        }
        out.push('\n');
    }
    out
}

/// What a peer needs from Python, and how to get it.
struct PythonPeer {
    /// Shown in messages, e.g. "PyTorch".
    name: &'static str,
    /// Modules that must import.
    modules: &'static [&'static str],
    /// What `--setup` pip-installs into .venv-bench.
    packages: &'static [&'static str],
    /// Said before installing, e.g. its size.
    note: &'static str,
    /// The suite whose `--setup` installs it.
    suite: &'static str,
}

// NumPy too: torch from PyPI no longer pulls it in, and the style suite's script reads the weights with
// it (tests/fixtures/style_torch.py); without it that suite failed after `--setup` had said all was there.
const TORCH: PythonPeer = PythonPeer {
    name: "PyTorch",
    modules: &["torch", "numpy"],
    packages: &["torch", "numpy"],
    note: "about 5 GB with its CUDA libraries; it runs on the CPU all the same",
    suite: "kernels",
};

/// The Python to run the peer with: `explicit` (--python), `$GLASSBOX_BENCH_PYTHON`, or `.venv-bench` at the
/// root, into which `setup` (--setup) installs the peer's packages when they are missing.
fn python(
    root: &Path,
    explicit: Option<&Path>,
    setup: bool,
    peer: &PythonPeer,
) -> anyhow::Result<PathBuf> {
    let venv = root.join(".venv-bench");
    let chosen = explicit
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("GLASSBOX_BENCH_PYTHON").map(PathBuf::from))
        .unwrap_or_else(|| venv.join("bin/python"));
    let imports = format!("import {}", peer.modules.join(", "));
    let has_peer = || {
        Command::new(&chosen)
            .args(["-c", &imports])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    // --setup only ever touches .venv-bench, never a Python the user pointed at.
    if setup && chosen == venv.join("bin/python") && !has_peer() {
        if !chosen.exists() {
            let mut make = Command::new("python3");
            make.arg("-m").arg("venv").arg(&venv);
            process::run(make, root)?;
        }
        println!(
            "installing {} from PyPI into {} ({})",
            peer.packages.join(" "),
            venv.display(),
            peer.note
        );
        let mut pip = Command::new(venv.join("bin/pip"));
        pip.arg("install").args(peer.packages);
        process::run(pip, root)?;
    }
    if !has_peer() {
        bail!(
            "no Python with {name} at {}: run `cargo xtask bench {suite} --setup` (or, at the repository root, \
             `python3 -m venv .venv-bench && .venv-bench/bin/pip install {packages}`; {note}), or pass \
             --python PATH / set GLASSBOX_BENCH_PYTHON to a Python that has {modules}",
            chosen.display(),
            name = peer.name,
            suite = peer.suite,
            packages = peer.packages.join(" "),
            note = peer.note,
            modules = peer.modules.join(" and "),
        );
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_speed_ratios() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(speedup("ms", 50.0, 100.0), 2.0);
        assert_eq!(speedup("images/s", 50.0, 100.0), 0.5);
    }

    #[test]
    fn the_table_has_a_column_per_peer_and_the_compile_times() {
        let opts = Options {
            cases: vec!["vgg_forward".into()],
            rounds: 3,
            reps: 2,
            warmup: 1,
            threads: 2,
            python: None,
            setup: false,
            candle: false,
            no_compile: false,
        };
        let sides = Side::all(&opts);
        assert_eq!(sides, [Side::Glassbox, Side::Torch, Side::TorchCompiled]);
        let samples = |peer: &str, values: &[f64], compile_s: &[f64], rss: &[f64]| Samples {
            unit: "ms".into(),
            peer: peer.into(),
            values: values.to_vec(),
            compile_s: compile_s.to_vec(),
            peak_rss_mb: rss.to_vec(),
        };
        let results = vec![vec![
            samples("glassbox", &[100.0, 110.0, 90.0], &[], &[300.0, 320.0]),
            samples("PyTorch eager", &[150.0, 150.0], &[], &[400.0, 380.0]),
            samples(
                "PyTorch compiled",
                &[120.0, 130.0],
                &[61.0, 9.0, 11.0],
                &[640.0],
            ),
        ]];
        let t = table(&opts.cases, &sides, &results, &opts, "glibc.malloc.x=1");
        assert!(
            t.contains("| vgg_forward | ms | 100.0 | 150.0 | 1.50x | 125.0 | 1.25x | 61 / 10 |"),
            "{t}"
        );
        // Memory: each side's largest peak, and ours over each peer's.
        assert!(
            t.contains("| case | glassbox | PyTorch eager | ratio | torch.compile | ratio |")
                && t.contains("| vgg_forward | 320 | 400 | 0.80 | 640 | 0.50 |"),
            "{t}"
        );
        assert!(
            t.contains("PyTorch eager; PyTorch compiled")
                && t.contains("GLIBC_TUNABLES=glibc.malloc.x=1"),
            "{t}"
        );
    }
}
