//! Running the `glassbox` binary in the CLI tests, with the data variables under the test's control.

use std::process::{Command, Output};

/// Runs `glassbox ARGS` with GLASSBOX_DATA set to `data` (or removed) and GLASSBOX_WEIGHTS removed.
#[allow(dead_code)] // the fault tests build their commands themselves
pub fn glassbox(args: &[&str], data: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_glassbox"));
    cmd.args(args)
        .env_remove("GLASSBOX_DATA")
        .env_remove("GLASSBOX_WEIGHTS");
    if let Some(d) = data {
        cmd.env("GLASSBOX_DATA", d);
    }
    cmd.output().expect("glassbox runs")
}

/// Standard output and standard error together.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A JSON file the command wrote (metrics.json).
#[allow(dead_code)] // not every test binary reads one
pub fn json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("written")).expect("JSON")
}
