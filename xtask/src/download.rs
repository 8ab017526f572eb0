//! One verified download. A URL is streamed into a hidden partial file beside its target while it is hashed;
//! only when the whole file has the expected size and digest is it fsynced and renamed onto the target, so the
//! target holds its old content or a verified new one, never part of a file.
//!
//! A transfer that breaks off (a dropped connection, a stall) keeps its partial file and the next attempt asks
//! for the rest with a `Range` request. The kept prefix is hashed again, so a resumed file is verified as a
//! whole; a rejected file (wrong size or digest) is deleted, and a rejected *resumed* one is fetched once more
//! from its first byte, since the kept prefix may be what was wrong.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use glassbox_assets::checksum::{Algorithm, Hasher};
use indicatif::{ProgressBar, ProgressStyle};

/// A mirror that does not accept a connection within this is treated as unreachable, so an offline machine
/// fails in seconds.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The longest silence accepted while waiting for an answer or for the next bytes of a body. It bounds each
/// read, not the transfer: a slow mirror that keeps sending is never cut off, a stalled one is after a minute
/// (long enough for a busy CDN to answer a first request, short enough that a hung transfer is noticed).
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

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
    /// The server went silent for longer than the read time-out; `stage` says when.
    #[error("{url}: timed out {stage}")]
    TimedOut { url: String, stage: String },
    /// The connection closed or broke before the whole body had arrived.
    #[error("{url}: the connection dropped after {received} of {expected} bytes ({cause})")]
    Dropped {
        url: String,
        received: u64,
        expected: u64,
        cause: String,
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
    /// Another process holds the partial file: two writers would interleave their bytes.
    #[error(
        "{url}: another download of this file is in progress (it holds {}); let it finish, or stop it and rerun",
        partial.display()
    )]
    Busy { url: String, partial: PathBuf },
    /// Writing the file failed (disk full, permissions).
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

    /// The transfer broke off part way; what arrived is kept beside the target and a rerun resumes from it.
    pub fn is_interrupted(&self) -> bool {
        matches!(
            self,
            DownloadError::TimedOut { .. } | DownloadError::Dropped { .. }
        )
    }

    /// The server sent a file that is not the expected one; rerunning against the same server will not help.
    pub fn is_rejected(&self) -> bool {
        matches!(
            self,
            DownloadError::Size { .. } | DownloadError::Digest { .. }
        )
    }
}

/// What the downloaded bytes must be.
#[derive(Clone, Copy, Debug)]
pub struct Expected<'a> {
    pub size: u64,
    pub algorithm: Algorithm,
    pub digest: &'a str,
}

impl Expected<'_> {
    /// Whether `path` already holds these bytes: its size first, so a truncated file costs no hashing.
    pub fn holds(&self, path: &Path) -> io::Result<bool> {
        if fs::metadata(path)?.len() != self.size {
            return Ok(false);
        }
        let digest = glassbox_assets::checksum::file_digest(path, self.algorithm)
            .map_err(io::Error::other)?;
        Ok(digest.eq_ignore_ascii_case(self.digest))
    }
}

/// The agent every plain download uses: bounded waits (see [`CONNECT_TIMEOUT`], [`READ_TIMEOUT`]) and the
/// usual proxy variables honoured.
pub fn agent() -> ureq::Agent {
    agent_builder(true, READ_TIMEOUT).build()
}

/// Tests talk to 127.0.0.1 and must not go through a proxy: ureq 2 ignores NO_PROXY.
#[cfg_attr(not(test), allow(dead_code))]
pub fn agent_with_proxy(from_env: bool) -> ureq::Agent {
    agent_builder(from_env, READ_TIMEOUT).build()
}

/// The settings every agent of xtask shares; `read_timeout` is a parameter so tests of a stall take a second.
/// No overall deadline is set: it would cut off a large file on a slow but healthy connection.
pub fn agent_builder(proxy_from_env: bool, read_timeout: Duration) -> ureq::AgentBuilder {
    ureq::AgentBuilder::new()
        .tls_config(tls_config())
        .timeout_connect(CONNECT_TIMEOUT)
        .timeout_read(read_timeout)
        .try_proxy_from_env(proxy_from_env)
        .user_agent(concat!("glassbox-xtask/", env!("CARGO_PKG_VERSION")))
}

/// TLS that trusts Mozilla's roots, as ureq does by default, and also the system's store
/// (`/etc/ssl/certs`, or `SSL_CERT_FILE`): behind a company's TLS-inspecting proxy, or on a machine whose
/// administrator added a root, the system store is what curl and pip trust, and downloads should too.
fn tls_config() -> std::sync::Arc<rustls::ClientConfig> {
    static CONFIG: std::sync::OnceLock<std::sync::Arc<rustls::ClientConfig>> =
        std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            // A missing or unreadable system store leaves Mozilla's roots, which is what ureq would use.
            if let Ok(native) = rustls_native_certs::load_native_certs() {
                roots.add_parsable_certificates(native);
            }
            let config = rustls::ClientConfig::builder_with_provider(
                rustls::crypto::ring::default_provider().into(),
            )
            .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
            .expect("ring supports TLS 1.2 and 1.3")
            .with_root_certificates(roots)
            .with_no_client_auth();
            std::sync::Arc::new(config)
        })
        .clone()
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
            let source = std::error::Error::source(&t);
            if let Some(source) = source {
                message = format!("{message}: {source}");
            }
            let url = url.to_string();
            // A server that accepted the connection and then said nothing is reachable, just stalled; calling it
            // "unreachable" would send the user looking for a network problem.
            let silent = source
                .and_then(|s| s.downcast_ref::<io::Error>())
                .is_some_and(|e| is_timeout(e.kind()));
            match t.kind() {
                ureq::ErrorKind::Io if silent => DownloadError::TimedOut {
                    url,
                    stage: "waiting for the server to answer".into(),
                },
                ureq::ErrorKind::Dns
                | ureq::ErrorKind::ConnectionFailed
                | ureq::ErrorKind::Io
                | ureq::ErrorKind::ProxyConnect => DownloadError::Unreachable { url, message },
                _ => DownloadError::Transport { url, message },
            }
        }
    }
}

/// ureq reports a read time-out as `TimedOut`; a raw socket time-out on Unix is `WouldBlock`.
fn is_timeout(kind: io::ErrorKind) -> bool {
    matches!(kind, io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock)
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

    /// Starts the count at the bytes a resumed transfer already has.
    fn resume_at(&mut self, done_now: u64) {
        match self {
            Meter::Bar(bar) => bar.set_position(done_now),
            Meter::Lines {
                total,
                done,
                next_quarter,
                ..
            } => {
                *done = done_now;
                // The quarters already behind a resumed transfer are not announced as news.
                *next_quarter = (done_now * 4).checked_div(*total).map_or(1, |q| q + 1);
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

/// What to fetch: the URL, a bearer token for it (the hub's gated repositories), and the name progress shows.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub url: &'a str,
    pub bearer: Option<&'a str>,
    pub label: &'a str,
}

/// Where the bytes of `target` collect until they are verified: hidden, beside it (so the rename stays on one
/// file system), and the same for every run, so that a rerun finds it and resumes.
pub fn partial_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    target.with_file_name(format!(".{name}.part"))
}

/// Downloads `url` to `target`, accepting it only with the expected size and digest.
pub fn download_verified(
    agent: &ureq::Agent,
    url: &str,
    target: &Path,
    expected: &Expected,
    progress: Progress,
) -> Result<(), DownloadError> {
    let label = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| url.to_string());
    let request = Request {
        url,
        bearer: None,
        label: &label,
    };
    fetch_verified(agent, &request, target, expected, progress)
}

/// Downloads `request.url` to `target`, accepting it only with the expected size and digest.
///
/// The bytes go to [`partial_path`]`(target)`, resuming what an interrupted run left there. On success the
/// file is fsynced and renamed onto `target`. On failure `target` is left as it was; the partial file keeps
/// bytes nothing has found wrong (a transfer that broke off, a mirror that did not answer) and is deleted when
/// its content was rejected.
pub fn fetch_verified(
    agent: &ureq::Agent,
    request: &Request,
    target: &Path,
    expected: &Expected,
    progress: Progress,
) -> Result<(), DownloadError> {
    let partial = partial_path(target);
    let file = open_partial(request.url, &partial)?;
    let transfer = Transfer {
        agent,
        request,
        file: &file,
        partial: &partial,
        expected,
        progress,
    };
    let kept = file.metadata().map_or(0, |m| m.len());
    // A partial as long as the file cannot be the prefix of anything still to fetch.
    let kept = if kept < expected.size { kept } else { 0 };
    let mut result = transfer.attempt(kept);
    if kept > 0 {
        if let Err(Failed { keep: false, .. }) = result {
            result = transfer.attempt(0);
        }
    }
    match result {
        Ok(()) => finish(request.url, file, &partial, target),
        Err(failed) => {
            let empty = file.metadata().map_or(true, |m| m.len() == 0);
            drop(file);
            if !failed.keep || empty {
                let _ = fs::remove_file(&partial);
            }
            Err(failed.error)
        }
    }
}

/// A failed attempt, and whether the bytes it left in the partial file are worth resuming from.
struct Failed {
    error: DownloadError,
    keep: bool,
}

impl Failed {
    fn keeping(error: DownloadError) -> Self {
        Failed { error, keep: true }
    }

    fn discarding(error: DownloadError) -> Self {
        Failed { error, keep: false }
    }
}

struct Transfer<'a> {
    agent: &'a ureq::Agent,
    request: &'a Request<'a>,
    file: &'a File,
    partial: &'a Path,
    expected: &'a Expected<'a>,
    progress: Progress,
}

impl Transfer<'_> {
    /// One request, asking for the bytes from `start` on when the partial file already holds that many.
    fn attempt(&self, start: u64) -> Result<(), Failed> {
        let url = self.request.url;
        let size = self.expected.size;
        // Identity: the file's own bytes are what the digest is of, and what a range counts.
        let mut call = self.agent.get(url).set("Accept-Encoding", "identity");
        if let Some(token) = self.request.bearer {
            call = call.set("Authorization", &format!("Bearer {token}"));
        }
        if start > 0 {
            call = call.set("Range", &format!("bytes={start}-"));
        }
        let response = call.call().map_err(|e| {
            let error = request_error(url, e);
            // 416: the server's file is shorter than the kept prefix, so the prefix is not of that file.
            let keep = !matches!(error, DownloadError::Http { status: 416, .. });
            Failed { error, keep }
        })?;

        let start = if response.status() == 206 {
            let range = response.header("content-range").unwrap_or("none");
            if start == 0 || parse_content_range(range) != Some((start, size)) {
                return Err(Failed::discarding(DownloadError::Transport {
                    url: url.to_string(),
                    message: format!(
                        "asked for bytes {start}- of {size}, the server sent the range {range}"
                    ),
                }));
            }
            start
        } else {
            // A server that ignores ranges sends the whole file: it is taken from its first byte.
            0
        };
        let remaining = size - start;
        // A wrong announced length is rejected before a byte is written. With a content encoding (which a
        // server may use despite `identity`) the length is the encoded one, so it says nothing about the file.
        if response.header("content-encoding").is_none() {
            if let Some(len) = response
                .header("content-length")
                .and_then(|v| v.trim().parse::<u64>().ok())
            {
                if len != remaining {
                    let found = if start == 0 {
                        format!("the server announces {len}")
                    } else {
                        format!("the server announces {len} for the remaining {remaining}")
                    };
                    return Err(Failed::discarding(DownloadError::Size {
                        url: url.to_string(),
                        expected: size,
                        found,
                    }));
                }
            }
        }

        let mut hasher = self.hash_prefix(start)?;
        let mut meter = self.progress.start(self.request.label, size);
        meter.resume_at(start);
        // Never read more than one byte past the expected size: a wrong file could be huge.
        let mut body = response.into_reader().take(remaining + 1);
        let mut out = BufWriter::with_capacity(1 << 16, self.file);
        let mut buf = vec![0u8; 1 << 16];
        let mut received = start;
        let broke = loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break None,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Some(e),
            };
            hasher.update(&buf[..n]);
            if let Err(e) = out.write_all(&buf[..n]) {
                meter.finish();
                return Err(Failed::discarding(self.write_error(e)));
            }
            received += n as u64;
            meter.advance(n as u64);
        };
        meter.finish();
        // What arrived is kept for a resume, so it must reach the file even when the transfer broke.
        out.flush()
            .map_err(|e| Failed::discarding(self.write_error(e)))?;

        if let Some(e) = broke {
            return Err(Failed::keeping(if is_timeout(e.kind()) {
                DownloadError::TimedOut {
                    url: url.to_string(),
                    stage: format!("after {received} of {size} bytes: the server stopped sending"),
                }
            } else {
                DownloadError::Dropped {
                    url: url.to_string(),
                    received,
                    expected: size,
                    cause: e.to_string(),
                }
            }));
        }
        if received > size {
            return Err(Failed::discarding(DownloadError::Size {
                url: url.to_string(),
                expected: size,
                found: "the body is longer".into(),
            }));
        }
        if received < size {
            // Without a length the body ends when the connection closes: a drop looks just like this.
            return Err(Failed::keeping(DownloadError::Dropped {
                url: url.to_string(),
                received,
                expected: size,
                cause: "the body ended early".into(),
            }));
        }
        let found = hasher.finish_hex();
        if !found.eq_ignore_ascii_case(self.expected.digest) {
            return Err(Failed::discarding(DownloadError::Digest {
                url: url.to_string(),
                algorithm: self.expected.algorithm.name(),
                expected: self.expected.digest.to_ascii_lowercase(),
                found,
            }));
        }
        Ok(())
    }

    fn hash_prefix(&self, start: u64) -> Result<Hasher, Failed> {
        hash_prefix(self.file, start, self.expected.algorithm)
            .map_err(|e| Failed::discarding(self.write_error(e)))
    }

    fn write_error(&self, e: io::Error) -> DownloadError {
        DownloadError::Io {
            url: self.request.url.to_string(),
            source: glassbox_assets::Error::io(self.partial, e),
        }
    }
}

/// Cuts the partial file to its first `start` bytes and hashes them, leaving it positioned after them.
fn hash_prefix(mut file: &File, start: u64, algorithm: Algorithm) -> io::Result<Hasher> {
    file.set_len(start)?;
    file.seek(SeekFrom::Start(0))?;
    let mut hasher = Hasher::new(algorithm);
    let mut prefix = file.take(start);
    let mut buf = vec![0u8; 1 << 16];
    let mut read = 0u64;
    loop {
        match prefix.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                read += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if read != start {
        return Err(io::Error::other(format!(
            "the partial file ended after {read} of its {start} bytes"
        )));
    }
    Ok(hasher)
}

/// Creates (or reopens) the partial file, locked against a second run downloading the same file.
fn open_partial(url: &str, partial: &Path) -> Result<File, DownloadError> {
    let io_error = |path: &Path, e| DownloadError::Io {
        url: url.to_string(),
        source: glassbox_assets::Error::io(path, e),
    };
    if let Some(dir) = partial.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(partial)
        .map_err(|e| io_error(partial, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(DownloadError::Busy {
            url: url.to_string(),
            partial: partial.to_path_buf(),
        }),
        // A file system without locks (some network mounts) still gets its download, unguarded.
        Err(fs::TryLockError::Error(_)) => Ok(file),
    }
}

/// Makes the verified partial file the target: fsync, rename, fsync of the directory (best effort).
fn finish(url: &str, file: File, partial: &Path, target: &Path) -> Result<(), DownloadError> {
    let io_error = |path: &Path, e| DownloadError::Io {
        url: url.to_string(),
        source: glassbox_assets::Error::io(path, e),
    };
    let renamed = file
        .sync_all()
        .map_err(|e| io_error(partial, e))
        .and_then(|()| fs::rename(partial, target).map_err(|e| io_error(target, e)));
    drop(file);
    if renamed.is_err() {
        let _ = fs::remove_file(partial);
    }
    renamed?;
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// `bytes a-b/total` as `(a, total)`.
fn parse_content_range(value: &str) -> Option<(u64, u64)> {
    let (range, total) = value.trim().strip_prefix("bytes ")?.split_once('/')?;
    let (first, _) = range.split_once('-')?;
    Some((first.trim().parse().ok()?, total.trim().parse().ok()?))
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
    use crate::test_server::{Fault, Route, TestServer};
    use glassbox_assets::checksum::bytes_digest;
    use std::time::Instant;

    /// Short enough that a stall test takes a second; a stall in these tests lasts [`STALL`].
    const TEST_READ_TIMEOUT: Duration = Duration::from_secs(1);
    /// Far longer than the test time-out, so a test that waits it out fails its timing check.
    const STALL: Duration = Duration::from_secs(30);

    fn test_agent() -> ureq::Agent {
        agent_builder(false, TEST_READ_TIMEOUT).build()
    }

    fn expect(bytes: &[u8]) -> (u64, String) {
        (bytes.len() as u64, bytes_digest(bytes, Algorithm::Md5))
    }

    /// 100 distinct-looking bytes, so a misplaced range cannot hash right by chance.
    fn hundred_bytes() -> Vec<u8> {
        (0..100u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect()
    }

    fn assert_no_leftovers(dir: &Path) {
        let left = leftovers(dir);
        assert!(left.is_empty(), "left behind: {left:?}");
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|it| {
                it.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Downloads `url` to `target`, expecting `want`.
    fn fetch(url: &str, target: &Path, want: &[u8]) -> Result<(), DownloadError> {
        let (size, md5) = expect(want);
        let expected = Expected {
            size,
            algorithm: Algorithm::Md5,
            digest: &md5,
        };
        download_verified(&test_agent(), url, target, &expected, Progress::Quiet)
    }

    fn ranges(server: &TestServer) -> Vec<Option<String>> {
        server.requests().into_iter().map(|r| r.range).collect()
    }

    #[test]
    fn downloads_verifies_and_renames() {
        let body = b"hello, mnist".to_vec();
        let server = TestServer::start().file("/d/a.bin", body.clone());
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub/a.bin");
        fetch(&server.url("/d/a.bin"), &target, &body).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), body);
        assert_eq!(leftovers(&dir.path().join("sub")), ["a.bin"]);
    }

    #[test]
    fn a_checksum_mismatch_keeps_the_previous_file_and_nothing_else() {
        let good = b"original!!".to_vec();
        let server = TestServer::start().file("/a.bin", b"corrupted!".to_vec());
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.bin");
        std::fs::write(&target, b"the previous copy").unwrap();
        let url = server.url("/a.bin");
        let err = fetch(&url, &target, &good).unwrap_err();
        assert!(matches!(err, DownloadError::Digest { .. }), "{err}");
        assert!(err.is_rejected() && !err.is_interrupted());
        let text = err.to_string();
        assert!(
            text.contains(&url) && text.contains("md5 mismatch"),
            "{text}"
        );
        assert_eq!(std::fs::read(&target).unwrap(), b"the previous copy");
        assert_eq!(leftovers(dir.path()), ["a.bin"]);

        let good_server = TestServer::start().file("/a.bin", good.clone());
        fetch(&good_server.url("/a.bin"), &target, &good).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), good);
        assert_eq!(ranges(&good_server), [None]);
    }

    #[test]
    fn a_wrong_size_is_rejected_whether_announced_or_not() {
        let server = TestServer::start()
            .file("/short.bin", b"abc".to_vec())
            .unsized_file("/stream.bin", b"abcdef".to_vec());
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x.bin");
        for (path, found) in [
            ("/short.bin", "the server announces 3"),
            ("/stream.bin", "the body is longer"),
        ] {
            let url = server.url(path);
            let err = fetch(&url, &target, b"abcd").unwrap_err();
            assert!(matches!(err, DownloadError::Size { .. }), "{err}");
            let text = err.to_string();
            assert!(
                text.contains(&url) && text.contains("expected 4 bytes") && text.contains(found),
                "{text}"
            );
            assert!(
                leftovers(dir.path()).is_empty(),
                "{:?}",
                leftovers(dir.path())
            );
        }
    }

    #[test]
    fn a_lying_content_length_is_rejected_before_anything_is_written() {
        let body = hundred_bytes();
        let server = TestServer::start()
            .faulty_file("/long.bin", body.clone(), Fault::Length(150))
            .faulty_file("/short.bin", body.clone(), Fault::Length(60));
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.bin");
        for (path, announced) in [("/long.bin", 150), ("/short.bin", 60)] {
            let url = server.url(path);
            let err = fetch(&url, &target, &body).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains(&url)
                    && text.contains(&format!(
                        "wrong size: expected 100 bytes, the server announces {announced}"
                    )),
                "{text}"
            );
            assert!(
                leftovers(dir.path()).is_empty(),
                "{:?}",
                leftovers(dir.path())
            );
        }
        let good = TestServer::start().file("/a.bin", body.clone());
        fetch(&good.url("/a.bin"), &target, &body).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), body);
    }

    #[test]
    fn a_dropped_connection_keeps_only_a_hidden_partial_and_a_rerun_resumes() {
        let body = hundred_bytes();
        let server = TestServer::start().faulty_file("/a.bin", body.clone(), Fault::DropAfter(40));
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.bin");
        let url = server.url("/a.bin");
        let err = fetch(&url, &target, &body).unwrap_err();
        assert!(
            matches!(err, DownloadError::Dropped { received: 40, .. }),
            "{err:?}"
        );
        assert!(err.is_interrupted() && !err.is_unreachable());
        let text = err.to_string();
        assert!(
            text.contains(&url) && text.contains("dropped after 40 of 100 bytes"),
            "{text}"
        );
        assert!(!target.exists());
        assert_eq!(leftovers(dir.path()), [".a.bin.part"]);
        assert_eq!(std::fs::read(partial_path(&target)).unwrap(), body[..40]);

        let good = TestServer::start().file("/a.bin", body.clone());
        fetch(&good.url("/a.bin"), &target, &body).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), body);
        assert_eq!(ranges(&good), [Some("bytes=40-".to_string())]);
        assert_eq!(leftovers(dir.path()), ["a.bin"]);
    }

    #[test]
    fn a_stalled_transfer_times_out_and_a_rerun_resumes() {
        let body = hundred_bytes();
        let server =
            TestServer::start().faulty_file("/a.bin", body.clone(), Fault::StallAfter(30, STALL));
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.bin");
        let url = server.url("/a.bin");
        let began = Instant::now();
        let err = fetch(&url, &target, &body).unwrap_err();
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "{:?}",
            began.elapsed()
        );
        assert!(matches!(err, DownloadError::TimedOut { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains(&url) && text.contains("timed out after 30 of 100 bytes"),
            "{text}"
        );
        assert!(!target.exists());
        assert_eq!(leftovers(dir.path()), [".a.bin.part"]);

        let good = TestServer::start().file("/a.bin", body.clone());
        fetch(&good.url("/a.bin"), &target, &body).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), body);
        assert_eq!(ranges(&good), [Some("bytes=30-".to_string())]);
    }

    #[test]
    fn a_server_that_never_answers_times_out_and_is_not_called_offline() {
        let server = TestServer::start().faulty_file(
            "/a.bin",
            hundred_bytes(),
            Fault::StallBeforeAnswer(STALL),
        );
        let dir = tempfile::tempdir().unwrap();
        let url = server.url("/a.bin");
        let began = Instant::now();
        let err = fetch(&url, &dir.path().join("a.bin"), &hundred_bytes()).unwrap_err();
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "{:?}",
            began.elapsed()
        );
        assert!(!err.is_unreachable(), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains(&url) && text.contains("timed out waiting for the server to answer"),
            "{text}"
        );
        assert_no_leftovers(dir.path());
    }

    #[test]
    fn a_slow_server_that_keeps_sending_is_not_cut_off() {
        // 5 pieces 400 ms apart: the transfer lasts twice the read time-out, no single wait reaches it.
        let body: Vec<u8> = hundred_bytes()[..50].to_vec();
        let server = TestServer::start().faulty_file(
            "/a.bin",
            body.clone(),
            Fault::Trickle(10, Duration::from_millis(400)),
        );
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.bin");
        let began = Instant::now();
        fetch(&server.url("/a.bin"), &target, &body).unwrap();
        assert!(began.elapsed() > TEST_READ_TIMEOUT, "{:?}", began.elapsed());
        assert_eq!(std::fs::read(&target).unwrap(), body);
    }

    #[test]
    fn a_resumed_file_with_a_bad_prefix_is_fetched_again_from_the_start() {
        let body = hundred_bytes();
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.bin");
        // Left by a drop from a mirror that served other bytes: only the whole-file md5 can tell.
        std::fs::write(partial_path(&target), [0u8; 40]).unwrap();
        let server = TestServer::start().file("/a.bin", body.clone());
        fetch(&server.url("/a.bin"), &target, &body).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), body);
        assert_eq!(ranges(&server), [Some("bytes=40-".to_string()), None]);
        assert_eq!(leftovers(dir.path()), ["a.bin"]);
    }

    #[test]
    fn a_server_that_ignores_the_range_gives_the_whole_file() {
        let body = hundred_bytes();
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.bin");
        std::fs::write(partial_path(&target), &body[..40]).unwrap();
        let server = TestServer::start().faulty_file("/a.bin", body.clone(), Fault::IgnoreRange);
        fetch(&server.url("/a.bin"), &target, &body).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), body);
        assert_eq!(ranges(&server), [Some("bytes=40-".to_string())]);
        assert_eq!(leftovers(dir.path()), ["a.bin"]);
    }

    #[test]
    fn a_wrong_content_range_is_never_spliced_in() {
        let body = hundred_bytes();
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.bin");
        std::fs::write(partial_path(&target), &body[..40]).unwrap();
        // Always bytes 0-99, whatever was asked: appended after the kept 40 bytes it would make 140.
        let server = TestServer::start().route(
            "/a.bin",
            Route {
                status: 206,
                headers: vec![("Content-Range".into(), "bytes 0-99/100".into())],
                body: body.clone(),
                sized: true,
                fault: Fault::None,
            },
        );
        let url = server.url("/a.bin");
        let err = fetch(&url, &target, &body).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&url) && text.contains("bytes 0-99/100"),
            "{text}"
        );
        assert_no_leftovers(dir.path());
    }

    #[test]
    fn a_partial_held_by_another_download_is_left_alone() {
        let body = hundred_bytes();
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.bin");
        std::fs::write(partial_path(&target), &body[..40]).unwrap();
        let other = File::open(partial_path(&target)).unwrap();
        other.lock().unwrap();
        let server = TestServer::start().file("/a.bin", body.clone());
        let err = fetch(&server.url("/a.bin"), &target, &body).unwrap_err();
        assert!(matches!(err, DownloadError::Busy { .. }), "{err:?}");
        assert!(err.to_string().contains("in progress"), "{err}");
        assert!(server.requests().is_empty());
        assert_eq!(std::fs::read(partial_path(&target)).unwrap(), body[..40]);
        drop(other);
        fetch(&server.url("/a.bin"), &target, &body).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), body);
    }

    #[test]
    fn a_closed_port_is_reported_unreachable_with_its_url() {
        let url = format!(
            "http://127.0.0.1:{}/a.bin",
            crate::test_server::closed_port()
        );
        let dir = tempfile::tempdir().unwrap();
        let err = fetch(&url, &dir.path().join("a.bin"), b"x").unwrap_err();
        assert!(err.is_unreachable(), "{err:?}");
        assert!(
            err.to_string().contains(&url) && err.to_string().contains("unreachable"),
            "{err}"
        );
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn urls_join_with_or_without_a_slash_and_content_ranges_parse() {
        assert_eq!(join_url("http://h/m/", "f"), "http://h/m/f");
        assert_eq!(join_url("http://h/m", "f"), "http://h/m/f");
        assert_eq!(parse_content_range("bytes 40-99/100"), Some((40, 100)));
        assert_eq!(parse_content_range("bytes 40-99/*"), None);
        assert_eq!(parse_content_range("none"), None);
    }
}
