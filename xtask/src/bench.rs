//! `cargo xtask bench kernels`: glassbox's fast CPU kernels against PyTorch on the same machine, in the
//! same command, alternating, with the same thread count.
//!
//! Each case runs as a fresh process on each side (crates/glassbox-tensor/examples/kernels_bench.rs and
//! xtask/bench/torch_kernels.py, which define identical models and shapes), several rounds, the order of
//! the two sides swapped every round; every process warms up and then times several repetitions. The
//! table gives the median of all timed repetitions per side and the speed ratio glassbox / PyTorch
//! (above 1: glassbox is faster).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use serde_json::Value;

use crate::process;

/// The cases, in the order the issue lists them.
pub const CASES: [&str; 8] = [
    "mnist_train",
    "mnist_infer",
    "lstm_train",
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
    /// Also run candle's own ops (the starting point) as a third column.
    pub candle: bool,
}

/// One side's timed repetitions of one case.
#[derive(Default)]
struct Samples {
    unit: String,
    peer: String,
    values: Vec<f64>,
}

pub fn run(root: &Path, opts: &Options) -> anyhow::Result<()> {
    for case in &opts.cases {
        if !CASES.contains(&case.as_str()) {
            bail!("unknown case {case}; the cases are {}", CASES.join(", "));
        }
    }
    let python = python(root, opts)?;
    let mut build = process::cargo();
    build.args([
        "build",
        "--release",
        "-p",
        "glassbox-tensor",
        "--example",
        "kernels_bench",
    ]);
    process::run(build, root)?;
    let ours = root.join("target/release/examples/kernels_bench");
    let script = root.join("xtask/bench/torch_kernels.py");
    let threads = opts.threads.to_string();
    let (reps, warmup) = (opts.reps.to_string(), opts.warmup.to_string());

    let sides = if opts.candle { 3 } else { 2 };
    let mut results: Vec<Vec<Samples>> = opts
        .cases
        .iter()
        .map(|_| (0..sides).map(|_| Samples::default()).collect())
        .collect();
    for round in 0..opts.rounds {
        for (c, case) in opts.cases.iter().enumerate() {
            let mut order: Vec<usize> = (0..sides).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for side in order {
                let mut cmd = match side {
                    1 => {
                        let mut cmd = Command::new(&python);
                        cmd.arg(&script).args(["--threads", &threads]);
                        cmd
                    }
                    _ => {
                        let mut cmd = Command::new(&ours);
                        if side == 2 {
                            cmd.args(["--impl", "candle"]);
                        }
                        cmd
                    }
                };
                cmd.args(["--case", case, "--reps", &reps, "--warmup", &warmup])
                    .env("RAYON_NUM_THREADS", &threads)
                    .env("OMP_NUM_THREADS", &threads)
                    .env("MKL_NUM_THREADS", &threads);
                let line = run_case(cmd, root)?;
                let slot = &mut results[c][side];
                slot.unit = line["unit"].as_str().unwrap_or("?").to_string();
                slot.peer = line["peer"].as_str().unwrap_or("?").to_string();
                slot.values.extend(
                    line["samples"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_f64),
                );
            }
            eprintln!("round {}/{}: {case} done", round + 1, opts.rounds);
        }
    }
    let table = table(&opts.cases, &results, opts);
    println!("{table}");
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let path = out.join("kernels.md");
    std::fs::write(&path, &table).with_context(|| format!("writing {}", path.display()))?;
    println!("(also written to {})", path.display());
    Ok(())
}

/// Runs one case and returns its JSON line.
fn run_case(mut cmd: Command, root: &Path) -> anyhow::Result<Value> {
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
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'));
    let line = line.with_context(|| format!("`{shown}` printed no JSON line: {stdout}"))?;
    serde_json::from_str(line).with_context(|| format!("`{shown}` printed {line}"))
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Speed of `a` relative to `b`: for throughputs a / b, for times b / a.
fn speedup(unit: &str, a: f64, b: f64) -> f64 {
    if unit == "ms" {
        b / a
    } else {
        a / b
    }
}

fn table(cases: &[String], results: &[Vec<Samples>], opts: &Options) -> String {
    let peer = results
        .first()
        .map(|r| r[1].peer.clone())
        .unwrap_or_default();
    let mut out = format!(
        "{} threads, {} rounds x {} timed repetitions per side (after {} warm-up), medians; speed = glassbox / {peer}\n\n",
        opts.threads, opts.rounds, opts.reps, opts.warmup
    );
    out.push_str("| case | unit | glassbox | PyTorch | speed vs PyTorch |");
    if opts.candle {
        out.push_str(" candle 0.11 ops | glassbox vs candle |");
    }
    out.push_str("\n|---|---|---:|---:|---:|");
    if opts.candle {
        out.push_str("---:|---:|");
    }
    out.push('\n');
    for (case, r) in cases.iter().zip(results) {
        let unit = &r[0].unit;
        let (ours, torch) = (median(&r[0].values), median(&r[1].values));
        out.push_str(&format!(
            "| {case} | {unit} | {ours:.1} | {torch:.1} | {:.2}x |",
            speedup(unit, ours, torch)
        ));
        if opts.candle {
            let candle = median(&r[2].values);
            out.push_str(&format!(
                " {candle:.1} | {:.2}x |",
                speedup(unit, ours, candle)
            ));
        }
        out.push('\n');
    }
    out
}

/// The Python with PyTorch: `--python`, `$GLASSBOX_BENCH_PYTHON`, or `.venv-bench` at the root (created
/// with `--setup`).
fn python(root: &Path, opts: &Options) -> anyhow::Result<PathBuf> {
    let venv = root.join(".venv-bench");
    let chosen = opts
        .python
        .clone()
        .or_else(|| std::env::var_os("GLASSBOX_BENCH_PYTHON").map(PathBuf::from))
        .unwrap_or_else(|| venv.join("bin/python"));
    if !chosen.exists() && opts.setup && chosen == venv.join("bin/python") {
        let mut make = Command::new("python3");
        make.arg("-m").arg("venv").arg(&venv);
        process::run(make, root)?;
        println!("installing torch from PyPI into {} (about 5 GB with its CUDA libraries; it runs on the CPU all the same)", venv.display());
        let mut pip = Command::new(venv.join("bin/pip"));
        pip.args(["install", "torch"]);
        process::run(pip, root)?;
    }
    let has_torch = Command::new(&chosen)
        .args(["-c", "import torch"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has_torch {
        bail!(
            "no Python with PyTorch at {}: run `cargo xtask bench kernels --setup` (creates .venv-bench and \
             pip-installs torch, about 5 GB), or pass --python PATH / set GLASSBOX_BENCH_PYTHON to a Python \
             that has torch",
            chosen.display()
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
}
