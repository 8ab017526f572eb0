//! `cargo xtask gpu-check`: everything that needs an NVIDIA GPU, as one prepared run (issue 21).
//!
//! 1. The GPU and its driver (`nvidia-smi`).
//! 2. Every glassbox-tensor op on the GPU against the CPU kernels (`tests/on_device.rs`).
//! 3. VGG16 on the GPU against PyTorch's numbers (`tests/vgg_pytorch.rs`).
//! 4. One epoch of the MNIST CNN with `--device cuda` and with `--device cpu`, same seed: the test
//!    accuracies within 0.3 points.
//! 5. The MNIST training step and VGG16's input gradient timed against PyTorch on the same GPU.
//!
//! The executables are built with CUDA first ([`build`]). A GPU machine without Rust or internet gets them
//! in a bundle made elsewhere: `--bundle DIR` builds here and packs `DIR.tar.xz`; there, `bin/xtask
//! gpu-check --from DIR` runs the checks. `--dry-run` shows every step and command without running any.
//! The report goes to `--out` (report.md and report.json).

mod build;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::process;
pub use build::Executables;

/// The largest gap allowed between the GPU's and the CPU's MNIST test accuracy after one epoch, in
/// percentage points (the bound). Dropout's masks differ between the devices, so the runs are two
/// samples of the same training, not the same arithmetic.
pub const ACCURACY_GAP_POINTS: f64 = 0.3;
/// The benchmark cases timed against PyTorch.
pub const SPEED_CASES: [&str; 2] = ["mnist_train", "vgg_input_grad"];
const MNIST_SEED: &str = "1";

pub struct Options {
    /// Show the steps and commands; run nothing.
    pub dry_run: bool,
    /// Build here and pack the bundle into this folder (and `FOLDER.tar.xz`) instead of checking.
    pub bundle: Option<PathBuf>,
    /// Run the checks with a bundle's executables (on the GPU machine).
    pub from: Option<PathBuf>,
    /// Where the report and the runs' outputs go.
    pub out: PathBuf,
    /// A Python with PyTorch for the speed comparison.
    pub python: Option<PathBuf>,
    /// `CUDA_COMPUTE_CAP` for the build (90 for the H100 and H200) when no GPU is here to ask.
    pub compute_cap: Option<String>,
    /// The device the checks use.
    pub device: String,
    /// Alternating rounds of the speed comparison.
    pub rounds: usize,
}

/// One step's outcome for the report.
struct Outcome {
    title: &'static str,
    ok: bool,
    seconds: f64,
    /// What the step measured, in a few lines.
    summary: String,
}

pub fn run(root: &Path, opts: &Options) -> anyhow::Result<()> {
    // The steps run in other folders, so every path they get is absolute.
    let from = match &opts.from {
        Some(dir) => Some(
            dir.canonicalize()
                .with_context(|| format!("no bundle at {}", dir.display()))?,
        ),
        None => None,
    };
    if !opts.dry_run && opts.bundle.is_none() {
        std::fs::create_dir_all(&opts.out)
            .with_context(|| format!("cannot create {}", opts.out.display()))?;
    }
    let out = opts.out.canonicalize().unwrap_or_else(|_| opts.out.clone());
    let opts = &Options {
        from,
        out,
        python: opts.python.clone(),
        bundle: opts.bundle.clone(),
        compute_cap: opts.compute_cap.clone(),
        device: opts.device.clone(),
        ..*opts
    };
    let data = data_dir(root, opts.from.as_deref());
    if let Some(dir) = &opts.bundle {
        return make_bundle(root, dir, data.as_deref(), opts);
    }
    let exes = match &opts.from {
        Some(dir) => {
            let exes = Executables::in_bundle(dir);
            if !opts.dry_run {
                exes.check()?;
            }
            exes
        }
        None if opts.dry_run => {
            println!("step 0, build with CUDA ({}):", toolkit_plan());
            for cmd in build::cargo_commands() {
                println!("    $ {}", process::display(&cmd));
            }
            Executables::in_bundle(Path::new("<built>"))
        }
        None => build::build(root, opts.compute_cap.as_deref())?,
    };
    let fixtures = opts.from.as_ref().map(|d| d.join("fixtures"));
    let script = match &opts.from {
        Some(dir) => dir.join("torch_kernels.py"),
        None => root.join("xtask/bench/torch_kernels.py"),
    };
    let python = python(root, opts);
    let libraries = library_path(root, &python);
    let steps = Steps {
        libraries: libraries.as_deref(),
        exes: &exes,
        device: &opts.device,
        data: data.as_deref(),
        fixtures: fixtures.as_deref(),
        out: &opts.out,
    };

    let mut outcomes = Vec::new();
    let mut gpu = Command::new("nvidia-smi");
    gpu.args([
        "--query-gpu=name,driver_version,compute_cap,memory.total",
        "--format=csv,noheader",
    ]);
    let gpu = run_step("GPU and driver", gpu, opts.dry_run, |out| {
        Ok(out.trim().to_string())
    });
    let have_gpu = gpu.ok;
    let mut gpu = gpu;
    gpu.summary.push_str(&match &libraries {
        Some(path) => format!("\nLD_LIBRARY_PATH={}", path.to_string_lossy()),
        None => "\nno folder with libcublas.so.13 found: the loader's own paths".into(),
    });
    if opts.dry_run {
        println!("    ({})", gpu.summary.trim_start_matches("dry run\n"));
    }
    outcomes.push(gpu);
    if !have_gpu && !opts.dry_run {
        return report(&opts.out, &outcomes);
    }
    outcomes.push(run_step(
        "glassbox-tensor ops on the GPU against the CPU kernels",
        steps.test(&exes.tensor_tests, &[]),
        opts.dry_run,
        test_summary,
    ));
    outcomes.push(run_step(
        "VGG16 on the GPU against PyTorch",
        steps.test(
            &exes.vgg_tests,
            &[
                "vgg16_matches_pytorch_on_the_test_device",
                "--exact",
                "--nocapture",
            ],
        ),
        opts.dry_run,
        |out| {
            test_summary(out)?;
            Ok(out
                .lines()
                .filter(|l| l.contains("worst relative error"))
                .collect::<Vec<_>>()
                .join("\n"))
        },
    ));
    outcomes.push(steps.mnist(opts.dry_run));
    outcomes.push(speed(&steps, &python, &script, opts));
    if opts.dry_run {
        println!("\nreport: {}/report.md and report.json", opts.out.display());
        return Ok(());
    }
    report(&opts.out, &outcomes)
}

/// The data the checks read: the bundle's, else `GLASSBOX_DATA`, else `../shared/data`.
fn data_dir(root: &Path, from: Option<&Path>) -> Option<PathBuf> {
    if let Some(dir) = from {
        return Some(dir.join("data")).filter(|d| d.is_dir());
    }
    std::env::var_os("GLASSBOX_DATA")
        .map(PathBuf::from)
        .or_else(|| Some(root.join("../shared/data")))
        .filter(|d| d.is_dir())
}

/// Which toolkit a build would use, without provisioning one.
fn toolkit_plan() -> String {
    match crate::build::find_nvcc() {
        Some(nvcc) => format!("the system's nvcc at {}", nvcc.display()),
        None => format!(
            "no nvcc here: CUDA {} from NVIDIA's PyPI wheels into target/cuda-toolkit (about 690 MB, once)",
            crate::cuda_toolkit::VERSION
        ),
    }
}

fn python(root: &Path, opts: &Options) -> PathBuf {
    let venv = root.join(".venv-bench/bin/python");
    opts.python
        .clone()
        .or_else(|| std::env::var_os("GLASSBOX_BENCH_PYTHON").map(PathBuf::from))
        .or_else(|| (opts.from.is_none() && venv.is_file()).then_some(venv))
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// Folders holding cuBLAS and cuRAND for CUDA 13 (the builds' `NEEDED` libraries besides the driver's
/// `libcuda`): the system toolkit's, the provisioned one's, and those of PyTorch's `nvidia` wheels. Joined
/// into `LD_LIBRARY_PATH` with the one already set; `None` when none is found (the loader may still know
/// them).
fn library_path(root: &Path, python: &Path) -> Option<std::ffi::OsString> {
    let mut dirs: Vec<PathBuf> = ["CUDA_HOME", "CUDA_PATH"]
        .iter()
        .filter_map(std::env::var_os)
        .map(|h| PathBuf::from(h).join("lib64"))
        .chain([
            PathBuf::from("/usr/local/cuda/lib64"),
            PathBuf::from("/usr/local/cuda/targets/x86_64-linux/lib"),
            root.join("target/cuda-toolkit")
                .join(crate::cuda_toolkit::VERSION)
                .join("lib"),
        ])
        .collect();
    if let Ok(out) = Command::new(python)
        .args(["-c", "import nvidia; print('\\n'.join(nvidia.__path__))"])
        .output()
    {
        for base in String::from_utf8_lossy(&out.stdout).lines() {
            let base = Path::new(base.trim());
            dirs.extend([
                base.join("cu13/lib"),
                base.join("cublas/lib"),
                base.join("curand/lib"),
            ]);
        }
    }
    let mut found: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        let has = |name: &str| dir.join(name).exists();
        if (has("libcublas.so.13") || has("libcurand.so.10")) && !found.contains(&dir) {
            found.push(dir);
        }
    }
    if found.is_empty() {
        return None;
    }
    if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
        found.extend(std::env::split_paths(&old));
    }
    std::env::join_paths(found).ok()
}

/// The commands of the checks, sharing their settings.
struct Steps<'a> {
    /// `LD_LIBRARY_PATH` for everything built with CUDA.
    libraries: Option<&'a std::ffi::OsStr>,
    exes: &'a Executables,
    device: &'a str,
    data: Option<&'a Path>,
    fixtures: Option<&'a Path>,
    out: &'a Path,
}

impl Steps<'_> {
    /// A test binary run on the device. CI is cleared: a device run has no shared weights to insist on.
    /// One of the executables, finding its CUDA libraries.
    fn command(&self, exe: &Path) -> Command {
        let mut cmd = Command::new(exe);
        if let Some(path) = self.libraries {
            cmd.env("LD_LIBRARY_PATH", path);
        }
        cmd
    }

    fn test(&self, exe: &Path, args: &[&str]) -> Command {
        let mut cmd = self.command(exe);
        cmd.args(args)
            .env("GLASSBOX_TEST_DEVICE", self.device)
            .env_remove("CI");
        if let Some(data) = self.data {
            cmd.env("GLASSBOX_DATA", data);
        }
        if let Some(fixtures) = self.fixtures {
            cmd.env("GLASSBOX_FIXTURES", fixtures);
        }
        cmd
    }

    fn mnist_command(&self, device: &str) -> Command {
        let mut cmd = self.command(&self.exes.glassbox);
        cmd.args([
            "mnist", "train", "--epochs", "1", "--fresh", "--seed", MNIST_SEED,
        ])
        .args(["--device", device])
        .arg("--out")
        .arg(self.out.join(format!("mnist-{}", device.replace(':', "-"))));
        if let Some(data) = self.data {
            cmd.arg("--data-dir").arg(data);
        }
        cmd
    }

    /// One epoch on each device; the accuracies and the epoch times.
    fn mnist(&self, dry_run: bool) -> Outcome {
        let title = "MNIST CNN, one epoch, GPU against CPU";
        let runs = [self.mnist_command(self.device), self.mnist_command("cpu")];
        if dry_run {
            println!("step: {title}");
            for cmd in &runs {
                println!("    $ {}", process::display(cmd));
            }
            println!(
                "    then: the test accuracies in the two metrics.json within {ACCURACY_GAP_POINTS} points"
            );
            return skipped(title);
        }
        let start = Instant::now();
        let result = (|| -> anyhow::Result<(bool, String)> {
            let mut read = Vec::new();
            for cmd in runs {
                let out_dir = PathBuf::from(
                    cmd.get_args()
                        .skip_while(|a| *a != "--out")
                        .nth(1)
                        .context("--out")?,
                );
                process::run(cmd, self.out)?;
                let metrics: Value = serde_json::from_str(
                    &std::fs::read_to_string(out_dir.join("metrics.json"))
                        .with_context(|| format!("reading {}/metrics.json", out_dir.display()))?,
                )?;
                let accuracy = metrics["test"]["accuracy"]
                    .as_f64()
                    .context("metrics.json has no test.accuracy")?;
                let seconds = metrics["epochs"][0]["seconds"].as_f64().unwrap_or(f64::NAN);
                read.push((accuracy, seconds, metrics["run"]["source"].clone()));
            }
            let gap = (read[0].0 - read[1].0).abs() * 100.0;
            Ok((
                gap <= ACCURACY_GAP_POINTS,
                format!(
                    "test accuracy {:.2}% on {} ({:.1} s for the epoch), {:.2}% on the CPU ({:.1} s); gap {gap:.2} \
                     points (at most {ACCURACY_GAP_POINTS}); data: {}",
                    read[0].0 * 100.0,
                    self.device,
                    read[0].1,
                    read[1].0 * 100.0,
                    read[1].1,
                    read[0].2
                ),
            ))
        })();
        finish(title, start, result)
    }
}

/// Runs `cmd` as a step (printing its output) and summarizes what it printed; shows it in a dry run.
fn run_step(
    title: &'static str,
    mut cmd: Command,
    dry_run: bool,
    summarize: impl Fn(&str) -> anyhow::Result<String>,
) -> Outcome {
    if dry_run {
        println!("step: {title}\n    $ {}", shown_with_env(&cmd));
        return skipped(title);
    }
    println!("\n== {title}\n$ {}", shown_with_env(&cmd));
    let start = Instant::now();
    let result = (|| {
        let out = cmd
            .output()
            .with_context(|| format!("could not start `{}`", process::display(&cmd)))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        print!("{text}");
        if !out.status.success() {
            bail!("failed ({}): {}", out.status, tail(&text, 12));
        }
        Ok((true, summarize(&text)?))
    })();
    finish(title, start, result)
}

fn finish(title: &'static str, start: Instant, result: anyhow::Result<(bool, String)>) -> Outcome {
    let (ok, summary) = result.unwrap_or_else(|e| (false, format!("{e:#}")));
    Outcome {
        title,
        ok,
        seconds: start.elapsed().as_secs_f64(),
        summary,
    }
}

fn skipped(title: &'static str) -> Outcome {
    Outcome {
        title,
        ok: true,
        seconds: 0.0,
        summary: "dry run".into(),
    }
}

/// The command with the variables it sets, as one would type it.
fn shown_with_env(cmd: &Command) -> String {
    let vars: Vec<String> = cmd
        .get_envs()
        .map(|(k, v)| match v {
            Some(v) => format!("{}={}", k.to_string_lossy(), v.to_string_lossy()),
            None => format!("-u {}", k.to_string_lossy()),
        })
        .collect();
    if vars.is_empty() {
        process::display(cmd)
    } else {
        format!("env {} {}", vars.join(" "), process::display(cmd))
    }
}

/// A test binary's verdict: its `test result:` line, and a failure if any test skipped, since a skipped
/// device test checked nothing.
fn test_summary(out: &str) -> anyhow::Result<String> {
    if let Some(skip) = out.lines().find(|l| l.starts_with("skipping ")) {
        bail!("a test skipped instead of running on the device: {skip}");
    }
    out.lines()
        .rev()
        .find(|l| l.starts_with("test result:"))
        .map(str::to_string)
        .context("no `test result:` line")
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The two cases on both sides, alternating, `rounds` times; medians over every timed repetition.
fn speed(steps: &Steps, python: &Path, script: &Path, opts: &Options) -> Outcome {
    let title = "speed against PyTorch on the same GPU";
    // Both sides take the same case arguments.
    let case_args = |case: &'static str| {
        [
            "--case",
            case,
            "--device",
            steps.device,
            "--reps",
            "10",
            "--warmup",
            "3",
        ]
    };
    let ours = |case: &'static str| {
        let mut cmd = steps.command(&steps.exes.kernels_bench);
        cmd.args(case_args(case));
        cmd
    };
    let theirs = |case: &'static str| {
        let mut cmd = Command::new(python);
        cmd.arg(script).args(case_args(case));
        cmd
    };
    if opts.dry_run {
        println!("step: {title} ({} rounds, alternating)", opts.rounds);
        for case in SPEED_CASES {
            println!("    $ {}", process::display(&ours(case)));
            println!("    $ {}", process::display(&theirs(case)));
        }
        return skipped(title);
    }
    println!("\n== {title}");
    let start = Instant::now();
    let result = (|| -> anyhow::Result<(bool, String)> {
        let mut rows = Vec::new();
        let mut all_ok = true;
        for case in SPEED_CASES {
            let (mut a, mut b, mut unit, mut peer) =
                (Vec::new(), Vec::new(), String::new(), String::new());
            let mut their_error = None;
            for _ in 0..opts.rounds.max(1) {
                let line = crate::bench::run_case(ours(case), &opts.out)?;
                unit = line["unit"].as_str().unwrap_or("").to_string();
                a.extend(samples(&line));
                match crate::bench::run_case(theirs(case), &opts.out) {
                    Ok(line) => {
                        peer = line["peer"].as_str().unwrap_or("").to_string();
                        b.extend(samples(&line));
                    }
                    Err(e) => their_error = Some(format!("{e:#}")),
                }
            }
            let ours = crate::bench::median(&a);
            let row = match their_error {
                None => {
                    let theirs = crate::bench::median(&b);
                    format!(
                        "{case}: glassbox {ours:.2} {unit}, {peer} {theirs:.2} {unit}, speed {:.2}x",
                        crate::bench::speedup(&unit, ours, theirs)
                    )
                }
                Some(e) => {
                    all_ok = false;
                    format!("{case}: glassbox {ours:.2} {unit}; PyTorch did not run: {e}")
                }
            };
            println!("{row}");
            rows.push(row);
        }
        Ok((all_ok, rows.join("\n")))
    })();
    finish(title, start, result)
}

fn samples(line: &Value) -> Vec<f64> {
    line["samples"]
        .as_array()
        .map(|s| s.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

/// Writes report.md and report.json under `out`, prints the table, and fails if a step failed.
fn report(out: &Path, outcomes: &[Outcome]) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut md = String::from("| step | result | time | measured |\n|---|---|---:|---|\n");
    for o in outcomes {
        md.push_str(&format!(
            "| {} | {} | {:.1} s | {} |\n",
            o.title,
            if o.ok { "passed" } else { "**failed**" },
            o.seconds,
            o.summary.replace('\n', "<br>").replace('|', "\\|")
        ));
    }
    let js: Vec<Value> = outcomes
        .iter()
        .map(|o| json!({"step": o.title, "ok": o.ok, "seconds": o.seconds, "summary": o.summary}))
        .collect();
    std::fs::write(out.join("report.md"), &md)?;
    std::fs::write(out.join("report.json"), serde_json::to_string_pretty(&js)?)?;
    println!("\n{md}\n(written to {}/report.md)", out.display());
    let failed: Vec<&str> = outcomes.iter().filter(|o| !o.ok).map(|o| o.title).collect();
    if !failed.is_empty() {
        bail!("gpu-check failed: {}", failed.join("; "));
    }
    Ok(())
}

/// `--bundle DIR`: the executables built here, packed with what the checks read.
fn make_bundle(root: &Path, dir: &Path, data: Option<&Path>, opts: &Options) -> anyhow::Result<()> {
    let inputs = build::bundle_inputs(root, data);
    let cap = opts.compute_cap.as_deref().unwrap_or("90");
    if opts.dry_run {
        println!(
            "build with CUDA ({}), CUDA_COMPUTE_CAP={cap}:",
            toolkit_plan()
        );
        for cmd in build::cargo_commands() {
            println!("    $ {}", process::display(&cmd));
        }
        println!(
            "then pack into {} (binaries stripped, and xtask itself):",
            dir.display()
        );
        for (from, to) in &inputs {
            println!("    {} <- {}", to.display(), from.display());
        }
        return Ok(());
    }
    if data.is_none() {
        println!(
            "warning: no data directory (GLASSBOX_DATA or ../shared/data): the bundle has no photos or MNIST, \
             so the VGG16 check will skip (and fail) and MNIST runs on the embedded subset"
        );
    }
    let exes = build::build(root, Some(cap))?;
    let archive = build::write_bundle(&exes, &inputs, dir)?;
    let size = std::fs::metadata(&archive)?.len();
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    println!(
        "bundle: {} ({:.1} MB). On the GPU machine, from the folder holding it:\n    tar -xJf {} -C /tmp && \
         /tmp/{name}/bin/xtask gpu-check --from /tmp/{name} --out OUT",
        archive.display(),
        size as f64 / 1e6,
        archive.file_name().unwrap_or_default().to_string_lossy(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_test_that_skipped_is_a_failure() {
        let passed = "running 10 tests\ntest result: ok. 10 passed; 0 failed\n";
        assert_eq!(
            test_summary(passed).unwrap(),
            "test result: ok. 10 passed; 0 failed"
        );
        let skipped =
            "skipping conv2d: GLASSBOX_TEST_DEVICE is not set\ntest result: ok. 10 passed\n";
        assert!(test_summary(skipped)
            .unwrap_err()
            .to_string()
            .contains("skipped"));
        assert!(test_summary("no verdict").is_err());
    }

    #[test]
    fn a_failed_step_fails_the_check_and_is_in_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let outcome = |title, ok| Outcome {
            title,
            ok,
            seconds: 1.0,
            summary: "a | b\nc".into(),
        };
        report(dir.path(), &[outcome("one", true)]).unwrap();
        let err = report(dir.path(), &[outcome("one", true), outcome("two", false)]).unwrap_err();
        assert!(err.to_string().contains("two"), "{err}");
        let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
        assert!(
            md.contains("**failed**") && md.contains("a \\| b<br>c"),
            "{md}"
        );
        let js: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
                .unwrap();
        assert_eq!(js[1]["ok"], false);
    }

    #[test]
    fn commands_show_the_variables_they_set() {
        let exes = Executables::in_bundle(Path::new("/b"));
        let steps = Steps {
            libraries: None,
            exes: &exes,
            device: "cuda",
            data: Some(Path::new("/b/data")),
            fixtures: Some(Path::new("/b/fixtures")),
            out: Path::new("/o"),
        };
        let shown = shown_with_env(&steps.test(&exes.tensor_tests, &[]));
        for part in [
            "GLASSBOX_TEST_DEVICE=cuda",
            "-u CI",
            "GLASSBOX_DATA=/b/data",
            "GLASSBOX_FIXTURES=/b/fixtures",
            "tensor_tests",
        ] {
            assert!(shown.contains(part), "{part} missing from {shown}");
        }
        let mnist = process::display(&steps.mnist_command("cuda:1"));
        assert!(
            mnist.contains("--device cuda:1") && mnist.contains("/o/mnist-cuda-1"),
            "{mnist}"
        );
    }
}
