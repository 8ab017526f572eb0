//! `cargo xtask ci`, what `.ci/run` calls: format check, release build, then the test command, in that order,
//! stopping at the first failure. Each command is printed before it runs and timed. `--cuda` adds a build of
//! the `cuda` feature (every crate and the `glassbox` binary, linked; no GPU needed: docs/cuda.md).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process;

/// THE test command; `.ci/run` and people run the same thing. The `ci` profile is `release` without LTO
/// (see the workspace Cargo.toml): same numbers, a fraction of the link time.
pub const TEST_ARGS: [&str; 4] = ["test", "--workspace", "--profile", "ci"];

/// Environment for the tests: the read-only data and weights beside the checkout, unless already chosen.
/// Returns `(variable, directory)` pairs to set for the child.
pub fn shared_env(
    root: &Path,
    get: impl Fn(&str) -> Option<String>,
) -> Vec<(&'static str, PathBuf)> {
    let mut out = Vec::new();
    for (var, sub) in [("GLASSBOX_DATA", "data"), ("GLASSBOX_WEIGHTS", "weights")] {
        if get(var).is_some() {
            continue;
        }
        let dir = root.join("..").join("shared").join(sub);
        // canonicalize both checks existence and gives the absolute path the crates expect.
        if let Ok(abs) = dir.canonicalize() {
            if abs.is_dir() {
                out.push((var, abs));
            }
        }
    }
    out
}

/// Whether `cargo fmt` works, trying once to install rustfmt with rustup when it does not.
fn rustfmt_available(root: &Path) -> bool {
    let works = || {
        process::cargo()
            .args(["fmt", "--version"])
            .current_dir(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if works() {
        return true;
    }
    let mut add = Command::new("rustup");
    add.args(["component", "add", "rustfmt"]);
    match process::run(add, root) {
        Ok(_) => works(),
        Err(e) => {
            eprintln!("warning: {e:#}");
            false
        }
    }
}

pub fn run(root: &Path, cuda: bool) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut times: Vec<(String, Duration)> = Vec::new();

    if rustfmt_available(root) {
        let mut fmt = process::cargo();
        fmt.args(["fmt", "--all", "--", "--check"]);
        let shown = process::display(&fmt);
        times.push((shown, step(fmt, root)?));
    } else {
        println!(
            "warning: rustfmt is not installed and could not be added; skipping the format check"
        );
    }

    let mut build = process::cargo();
    build.args(["build", "--release"]);
    let shown = process::display(&build);
    times.push((shown, step(build, root)?));

    let mut test = process::cargo();
    test.args(TEST_ARGS);
    for (var, dir) in shared_env(root, |v| std::env::var(v).ok()) {
        println!("{var}={}", dir.display());
        test.env(var, dir);
    }
    let shown = process::display(&test);
    times.push((shown, step(test, root)?));

    if cuda {
        // Provisioning (a download on the first run) counts towards this step's time.
        let began = Instant::now();
        let mut build = process::cargo();
        build.args(CUDA_BUILD_ARGS);
        crate::cuda_toolkit::configure_cargo(&mut build, root)?;
        let shown = format!(
            "{} (with CUDA {})",
            process::display(&build),
            crate::cuda_toolkit::VERSION
        );
        process::run(build, root)?;
        let took = began.elapsed();
        println!("({})", process::seconds(took));
        times.push((shown, took));
    }

    println!("ci passed in {}:", process::seconds(start.elapsed()));
    for (cmd, took) in &times {
        println!("  {:>8}  {cmd}", process::seconds(*took));
    }
    Ok(())
}

/// The CUDA compile check (with the `cuda` features that `configure_cargo` adds): the libraries and the
/// binary in the test profile (no LTO), so the link against cuBLAS and the driver stub is checked too.
pub const CUDA_BUILD_ARGS: [&str; 4] = ["build", "--profile", "ci", "--bins"];

fn step(cmd: Command, root: &Path) -> anyhow::Result<Duration> {
    let took = process::run(cmd, root)?;
    println!("({})", process::seconds(took));
    Ok(took)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// .ci/run asks PyPI for one pinned wheel before it runs the CUDA check; a changed pin must not leave
    /// it probing a file the build no longer needs.
    #[test]
    fn the_ci_script_probes_a_pinned_wheel() {
        let script = std::fs::read_to_string(crate::repo_root().join(".ci/run")).unwrap();
        let probe = script
            .lines()
            .find_map(|l| l.strip_prefix("CUDA_PROBE="))
            .expect(".ci/run sets CUDA_PROBE")
            .trim_matches('"');
        assert!(
            crate::cuda_toolkit::WHEELS.iter().any(|w| w.url == probe),
            "{probe} is not among cuda_toolkit::WHEELS"
        );
        assert!(script.contains("cargo xtask ci --cuda"));
    }

    #[test]
    fn shared_dirs_are_used_only_when_present_and_unset() {
        let top = tempfile::tempdir().unwrap();
        let root = top.path().join("main");
        std::fs::create_dir_all(&root).unwrap();
        assert!(shared_env(&root, |_| None).is_empty());
        std::fs::create_dir_all(top.path().join("shared/data")).unwrap();
        std::fs::create_dir_all(top.path().join("shared/weights")).unwrap();
        let env = shared_env(&root, |_| None);
        assert_eq!(env.len(), 2);
        assert!(env.iter().all(|(_, d)| d.is_absolute() && d.is_dir()));
        let env = shared_env(&root, |v| {
            (v == "GLASSBOX_DATA").then(|| "/elsewhere".into())
        });
        assert_eq!(env.len(), 1);
        assert_eq!(env[0].0, "GLASSBOX_WEIGHTS");
    }
}
