//! `cargo xtask build --cpu|--cuda`: the product build. For CUDA the toolkit is settled first, because a
//! missing nvcc otherwise surfaces as a long build-script failure deep inside candle's kernels: the system's
//! when nvcc is found, else one provisioned from NVIDIA's PyPI wheels ([`crate::cuda_toolkit`]).

use std::path::{Path, PathBuf};

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
    // The default members: every crate under crates/.
    let toolkit = if cuda {
        Some(crate::cuda_toolkit::configure_cargo(&mut cmd, root)?)
    } else {
        None
    };
    let took = process::run(cmd, root)?;
    println!(
        "built ({}, {}) in {}",
        if cuda { "cuda" } else { "cpu" },
        if release { "release" } else { "debug" },
        process::seconds(took)
    );
    if let Some(toolkit) = toolkit.filter(|t| t.provisioned) {
        println!(
            "To run it on a machine with an NVIDIA driver: LD_LIBRARY_PATH={} (cuBLAS and cuRAND \
             come from there; the driver's libcuda from the system).",
            toolkit.library_dir().display()
        );
    }
    Ok(())
}
