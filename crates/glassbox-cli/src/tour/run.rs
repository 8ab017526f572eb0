//! Running the lessons in this process, one step at a time, each into its own directory, with its output
//! in the lesson's log.txt; an error or a panic fails that step and the tour goes on.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;

use super::capture::{self, Terminal};
use super::lessons::{Lesson, LESSONS};
use super::needs::{self, Skip};
use super::progress::{Bars, LessonBar};
use super::record::{LessonRecord, Status, StepRecord, FILE as RECORD_FILE};
use crate::cli::{Cli, Common};

/// Each lesson's output (what it printed) in its directory.
pub const LOG_FILE: &str = "log.txt";

pub struct Summary {
    pub lessons: usize,
    pub ok: usize,
    pub skipped: usize,
    pub failed: Vec<&'static str>,
    pub seconds: f64,
}

/// The lessons `--only` names (all when empty), in the course's order, with mnist added before a lesson
/// that uses its CNN.
pub fn select(only: &[String]) -> anyhow::Result<Vec<&'static Lesson>> {
    if only.is_empty() {
        return Ok(LESSONS.iter().collect());
    }
    let mut wanted: Vec<&str> = Vec::new();
    for name in only {
        let name = name.trim();
        let Some(lesson) = LESSONS.iter().find(|l| l.id == name) else {
            let ids: Vec<_> = LESSONS.iter().map(|l| l.id).collect();
            anyhow::bail!(
                "no lesson {name:?} in the tour: expected one of {}",
                ids.join(", ")
            );
        };
        wanted.push(lesson.id);
        if uses_cnn(lesson) {
            wanted.push("mnist");
        }
    }
    Ok(LESSONS.iter().filter(|l| wanted.contains(&l.id)).collect())
}

fn uses_cnn(lesson: &Lesson) -> bool {
    lesson
        .steps
        .iter()
        .any(|s| s.quick.iter().chain(s.full.iter()).any(|a| *a == "{cnn}"))
}

pub fn run(common: &Common, lessons: &[&'static Lesson], full: bool) -> anyhow::Result<Summary> {
    let started = Instant::now();
    std::fs::create_dir_all(&common.out)
        .with_context(|| format!("cannot create {}", common.out.display()))?;
    // Every lesson's directory is checked before any runs: a directory the tour did not write is left alone.
    for lesson in lessons {
        clear(&common.out.join(lesson.id))?;
    }
    let terminal = Terminal::new()?;
    let mode = if full { "full" } else { "quick" };
    terminal.say(&format!(
        "glassbox tour ({mode}): {} lessons into {}; each lesson's output is in its {LOG_FILE}",
        lessons.len(),
        common.out.display()
    ));
    let bars = Bars::new(&terminal, lessons.len());
    let mut summary = Summary {
        lessons: lessons.len(),
        ok: 0,
        skipped: 0,
        failed: Vec::new(),
        seconds: 0.0,
    };
    for (i, lesson) in lessons.iter().enumerate() {
        let bar = bars.lesson(lesson.id, lesson.steps.len());
        let record = run_lesson(common, &terminal, lesson, full, &bar)?;
        let status = record.status();
        let line = format!("{} {:.0} s", status.name(), record.seconds);
        bar.finish(line.clone());
        if !terminal.is_terminal {
            terminal.say(&format!(
                "[{}/{}] {}: {line}",
                i + 1,
                lessons.len(),
                lesson.id
            ));
        }
        bars.lesson_done();
        match status {
            Status::Ok => summary.ok += 1,
            Status::Skipped => summary.skipped += 1,
            Status::Failed => summary.failed.push(lesson.id),
        }
    }
    summary.seconds = started.elapsed().as_secs_f64();
    bars.finish(format!("done in {:.0} s", summary.seconds));
    Ok(summary)
}

/// Removes a lesson directory left by an earlier tour (it holds the tour's record, or nothing), so
/// training starts over instead of resuming a finished checkpoint; refuses any other directory.
fn clear(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let empty = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .next()
        .is_none();
    if !empty && !dir.join(RECORD_FILE).is_file() {
        anyhow::bail!(
            "{} exists and was not written by the tour (no {RECORD_FILE}); choose another --out",
            dir.display()
        );
    }
    std::fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))
}

fn run_lesson(
    common: &Common,
    terminal: &Terminal,
    lesson: &Lesson,
    full: bool,
    bar: &LessonBar,
) -> anyhow::Result<LessonRecord> {
    let started = Instant::now();
    let dir = common.out.join(lesson.id);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let log = dir.join(LOG_FILE);
    let mut record = LessonRecord {
        id: lesson.id.into(),
        mode: if full { "full" } else { "quick" }.into(),
        seconds: 0.0,
        steps: Vec::new(),
    };
    // Written first, so an interrupted tour leaves a directory the next one may clear.
    record.save(&dir)?;
    let locator = common.locator();
    for (i, step) in lesson.steps.iter().enumerate() {
        let out = dir.join(step.dir);
        let cx = needs::Context {
            locator: &locator,
            tour: &common.out,
            lesson: &dir,
        };
        let args = if full { step.full } else { step.quick };
        let full_command = command_line(
            &needs::display(step.full, &format!("out/{}", lesson.id)),
            &format!("out/{}/{}", lesson.id, step.dir),
        );
        let mut step_record = StepRecord {
            dir: step.dir.into(),
            status: Status::Ok,
            seconds: 0.0,
            command: String::new(),
            full: full_command,
            error: None,
            skip: None,
        };
        match needs::resolve(args, step.needs, &cx) {
            Err(Skip { reason, fetch }) => {
                step_record.status = Status::Skipped;
                step_record.skip = Some((reason, fetch));
            }
            Ok(args) => {
                let argv = with_common(common, &args, &out);
                step_record.command = command_line(&argv[1..], "");
                bar.update(i, None, &step_record.command);
                let clock = Instant::now();
                let result = watch(terminal, &log, bar, i, || run_step(&argv));
                step_record.seconds = clock.elapsed().as_secs_f64();
                if let Err(message) = result {
                    step_record.status = Status::Failed;
                    step_record.error = Some(message);
                }
            }
        }
        record.steps.push(step_record);
        record.seconds = started.elapsed().as_secs_f64();
        record.save(&dir)?;
    }
    Ok(record)
}

/// The command line of a step: its arguments, then the common flags the tour was given.
fn with_common(common: &Common, args: &[String], out: &Path) -> Vec<String> {
    let mut argv = vec!["glassbox".to_string()];
    argv.extend(args.iter().cloned());
    argv.extend(["--out".into(), out.display().to_string()]);
    if common.seed != glassbox_core::seed::DEFAULT_SEED {
        argv.extend(["--seed".into(), common.seed.to_string()]);
    }
    if common.device != glassbox_core::device::DeviceSpec::Cpu {
        argv.extend(["--device".into(), common.device.to_string()]);
    }
    if let Some(d) = &common.data_dir {
        argv.extend(["--data-dir".into(), d.display().to_string()]);
    }
    argv
}

/// `glassbox ARGS [--out OUT]` with arguments quoted where a shell needs it.
pub fn command_line(args: &[impl AsRef<str>], out: &str) -> String {
    let mut words = vec!["glassbox".to_string()];
    words.extend(args.iter().map(|a| quote(a.as_ref())));
    if !out.is_empty() {
        words.extend(["--out".into(), quote(out)]);
    }
    words.join(" ")
}

fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Parses and runs one step as `glassbox` would, catching a panic; the error as text.
fn run_step(argv: &[String]) -> Result<(), String> {
    let cli = Cli::try_parse_from(argv).map_err(|e| format!("bad command line: {e}"))?;
    match catch_unwind(AssertUnwindSafe(|| crate::run(cli))) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            eprintln!("error: {e:#}");
            Err(format!("{e:#}"))
        }
        Err(panic) => {
            let text = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "(no message)".into());
            Err(format!("panicked: {text}"))
        }
    }
}

/// Runs `f` with the lesson's output in `log`, updating its bar from the log's last line meanwhile.
fn watch<T>(
    terminal: &Terminal,
    log: &Path,
    bar: &LessonBar,
    step: usize,
    f: impl FnOnce() -> T,
) -> T {
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                if let Some(line) = capture::last_line(log) {
                    bar.update(step, capture::fraction(&line), &line);
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        let result = match terminal.capture(log) {
            Ok(_guard) => f(),
            Err(e) => {
                terminal.say(&format!(
                    "(cannot write {}: {e}; output not captured)",
                    log.display()
                ));
                f()
            }
        };
        done.store(true, Ordering::Relaxed);
        result
    })
}
