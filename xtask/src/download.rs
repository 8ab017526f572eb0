//! One verified download: a URL is streamed into the temporary file beside its target while it is hashed,
//! its size and digest are checked, and only then is it fsynced and renamed into place
//! (`glassbox_assets::atomic`). A failed or rejected download leaves nothing behind: no target, no temporary.

use std::io::{self, IsTerminal, Read};
use std::path::Path;
use std::time::Duration;

use glassbox_assets::atomic;
use glassbox_assets::checksum::{Algorithm, Hasher};
use indicatif::{ProgressBar, ProgressStyle};

/// Why one URL did not give the expected file. Every variant names the URL.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// No answer at all (DNS, refused connection, network down): most likely offline.
    #[error("{url}: unreachable ({message})")]
    Unreachable { url: String, message: String },
    /// Any other failure before an HTTP answer (bad URL, TLS, proxy).
    #[error("{url}: {message}")]
    Transport { url: String, message: String },
    #[error("{url}: HTTP {status} {text}")]
    Http {
        url: String,
        status: u16,
        text: String,
    },
    #[error("{url}: wrong size: expected {expected} bytes, {found}")]
    Size {
        url: String,
        expected: u64,
        found: String,
    },
    #[error("{url}: {algorithm} mismatch: expected {expected}, got {found}")]
    Digest {
        url: String,
        algorithm: &'static str,
        expected: String,
        found: String,
    },
    /// Reading the body or writing the file failed part way.
    #[error("{url}: {source}")]
    Io {
        url: String,
        #[source]
        source: glassbox_assets::Error,
    },
}

impl DownloadError {
    pub fn is_unreachable(&self) -> bool {
        matches!(self, DownloadError::Unreachable { .. })
    }
}

/// What the downloaded bytes must be.
#[derive(Clone, Copy, Debug)]
pub struct Expected<'a> {
    pub size: u64,
    pub algorithm: Algorithm,
    pub digest: &'a str,
}

/// The agent every plain download uses: bounded waits so an offline machine fails in seconds, not minutes,
/// and the usual proxy variables honoured.
pub fn agent() -> ureq::Agent {
    agent_with_proxy(true)
}

/// Tests talk to 127.0.0.1 and must not go through a proxy: ureq 2 ignores NO_PROXY.
pub fn agent_with_proxy(from_env: bool) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(15))
        .timeout_read(Duration::from_secs(60))
        .try_proxy_from_env(from_env)
        .user_agent(concat!("glassbox-xtask/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Turns a failed request into a [`DownloadError`], telling "no answer" apart from "a bad answer".
pub fn request_error(url: &str, err: ureq::Error) -> DownloadError {
    match err {
        ureq::Error::Status(status, response) => DownloadError::Http {
            url: url.to_string(),
            status,
            text: response.status_text().to_string(),
        },
        ureq::Error::Transport(t) => {
            let mut message = t.kind().to_string();
            if let Some(m) = t.message() {
                message = format!("{message}: {m}");
            }
            if let Some(source) = std::error::Error::source(&t) {
                message = format!("{message}: {source}");
            }
            let url = url.to_string();
            match t.kind() {
                ureq::ErrorKind::Dns
                | ureq::ErrorKind::ConnectionFailed
                | ureq::ErrorKind::Io
                | ureq::ErrorKind::ProxyConnect => DownloadError::Unreachable { url, message },
                _ => DownloadError::Transport { url, message },
            }
        }
    }
}

/// How a download shows its progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// An indicatif bar on stderr (interactive use).
    Bar,
    /// A few plain lines on stderr, for logs and CI where a redrawn bar would be noise.
    Lines,
    /// Nothing (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    Quiet,
}

impl Progress {
    /// A bar when stderr is a terminal, plain lines otherwise.
    pub fn auto() -> Self {
        if io::stderr().is_terminal() {
            Progress::Bar
        } else {
            Progress::Lines
        }
    }

    fn start(self, label: &str, total: u64) -> Meter {
        match self {
            Progress::Bar => {
                let bar = ProgressBar::new(total);
                let style = ProgressStyle::with_template(
                    "{msg} [{elapsed_precise}] [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} ({eta})",
                )
                .expect("valid template")
                .progress_chars("=> ");
                bar.set_style(style);
                bar.set_message(label.to_string());
                Meter::Bar(bar)
            }
            Progress::Lines => Meter::Lines {
                label: label.to_string(),
                total,
                done: 0,
                next_quarter: 1,
            },
            Progress::Quiet => Meter::Quiet,
        }
    }
}

enum Meter {
    Bar(ProgressBar),
    Lines {
        label: String,
        total: u64,
        done: u64,
        next_quarter: u64,
    },
    Quiet,
}

impl Meter {
    fn advance(&mut self, n: u64) {
        match self {
            Meter::Bar(bar) => bar.inc(n),
            Meter::Lines {
                label,
                total,
                done,
                next_quarter,
            } => {
                *done += n;
                // One line per quarter: enough to see a slow mirror is alive, few enough for a CI log.
                while *next_quarter <= 4 && *done * 4 >= *next_quarter * *total && *total > 0 {
                    eprintln!(
                        "  {label}: {}% ({done} of {total} bytes)",
                        *next_quarter * 25
                    );
                    *next_quarter += 1;
                }
            }
            Meter::Quiet => {}
        }
    }

    fn finish(self) {
        if let Meter::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

/// Downloads `url` to `target`, accepting it only with the expected size and digest.
///
/// The bytes go to `atomic::temp_path(target)` while being hashed; on success that file is fsynced and renamed
/// onto `target`, on any failure it is removed and `target` is left as it was.
pub fn download_verified(
    agent: &ureq::Agent,
    url: &str,
    target: &Path,
    expected: &Expected,
    progress: Progress,
) -> Result<(), DownloadError> {
    let response = agent.get(url).call().map_err(|e| request_error(url, e))?;
    // A server that announces the wrong length is rejected before a byte is written. With a content
    // encoding (gzip) the length is the encoded one, so it says nothing about the file.
    if response.header("content-encoding").is_none() {
        if let Some(len) = response
            .header("content-length")
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            if len != expected.size {
                return Err(DownloadError::Size {
                    url: url.to_string(),
                    expected: expected.size,
                    found: format!("the server announces {len}"),
                });
            }
        }
    }
    // Never read more than one byte past the expected size: a wrong file could be huge.
    let mut body = response.into_reader().take(expected.size + 1);
    let label = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| url.to_string());
    let mut meter = progress.start(&label, expected.size);
    let mut rejected = None;

    let written = atomic::write_atomic(target, |out| {
        let mut hasher = Hasher::new(expected.algorithm);
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])?;
            total += n as u64;
            meter.advance(n as u64);
        }
        if total != expected.size {
            let found = if total > expected.size {
                "got more".to_string()
            } else {
                format!("got {total}")
            };
            rejected = Some(DownloadError::Size {
                url: url.to_string(),
                expected: expected.size,
                found,
            });
            return Err(io::Error::other("rejected"));
        }
        let found = hasher.finish_hex();
        if !found.eq_ignore_ascii_case(expected.digest) {
            rejected = Some(DownloadError::Digest {
                url: url.to_string(),
                algorithm: expected.algorithm.name(),
                expected: expected.digest.to_ascii_lowercase(),
                found,
            });
            return Err(io::Error::other("rejected"));
        }
        Ok(())
    });
    meter.finish();

    match written {
        Ok(()) => Ok(()),
        // write_atomic has already removed the temporary file.
        Err(source) => Err(rejected.unwrap_or(DownloadError::Io {
            url: url.to_string(),
            source,
        })),
    }
}

/// `base` joined with a file name, whether or not the mirror was written with its trailing slash.
pub fn join_url(base: &str, name: &str) -> String {
    if base.ends_with('/') {
        format!("{base}{name}")
    } else {
        format!("{base}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_server::TestServer;
    use glassbox_assets::checksum::bytes_digest;

    fn test_agent() -> ureq::Agent {
        agent_with_proxy(false)
    }

    fn expect(bytes: &[u8]) -> (u64, String) {
        (bytes.len() as u64, bytes_digest(bytes, Algorithm::Md5))
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|it| {
                it.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn downloads_verifies_and_renames() {
        let body = b"hello, mnist".to_vec();
        let server = TestServer::start().file("/d/a.bin", body.clone());
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub/a.bin");
        let (size, md5) = expect(&body);
        let expected = Expected {
            size,
            algorithm: Algorithm::Md5,
            digest: &md5,
        };
        download_verified(
            &test_agent(),
            &server.url("/d/a.bin"),
            &target,
            &expected,
            Progress::Quiet,
        )
        .unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), body);
        assert_eq!(
            leftovers(&dir.path().join("sub")),
            vec!["a.bin".to_string()]
        );
    }

    #[test]
    fn a_checksum_mismatch_leaves_nothing_behind() {
        let server = TestServer::start().file("/a.bin", b"corrupted!".to_vec());
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.bin");
        let (size, md5) = expect(b"original!!");
        let expected = Expected {
            size,
            algorithm: Algorithm::Md5,
            digest: &md5,
        };
        let err = download_verified(
            &test_agent(),
            &server.url("/a.bin"),
            &target,
            &expected,
            Progress::Quiet,
        )
        .unwrap_err();
        assert!(matches!(err, DownloadError::Digest { .. }), "{err}");
        assert!(err.to_string().contains("md5 mismatch"), "{err}");
        assert!(!target.exists());
        assert!(!atomic::temp_path(&target).exists());
        assert!(
            leftovers(dir.path()).is_empty(),
            "{:?}",
            leftovers(dir.path())
        );
    }

    #[test]
    fn a_wrong_size_is_rejected_whether_announced_or_not() {
        let server = TestServer::start()
            .file("/short.bin", b"abc".to_vec())
            .unsized_file("/stream.bin", b"abcdef".to_vec());
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x.bin");
        let (_, md5) = expect(b"abcd");
        let expected = Expected {
            size: 4,
            algorithm: Algorithm::Md5,
            digest: &md5,
        };
        for path in ["/short.bin", "/stream.bin"] {
            let err = download_verified(
                &test_agent(),
                &server.url(path),
                &target,
                &expected,
                Progress::Quiet,
            )
            .unwrap_err();
            assert!(matches!(err, DownloadError::Size { .. }), "{err}");
            assert!(err.to_string().contains("expected 4 bytes"), "{err}");
            assert!(
                leftovers(dir.path()).is_empty(),
                "{:?}",
                leftovers(dir.path())
            );
        }
    }

    #[test]
    fn a_closed_port_is_reported_unreachable_with_its_url() {
        let url = format!(
            "http://127.0.0.1:{}/a.bin",
            crate::test_server::closed_port()
        );
        let dir = tempfile::tempdir().unwrap();
        let expected = Expected {
            size: 1,
            algorithm: Algorithm::Md5,
            digest: "00",
        };
        let err = download_verified(
            &test_agent(),
            &url,
            &dir.path().join("a.bin"),
            &expected,
            Progress::Quiet,
        )
        .unwrap_err();
        assert!(err.is_unreachable(), "{err:?}");
        assert!(
            err.to_string().contains(&url) && err.to_string().contains("unreachable"),
            "{err}"
        );
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn urls_join_with_or_without_a_slash() {
        assert_eq!(join_url("http://h/m/", "f"), "http://h/m/f");
        assert_eq!(join_url("http://h/m", "f"), "http://h/m/f");
    }
}
