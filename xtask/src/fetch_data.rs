//! `cargo xtask fetch-data`: the datasets of `datasets.toml`, each file tried at each mirror in turn and
//! accepted only with the manifest's size and md5.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::bail;
use glassbox_assets::checksum::{self, Algorithm};
use glassbox_assets::manifest::{self, DatasetEntry, DatasetFile};

use crate::download::{self, DownloadError, Expected, Progress};

/// What happened to one file.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Already there with the right size and md5: no request was made.
    Present,
    /// Fetched from `url`; `replaced` says why a file already there was not kept.
    Downloaded {
        url: String,
        replaced: Option<String>,
    },
}

/// Every mirror failed for one file; `attempts` holds one error per mirror, in order.
#[derive(Debug)]
pub struct FileFailure {
    pub target: PathBuf,
    pub attempts: Vec<DownloadError>,
}

impl FileFailure {
    /// True when no mirror answered at all, which almost always means no network.
    pub fn offline(&self) -> bool {
        !self.attempts.is_empty() && self.attempts.iter().all(DownloadError::is_unreachable)
    }
}

impl fmt::Display for FileFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.offline() {
            write!(
                f,
                "{}: every mirror is unreachable (offline?)",
                self.target.display()
            )?;
        } else {
            write!(f, "{}: no mirror gave a good copy", self.target.display())?;
        }
        for attempt in &self.attempts {
            write!(f, "\n      - {attempt}")?;
        }
        Ok(())
    }
}

/// Why an existing file is not acceptable, or `None` when it is (right size, right md5).
fn existing_problem(path: &Path, file: &DatasetFile) -> Option<String> {
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(_) => return Some(String::new()),
    };
    // The size is checked first so that a truncated file costs no hashing.
    if len != file.size {
        return Some(format!("it had {len} bytes, expected {}", file.size));
    }
    match checksum::file_digest(path, Algorithm::Md5) {
        Ok(md5) if md5.eq_ignore_ascii_case(&file.md5) => None,
        Ok(md5) => Some(format!("its md5 was {md5}, expected {}", file.md5)),
        Err(e) => Some(e.to_string()),
    }
}

/// Makes `dir/file.name` a verified copy: kept when already valid, else downloaded from the first mirror that
/// serves the right bytes.
pub fn fetch_file(
    agent: &ureq::Agent,
    dir: &Path,
    file: &DatasetFile,
    mirrors: &[String],
    progress: Progress,
) -> Result<Outcome, FileFailure> {
    let target = dir.join(&file.name);
    let replaced = match existing_problem(&target, file) {
        None => return Ok(Outcome::Present),
        Some(reason) if target.exists() => Some(reason),
        Some(_) => None,
    };
    let expected = Expected {
        size: file.size,
        algorithm: Algorithm::Md5,
        digest: &file.md5,
    };
    let mut attempts = Vec::new();
    for mirror in mirrors {
        let url = download::join_url(mirror, &file.name);
        match download::download_verified(agent, &url, &target, &expected, progress) {
            Ok(()) => return Ok(Outcome::Downloaded { url, replaced }),
            Err(e) => {
                if progress != Progress::Quiet {
                    eprintln!("    {e}");
                }
                attempts.push(e);
            }
        }
    }
    Err(FileFailure { target, attempts })
}

/// One dataset: every file, then a list of failures (empty when all went well).
pub fn fetch_dataset(
    agent: &ureq::Agent,
    dest: &Path,
    entry: &DatasetEntry,
    mirrors: &[String],
    progress: Progress,
    mut report: impl FnMut(&DatasetFile, &Result<Outcome, FileFailure>),
) -> Vec<FileFailure> {
    let dir = dest.join(&entry.dir);
    let mut failures = Vec::new();
    for file in &entry.files {
        let result = fetch_file(agent, &dir, file, mirrors, progress);
        report(file, &result);
        if let Err(failure) = result {
            failures.push(failure);
        }
    }
    failures
}

/// The command: `which` is a dataset name or `all`; `mirror` replaces the manifest's mirrors.
pub fn run(dest: &Path, which: &str, mirror: Option<&str>) -> anyhow::Result<()> {
    let names: Vec<String> = if which == "all" {
        manifest::datasets().keys().cloned().collect()
    } else {
        manifest::dataset(which)?;
        vec![which.to_string()]
    };
    let agent = download::agent();
    let progress = Progress::auto();
    let mut failures = Vec::new();
    for name in &names {
        let entry = manifest::dataset(name)?;
        let mirrors: Vec<String> = match mirror {
            Some(m) => vec![m.to_string()],
            None => entry.mirrors.clone(),
        };
        println!(
            "{name}: {} file(s) into {} from {}",
            entry.files.len(),
            dest.join(&entry.dir).display(),
            mirrors.join(", ")
        );
        failures.extend(fetch_dataset(
            &agent,
            dest,
            entry,
            &mirrors,
            progress,
            print_outcome,
        ));
    }
    if failures.is_empty() {
        return Ok(());
    }
    let mut message = format!("{} file(s) could not be fetched:", failures.len());
    for failure in &failures {
        message.push_str(&format!("\n  {failure}"));
    }
    if failures.iter().any(FileFailure::offline) {
        message.push_str(
            "\nThis machine looks offline. Copy the files in by hand (they are checked by size and md5 from \
             crates/glassbox-assets/datasets.toml), or point GLASSBOX_DATA at a directory that already holds them \
             (for example ../shared/data).",
        );
    }
    bail!(message)
}

fn print_outcome(file: &DatasetFile, result: &Result<Outcome, FileFailure>) {
    match result {
        Ok(Outcome::Present) => println!("  {}: already present (size and md5 match)", file.name),
        Ok(Outcome::Downloaded { url, replaced }) => {
            if let Some(reason) = replaced {
                println!("  {}: replaced a bad copy ({reason})", file.name);
            }
            println!(
                "  {}: downloaded from {url}, size and md5 verified",
                file.name
            );
        }
        Err(failure) => println!("  {}: FAILED: {failure}", file.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_server::{closed_port, TestServer};
    use glassbox_assets::checksum::bytes_digest;

    fn entry(files: &[(&str, &[u8])]) -> DatasetEntry {
        DatasetEntry {
            description: "test".into(),
            dir: "set".into(),
            mirrors: vec![],
            files: files
                .iter()
                .map(|(name, bytes)| DatasetFile {
                    name: name.to_string(),
                    size: bytes.len() as u64,
                    md5: bytes_digest(bytes, Algorithm::Md5),
                })
                .collect(),
        }
    }

    #[test]
    fn the_second_mirror_is_used_when_the_first_404s() {
        let body: &[u8] = b"the second mirror has it";
        let first = TestServer::start();
        let second = TestServer::start().file("/m2/a.gz", body.to_vec());
        let dest = tempfile::tempdir().unwrap();
        let set = entry(&[("a.gz", body)]);
        let mirrors = vec![first.url("/m1/"), second.url("/m2")];
        let mut seen = Vec::new();
        let failures = fetch_dataset(
            &download::agent(),
            dest.path(),
            &set,
            &mirrors,
            Progress::Quiet,
            |f, r| seen.push((f.name.clone(), format!("{r:?}"))),
        );
        assert!(failures.is_empty(), "{failures:?}");
        assert_eq!(std::fs::read(dest.path().join("set/a.gz")).unwrap(), body);
        assert!(seen[0].1.contains(&second.url("/m2/a.gz")), "{seen:?}");
        assert_eq!(first.requests().len(), 1);
        assert_eq!(first.requests()[0].path, "/m1/a.gz");
    }

    #[test]
    fn a_valid_file_is_skipped_without_any_request() {
        let body: &[u8] = b"already here";
        let server = TestServer::start().file("/a.gz", body.to_vec());
        let dest = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dest.path().join("set")).unwrap();
        std::fs::write(dest.path().join("set/a.gz"), body).unwrap();
        let set = entry(&[("a.gz", body)]);
        let outcome = fetch_file(
            &download::agent(),
            &dest.path().join("set"),
            &set.files[0],
            &[server.url("/")],
            Progress::Quiet,
        )
        .unwrap();
        assert_eq!(outcome, Outcome::Present);
        assert!(server.requests().is_empty(), "{:?}", server.requests());
    }

    #[test]
    fn a_bad_copy_is_replaced() {
        let body: &[u8] = b"the right bytes";
        let server = TestServer::start().file("/a.gz", body.to_vec());
        let dest = tempfile::tempdir().unwrap();
        std::fs::write(dest.path().join("a.gz"), b"the wrong bytes").unwrap();
        let set = entry(&[("a.gz", body)]);
        let outcome = fetch_file(
            &download::agent(),
            dest.path(),
            &set.files[0],
            &[server.url("/")],
            Progress::Quiet,
        )
        .unwrap();
        match outcome {
            Outcome::Downloaded {
                replaced: Some(reason),
                ..
            } => {
                assert!(reason.contains("md5"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(std::fs::read(dest.path().join("a.gz")).unwrap(), body);
    }

    #[test]
    fn unreachable_mirrors_are_reported_as_offline_with_their_urls() {
        let set = entry(&[("a.gz", b"x")]);
        let mirrors = vec![
            format!("http://127.0.0.1:{}/m1/", closed_port()),
            format!("http://127.0.0.1:{}/m2/", closed_port()),
        ];
        let dest = tempfile::tempdir().unwrap();
        let failure = fetch_file(
            &download::agent(),
            dest.path(),
            &set.files[0],
            &mirrors,
            Progress::Quiet,
        )
        .unwrap_err();
        assert!(failure.offline());
        let text = failure.to_string();
        assert!(
            text.contains("unreachable") && text.contains("offline"),
            "{text}"
        );
        for m in &mirrors {
            assert!(text.contains(&format!("{m}a.gz")), "{text}");
        }
        assert_eq!(std::fs::read_dir(dest.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_mismatch_everywhere_fails_and_leaves_nothing() {
        let set = entry(&[("a.gz", b"good")]);
        let server = TestServer::start().file("/a.gz", b"evil".to_vec());
        let dest = tempfile::tempdir().unwrap();
        let failures = fetch_dataset(
            &download::agent(),
            dest.path(),
            &set,
            &[server.url("/")],
            Progress::Quiet,
            |_, _| {},
        );
        assert_eq!(failures.len(), 1);
        assert!(!failures[0].offline());
        assert!(
            failures[0].to_string().contains("md5 mismatch"),
            "{}",
            failures[0]
        );
        let dir = dest.path().join("set");
        assert_eq!(std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0), 0);
    }

    #[test]
    fn the_manifest_datasets_have_mirrors() {
        for (name, d) in manifest::datasets() {
            assert!(!d.mirrors.is_empty(), "{name}");
        }
    }
}
