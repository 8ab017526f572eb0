//! Atomic file writes: a temporary file beside the target, fsync, rename, fsync of the directory.
//!
//! A reader sees either the old file or the complete new one. If the writer fails (a full disk, a file
//! size limit) or the process dies before the rename, the target is untouched; a failed writer also
//! removes its temporary file, and [`remove_stale_temps`] clears those of processes that were killed.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{testhook, Error, Result};

/// The temporary path used while `target` is being written: hidden, in the same directory (so the rename
/// stays on one file system), and unique to this process.
pub fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    target.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Removes the temporary files and folders (see [`temp_path`]) in `dir` whose writers are no longer running,
/// which only a process killed while writing leaves behind; returns them. Where it cannot tell whether a
/// process runs (no `/proc`), every other process's temporary file counts as stale: call it only where no
/// other process should be writing into `dir` (e.g. while holding a lock on it).
pub fn remove_stale_temps(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let own = std::process::id();
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let Some(pid) = temp_writer(&entry.file_name().to_string_lossy()) else {
            continue;
        };
        if pid == own || is_running(pid) {
            continue;
        }
        let path = entry.path();
        // A folder staged the same way (a toolkit being unpacked) goes whole.
        let removal = if entry.file_type().is_ok_and(|t| t.is_dir()) {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        match removal {
            Ok(()) => removed.push(path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&path, e)),
        }
    }
    Ok(removed)
}

/// The process id in a temporary file's name, `.{name}.{pid}.tmp`.
fn temp_writer(file_name: &str) -> Option<u32> {
    let (name, pid) = file_name
        .strip_prefix('.')?
        .strip_suffix(".tmp")?
        .rsplit_once('.')?;
    if name.is_empty() || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Whether process `pid` runs, where `/proc` says; false where there is no `/proc` to ask.
fn is_running(pid: u32) -> bool {
    Path::new("/proc/self").exists() && Path::new("/proc").join(pid.to_string()).exists()
}

/// Writes `target` atomically with `fill`, which receives a buffered writer over the temporary file.
pub fn write_atomic<F>(target: &Path, fill: F) -> Result<()>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let temp = temp_path(target);
    let result = write_and_sync(target, &temp, fill).and_then(|()| {
        fs::rename(&temp, target).map_err(|e| Error::write(target, e))?;
        sync_parent(target);
        Ok(())
    });
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Writes `bytes` to `target` atomically.
pub fn write_bytes_atomic(target: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(target, |w| w.write_all(bytes))
}

/// Errors name `target` (what the user knows), not the temporary file.
fn write_and_sync<F>(target: &Path, temp: &Path, fill: F) -> Result<()>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    let file = File::create(temp).map_err(|e| Error::write(target, e))?;
    if paused_here(target) {
        pause_half_written(target, temp, file, fill);
    }
    let mut writer = BufWriter::new(file);
    fill(&mut writer).map_err(|e| Error::write(target, e))?;
    let file = writer
        .into_inner()
        .map_err(|e| Error::write(target, e.into_error()))?;
    file.sync_all().map_err(|e| Error::write(target, e))
}

/// Whether this write is the one [`testhook::PAUSE_WRITE`] names.
fn paused_here(target: &Path) -> bool {
    static WRITES: AtomicUsize = AtomicUsize::new(0);
    let Some((name, nth)) = testhook::pause_write() else {
        return false;
    };
    if target.file_name() != Some(std::ffi::OsStr::new(name)) {
        return false;
    }
    WRITES.fetch_add(1, Ordering::SeqCst) + 1 == *nth
}

/// The test hook's write: half of the bytes on disk in the temporary file, then a pause until killed.
fn pause_half_written<F>(target: &Path, temp: &Path, mut file: File, fill: F) -> !
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    let mut bytes = Vec::new();
    let filled = fill(&mut bytes).and_then(|()| {
        file.write_all(&bytes[..bytes.len() / 2])?;
        file.sync_all()
    });
    if let Err(e) = filled {
        eprintln!("glassbox test hook: {}: {e}", temp.display());
    }
    testhook::pause(&format!(
        "writing {} ({} of {} bytes in {})",
        target.display(),
        bytes.len() / 2,
        bytes.len(),
        temp.display()
    ))
}

/// Makes the rename itself durable. Best effort: not every platform can open a directory.
fn sync_parent(target: &Path) {
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub/a.bin");
        write_bytes_atomic(&target, b"first").unwrap();
        write_bytes_atomic(&target, b"second").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(target.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn a_failing_writer_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.bin");
        write_bytes_atomic(&target, b"good").unwrap();
        let err = write_atomic(&target, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("interrupted"))
        })
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("interrupted") && msg.contains(&target.display().to_string()),
            "{msg}"
        );
        assert!(msg.contains("unchanged"), "{msg}");
        assert_eq!(fs::read(&target).unwrap(), b"good");
        assert!(!temp_path(&target).exists());
    }

    #[test]
    fn temporaries_of_dead_writers_go_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("c.bin");
        write_bytes_atomic(&target, b"good").unwrap();
        let own = temp_path(&target)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let mut keep = vec![
            "c.bin".to_string(),
            ".c.bin.tmp".into(),
            ".c.bin.12x.tmp".into(),
            "..999999999.tmp".into(),
            ".c.bin.999999999.tmp.old".into(),
            // This process's own: it may be writing it.
            own,
        ];
        if is_running(1) {
            // A writer that runs (init always does).
            keep.push(".c.bin.1.tmp".into());
        }
        // Process ids above Linux's largest, so no such process runs.
        let stale = [".c.bin.999999999.tmp", ".other.png.999999998.tmp"];
        for name in keep[1..].iter().map(String::as_str).chain(stale) {
            fs::write(dir.path().join(name), b"half").unwrap();
        }
        // A staged folder of a dead writer, with something inside.
        let staged = dir.path().join(".13.0.999999997.tmp");
        fs::create_dir_all(staged.join("bin")).unwrap();
        fs::write(staged.join("bin/nvcc"), b"half").unwrap();
        let mut removed = remove_stale_temps(dir.path()).unwrap();
        removed.sort();
        let mut expected: Vec<PathBuf> = stale.iter().map(|n| dir.path().join(n)).collect();
        expected.insert(0, staged.clone());
        assert!(!staged.exists());
        assert_eq!(removed, expected);
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        keep.sort();
        assert_eq!(left, keep);
        assert_eq!(fs::read(&target).unwrap(), b"good");
        // A directory that does not exist yet has nothing to clean.
        assert!(remove_stale_temps(&dir.path().join("none"))
            .unwrap()
            .is_empty());
    }
}
