//! How tests find the shared real data and weights, for the tests of every glassbox crate.
//!
//! The data directory comes from `GLASSBOX_DATA` (for example `../shared/data`); weights from
//! `GLASSBOX_WEIGHTS`, else `weights/` beside the data directory. A test that needs a file asks for it here:
//!
//! ```no_run
//! let Some(photo) = glassbox_core::testdata::data_file("images/photos/chelsea.png") else {
//!     return; // skipped, and the reason was printed
//! };
//! ```
//!
//! Where the file is missing, the test prints why it skips and returns, so a fresh clone's `cargo test`
//! passes. Under CI (`CI` set to anything but `false`/`0`) a missing file fails the test instead: CI has
//! `../shared` and `.ci/run` sets the variables, so a skip there would mean a claim went untested.

use std::ffi::OsString;
use std::path::PathBuf;

/// The shared data directory (`GLASSBOX_DATA`), or `None` after printing why the test skips.
pub fn data_dir() -> Option<PathBuf> {
    settle(data_dir_in(&env), under_ci(&env))
}

/// `GLASSBOX_DATA/relative` if that file or directory exists, or `None` after printing why the test skips.
pub fn data_file(relative: &str) -> Option<PathBuf> {
    settle(data_file_in(&env, relative), under_ci(&env))
}

/// The weights file `name` under `GLASSBOX_WEIGHTS` (else `GLASSBOX_DATA/../weights`), or `None` after
/// printing why the test skips.
pub fn weights_file(name: &str) -> Option<PathBuf> {
    settle(weights_file_in(&env, name), under_ci(&env))
}

/// The weights file `name`, found as [`weights_file`] finds it, or why it was not found, for a test that
/// checks more when the file is there but does not skip without it: nothing is printed, and CI does not
/// make its absence a failure.
pub fn optional_weights_file(name: &str) -> Result<PathBuf, String> {
    weights_file_in(&env, name)
}

#[cfg(feature = "candle")]
/// The accelerator a device test runs on: `GLASSBOX_TEST_DEVICE` (`cuda` or `cuda:N`), opened; `None`
/// after printing why the test skips when the variable is unset. `cargo xtask gpu-check` sets it; a CPU
/// machine (CI included) has no device to compare the CPU kernels with, so there the test skips. A device
/// that is named but cannot be opened (a build without the `cuda` feature, no GPU, a bad name) fails the
/// test: it was asked for.
pub fn test_device() -> Option<candle_core::Device> {
    let spec = match test_device_in(&env) {
        Ok(spec) => spec,
        Err(why) => {
            let test = std::thread::current()
                .name()
                .unwrap_or("this test")
                .to_string();
            eprintln!("skipping {test}: {why}");
            return None;
        }
    };
    match spec.open() {
        Ok(device) => Some(device),
        Err(e) => panic!("GLASSBOX_TEST_DEVICE={spec}: {e}"),
    }
}

#[cfg(feature = "candle")]
fn test_device_in(
    get: &impl Fn(&str) -> Option<OsString>,
) -> Result<crate::device::DeviceSpec, String> {
    let name = get("GLASSBOX_TEST_DEVICE").ok_or_else(|| {
        "GLASSBOX_TEST_DEVICE is not set (for example GLASSBOX_TEST_DEVICE=cuda, as cargo xtask \
         gpu-check sets it)"
            .to_string()
    })?;
    let name = name.to_string_lossy();
    match name.parse::<crate::device::DeviceSpec>() {
        Ok(crate::device::DeviceSpec::Cpu) => Err(
            "GLASSBOX_TEST_DEVICE=cpu: the CPU is the reference side, so there is nothing to compare"
                .into(),
        ),
        Ok(spec) => Ok(spec),
        Err(e) => panic!("GLASSBOX_TEST_DEVICE={name}: {e}"),
    }
}

/// Where a test that draws example figures also leaves them for a person to look at: the directory in
/// `GLASSBOX_FIGS`, if set. The test checks its figures either way.
pub fn figures_dir() -> Option<PathBuf> {
    env("GLASSBOX_FIGS").map(PathBuf::from)
}

fn env(var: &str) -> Option<OsString> {
    std::env::var_os(var).filter(|v| !v.is_empty())
}

/// Whether the environment says this is CI.
fn under_ci(get: &impl Fn(&str) -> Option<OsString>) -> bool {
    get("CI").is_some_and(|v| v != "false" && v != "0")
}

fn data_dir_in(get: &impl Fn(&str) -> Option<OsString>) -> Result<PathBuf, String> {
    get("GLASSBOX_DATA")
        .map(PathBuf::from)
        .ok_or_else(|| "GLASSBOX_DATA is not set (for example GLASSBOX_DATA=../shared/data)".into())
}

fn data_file_in(
    get: &impl Fn(&str) -> Option<OsString>,
    relative: &str,
) -> Result<PathBuf, String> {
    existing(data_dir_in(get)?.join(relative), "GLASSBOX_DATA")
}

fn weights_file_in(get: &impl Fn(&str) -> Option<OsString>, name: &str) -> Result<PathBuf, String> {
    let (dir, from) = match (get("GLASSBOX_WEIGHTS"), get("GLASSBOX_DATA")) {
        (Some(w), _) => (PathBuf::from(w), "GLASSBOX_WEIGHTS"),
        (None, Some(d)) => (
            PathBuf::from(d).join("../weights"),
            "GLASSBOX_DATA/../weights",
        ),
        (None, None) => {
            return Err(format!(
                "neither GLASSBOX_WEIGHTS nor GLASSBOX_DATA is set, so {name} cannot be found \
                 (for example GLASSBOX_WEIGHTS=../shared/weights)"
            ))
        }
    };
    existing(dir.join(name), from)
}

fn existing(path: PathBuf, from: &str) -> Result<PathBuf, String> {
    if path.exists() {
        Ok(path)
    } else {
        Err(format!("{} (from {from}) does not exist", path.display()))
    }
}

/// A found path, or the reason printed and `None`; under CI the reason is a failure.
fn settle(found: Result<PathBuf, String>, ci: bool) -> Option<PathBuf> {
    match found {
        Ok(path) => Some(path),
        Err(why) => {
            let test = std::thread::current()
                .name()
                .unwrap_or("this test")
                .to_string();
            if ci {
                panic!("{test} needs real data under CI: {why}");
            }
            eprintln!("skipping {test}: {why}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn a_missing_variable_skips_with_its_name_outside_ci_and_fails_under_ci() {
        let none = vars(&[]);
        let why = data_file_in(&none, "images/photos/chelsea.png").unwrap_err();
        assert!(why.contains("GLASSBOX_DATA is not set"), "{why}");
        assert_eq!(settle(Err(why.clone()), false), None);
        let failed = std::panic::catch_unwind(|| settle(Err(why), true)).unwrap_err();
        let message = failed.downcast_ref::<String>().unwrap();
        assert!(
            message.contains("under CI") && message.contains("GLASSBOX_DATA"),
            "{message}"
        );
        let why = weights_file_in(&none, "vgg16.safetensors").unwrap_err();
        assert!(why.contains("GLASSBOX_WEIGHTS"), "{why}");
    }

    #[cfg(feature = "candle")]
    #[test]
    fn the_test_device_is_named_by_its_variable() {
        let why = test_device_in(&vars(&[])).unwrap_err();
        assert!(why.contains("GLASSBOX_TEST_DEVICE"), "{why}");
        assert!(test_device_in(&vars(&[("GLASSBOX_TEST_DEVICE", "cpu")])).is_err());
        assert_eq!(
            test_device_in(&vars(&[("GLASSBOX_TEST_DEVICE", "cuda:1")])).unwrap(),
            crate::device::DeviceSpec::Cuda(1)
        );
        let bad =
            std::panic::catch_unwind(|| test_device_in(&vars(&[("GLASSBOX_TEST_DEVICE", "tpu")])));
        assert!(bad.is_err(), "an unknown device name must fail, not skip");
    }

    #[test]
    fn ci_is_any_value_but_false_or_0() {
        assert!(under_ci(&vars(&[("CI", "true")])));
        assert!(under_ci(&vars(&[("CI", "1")])));
        assert!(!under_ci(&vars(&[("CI", "false")])));
        assert!(!under_ci(&vars(&[("CI", "0")])));
        assert!(!under_ci(&vars(&[])));
    }

    #[test]
    fn files_are_found_under_the_variables_and_a_missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let weights = dir.path().join("weights");
        std::fs::create_dir_all(data.join("images/photos")).unwrap();
        std::fs::create_dir_all(&weights).unwrap();
        std::fs::write(data.join("images/photos/cat.png"), b"x").unwrap();
        std::fs::write(weights.join("w.safetensors"), b"x").unwrap();
        let d = data.to_str().unwrap();
        let get = vars(&[("GLASSBOX_DATA", d)]);
        assert_eq!(
            data_file_in(&get, "images/photos/cat.png").unwrap(),
            data.join("images/photos/cat.png")
        );
        let why = data_file_in(&get, "images/photos/dog.png").unwrap_err();
        assert!(
            why.contains("dog.png") && why.contains("GLASSBOX_DATA"),
            "{why}"
        );
        // Weights beside the data directory, unless GLASSBOX_WEIGHTS says otherwise.
        let found = weights_file_in(&get, "w.safetensors").unwrap();
        assert!(
            found.ends_with("data/../weights/w.safetensors"),
            "{found:?}"
        );
        let elsewhere = dir.path().join("elsewhere");
        let get = vars(&[
            ("GLASSBOX_DATA", d),
            ("GLASSBOX_WEIGHTS", elsewhere.to_str().unwrap()),
        ]);
        let why = weights_file_in(&get, "w.safetensors").unwrap_err();
        assert!(
            why.contains("elsewhere") && why.contains("GLASSBOX_WEIGHTS"),
            "{why}"
        );
    }
}
