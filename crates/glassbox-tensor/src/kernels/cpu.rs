//! Which instruction sets the kernels use: detected once per process, and lowered on request by
//! `GLASSBOX_CPU=avx2` or `GLASSBOX_CPU=portable`, so one machine can run every path a slower machine would
//! (the kernel tests do, `tests/cpu_paths.rs`). A request above what the CPU has is capped at what it has: a
//! build never runs an instruction the CPU lacks. The released binary is built for baseline x86-64 and
//! chooses at run time, so the same file runs on AVX2-only and AVX-512 machines.

use std::fmt;
use std::sync::OnceLock;

/// An instruction-set tier, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    /// Plain Rust, auto-vectorized for the baseline (SSE2).
    Portable,
    /// AVX2 with FMA: glassbox's own hand-written kernels.
    Avx2,
    /// AVX-512F (with AVX2 and FMA): the gemm crate's micro-kernels and glassbox's 16-lane paths.
    Avx512,
}

impl Tier {
    /// The tier's name, as `GLASSBOX_CPU` takes it and `glassbox data info` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Portable => "portable",
            Tier::Avx2 => "avx2",
            Tier::Avx512 => "avx512",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The environment variable that lowers the tier.
pub const OVERRIDE_VAR: &str = "GLASSBOX_CPU";

/// What the CPU itself offers.
pub fn detected() -> Tier {
    static DETECTED: OnceLock<Tier> = OnceLock::new();
    *DETECTED.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
            if avx2 && is_x86_feature_detected!("avx512f") {
                return Tier::Avx512;
            }
            if avx2 {
                return Tier::Avx2;
            }
        }
        Tier::Portable
    })
}

/// Reads an override: `None` when unset or empty, an error naming the valid values otherwise.
pub fn parse_override(value: Option<&str>) -> Result<Option<Tier>, String> {
    match value.map(str::trim) {
        None | Some("") | Some("native") => Ok(None),
        Some("avx512") => Ok(Some(Tier::Avx512)),
        Some("avx2") => Ok(Some(Tier::Avx2)),
        Some("portable") => Ok(Some(Tier::Portable)),
        Some(other) => Err(format!(
            "{OVERRIDE_VAR}={other:?} is not a CPU tier: expected native, avx512, avx2 or portable"
        )),
    }
}

/// The tier in use: the detected one, lowered by `GLASSBOX_CPU` when set. A bad value is reported once on
/// stderr and ignored (kernels have no error channel, and the detected tier is always safe).
pub fn tier() -> Tier {
    static TIER: OnceLock<Tier> = OnceLock::new();
    *TIER.get_or_init(|| {
        let value = std::env::var(OVERRIDE_VAR).ok();
        match parse_override(value.as_deref()) {
            Ok(Some(requested)) => requested.min(detected()),
            Ok(None) => detected(),
            Err(message) => {
                eprintln!("warning: {message}; using {}", detected());
                detected()
            }
        }
    })
}

/// Which implementation each kernel family runs with the tier in use, for `glassbox data info`.
pub fn paths() -> Vec<(&'static str, &'static str)> {
    let t = tier();
    vec![
        (
            "matrix products (sgemm)",
            match t {
                Tier::Avx512 => "gemm crate, AVX-512 micro-kernels",
                Tier::Avx2 => {
                    "glassbox AVX2+FMA kernel for the shapes it suits, else the gemm crate"
                }
                Tier::Portable => "gemm crate, its own run-time choice",
            },
        ),
        (
            "LSTM step",
            match t {
                Tier::Avx512 => "glassbox fused step, 16 lanes (AVX-512)",
                Tier::Avx2 => "glassbox fused step, 8 lanes (AVX2+FMA)",
                Tier::Portable => "glassbox fused step, portable",
            },
        ),
        (
            "small-map convolutions",
            match t {
                Tier::Avx512 => {
                    "glassbox direct kernel (AVX-512): stride 1, outputs up to 32x32, 16 to 1,024 terms"
                }
                Tier::Avx2 | Tier::Portable => "im2col + the matrix product",
            },
        ),
        (
            "3x3 convolutions of batches (32-128 channels)",
            match t {
                Tier::Avx512 => "Winograd F(4x4, 3x3) on channel-innermost tiles, transforms for AVX-512",
                Tier::Avx2 => "Winograd F(4x4, 3x3) on channel-innermost tiles, transforms for AVX2+FMA",
                Tier::Portable => "Winograd F(4x4, 3x3) on channel-innermost tiles, portable transforms",
            },
        ),
        (
            "4x4 stride-2 convolutions (DCGAN)",
            match t {
                Tier::Avx512 => "Winograd F(4x4, 2x2) and F(7x7, 2x2) on parity planes, transforms for AVX-512",
                Tier::Avx2 => "Winograd F(4x4, 2x2) and F(7x7, 2x2) on parity planes, transforms for AVX2+FMA",
                Tier::Portable => "Winograd F(4x4, 2x2) and F(7x7, 2x2) on parity planes, portable transforms",
            },
        ),
        (
            "Winograd transforms",
            match t {
                Tier::Avx512 => "compiled for AVX-512",
                Tier::Avx2 => "compiled for AVX2+FMA",
                Tier::Portable => "portable",
            },
        ),
        (
            "cross entropy, dropout",
            match t {
                Tier::Avx512 | Tier::Avx2 => "compiled for AVX2+FMA",
                Tier::Portable => "portable",
            },
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_parse_and_bad_values_are_named() {
        assert_eq!(parse_override(None), Ok(None));
        assert_eq!(parse_override(Some("native")), Ok(None));
        assert_eq!(parse_override(Some(" avx2 ")), Ok(Some(Tier::Avx2)));
        assert_eq!(parse_override(Some("portable")), Ok(Some(Tier::Portable)));
        let e = parse_override(Some("sse9")).unwrap_err();
        assert!(e.contains("sse9") && e.contains("avx2"), "{e}");
        assert!(Tier::Portable < Tier::Avx2 && Tier::Avx2 < Tier::Avx512);
    }

    #[test]
    fn the_tier_in_use_never_exceeds_the_cpu() {
        assert!(tier() <= detected());
        if let Ok(Some(requested)) = parse_override(std::env::var(OVERRIDE_VAR).ok().as_deref()) {
            assert_eq!(tier(), requested.min(detected()));
        }
    }
}
