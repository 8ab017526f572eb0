//! Every floating-point option of the command line refuses NaN, infinity and (where a negative value
//! makes no sense) -1 before any work starts: a clear "invalid" message naming the value, exit status
//! 1 or 2, no panic, nothing written (but the lock file of the output directory). `f64::from_str` accepts "nan", "inf" and "1e400" (infinity), so
//! clap alone lets them through; each lesson must check. No data or weights are given: an option that
//! is only checked after loading them fails here.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// An option that is not refused starts the lesson; this long means it was accepted.
const ACCEPTED_AFTER: Duration = Duration::from_secs(60);

/// The command, the option, and whether negative values are refused too.
const OPTIONS: &[(&[&str], &str, bool)] = &[
    (&["mnist", "train"], "--lr", true),
    (&["ae", "mnist"], "--lr", true),
    (&["vae", "mnist"], "--lr", true),
    (&["gan", "mnist"], "--real-label", true),
    (&["text", "train"], "--lr", true),
    (
        &["text", "generate", "--checkpoint", "absent.safetensors"],
        "--temperature",
        true,
    ),
    (&["style"], "--lr", true),
    (&["style"], "--content-weight", true),
    (&["style"], "--style-weight", true),
    (&["style"], "--tv-weight", true),
    (&["dream", "--from-noise"], "--step-size", true),
    (&["vgg", "visualize"], "--step-size", true),
    (&["vgg", "visualize"], "--octave-scale", true),
    (&["vgg", "visualize"], "--blur-sigma", true),
    (&["vgg", "visualize"], "--l2-decay", true),
    (&["render"], "--exposure", true),
    (&["render"], "--guide-probability", true),
    (&["adversary", "mnist"], "--eps", true),
    (
        &["adversary", "edges", "absent.png"],
        "--keep-outside",
        true,
    ),
    (&["rl", "flippers", "play"], "--surprise", true),
];

struct Run {
    status: Option<i32>,
    output: String,
    took: Duration,
}

fn run(args: &[String], out: &std::path::Path) -> Run {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(args)
        .arg("--out")
        .arg(out)
        .env_remove("GLASSBOX_DATA")
        .env_remove("GLASSBOX_WEIGHTS")
        .env_remove("RUST_BACKTRACE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("glassbox starts");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if start.elapsed() > ACCEPTED_AFTER {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut output = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut output)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut output)
        .unwrap();
    Run {
        status,
        output,
        took: start.elapsed(),
    }
}

/// Whether the run left anything in its output directory but the training commands' lock file (taken
/// first, to fail early on an unwritable directory; empty, and harmless).
fn written(out: &std::path::Path) -> bool {
    let Ok(entries) = std::fs::read_dir(out) else {
        return false;
    };
    entries
        .flatten()
        .any(|e| e.file_name() != glassbox_core::train::run::LOCK_FILE)
}

#[test]
fn float_options_refuse_nan_infinity_and_negatives_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let mut problems = Vec::new();
    for (i, (command, option, no_negatives)) in OPTIONS.iter().enumerate() {
        let mut values = vec![("nan", "NaN"), ("inf", "inf"), ("1e400", "inf")];
        if *no_negatives {
            values.push(("-1", "-1"));
        }
        for (j, (value, shown)) in values.into_iter().enumerate() {
            let out = dir.path().join(format!("run-{i}-{j}"));
            let mut args: Vec<String> = command.iter().map(|s| s.to_string()).collect();
            args.push(format!("{option}={value}"));
            let run = run(&args, &out);
            let line = format!("glassbox {} ({:.1?})", args.join(" "), run.took);
            let refused = matches!(run.status, Some(1 | 2));
            let clear = run.output.contains("invalid") && run.output.contains(shown);
            let wrote = written(&out);
            if !refused || !clear || wrote || run.output.contains("panicked") {
                let last = run.output.lines().rev().find(|l| !l.trim().is_empty());
                problems.push(format!(
                    "{line}: status {:?}, wrote files: {wrote}, said: {}",
                    run.status,
                    last.unwrap_or("nothing")
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
