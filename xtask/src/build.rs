//! `cargo xtask build --cpu|--cuda`: the product build, with the CUDA toolkit checked up front because a
//! missing nvcc otherwise surfaces as a long build-script failure deep inside candle's kernels.

use std::path::{Path, PathBuf};

use anyhow::bail;

use crate::process;

/// Where nvcc is: on `PATH`, else under `CUDA_HOME`, `CUDA_PATH` or `/usr/local/cuda` (where candle's build
/// scripts also look).
pub fn find_nvcc() -> Option<PathBuf> {
    let exe = if cfg!(windows) { "nvcc.exe" } else { "nvcc" };
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let homes = ["CUDA_HOME", "CUDA_PATH"]
        .iter()
        .filter_map(std::env::var_os)
        .map(|h| PathBuf::from(h).join("bin"))
        .chain(std::iter::once(PathBuf::from("/usr/local/cuda/bin")));
    on_path
        .into_iter()
        .chain(homes)
        .map(|dir| dir.join(exe))
        .find(|p| p.is_file())
}

pub fn run(cuda: bool, release: bool, root: &Path) -> anyhow::Result<()> {
    let mut cmd = process::cargo();
    cmd.arg("build");
    if release {
        cmd.arg("--release");
    }
    if cuda {
        match find_nvcc() {
            Some(nvcc) => println!("CUDA toolkit: {}", nvcc.display()),
            None => bail!(
                "--cuda needs the CUDA toolkit, but nvcc was not found on PATH, in $CUDA_HOME/bin, $CUDA_PATH/bin \
                 or /usr/local/cuda/bin. Install the toolkit (and put nvcc on PATH), or build with --cpu."
            ),
        }
        cmd.args(["--features", "glassbox-cli/cuda"]);
    }
    let took = process::run(cmd, root)?;
    println!(
        "built ({}, {}) in {}",
        if cuda { "cuda" } else { "cpu" },
        if release { "release" } else { "debug" },
        process::seconds(took)
    );
    Ok(())
}
