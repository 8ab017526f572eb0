//! `cargo xtask ci`, what `.ci/run` calls: format check, release build, `cargo package` of the library crates,
//! the test command, the examples, then the documentation, in that order, stopping at the first failure. Each command is printed before it runs and timed. `--cuda` adds a build of
//! the `cuda` feature (every crate and the `glassbox` binary, linked; no GPU needed: docs/cuda.md).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

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

    // Before the tests: verifying glassbox-rl's package compiles the dependencies exactly as a crate outside
    // the workspace gets them, which tests/standalone.rs then reuses.
    forget_packaged_siblings(|v| std::env::var_os(v))?;
    let mut package = process::cargo();
    package.args(package_args());
    let shown = process::display(&package);
    times.push((shown, step(package, root)?));

    let mut test = process::cargo();
    test.args(TEST_ARGS);
    for (var, dir) in shared_env(root, |v| std::env::var(v).ok()) {
        println!("{var}={}", dir.display());
        test.env(var, dir);
    }
    let shown = process::display(&test);
    times.push((shown, step(test, root)?));

    // The test command has built every example already; this names the step and runs the ones that need
    // no data, each as a user of that crate alone would.
    let began = Instant::now();
    let mut build = process::cargo();
    build.args(EXAMPLES_BUILD_ARGS);
    process::run(build, root)?;
    // The binaries themselves: `cargo run -p` would resolve features for that one package and rebuild.
    let examples = target_dir(root, |v| std::env::var_os(v))
        .join("ci")
        .join("examples");
    for (_, example, args) in EXAMPLES_RUN {
        let mut run = Command::new(examples.join(example));
        run.args(args);
        process::run(run, root)?;
    }
    let took = began.elapsed();
    println!("({})", process::seconds(took));
    times.push((
        format!(
            "{} and running {} of them",
            EXAMPLES_BUILD_ARGS.join(" "),
            EXAMPLES_RUN.len()
        ),
        took,
    ));

    let mut doc = process::cargo();
    doc.args(DOC_ARGS).env("RUSTDOCFLAGS", "-D warnings");
    let shown = format!("RUSTDOCFLAGS='-D warnings' {}", process::display(&doc));
    times.push((shown, step(doc, root)?));

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

/// Where cargo builds: `CARGO_TARGET_DIR` (relative to the repository root) or `target/`.
pub fn target_dir(root: &Path, get: impl Fn(&str) -> Option<std::ffi::OsString>) -> PathBuf {
    match get("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// The library crates, in dependency order: each can be a dependency on its own (docs/crates.md).
pub const LIBRARY_CRATES: [&str; 8] = [
    "glassbox-assets",
    "glassbox-core",
    "glassbox-tensor",
    "glassbox-rl",
    "glassbox-convnet",
    "glassbox-generative",
    "glassbox-sequence",
    "glassbox-synthesis",
];

/// `cargo package` of every library crate together (cargo packages path dependencies into a local registry
/// first, so the unpublished siblings resolve), each verified by building the packaged crate on its own.
/// `--allow-dirty`: a local run with uncommitted changes checks those too.
pub fn package_args() -> Vec<&'static str> {
    let mut args = vec!["package", "--allow-dirty"];
    for name in LIBRARY_CRATES {
        args.extend(["-p", name]);
    }
    args
}

/// Removes the sources cargo extracted from earlier runs' packages of our crates.
///
/// `cargo package` verifies each crate against its siblings' fresh tarballs, but it unpacks them under
/// `$CARGO_HOME/registry/src/<local registry>/NAME-VERSION` and reuses a directory that is already there,
/// so on a machine that packaged the same version before, the verification compiles the old sources:
/// a change to glassbox-core's features then failed glassbox-rl's verification against glassbox-core as it
/// was hours earlier. Only directories named after our crates are removed; crates.io's stay.
fn forget_packaged_siblings(
    get: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> anyhow::Result<()> {
    let home = match (get("CARGO_HOME"), get("HOME")) {
        (Some(c), _) => std::path::PathBuf::from(c),
        (None, Some(h)) => std::path::PathBuf::from(h).join(".cargo"),
        (None, None) => return Ok(()),
    };
    let Ok(registries) = std::fs::read_dir(home.join("registry/src")) else {
        return Ok(());
    };
    for registry in registries.flatten() {
        let Ok(crates) = std::fs::read_dir(registry.path()) else {
            continue;
        };
        for dir in crates.flatten() {
            let name = dir.file_name().to_string_lossy().into_owned();
            let ours = LIBRARY_CRATES
                .iter()
                .any(|c| name.strip_prefix(c).is_some_and(|v| v.starts_with('-')));
            if ours {
                std::fs::remove_dir_all(dir.path())
                    .with_context(|| format!("cannot remove {}", dir.path().display()))?;
            }
        }
    }
    Ok(())
}

/// Every example of the workspace, in the test profile (already built by the test command, so this links
/// nothing new).
pub const EXAMPLES_BUILD_ARGS: [&str; 5] =
    ["build", "--profile", "ci", "--examples", "--workspace"];

/// The library crates' examples that need no data or weights, with arguments that keep each to a few
/// seconds. (glassbox-convnet's `vgg16_top5` needs VGG16's weights and is only built.)
pub const EXAMPLES_RUN: [(&str, &str, &[&str]); 7] = [
    ("glassbox-assets", "list_models", &[]),
    ("glassbox-core", "mnist_embedded", &[]),
    ("glassbox-tensor", "fast_conv2d", &[]),
    ("glassbox-rl", "flippers", &[]),
    ("glassbox-generative", "autoencoder_steps", &["300"]),
    ("glassbox-sequence", "tiny_char_lstm", &["100"]),
    ("glassbox-synthesis", "tiny_render", &["door", "4"]),
];

/// The documentation of every crate, the binaries included, with `RUSTDOCFLAGS=-D warnings`: a broken
/// link or an unclosed tag (an unquoted `<out>` placeholder) fails CI.
pub const DOC_ARGS: [&str; 3] = ["doc", "--workspace", "--no-deps"];

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

    /// Every crate under crates/ but the binary is packaged, and every one has an example that CI runs or
    /// (convnet: it needs weights) builds.
    #[test]
    fn every_library_crate_is_packaged_and_has_an_example() {
        let crates = crate::repo_root().join("crates");
        let mut found: Vec<String> = std::fs::read_dir(&crates)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "glassbox-cli")
            .collect();
        found.sort();
        let mut listed: Vec<String> = LIBRARY_CRATES.iter().map(|s| s.to_string()).collect();
        listed.sort();
        assert_eq!(found, listed, "LIBRARY_CRATES differs from crates/");
        for name in LIBRARY_CRATES {
            let examples = crates.join(name).join("examples");
            let ran = EXAMPLES_RUN.iter().find(|(p, _, _)| *p == name);
            match ran {
                Some((_, example, _)) => assert!(
                    examples.join(format!("{example}.rs")).is_file(),
                    "{name}: no examples/{example}.rs"
                ),
                None => assert!(
                    name == "glassbox-convnet" && examples.join("vgg16_top5.rs").is_file(),
                    "{name} has no example that CI runs"
                ),
            }
        }
        assert_eq!(
            target_dir(Path::new("/r"), |_| None),
            Path::new("/r/target")
        );
        assert_eq!(
            target_dir(Path::new("/r"), |_| Some("/t".into())),
            Path::new("/t")
        );
        let args = package_args();
        assert_eq!(
            args.iter().filter(|a| **a == "-p").count(),
            LIBRARY_CRATES.len()
        );
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

    #[test]
    fn only_our_crates_extracted_sources_are_forgotten() {
        let home = tempfile::tempdir().unwrap();
        let src = home.path().join("registry/src/-abc");
        for dir in [
            "glassbox-core-0.1.0",
            "glassbox-rl-0.1.0",
            "serde-1.0.0",
            "glassbox-core2-0.1.0",
        ] {
            std::fs::create_dir_all(src.join(dir).join("src")).unwrap();
        }
        let home_dir = home.path().as_os_str().to_owned();
        forget_packaged_siblings(|v| (v == "CARGO_HOME").then(|| home_dir.clone())).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(&src)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["glassbox-core2-0.1.0", "serde-1.0.0"]);
        // No cargo home at all: nothing to do.
        forget_packaged_siblings(|_| None).unwrap();
    }
}
