//! The tour's progress: a bar per lesson and an overall one on a terminal, plain lines otherwise.

use std::fs::File;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

use super::capture::Terminal;

/// Steps of a lesson count this many positions on its bar, so the bar moves within a step.
pub const STEP: u64 = 1000;

pub struct Bars {
    multi: Option<MultiProgress>,
    overall: Option<ProgressBar>,
    /// The terminal, to end the bars' last line.
    term: Option<File>,
}

/// One lesson's bar (absent off a terminal).
pub struct LessonBar(Option<ProgressBar>);

impl Bars {
    pub fn new(terminal: &Terminal, lessons: usize) -> Self {
        let Some(term) = terminal
            .is_terminal
            .then(|| terminal.stderr().ok())
            .flatten()
        else {
            return Bars {
                multi: None,
                overall: None,
                term: None,
            };
        };
        let end = term.try_clone().ok();
        let target = ProgressDrawTarget::term_like_with_hz(Box::new(Ansi(Mutex::new(term))), 8);
        let multi = MultiProgress::with_draw_target(target);
        let overall = multi.add(ProgressBar::new(lessons as u64));
        overall.set_style(
            ProgressStyle::with_template(
                "{prefix:>14} [{bar:30.green}] {pos}/{len} lessons, {elapsed} {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        overall.set_prefix("tour");
        overall.enable_steady_tick(Duration::from_millis(250));
        Bars {
            multi: Some(multi),
            overall: Some(overall),
            term: end,
        }
    }

    /// A bar for the next lesson, `steps` commands long.
    pub fn lesson(&self, id: &str, steps: usize) -> LessonBar {
        LessonBar(self.multi.as_ref().map(|m| {
            let bar = m.insert_from_back(1, ProgressBar::new(steps as u64 * STEP));
            bar.set_style(
                ProgressStyle::with_template("{prefix:>14} [{bar:30}] {elapsed:>4} {wide_msg}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(id.to_string());
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        }))
    }

    pub fn lesson_done(&self) {
        if let Some(o) = &self.overall {
            o.inc(1);
        }
    }

    pub fn finish(&self, msg: String) {
        if let Some(o) = &self.overall {
            o.finish_with_message(msg);
        }
        // The bars leave the cursor at the end of their last line.
        if let Some(mut t) = self.term.as_ref() {
            let _ = writeln!(t);
        }
    }
}

impl LessonBar {
    pub fn update(&self, step: usize, fraction: Option<f64>, line: &str) {
        if let Some(bar) = &self.0 {
            let within = fraction.map_or(0, |f| (f * STEP as f64) as u64);
            bar.set_position(step as u64 * STEP + within.min(STEP - 1));
            bar.set_message(line.to_string());
        }
    }

    pub fn finish(&self, msg: String) {
        if let Some(bar) = &self.0 {
            bar.set_position(bar.length().unwrap_or(0));
            bar.finish_with_message(msg);
        }
    }
}

/// The tour's standard error driven with ANSI escapes (a terminal, or the bars would be off).
#[derive(Debug)]
struct Ansi(Mutex<File>);

impl Ansi {
    fn put(&self, s: &str) -> std::io::Result<()> {
        self.0
            .lock()
            .expect("terminal lock")
            .write_all(s.as_bytes())
    }

    /// Moves the cursor `n` places (`A` up, `B` down, `C` right, `D` left).
    fn cursor(&self, n: usize, direction: char) -> std::io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.put(&format!("\x1b[{n}{direction}"))
    }
}

impl TermLike for Ansi {
    fn width(&self) -> u16 {
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            let fd = self.0.lock().expect("terminal lock").as_raw_fd();
            // SAFETY: TIOCGWINSZ fills the winsize it is given; fd is open while the lock's file lives.
            let mut size: libc::winsize = unsafe { std::mem::zeroed() };
            if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) } == 0 && size.ws_col > 0 {
                return size.ws_col;
            }
        }
        100
    }
    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'A')
    }
    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'B')
    }
    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'C')
    }
    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'D')
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.put(&format!("{s}\n"))
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.put(s)
    }
    fn clear_line(&self) -> std::io::Result<()> {
        self.put("\r\x1b[2K")
    }
    fn flush(&self) -> std::io::Result<()> {
        self.0.lock().expect("terminal lock").flush()
    }
}
