//! The tour's page: one static HTML file (no script, no network), a section per lesson in the course's
//! order with its figures (PNG, referenced relatively), its numbers beside the full run's and the
//! course's, the commands, and what failed or was skipped and why. Built only from what is on disk.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use anyhow::Context as _;
use serde_json::Value;

use super::html::{escape, PAGE_END, PAGE_START};
use super::lessons::{Figure, Format, Lesson, Metric, LESSONS};
use super::record::{LessonRecord, Status};
use super::run::{command_line, LOG_FILE};

/// Writes `<out>/index.html` from the lesson directories under `dirs`; returns its path.
pub fn write(dirs: &[PathBuf], out: &Path) -> anyhow::Result<PathBuf> {
    let mut found = Vec::new();
    for lesson in LESSONS {
        // The last directory given that holds the lesson wins.
        if let Some(dir) = dirs
            .iter()
            .rev()
            .map(|d| d.join(lesson.id))
            .find(|d| d.is_dir())
        {
            let record = LessonRecord::load(&dir)?;
            found.push((lesson, dir, record));
        }
    }
    if found.is_empty() {
        let ids: Vec<_> = LESSONS.iter().map(|l| l.id).collect();
        anyhow::bail!(
            "no lesson directories in {} (expected <DIR>/<lesson>/ for a lesson of: {})",
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            ids.join(", ")
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let out_abs = absolute(out)?;
    let mut html = String::from(PAGE_START);
    html.push_str(&contents(&found));
    for (lesson, dir, record) in &found {
        html.push_str(&section(lesson, dir, record.as_ref(), &out_abs)?);
    }
    html.push_str(PAGE_END);
    let page = out.join("index.html");
    glassbox_core::assets::atomic::write_bytes_atomic(&page, html.as_bytes())
        .with_context(|| format!("cannot write {}", page.display()))?;
    Ok(page)
}

fn status_of(record: Option<&LessonRecord>) -> Status {
    record.map_or(Status::Ok, LessonRecord::status)
}

/// The list at the top: every lesson on the page with its status and time.
fn contents(found: &[(&Lesson, PathBuf, Option<LessonRecord>)]) -> String {
    let count = |s: Status| {
        found
            .iter()
            .filter(|(_, _, r)| status_of(r.as_ref()) == s)
            .count()
    };
    let seconds: f64 = found
        .iter()
        .filter_map(|(_, _, r)| r.as_ref().map(|r| r.seconds))
        .sum();
    let modes: Vec<&str> = found
        .iter()
        .filter_map(|(_, _, r)| r.as_ref().map(|r| r.mode.as_str()))
        .collect();
    let mode = if modes.iter().all(|m| *m == "quick") && !modes.is_empty() {
        "quick settings"
    } else if modes.iter().all(|m| *m == "full") && !modes.is_empty() {
        "full settings"
    } else {
        "the settings each section shows"
    };
    let mut s = format!(
        "<p class=\"summary\">{} lessons: {} ran, {} skipped, {} failed; {} in {mode}.</p>\n<ol class=\"toc\">\n",
        found.len(),
        count(Status::Ok),
        count(Status::Skipped),
        count(Status::Failed),
        duration(seconds),
    );
    for (lesson, _, record) in found {
        let status = status_of(record.as_ref());
        let time = record
            .as_ref()
            .map(|r| format!(", {}", duration(r.seconds)))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "<li><a href=\"#{id}\">{title}</a> <span class=\"{st}\">{st}</span>{time}</li>",
            id = lesson.id,
            title = escape(lesson.title),
            st = status.name(),
        );
    }
    s.push_str("</ol>\n");
    s
}

fn duration(seconds: f64) -> String {
    if seconds < 10.0 {
        format!("{seconds:.1} s")
    } else if seconds < 120.0 {
        format!("{seconds:.0} s")
    } else if seconds < 7200.0 {
        format!("{:.1} min", seconds / 60.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}

fn section(
    lesson: &Lesson,
    dir: &Path,
    record: Option<&LessonRecord>,
    out: &Path,
) -> anyhow::Result<String> {
    let status = status_of(record);
    let mut s = format!(
        "<section id=\"{id}\" data-status=\"{st}\">\n<h2>{title} <span class=\"{st}\">{st}</span></h2>\n<p>{about}</p>\n",
        id = lesson.id,
        st = status.name(),
        title = escape(lesson.title),
        about = escape(lesson.about),
    );
    if let Some(r) = record {
        let _ = writeln!(
            s,
            "<p class=\"meta\">{} settings, {}; the lesson's page: <code>{}</code>.</p>",
            escape(&r.mode),
            duration(r.seconds),
            lesson.doc
        );
    } else {
        let _ = writeln!(
            s,
            "<p class=\"meta\">From {}; the lesson's page: <code>{}</code>.</p>",
            escape(&dir.display().to_string()),
            lesson.doc
        );
    }
    let metrics = read_metrics(lesson, dir)?;
    s.push_str(&metrics_table(lesson, &metrics));
    for step in lesson.steps {
        let step_record = record.and_then(|r| r.step(step.dir));
        let step_dir = dir.join(step.dir);
        if step_record.is_none() && !step_dir.is_dir() {
            continue;
        }
        let _ = writeln!(s, "<div class=\"step\" id=\"{}-{}\">", lesson.id, step.dir);
        match step_record {
            Some(r) if r.status == Status::Skipped => {
                let (reason, fetch) = r.skip.clone().unwrap_or_default();
                let _ = writeln!(
                    s,
                    "<p><b>{}</b>: <span class=\"skipped\">skipped</span>: {}. To run it: <code>{}</code></p>",
                    step.dir,
                    escape(&reason),
                    escape(&fetch)
                );
            }
            Some(r) => {
                let _ = writeln!(
                    s,
                    "<p><b>{}</b> ({}): <code>{}</code></p>",
                    step.dir,
                    duration(r.seconds),
                    escape(&r.command)
                );
                if let Some(error) = &r.error {
                    let log = dir.join(LOG_FILE);
                    let _ = writeln!(
                        s,
                        "<p class=\"failed\">failed: {}</p>\n<pre>{}</pre>\n<p>The whole output: <a href=\"{}\">{LOG_FILE}</a>.</p>",
                        escape(error),
                        escape(&log_tail(&log, 15)),
                        escape(&relative(out, &absolute(&log)?))
                    );
                }
            }
            None => {
                let _ = writeln!(s, "<p><b>{}</b></p>", step.dir);
            }
        }
        s.push_str(&figures(step.figures, &step_dir, out)?);
        let full = step_record.map(|r| r.full.clone()).unwrap_or_else(|| {
            command_line(
                &super::needs::display(step.full, &format!("out/{}", lesson.id)),
                &format!("out/{}/{}", lesson.id, step.dir),
            )
        });
        let _ = writeln!(
            s,
            "<p class=\"full\">The full version: <code>{}</code></p>\n</div>",
            escape(&full)
        );
    }
    s.push_str("</section>\n");
    Ok(s)
}

/// Each step's metrics.json that the lesson's table reads (absent or unreadable ones are left out).
fn read_metrics(lesson: &Lesson, dir: &Path) -> anyhow::Result<BTreeMap<&'static str, Value>> {
    let mut map = BTreeMap::new();
    for m in lesson.metrics {
        if map.contains_key(m.step) {
            continue;
        }
        let path = metrics_file(dir, m.step);
        if let Ok(text) = std::fs::read_to_string(&path) {
            let v: Value = serde_json::from_str(&text)
                .with_context(|| format!("{}: not JSON", path.display()))?;
            map.insert(m.step, v);
        }
    }
    Ok(map)
}

/// A metric's file: `STEP/FILE.json` as given, else the step's metrics.json.
fn metrics_file(dir: &Path, step: &str) -> PathBuf {
    if step.ends_with(".json") {
        dir.join(step)
    } else {
        dir.join(step).join("metrics.json")
    }
}

fn metrics_table(lesson: &Lesson, metrics: &BTreeMap<&str, Value>) -> String {
    if lesson.metrics.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "<table class=\"metrics\"><tr><th>measure</th><th>this run</th><th>glassbox, full run</th><th>the course (or a reference)</th></tr>\n",
    );
    for m in lesson.metrics {
        let value = metrics
            .get(m.step)
            .and_then(|v| v.pointer(m.pointer))
            .map(|v| format_value(m, v))
            .unwrap_or_else(|| "&mdash;".into());
        let cell = |t: &str| {
            if t.is_empty() {
                "&mdash;".to_string()
            } else {
                escape(t)
            }
        };
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td class=\"num\">{value}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape(m.label),
            cell(m.full),
            cell(m.course)
        );
    }
    s.push_str("</table>\n");
    s
}

pub(super) fn format_value(m: &Metric, v: &Value) -> String {
    let Some(x) = v.as_f64() else {
        return escape(&v.to_string());
    };
    if !x.is_finite() {
        return format!("{x}");
    }
    match m.format {
        Format::Percent => format!("{:.2}%", 100.0 * x),
        Format::Decimal => {
            let digits = if x.abs() >= 100.0 { 2 } else { 4 };
            format!("{x:.digits$}")
        }
        Format::Count => format!("{x:.0}"),
        Format::Seconds if x < 1.0 => format!("{x:.3} s"),
        Format::Seconds => format!("{x:.1} s"),
    }
}

fn figures(list: &[Figure], dir: &Path, out: &Path) -> anyhow::Result<String> {
    let mut s = String::new();
    for f in list {
        for file in matching(dir, f.file) {
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
            let src = relative(out, &absolute(&file)?);
            // At most its own size (small figures side by side, wide ones a row each), less on a phone.
            let dims = image::image_dimensions(&file).ok();
            let fig_style = dims
                .map(|(w, _)| format!(" style=\"flex: 0 1 {w}px\""))
                .unwrap_or_default();
            let img_size = dims
                .map(|(w, h)| format!(" width=\"{w}\" height=\"{h}\""))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "<figure{fig_style}><img src=\"{}\"{img_size} alt=\"{}\"><figcaption>{} <span class=\"file\">{}</span></figcaption></figure>",
                escape(&src),
                escape(f.caption),
                escape(f.caption),
                escape(&name.unwrap_or_default())
            );
        }
    }
    if s.is_empty() {
        return Ok(s);
    }
    Ok(format!("<div class=\"figures\">\n{s}</div>\n"))
}

/// The files of `dir` whose names match `pattern` (`*`: any run of characters), in name order.
fn matching(dir: &Path, pattern: &str) -> Vec<PathBuf> {
    if !pattern.contains('*') {
        let p = dir.join(pattern);
        return if p.is_file() { vec![p] } else { Vec::new() };
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| glob(pattern, n))
        })
        .collect();
    files.sort();
    files
}

fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, rest)) => {
            let Some(tail) = name.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len()).any(|i| tail.is_char_boundary(i) && glob(rest, &tail[i..]))
        }
    }
}

/// The last `n` lines of a log, or a note that there is none.
fn log_tail(path: &Path, n: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(_) => format!("({} not found)", path.display()),
    }
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    };
    // Canonical where it exists (symbolic links resolved the same way on both sides).
    Ok(joined.canonicalize().unwrap_or(joined))
}

/// `to` relative to the directory `from` (both absolute), with `/` separators for a URL.
fn relative(from: &Path, to: &Path) -> String {
    let a: Vec<Component> = from.components().collect();
    let b: Vec<Component> = to.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".into(); a.len() - common];
    parts.extend(
        b[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_relative_paths() {
        assert!(glob("filters-*.png", "filters-block3_conv1.png"));
        assert!(!glob("filters-*.png", "objective-block3_conv1.png"));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("a*b*c", "aXbY"));
        assert_eq!(
            relative(
                Path::new("/t/tour"),
                Path::new("/t/tour/mnist/train/loss.png")
            ),
            "mnist/train/loss.png"
        );
        assert_eq!(
            relative(Path::new("/t/page"), Path::new("/t/full/mnist/loss.png")),
            "../full/mnist/loss.png"
        );
    }

    #[test]
    fn values_are_formatted_by_kind() {
        let m = |format| Metric {
            label: "",
            step: "",
            pointer: "",
            format,
            full: "",
            course: "",
        };
        assert_eq!(
            format_value(&m(Format::Percent), &serde_json::json!(0.9909)),
            "99.09%"
        );
        assert_eq!(
            format_value(&m(Format::Decimal), &serde_json::json!(0.11512)),
            "0.1151"
        );
        assert_eq!(
            format_value(&m(Format::Decimal), &serde_json::json!(139.018)),
            "139.02"
        );
        assert_eq!(
            format_value(&m(Format::Count), &serde_json::json!(182)),
            "182"
        );
        assert_eq!(
            format_value(&m(Format::Percent), &serde_json::json!("n/a")),
            "&quot;n/a&quot;"
        );
    }
}
