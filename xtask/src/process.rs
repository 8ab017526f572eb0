//! Running cargo (and friends) as a child: the command is printed first, its output passes straight through,
//! and a failure names the command and its exit status.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// The cargo that runs xtask (`$CARGO`), so a rustup toolchain override applies to the children too.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// `cargo fmt --all -- --check` as it would be typed (program path shortened to its name).
pub fn display(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program())
        .file_name()
        .unwrap_or(cmd.get_program())
        .to_string_lossy()
        .into_owned();
    let mut words = vec![program];
    words.extend(cmd.get_args().map(quote));
    words.join(" ")
}

fn quote(arg: &OsStr) -> String {
    let s = arg.to_string_lossy();
    if s.is_empty() || s.contains(char::is_whitespace) {
        format!("'{s}'")
    } else {
        s.into_owned()
    }
}

/// Runs `cmd` in `dir`, printing it first; fails unless it exits with status 0. Returns the wall time.
pub fn run(mut cmd: Command, dir: &Path) -> anyhow::Result<Duration> {
    let shown = display(&cmd);
    println!("$ {shown}");
    let start = Instant::now();
    let status = cmd
        .current_dir(dir)
        .status()
        .with_context(|| format!("could not start `{shown}`"))?;
    let elapsed = start.elapsed();
    if !status.success() {
        bail!("`{shown}` failed ({status}) after {}", seconds(elapsed));
    }
    Ok(elapsed)
}

pub fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_shown_as_typed_and_failures_named() {
        let mut cmd = Command::new("/usr/bin/cargo");
        cmd.args(["fmt", "--all", "--", "--check"]);
        assert_eq!(display(&cmd), "cargo fmt --all -- --check");
        let err = run(Command::new("false"), Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`false` failed"), "{err}");
    }
}
