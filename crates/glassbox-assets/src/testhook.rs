//! Test hooks: environment variables that stop a process at an exact point and keep it there until a test
//! kills it, so that fault tests (SIGKILL mid-epoch, mid-write) hit the point they mean instead of racing
//! a timer. Only the functions of this module read them; unset, they cost one environment lookup per
//! process. They are for tests only: a paused process does nothing useful.
//!
//! - `GLASSBOX_TEST_PAUSE_WRITE=NAME:N`: the N-th atomic write ([`crate::atomic`]) of a file named `NAME`
//!   in this process writes half of its bytes to the temporary file, syncs it, and pauses (before the
//!   rename), e.g. `checkpoint.safetensors:2` for the checkpoint after the second epoch of this run.
//! - `GLASSBOX_TEST_PAUSE_BATCH=E:B`: the training loop pauses once batch B of epoch E is trained (the
//!   weights in memory changed, nothing of the epoch saved yet).
//!
//! A paused process prints `glassbox test hook: paused ...` on standard error, then waits. If nothing
//! kills it within a minute it exits with status 3, so a broken test fails instead of hanging.

use std::io::Write;
use std::sync::OnceLock;
use std::time::Duration;

/// Pauses the N-th atomic write of a file of a given name (see the module's documentation).
pub const PAUSE_WRITE: &str = "GLASSBOX_TEST_PAUSE_WRITE";
/// Pauses training after a given batch of a given epoch (see the module's documentation).
pub const PAUSE_BATCH: &str = "GLASSBOX_TEST_PAUSE_BATCH";

/// How long a paused process waits to be killed.
const PAUSE_LIMIT: Duration = Duration::from_secs(60);

/// The file name and count of [`PAUSE_WRITE`], when it is set.
pub fn pause_write() -> Option<&'static (String, usize)> {
    static SETTING: OnceLock<Option<(String, usize)>> = OnceLock::new();
    SETTING.get_or_init(|| read(PAUSE_WRITE)).as_ref()
}

/// The epoch and batch of [`PAUSE_BATCH`], when it is set.
pub fn pause_batch() -> Option<(usize, usize)> {
    static SETTING: OnceLock<Option<(usize, usize)>> = OnceLock::new();
    *SETTING.get_or_init(|| {
        let (epoch, batch) = read(PAUSE_BATCH)?;
        match epoch.parse() {
            Ok(epoch) => Some((epoch, batch)),
            Err(_) => {
                eprintln!(
                    "glassbox test hook: ignoring {PAUSE_BATCH}: epoch {epoch:?} is not a number"
                );
                None
            }
        }
    })
}

/// The `WHAT:N` value of `var`; a malformed one is reported and ignored.
fn read(var: &str) -> Option<(String, usize)> {
    let value = std::env::var(var).ok()?;
    let parsed = value
        .rsplit_once(':')
        .and_then(|(what, n)| Some((what.to_string(), n.parse().ok()?)))
        .filter(|(what, n)| !what.is_empty() && *n > 0);
    if parsed.is_none() {
        eprintln!("glassbox test hook: ignoring {var}={value:?} (expected WHAT:N, N from 1)");
    }
    parsed
}

/// Says on standard error that the process is paused at `what`, then waits to be killed.
pub fn pause(what: &str) -> ! {
    eprintln!("glassbox test hook: paused {what}; waiting to be killed");
    let _ = std::io::stderr().flush();
    std::thread::sleep(PAUSE_LIMIT);
    eprintln!("glassbox test hook: not killed within {PAUSE_LIMIT:?}; exiting");
    std::process::exit(3);
}
