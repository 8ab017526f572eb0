//! The executables gpu-check runs, built with CUDA (here or on the GPU machine), and the bundle that carries
//! them to a GPU machine without Rust or internet: the binaries (stripped), the xtask binary that runs the
//! checks there, the fixtures, the photos and MNIST, and the PyTorch script.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use serde_json::Value;

use crate::process;

/// What the checks run.
#[derive(Debug, Clone)]
pub struct Executables {
    /// The `glassbox` binary with the `cuda` feature.
    pub glassbox: PathBuf,
    /// glassbox-tensor's `kernels_bench` example.
    pub kernels_bench: PathBuf,
    /// glassbox-tensor's `tests/on_device.rs`.
    pub tensor_tests: PathBuf,
    /// The workspace's `tests/vgg_pytorch.rs`.
    pub vgg_tests: PathBuf,
}

/// `(target name, file name in a bundle's bin/, cargo arguments that build it)`.
const TARGETS: [(&str, &str, &[&str]); 4] = [
    (
        "glassbox",
        "glassbox",
        &[
            "build",
            "--release",
            "-p",
            "glassbox-cli",
            "--features",
            "glassbox-cli/cuda",
            "--bin",
            "glassbox",
        ],
    ),
    (
        "kernels_bench",
        "kernels_bench",
        &[
            "build",
            "--release",
            "-p",
            "glassbox-tensor",
            "--features",
            "glassbox-tensor/cuda",
            "--example",
            "kernels_bench",
        ],
    ),
    (
        "on_device",
        "tensor_tests",
        &[
            "test",
            "--release",
            "--no-run",
            "-p",
            "glassbox-tensor",
            "--features",
            "glassbox-tensor/cuda",
            "--test",
            "on_device",
        ],
    ),
    (
        "vgg_pytorch",
        "vgg_tests",
        &[
            "test",
            "--release",
            "--no-run",
            "-p",
            "glassbox-tests",
            "--features",
            "cuda",
            "--test",
            "vgg_pytorch",
        ],
    ),
];

impl Executables {
    /// Where a bundle keeps them.
    pub fn in_bundle(dir: &Path) -> Self {
        let bin = |name: &str| dir.join("bin").join(name);
        Executables {
            glassbox: bin(TARGETS[0].1),
            kernels_bench: bin(TARGETS[1].1),
            tensor_tests: bin(TARGETS[2].1),
            vgg_tests: bin(TARGETS[3].1),
        }
    }

    fn all(&self) -> [&Path; 4] {
        [
            &self.glassbox,
            &self.kernels_bench,
            &self.tensor_tests,
            &self.vgg_tests,
        ]
    }

    /// Fails naming the first one that is missing.
    pub fn check(&self) -> anyhow::Result<()> {
        for path in self.all() {
            if !path.is_file() {
                bail!("{} is missing: the bundle is incomplete (make it again with `cargo xtask gpu-check --bundle DIR`)", path.display());
            }
        }
        Ok(())
    }
}

/// The cargo commands that build [`Executables`], without the toolkit's environment.
pub fn cargo_commands() -> Vec<Command> {
    TARGETS
        .iter()
        .map(|(_, _, args)| {
            let mut cmd = process::cargo();
            cmd.args(*args)
                .arg("--message-format=json-render-diagnostics");
            cmd
        })
        .collect()
}

/// Builds the executables with CUDA (the toolkit settled by [`crate::cuda_toolkit::for_build`]);
/// `compute_cap` (e.g. `90` for the H100 and H200) picks the GPU the kernels are compiled for when this
/// machine has none to ask.
pub fn build(root: &Path, compute_cap: Option<&str>) -> anyhow::Result<Executables> {
    let toolkit = crate::cuda_toolkit::for_build(root)?;
    let mut found = Vec::new();
    for (cmd, (target, _, _)) in cargo_commands().into_iter().zip(TARGETS) {
        let mut cmd = cmd;
        cmd.envs(toolkit.build_env());
        if let Some(cap) = compute_cap {
            cmd.env("CUDA_COMPUTE_CAP", cap);
        }
        found.push(build_one(cmd, root, target)?);
    }
    let [glassbox, kernels_bench, tensor_tests, vgg_tests] =
        <[PathBuf; 4]>::try_from(found).expect("one per target");
    Ok(Executables {
        glassbox,
        kernels_bench,
        tensor_tests,
        vgg_tests,
    })
}

/// Runs one cargo build and returns the executable it reports for `target`.
fn build_one(mut cmd: Command, root: &Path, target: &str) -> anyhow::Result<PathBuf> {
    let shown = process::display(&cmd);
    println!("$ {shown}");
    let out = cmd
        .current_dir(root)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("could not start `{shown}`"))?;
    if !out.status.success() {
        bail!("`{shown}` failed ({})", out.status);
    }
    executable_of(&String::from_utf8_lossy(&out.stdout), target)
        .with_context(|| format!("`{shown}` reported no executable for {target}"))
}

/// The last executable cargo's JSON messages report for a target named `target`.
pub fn executable_of(messages: &str, target: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == target)
        .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
        .next_back()
}

/// What a bundle carries besides the binaries: `(source, path inside the bundle)`.
pub fn bundle_inputs(root: &Path, data: Option<&Path>) -> Vec<(PathBuf, PathBuf)> {
    let mut files = vec![
        (
            root.join("tests/fixtures/vgg.json"),
            PathBuf::from("fixtures/vgg.json"),
        ),
        (
            root.join("xtask/bench/torch_kernels.py"),
            PathBuf::from("torch_kernels.py"),
        ),
    ];
    if let Some(data) = data {
        for photo in ["chelsea.png", "coffee.png"] {
            let rel = Path::new("data/images/photos").join(photo);
            files.push((data.join("images/photos").join(photo), rel));
        }
        for name in [
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
        ] {
            files.push((
                data.join("mnist").join(name),
                Path::new("data/mnist").join(name),
            ));
        }
    }
    files
}

/// Copies the executables (stripped when `strip` is there), this xtask binary and the inputs into `dir`,
/// then packs `dir` as `dir.tar.xz`. Returns the archive.
pub fn write_bundle(
    exes: &Executables,
    inputs: &[(PathBuf, PathBuf)],
    dir: &Path,
) -> anyhow::Result<PathBuf> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    // tar runs in the bundle's parent folder, so the archive's path must not be relative.
    let dir =
        &std::path::absolute(dir).with_context(|| format!("cannot resolve {}", dir.display()))?;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).with_context(|| format!("cannot create {}", bin.display()))?;
    let runner = std::env::current_exe().context("cannot find this xtask binary")?;
    let placed = Executables::in_bundle(dir);
    for (from, to) in exes
        .all()
        .into_iter()
        .zip(placed.all())
        .chain(std::iter::once((
            runner.as_path(),
            bin.join("xtask").as_path(),
        )))
    {
        copy(from, to)?;
        // Symbols are half of a Rust binary; the checks print no backtraces worth them.
        let _ = Command::new("strip").arg(to).status();
    }
    for (from, rel) in inputs {
        copy(from, &dir.join(rel))?;
    }
    let archive = dir.with_extension("tar.xz");
    let parent = dir.parent().unwrap_or(Path::new("."));
    let name = dir.file_name().context("a bundle folder needs a name")?;
    let mut tar = Command::new("tar");
    tar.env("XZ_OPT", "-9 -T0")
        .arg("-cJf")
        .arg(&archive)
        .arg("-C")
        .arg(parent)
        .arg(name);
    process::run(tar, parent)?;
    Ok(archive)
}

fn copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::copy(from, to)
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_executable_comes_from_cargos_messages_for_the_named_target() {
        let messages = r#"{"reason":"compiler-artifact","target":{"name":"glassbox_tensor"},"executable":null}
{"reason":"compiler-artifact","target":{"name":"on_device"},"executable":"/t/release/deps/on_device-1f"}
not json
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            executable_of(messages, "on_device"),
            Some(PathBuf::from("/t/release/deps/on_device-1f"))
        );
        assert_eq!(executable_of(messages, "glassbox_tensor"), None);
        assert_eq!(executable_of(messages, "vgg_pytorch"), None);
    }

    #[test]
    fn a_bundle_names_every_executable_and_refuses_when_one_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let exes = Executables::in_bundle(dir.path());
        let err = exes.check().unwrap_err().to_string();
        assert!(
            err.contains("bin/glassbox") && err.contains("--bundle"),
            "{err}"
        );
        for path in exes.all() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"").unwrap();
        }
        exes.check().unwrap();
        let names: Vec<_> = cargo_commands().iter().map(process::display).collect();
        assert!(names
            .iter()
            .all(|n| n.contains("cuda") && n.contains("--release")));
    }
}
