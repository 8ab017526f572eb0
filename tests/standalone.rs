//! The crates as a user outside the workspace gets them: a throwaway crate in a temporary directory depends
//! on glassbox-core and glassbox-rl by path, uses only their public API, and is built and run with cargo.
//!
//! What this catches that the workspace's own tests cannot: a public path, type or function a user needs
//! that is private or missing, a crate that builds only because a sibling in the workspace turns on a
//! feature it needs, or a manifest that resolves only inside the workspace.
//!
//! It works offline: the workspace's Cargo.lock pins every version and `--offline` never looks a crate
//! up. It builds as a user would, in cargo's default `dev` profile with only the features these two crates
//! ask for (not the workspace's union), in this test run's target directory. The outside crate takes
//! glassbox-core as glassbox-rl does, without its `candle` feature (MNIST's files and seeds need no
//! tensors), so no candle is compiled: `cargo package`, which `cargo xtask ci` runs before the tests,
//! leaves exactly those dependencies compiled there while it verifies glassbox-rl, and in CI only the two
//! crates and the throwaway one are compiled. Run alone on a fresh checkout it compiles image, plotters
//! and the rest once in the `dev` profile.

use std::path::{Path, PathBuf};
use std::process::Command;

use glassbox_core::seed::Seed;
use glassbox_rl::flippers::{self, Training};

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// This test run's target directory (the parent of cargo's `CARGO_TARGET_TMPDIR`).
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

const MAIN_RS: &str = r#"
use std::path::Path;

use glassbox_core::data::Mnist;
use glassbox_core::seed::Seed;
use glassbox_rl::flippers::{self, Training};
use glassbox_rl::qtable::QTable;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).expect("an output directory");
    let (q, log) = flippers::train(&Training::course(2000), Seed(5))?;
    let eval = flippers::evaluate(&q, Seed(5), 3);

    // A table saved and read back through the public API is the same table.
    let path = Path::new(&out).join("q-table.json");
    q.save(&path, flippers::GAME, serde_json::json!({ "by": "outside" }))?;
    let (back, made_by) = QTable::load(&path, flippers::GAME, flippers::STATES, flippers::TILES)?;
    assert_eq!(made_by["by"], "outside");
    for s in 0..flippers::STATES {
        assert_eq!(back.row(s), q.row(s), "state {s}");
    }
    // A table of the wrong size is refused with an error naming the file.
    let err = QTable::load(&path, flippers::GAME, 3, 3).unwrap_err().to_string();
    assert!(err.contains("q-table.json"), "{err}");

    let mnist = Mnist::embedded()?;
    println!(
        "games {} solved {} stuck {} digits {}",
        log.moves.len(),
        eval.solved,
        eval.stuck,
        mnist.train.count + mnist.test.count
    );
    Ok(())
}
"#;

#[test]
fn a_crate_outside_the_workspace_builds_on_core_and_rl_by_path() {
    let root = root();
    let dir = tempfile::tempdir().unwrap();
    let path = |c: &str| root.join("crates").join(c).display().to_string();
    let toml = format!(
        "[package]\nname = \"outside\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
         [dependencies]\nglassbox-core = {{ path = {:?}, default-features = false, features = [\"figures\"] }}\n\
         glassbox-rl = {{ path = {:?} }}\n\
         serde_json = \"1\"\n\n# Not part of any workspace above the temporary directory.\n[workspace]\n",
        path("glassbox-core"),
        path("glassbox-rl"),
    );
    std::fs::write(dir.path().join("Cargo.toml"), toml).unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/main.rs"), MAIN_RS).unwrap();
    std::fs::copy(root.join("Cargo.lock"), dir.path().join("Cargo.lock")).unwrap();

    let target = target_dir();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let started = std::time::Instant::now();
    let output = Command::new(cargo)
        .args(["run", "--offline", "--quiet", "--"])
        .arg(dir.path())
        .current_dir(dir.path())
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the outside crate failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    println!(
        "outside crate built and ran in {:.1} s (target {})",
        started.elapsed().as_secs_f64(),
        target.display()
    );

    // The same training in this process: the crate outside got the same library, bit for bit.
    let (q, log) = flippers::train(&Training::course(2000), Seed(5)).unwrap();
    let eval = flippers::evaluate(&q, Seed(5), 3);
    let expected = format!(
        "games {} solved {} stuck {} digits {}",
        log.moves.len(),
        eval.solved,
        eval.stuck,
        6000
    );
    assert_eq!(stdout.trim(), expected, "stderr:\n{stderr}");
}

/// glassbox-rl needs no tensors, so a user who depends on it alone gets no candle: its tree of normal
/// dependencies (features resolved for it alone, as for a crate outside the workspace) names no candle
/// crate. Cheap: `cargo tree` reads manifests and the lock file, it compiles nothing.
#[test]
fn glassbox_rl_pulls_in_no_candle() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let tree = |package: &str| {
        let output = Command::new(&cargo)
            .args([
                "tree",
                "--offline",
                "--edges",
                "normal",
                "--prefix",
                "none",
                "--package",
            ])
            .arg(package)
            .current_dir(root())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "cargo tree -p {package}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let rl = tree("glassbox-rl");
    let candle: Vec<&str> = rl.lines().filter(|l| l.contains("candle")).collect();
    assert!(candle.is_empty(), "glassbox-rl pulls in {candle:?}");
    assert!(rl.contains("glassbox-core"), "{rl}");
    // The check can fail: glassbox-core with its default features does pull candle in.
    assert!(tree("glassbox-core").contains("candle-core"));
}
