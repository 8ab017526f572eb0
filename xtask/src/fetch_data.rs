//! `cargo xtask fetch-data`: the datasets of `datasets.toml`, each file tried at each mirror in turn and
//! accepted only with the manifest's size and md5.

use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::bail;
use flate2::read::MultiGzDecoder;
use glassbox_assets::checksum::{self, Algorithm, Hasher};
use glassbox_assets::manifest::{self, DatasetEntry, DatasetFile};

use crate::download::{self, DownloadError, Expected, Progress};

/// What happened to one file.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Already there with the right size and md5: no request was made.
    Present,
    /// Already there as a re-compressed copy: the gzip's md5 differs from the mirrors' but its uncompressed
    /// content has the manifest's `content_size` and `content_md5` (how ../shared/data ships MNIST).
    PresentRecompressed,
    /// Fetched from `url`; `replaced` says why a file already there was not kept.
    Downloaded {
        url: String,
        replaced: Option<String>,
    },
}

/// Every mirror failed for one file; `attempts` holds each mirror and its error, in order.
#[derive(Debug)]
pub struct FileFailure {
    pub target: PathBuf,
    pub attempts: Vec<(String, DownloadError)>,
}

impl FileFailure {
    /// True when no mirror answered at all, which almost always means no network.
    pub fn offline(&self) -> bool {
        !self.attempts.is_empty() && self.attempts.iter().all(|(_, e)| e.is_unreachable())
    }
}

impl fmt::Display for FileFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.offline() {
            write!(f, "every mirror is unreachable (offline?)")?;
        } else {
            write!(f, "no mirror gave a good copy")?;
        }
        for (_, error) in &self.attempts {
            write!(f, "\n      - {error}")?;
        }
        Ok(())
    }
}

/// How an existing file stands: `Ok` with the outcome when it can be kept, `Err(why)` when it cannot.
fn existing(path: &Path, file: &DatasetFile) -> Result<Outcome, String> {
    let len = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    // The size is checked first so that a truncated file costs no hashing.
    let problem = if len != file.size {
        format!("it had {len} bytes, expected {}", file.size)
    } else {
        match checksum::file_digest(path, Algorithm::Md5) {
            Ok(md5) if md5.eq_ignore_ascii_case(&file.md5) => return Ok(Outcome::Present),
            Ok(md5) => format!("its md5 was {md5}, expected {}", file.md5),
            Err(e) => e.to_string(),
        }
    };
    match (file.content_size, &file.content_md5) {
        (Some(size), Some(md5)) if gz_content_matches(path, size, md5) => {
            Ok(Outcome::PresentRecompressed)
        }
        _ => Err(problem),
    }
}

/// Whether a gzip file decompresses to `size` bytes with the given md5.
fn gz_content_matches(path: &Path, size: u64, md5: &str) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    let mut gz = MultiGzDecoder::new(BufReader::new(file));
    let mut hasher = Hasher::new(Algorithm::Md5);
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        match gz.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                total += n as u64;
                // A file that inflates past the expected size is wrong; stop before reading all of it.
                if total > size {
                    return false;
                }
                hasher.update(&buf[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    total == size && hasher.finish_hex().eq_ignore_ascii_case(md5)
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
    let replaced = match existing(&target, file) {
        Ok(outcome) => return Ok(outcome),
        Err(reason) if target.exists() => Some(reason),
        Err(_) => None,
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
            Err(e) => attempts.push((mirror.clone(), e)),
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
    bail!(failure_message(&failures))
}

/// The details were printed per file; this sums up and says what to do.
fn failure_message(failures: &[FileFailure]) -> String {
    let mut message = format!(
        "{} file(s) could not be fetched: {}",
        failures.len(),
        failures
            .iter()
            .map(|f| f.target.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let offline = failures.iter().all(FileFailure::offline);
    let errors = || failures.iter().flat_map(|f| &f.attempts).map(|(_, e)| e);
    if offline {
        message.push_str("\nNo mirror could be reached; this machine looks offline:");
        let mut seen = Vec::new();
        for (mirror, error) in failures.iter().flat_map(|f| &f.attempts) {
            if !seen.contains(mirror) {
                message.push_str(&format!("\n  {error}"));
                seen.push(mirror.clone());
            }
        }
    } else {
        if errors().any(DownloadError::is_interrupted) {
            message.push_str(
                "\nA transfer broke off (the connection dropped or the server stalled); what arrived is kept \
                 beside the file as a hidden .NAME.part, never read as data. Rerun `cargo xtask fetch-data` to \
                 resume it.",
            );
        }
        if errors().any(DownloadError::is_rejected) {
            message.push_str(
                "\nA mirror served a file whose size or md5 differs from datasets.toml; it was not kept. Rerun \
                 `cargo xtask fetch-data` later, or pass --mirror URL for a mirror with a good copy.",
            );
        }
        if !errors().any(|e| e.is_interrupted() || e.is_rejected()) {
            message.push_str("\nRerun `cargo xtask fetch-data` to try again.");
        }
    }
    message.push_str(&format!(
        "\n{} the files in by hand to those paths (they are checked against the size and md5 in \
         crates/glassbox-assets/datasets.toml), or point GLASSBOX_DATA at a directory that already holds them \
         (for example ../shared/data).",
        if offline { "Copy" } else { "Or copy" }
    ));
    message
}

fn print_outcome(file: &DatasetFile, result: &Result<Outcome, FileFailure>) {
    match result {
        Ok(Outcome::Present) => println!("  {}: already present (size and md5 match)", file.name),
        Ok(Outcome::PresentRecompressed) => println!(
            "  {}: already present (a re-compressed copy: its uncompressed size and md5 match)",
            file.name
        ),
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
    use crate::test_server::{closed_port, Fault, TestServer};
    use glassbox_assets::checksum::bytes_digest;
    use std::time::Duration;

    /// The agent of these tests: no proxy, and a stall noticed after a second.
    fn test_agent() -> ureq::Agent {
        download::agent_builder(false, Duration::from_secs(1)).build()
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

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
                    content_size: None,
                    content_md5: None,
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
            &download::agent_with_proxy(false),
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
            &download::agent_with_proxy(false),
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
            &download::agent_with_proxy(false),
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

    fn gzip(content: &[u8], level: u32) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
        std::io::Write::write_all(&mut gz, content).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn a_recompressed_copy_with_the_right_content_is_kept() {
        let content: Vec<u8> = (0..5000u32).map(|i| (i % 7) as u8).collect();
        let (canonical, other) = (gzip(&content, 9), gzip(&content, 1));
        assert_ne!(canonical, other);
        let mut file = entry(&[("a.gz", &canonical)]).files.remove(0);
        file.content_size = Some(content.len() as u64);
        file.content_md5 = Some(bytes_digest(&content, Algorithm::Md5));
        let server = TestServer::start();
        let dest = tempfile::tempdir().unwrap();
        let path = dest.path().join("a.gz");
        let fetch = |file: &DatasetFile| {
            fetch_file(
                &download::agent_with_proxy(false),
                dest.path(),
                file,
                &[server.url("/")],
                Progress::Quiet,
            )
        };

        std::fs::write(&path, &other).unwrap();
        assert_eq!(fetch(&file).unwrap(), Outcome::PresentRecompressed);
        // Different content (or no content checksum) is not kept: the mirror is asked, and here 404s.
        std::fs::write(&path, gzip(b"other content", 9)).unwrap();
        assert!(fetch(&file).is_err());
        std::fs::write(&path, &other).unwrap();
        file.content_md5 = None;
        assert!(fetch(&file).is_err());
        assert_eq!(server.requests().len(), 2);
        // A failed download leaves the old file as it was.
        assert_eq!(std::fs::read(&path).unwrap(), other);
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
            &download::agent_with_proxy(false),
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
            &download::agent_with_proxy(false),
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
    fn every_server_fault_leaves_the_data_untouched_and_a_rerun_fetches_the_file() {
        let body: Vec<u8> = (0..100u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
        let set = entry(&[("a.gz", &body)]);
        let file = &set.files[0];
        // (server, what the error must say, bytes kept for a resume)
        let cases = [
            (
                TestServer::start().faulty_file("/a.gz", body.clone(), Fault::DropAfter(40)),
                "the connection dropped after 40 of 100 bytes",
                Some(40),
            ),
            (
                TestServer::start().faulty_file("/a.gz", body.clone(), Fault::Length(150)),
                "wrong size: expected 100 bytes, the server announces 150",
                None,
            ),
            (
                TestServer::start().faulty_file("/a.gz", body.clone(), Fault::Length(60)),
                "wrong size: expected 100 bytes, the server announces 60",
                None,
            ),
            (
                TestServer::start().faulty_file(
                    "/a.gz",
                    body.clone(),
                    Fault::StallAfter(30, Duration::from_secs(30)),
                ),
                "timed out after 30 of 100 bytes",
                Some(30),
            ),
            (
                TestServer::start().file("/a.gz", vec![7u8; 100]),
                "md5 mismatch",
                None,
            ),
        ];
        for (server, says, kept) in cases {
            let dest = tempfile::tempdir().unwrap();
            let target = dest.path().join("a.gz");
            std::fs::write(&target, b"an old, bad copy").unwrap();
            let failure = fetch_file(
                &test_agent(),
                dest.path(),
                file,
                &[server.url("/")],
                Progress::Quiet,
            )
            .unwrap_err();
            let text = failure.to_string();
            assert!(
                text.contains(&server.url("/a.gz")) && text.contains(says) && !failure.offline(),
                "{text}"
            );
            assert_eq!(
                std::fs::read(&target).unwrap(),
                b"an old, bad copy",
                "{says}"
            );
            let mut expected_names = vec!["a.gz".to_string()];
            if let Some(n) = kept {
                expected_names.insert(0, ".a.gz.part".to_string());
                assert_eq!(
                    std::fs::read(dest.path().join(".a.gz.part")).unwrap(),
                    body[..n],
                    "{says}"
                );
            }
            assert_eq!(names_in(dest.path()), expected_names, "{says}");

            let good = TestServer::start().file("/a.gz", body.clone());
            let outcome = fetch_file(
                &test_agent(),
                dest.path(),
                file,
                &[good.url("/")],
                Progress::Quiet,
            )
            .unwrap();
            assert!(matches!(
                outcome,
                Outcome::Downloaded {
                    replaced: Some(_),
                    ..
                }
            ));
            assert_eq!(std::fs::read(&target).unwrap(), body, "{says}");
            assert_eq!(names_in(dest.path()), ["a.gz"], "{says}");
            let asked = good
                .requests()
                .into_iter()
                .map(|r| r.range)
                .collect::<Vec<_>>();
            assert_eq!(asked, [kept.map(|n| format!("bytes={n}-"))], "{says}");
        }
    }

    #[test]
    fn a_transfer_cut_at_one_mirror_is_resumed_from_the_next() {
        let body: Vec<u8> = (0..100u8).collect();
        let first = TestServer::start().faulty_file("/a.gz", body.clone(), Fault::DropAfter(40));
        let second = TestServer::start().file("/a.gz", body.clone());
        let dest = tempfile::tempdir().unwrap();
        let set = entry(&[("a.gz", &body)]);
        let outcome = fetch_file(
            &test_agent(),
            dest.path(),
            &set.files[0],
            &[first.url("/"), second.url("/")],
            Progress::Quiet,
        )
        .unwrap();
        assert_eq!(
            outcome,
            Outcome::Downloaded {
                url: second.url("/a.gz"),
                replaced: None
            }
        );
        assert_eq!(std::fs::read(dest.path().join("a.gz")).unwrap(), body);
        assert_eq!(second.requests()[0].range.as_deref(), Some("bytes=40-"));
        assert_eq!(names_in(dest.path()), ["a.gz"]);
    }

    #[test]
    fn the_final_message_says_what_to_do() {
        let failure = |error: DownloadError| FileFailure {
            target: PathBuf::from("data/set/a.gz"),
            attempts: vec![("http://m/".into(), error)],
        };
        let dropped = failure(DownloadError::Dropped {
            url: "http://m/a.gz".into(),
            received: 4,
            expected: 9,
            cause: "eof".into(),
        });
        let text = failure_message(&[dropped]);
        assert!(
            text.contains("data/set/a.gz")
                && text.contains("Rerun `cargo xtask fetch-data` to resume"),
            "{text}"
        );
        let mismatch = failure(DownloadError::Digest {
            url: "http://m/a.gz".into(),
            algorithm: "md5",
            expected: "00".into(),
            found: "11".into(),
        });
        let text = failure_message(&[mismatch]);
        assert!(
            text.contains("differs from datasets.toml") && text.contains("--mirror"),
            "{text}"
        );
        let http = failure(DownloadError::Http {
            url: "http://m/a.gz".into(),
            status: 503,
            text: "Service Unavailable".into(),
        });
        assert!(failure_message(&[http]).contains("Rerun `cargo xtask fetch-data` to try again"));
        let offline = failure(DownloadError::Unreachable {
            url: "http://m/a.gz".into(),
            message: "refused".into(),
        });
        let text = failure_message(&[offline]);
        assert!(
            text.contains("looks offline") && !text.contains("Rerun"),
            "{text}"
        );
    }

    #[test]
    fn the_manifest_datasets_have_mirrors() {
        for (name, d) in manifest::datasets() {
            assert!(!d.mirrors.is_empty(), "{name}");
        }
    }
}
