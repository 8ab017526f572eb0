//! While a lesson runs in this process, what it prints goes to its log file (`<lesson>/log.txt`), so
//! the tour's own progress bars keep the terminal. On Unix standard output and error are pointed at the
//! log with `dup2` for the lesson's duration (the lessons print with `println!` from many places);
//! elsewhere the lessons print where they always do.

use std::fs::File;
use std::io::Write;
use std::path::Path;

/// The terminal as it was when the tour started; the bars draw on it.
pub struct Terminal {
    #[cfg(unix)]
    saved_out: std::os::fd::OwnedFd,
    #[cfg(unix)]
    saved_err: std::os::fd::OwnedFd,
    /// Whether standard error was a terminal (bars) or not (plain lines).
    pub is_terminal: bool,
}

impl Terminal {
    pub fn new() -> std::io::Result<Self> {
        use std::io::IsTerminal;
        let is_terminal = std::io::stderr().is_terminal();
        #[cfg(unix)]
        {
            use std::os::fd::AsFd;
            Ok(Terminal {
                saved_out: std::io::stdout().as_fd().try_clone_to_owned()?,
                saved_err: std::io::stderr().as_fd().try_clone_to_owned()?,
                is_terminal,
            })
        }
        #[cfg(not(unix))]
        Ok(Terminal { is_terminal })
    }

    /// A writer on the tour's standard error, whatever the lessons' is pointed at.
    pub fn stderr(&self) -> std::io::Result<File> {
        #[cfg(unix)]
        {
            Ok(File::from(self.saved_err.try_clone()?))
        }
        #[cfg(not(unix))]
        {
            Err(std::io::Error::other("no terminal handle on this platform"))
        }
    }

    /// A line on the tour's standard output (the lessons' may be pointed at a log).
    pub fn say(&self, line: &str) {
        #[cfg(unix)]
        {
            if let Ok(fd) = self.saved_out.try_clone() {
                let _ = writeln!(File::from(fd), "{line}");
                return;
            }
        }
        println!("{line}");
    }

    /// Points standard output and error at `log` (appending) until the guard is dropped.
    pub fn capture(&self, log: &Path) -> std::io::Result<Captured<'_>> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        flush();
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            for target in [1, 2] {
                // SAFETY: both descriptors are open; dup2 only changes which file 1 and 2 name.
                if unsafe { libc::dup2(file.as_raw_fd(), target) } < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
        }
        drop(file);
        Ok(Captured { terminal: self })
    }
}

/// Standard output and error go to a lesson's log while this lives.
pub struct Captured<'a> {
    terminal: &'a Terminal,
}

impl Drop for Captured<'_> {
    fn drop(&mut self) {
        flush();
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            for (saved, target) in [(&self.terminal.saved_out, 1), (&self.terminal.saved_err, 2)] {
                // SAFETY: the saved descriptors stay open for the Terminal's life.
                unsafe { libc::dup2(saved.as_raw_fd(), target) };
            }
        }
        #[cfg(not(unix))]
        let _ = self.terminal;
    }
}

fn flush() {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
}

/// The last line the lesson wrote to its log, for its progress bar (at most the last 4 KiB are read).
pub fn last_line(log: &Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = File::open(log).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(4096))).ok()?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).ok()?;
    let text = String::from_utf8_lossy(&tail);
    // Bars redraw with carriage returns; the text after the last one is what a terminal would show.
    text.split(['\n', '\r'])
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map(str::to_string)
}

/// How far a step is, from the `a/b` counts of its latest line ("epoch 2/5 batch 30/40" is 1.75 of 5):
/// the first count is the outermost.
pub fn fraction(line: &str) -> Option<f64> {
    let counts: Vec<(f64, f64)> = line
        .split(|c: char| !(c.is_ascii_digit() || c == '/'))
        .filter_map(|w| {
            let (a, b) = w.split_once('/')?;
            let (a, b) = (a.parse::<f64>().ok()?, b.parse::<f64>().ok()?);
            (b > 0.0 && a <= b).then_some((a, b))
        })
        .collect();
    let (&(a, b), outer) = counts.split_last()?;
    let mut f = a / b;
    for &(a, b) in outer.iter().rev() {
        f = ((a - 1.0).max(0.0) + f) / b;
    }
    Some(f.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_nest_from_the_outside_in() {
        assert_eq!(fraction("epoch 2/5 batch 30/40 loss 0.1"), Some(1.75 / 5.0));
        assert_eq!(fraction("attacks batch 1/2 accuracy 0.65"), Some(0.5));
        assert_eq!(fraction("loss 0.5, 12 images/s"), None);
        assert_eq!(fraction("wrote out/a.png"), None);
    }

    #[test]
    fn the_last_line_is_what_a_terminal_shows() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log.txt");
        std::fs::write(&log, "first\nepoch 1/2\rbatch 3/4\n\n").unwrap();
        assert_eq!(last_line(&log).as_deref(), Some("batch 3/4"));
    }
}
