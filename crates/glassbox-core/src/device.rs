//! Choosing where tensors live: `cpu`, `cuda` or `cuda:N`.

use std::fmt;
use std::str::FromStr;

use candle_core::Device;

use crate::{Error, Result};

/// A device as the user names it on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeviceSpec {
    /// The CPU.
    #[default]
    Cpu,
    /// A CUDA GPU by ordinal (`cuda` is `cuda:0`).
    Cuda(usize),
}

impl FromStr for DeviceSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::invalid("device", s, "cpu, cuda or cuda:N (N a GPU index)");
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" | "gpu" => Ok(DeviceSpec::Cuda(0)),
            other => {
                let index = other.strip_prefix("cuda:").ok_or_else(bad)?;
                index.parse().map(DeviceSpec::Cuda).map_err(|_| bad())
            }
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => write!(f, "cpu"),
            DeviceSpec::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

/// Whether this build can use CUDA at all (the `cuda` cargo feature).
pub const CUDA_BUILT: bool = cfg!(feature = "cuda");

impl DeviceSpec {
    /// Opens the device, with an error that says how to get CUDA when this build lacks it.
    pub fn open(self) -> Result<Device> {
        match self {
            DeviceSpec::Cpu => Ok(Device::Cpu),
            DeviceSpec::Cuda(_) if !CUDA_BUILT => Err(Error::Device {
                requested: self.to_string(),
                problem:
                    "this glassbox was built without CUDA; rebuild with `cargo xtask build --cuda` \
                          (or `cargo build --release --features glassbox-cli/cuda`), or use --device cpu"
                        .into(),
            }),
            DeviceSpec::Cuda(index) => Device::new_cuda(index).map_err(|e| Error::Device {
                requested: self.to_string(),
                problem: format!(
                    "{e} (CUDA could not open GPU {index}: `nvidia-smi` should list it, with a driver for \
                     CUDA 13.0 or later; or use --device cpu)"
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!("cpu".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cpu);
        assert_eq!("CUDA".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(0));
        assert_eq!("cuda:3".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(3));
        for bad in ["", "tpu", "cuda:", "cuda:x", "cuda:-1"] {
            let err = bad.parse::<DeviceSpec>().unwrap_err().to_string();
            assert!(err.contains("cpu, cuda or cuda:N"), "{bad}: {err}");
        }
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_on_a_cpu_build_says_how_to_fix_it() {
        let err = DeviceSpec::Cuda(0).open().unwrap_err().to_string();
        assert!(
            err.contains("built without CUDA") && err.contains("--device cpu"),
            "{err}"
        );
    }
}

/// The process's peak resident memory in bytes (Linux's `VmHWM`), or `None` where the system does not say.
/// Lessons whose memory grows with an option (style transfer's image size) report it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod peak_rss_tests {
    /// The peak cannot be below what is resident now, which includes a block just touched. (Whether it
    /// grows is not testable here: other tests in this process may have set a higher peak already.)
    #[test]
    #[cfg(target_os = "linux")]
    fn peak_rss_covers_a_touched_allocation() {
        let block = vec![1u8; 64 << 20];
        std::hint::black_box(&block);
        let peak = super::peak_rss_bytes().expect("Linux reports VmHWM");
        assert!((64 << 20..1 << 40).contains(&peak), "{peak}");
    }
}
