//! `cargo xtask fetch-weights`: hub models into the Hugging Face cache, local models found where they are
//! handed over; every file checked before it is trusted.
//!
//! Hub files are downloaded by xtask's own verified downloader into hf-hub's cache layout, which the crates
//! read with hf-hub. hf-hub 0.4's downloader is not used when the sha256 is known: it has no read time-out (a
//! stalled transfer hangs for ever), and it renames whatever arrived into the cache, where the crates can see
//! it, before anything checks its size or digest.
//!
//! The hub settings are passed in as a [`HubConfig`] rather than read from the environment here, so tests can
//! point at a local server and a temporary cache without touching process-wide variables.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use glassbox_assets::atomic;
use glassbox_assets::checksum::Algorithm;
use glassbox_assets::manifest::{self, ModelEntry, Source};
use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Cache, Repo, RepoType};

use crate::download::{self, DownloadError, Expected, Progress};
use crate::hub_head::{self, is_sha256, Published};
use crate::weights_check::{self, CheckError, Checked, Expectations};

const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Where and how to reach the hub.
#[derive(Clone, Debug)]
pub struct HubConfig {
    /// `https://huggingface.co` or a mirror, without a trailing slash.
    pub endpoint: String,
    /// The cache's `hub` directory (`$HF_HOME/hub`).
    pub cache_dir: PathBuf,
    /// `HF_TOKEN`, sent as a bearer token; `None` falls back to `$HF_HOME/token` as hf-hub does.
    pub token: Option<String>,
    /// `HF_HUB_OFFLINE`: look in the cache only.
    pub offline: bool,
    pub progress: Progress,
    /// The longest silence accepted from the hub ([`download::READ_TIMEOUT`]; tests shorten it).
    pub read_timeout: Duration,
}

impl HubConfig {
    /// The settings hf-hub's `ApiBuilder::from_env()` reads (`HF_HOME`, `HF_ENDPOINT`), plus `HF_TOKEN` and
    /// `HF_HUB_OFFLINE`, which hf-hub 0.4 ignores but the Python tools honour.
    pub fn from_env() -> Self {
        let endpoint = std::env::var("HF_ENDPOINT").unwrap_or_else(|_| DEFAULT_ENDPOINT.into());
        HubConfig {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            cache_dir: glassbox_assets::hub::cache_dir(),
            token: std::env::var("HF_TOKEN")
                .ok()
                .filter(|t| !t.trim().is_empty()),
            offline: std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| is_truthy(&v)),
            progress: Progress::auto(),
            read_timeout: download::READ_TIMEOUT,
        }
    }

    /// `HF_TOKEN`, else the token hf-hub and the Python tools keep in `$HF_HOME/token`.
    fn bearer(&self) -> Option<String> {
        self.token.clone().or_else(|| self.cache().token())
    }

    fn cache(&self) -> Cache {
        Cache::new(self.cache_dir.clone())
    }

    /// The same builder `ApiBuilder::from_env()` gives when the environment holds this config.
    fn api(&self) -> anyhow::Result<hf_hub::api::sync::Api> {
        let mut builder = ApiBuilder::from_cache(self.cache())
            .with_endpoint(self.endpoint.clone())
            .with_progress(self.progress == Progress::Bar);
        if self.token.is_some() {
            builder = builder.with_token(self.token.clone());
        }
        builder.build().context("building the hub client")
    }
}

fn is_truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

fn hub_repo(entry: &ModelEntry) -> anyhow::Result<Repo> {
    let repo = entry
        .repo
        .clone()
        .context("a hub model needs `repo` in models.toml")?;
    Ok(Repo::with_revision(
        repo,
        RepoType::Model,
        entry.revision().to_string(),
    ))
}

/// The cache's blob behind a snapshot pointer; its file name is the etag hf-hub saw when downloading.
fn blob_of(pointer: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(pointer).ok()
}

/// Removes a bad file from the cache: the blob, the snapshot pointer and hf-hub's lock file, so that neither
/// the crates (which read the cache) nor the next run can pick it up.
fn remove_from_cache(pointer: &Path) {
    if let Some(blob) = blob_of(pointer) {
        let _ = std::fs::remove_file(&blob);
        let _ = std::fs::remove_file(blob.with_extension("lock"));
    }
    let _ = std::fs::remove_file(pointer);
}

/// What `fetch_hub` did.
#[derive(Debug)]
pub struct Fetched {
    pub checked: Checked,
    /// Downloaded now (else it was already in the cache).
    pub downloaded: bool,
    /// Notes for the user (a fallback taken, a check that could not be made).
    pub notes: Vec<String>,
}

/// Makes sure the cache holds a verified copy of a hub model and returns it.
pub fn fetch_hub(entry: &ModelEntry, config: &HubConfig) -> anyhow::Result<Fetched> {
    let repo = hub_repo(entry)?;
    let cached = config.cache().repo(repo.clone()).get(&entry.file);
    let mut notes = Vec::new();

    if config.offline {
        let Some(path) = cached else {
            bail!(
                "HF_HUB_OFFLINE is set and {} ({}) is not in the cache {}; unset HF_HUB_OFFLINE to download it, \
                 or copy a cache that holds it to HF_HOME",
                entry.file,
                repo.folder_name(),
                config.cache_dir.display()
            );
        };
        notes.push("HF_HUB_OFFLINE is set: the cache was used without asking the hub".into());
        let checked = check_cached(entry, &path, None)?;
        return Ok(Fetched {
            checked,
            downloaded: false,
            notes,
        });
    }

    let api = config.api()?;
    let api_repo = api.repo(repo.clone());
    let url = api_repo.url(&entry.file);
    let bearer = config.bearer();
    let published = match hub_head::published(&url, bearer.as_deref(), config.read_timeout) {
        Ok(p) => Some(p),
        // A cached copy is still usable offline: it is checked against what was recorded at download.
        Err(e) if cached.is_some() && e.is_unreachable() => {
            notes.push(format!(
                "the hub is unreachable ({e}); the cached copy was checked without it"
            ));
            None
        }
        Err(e) => bail!(
            "cannot ask the hub about {}: {e}{}",
            entry.file,
            if e.is_unreachable() { OFFLINE_HINT } else { "" }
        ),
    };

    // The cached copy is kept only if it is the blob the hub publishes now.
    let current = match (&cached, &published) {
        (Some(path), Some(p)) => blob_of(path)
            .and_then(|b| b.file_name().map(|n| n.to_string_lossy() == p.etag))
            .unwrap_or(false),
        (Some(_), None) => true,
        (None, _) => false,
    };
    let (path, downloaded) = if current {
        (cached.expect("current implies cached"), false)
    } else {
        if cached.is_some() {
            notes.push("the cache held an older version; downloaded the current one".into());
        }
        eprintln!("downloading {url}");
        let Some(published) = published.as_ref() else {
            bail!("{url}: nothing is known about the file to check a download against");
        };
        let path = download_into_cache(entry, config, &repo, &url, published)?;
        (path, true)
    };
    let checked = check_cached(entry, &path, published.as_ref())?;
    Ok(Fetched {
        checked,
        downloaded,
        notes,
    })
}

const OFFLINE_HINT: &str =
    "\nThis machine looks offline: set HF_ENDPOINT to a reachable mirror, or copy a \
     Hugging Face cache holding the file into HF_HOME and set HF_HUB_OFFLINE=1.";

/// Downloads a hub file into hf-hub's cache layout: `blobs/<etag>`, then `snapshots/<commit>/<file>` pointing
/// at it, then `refs/<revision>` naming the commit. The blob appears only once verified, and the pointer only
/// after the blob, so the crates never find a partial or unchecked file.
fn download_into_cache(
    entry: &ModelEntry,
    config: &HubConfig,
    repo: &Repo,
    url: &str,
    published: &Published,
) -> anyhow::Result<PathBuf> {
    let sha256 = entry.sha256.as_deref().or(published.sha256());
    let (Some(sha256), Some(size)) = (sha256, entry.size.or(published.size)) else {
        // A file outside git LFS has no published sha256 to verify the bytes against as they arrive; hf-hub
        // downloads it and `check_cached` checks what it can afterwards.
        return config
            .api()?
            .repo(repo.clone())
            .download(&entry.file)
            .with_context(|| format!("downloading {url}"));
    };
    // Both name paths inside the cache: a header must not be able to point outside it.
    let etag = Some(published.etag.as_str())
        .filter(|e| is_plain_name(e))
        .with_context(|| format!("{url}: the hub sent an unusable etag {:?}", published.etag))?;
    let commit = published
        .commit
        .as_deref()
        .filter(|c| is_plain_name(c))
        .with_context(|| format!("{url}: the hub sent no usable x-repo-commit header"))?;

    let repo_dir = config.cache_dir.join(repo.folder_name());
    let blob = repo_dir.join("blobs").join(etag);
    let agent = download::agent_builder(true, config.read_timeout)
        // The token may follow a redirect within the hub, never to the CDN (whose URL is signed).
        .redirect_auth_headers(ureq::RedirectAuthHeaders::SameHost)
        .build();
    let bearer = config.bearer();
    let request = download::Request {
        url,
        bearer: bearer.as_deref(),
        label: &entry.file,
    };
    let expected = Expected {
        size,
        algorithm: Algorithm::Sha256,
        digest: sha256,
    };
    download::fetch_verified(&agent, &request, &blob, &expected, config.progress)
        .map_err(|e| anyhow::anyhow!("{e}{}", download_hint(entry, &e)))?;

    let pointer = repo_dir.join("snapshots").join(commit).join(&entry.file);
    // From the pointer's directory up to the repository's: `snapshots/<commit>` and any folders in the name.
    let levels = 1 + Path::new(&entry.file).components().count();
    link_pointer(&blob, etag, levels, &pointer)?;
    atomic::write_bytes_atomic(
        &repo_dir.join("refs").join(repo.revision()),
        commit.as_bytes(),
    )?;
    Ok(pointer)
}

/// What to do after a failed hub download.
fn download_hint(entry: &ModelEntry, error: &DownloadError) -> String {
    let rerun = format!("cargo xtask fetch-weights --model {}", entry_name(entry));
    if error.is_interrupted() {
        format!(
            "\nThe bytes received are kept beside the blob in the cache (hidden, never read by the crates); run \
             `{rerun}` again to resume."
        )
    } else if error.is_rejected() {
        format!(
            "\nNothing was written to the cache; run `{rerun}` again, and if it fails the same way, the hub's copy \
             or models.toml is wrong."
        )
    } else if error.is_unreachable() {
        OFFLINE_HINT.to_string()
    } else {
        String::new()
    }
}

/// A single path component: not empty, no separator, not `.` or `..`.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\'])
}

/// Points `pointer` at `blob` the way hf-hub does (a relative symlink `../../blobs/<etag>`), replacing an older
/// pointer with one rename so that a reader sees the old file or the new one.
fn link_pointer(blob: &Path, etag: &str, levels: usize, pointer: &Path) -> anyhow::Result<()> {
    let dir = pointer
        .parent()
        .with_context(|| format!("{} has no parent directory", pointer.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let temp = atomic::temp_path(pointer);
    let _ = std::fs::remove_file(&temp);
    #[cfg(unix)]
    {
        let relative: PathBuf = std::iter::repeat_n(Path::new(".."), levels)
            .collect::<PathBuf>()
            .join("blobs")
            .join(etag);
        std::os::unix::fs::symlink(&relative, &temp)
            .with_context(|| format!("linking {} to {}", pointer.display(), blob.display()))?;
    }
    #[cfg(not(unix))]
    {
        let _ = (etag, levels);
        std::fs::copy(blob, &temp)
            .with_context(|| format!("copying {} to {}", blob.display(), pointer.display()))?;
    }
    if let Err(e) = std::fs::rename(&temp, pointer) {
        let _ = std::fs::remove_file(&temp);
        return Err(e).with_context(|| format!("placing {}", pointer.display()));
    }
    Ok(())
}

/// Checks a file in the cache against the manifest (pinned values first), else against what the hub publishes,
/// else against the blob's name (the etag recorded when it was downloaded). A bad file is deleted.
fn check_cached(
    entry: &ModelEntry,
    path: &Path,
    published: Option<&Published>,
) -> anyhow::Result<Checked> {
    let mut want = Expectations::pinned(entry);
    if want.size.is_none() {
        want.size = published.and_then(|p| p.size);
    }
    if want.sha256.is_none() {
        if let Some(sha) = published.and_then(Published::sha256) {
            want.sha256 = Some(sha.to_string());
            want.sha256_from = "the hub's x-linked-etag";
        } else if let Some(name) = blob_of(path)
            .and_then(|b| b.file_name().map(|n| n.to_string_lossy().into_owned()))
            .filter(|n| is_sha256(n))
        {
            want.sha256 = Some(name);
            want.sha256_from = "the etag recorded in the cache";
        }
    }
    match weights_check::check_file(path, &want) {
        Ok(checked) => Ok(checked),
        Err(e) if e.is_bad_file() => {
            remove_from_cache(path);
            bail!(
                "{e}\nThe file was removed from the cache; run `cargo xtask fetch-weights --model {}` again, and if \
                 it fails the same way, the hub's copy or models.toml is wrong.",
                entry_name(entry)
            )
        }
        Err(e) => Err(e.into()),
    }
}

fn entry_name(entry: &ModelEntry) -> String {
    manifest::models()
        .iter()
        .find(|(_, m)| m.file == entry.file && m.repo == entry.repo)
        .map_or_else(|| entry.file.clone(), |(name, _)| name.clone())
}

/// Where a local model may be: `$GLASSBOX_WEIGHTS/<file>`, then `<repo>/../shared/weights/<file>`.
pub fn local_candidates(
    entry: &ModelEntry,
    weights_env: Option<&Path>,
    root: &Path,
) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = weights_env.map(Path::to_path_buf).into_iter().collect();
    dirs.push(root.join("..").join("shared").join("weights"));
    dirs.into_iter().map(|d| d.join(&entry.file)).collect()
}

/// Checks a local model where it is expected; it cannot be downloaded, so absence is an error that says where.
pub fn check_local(entry: &ModelEntry, candidates: &[PathBuf]) -> anyhow::Result<Checked> {
    let Some(path) = candidates.iter().find(|p| p.is_file()) else {
        bail!(
            "{} is not downloadable (source = \"local\"): it is handed to the project. Expected at one of:\n{}\n\
             Set GLASSBOX_WEIGHTS to the directory holding it, or check a copy with --verify PATH.",
            entry.file,
            candidates
                .iter()
                .map(|p| format!("  {}", p.display()))
                .collect::<Vec<_>>()
                .join("\n")
        );
    };
    // `<repo>/../shared/...` reads better resolved.
    let path = path.canonicalize().unwrap_or_else(|_| path.clone());
    Ok(weights_check::check_file(
        &path,
        &Expectations::pinned(entry),
    )?)
}

/// The command.
pub fn run(model: &str, verify: Option<&Path>, root: &Path) -> anyhow::Result<()> {
    let entry = manifest::model(model)?;
    let checked = if let Some(path) = verify {
        // A file named by the user: checked against the manifest, never deleted.
        weights_check::check_file(path, &Expectations::pinned(entry))
            .map_err(|e: CheckError| anyhow::anyhow!(e))?
    } else {
        match entry.source {
            Source::Local => {
                let env = std::env::var_os("GLASSBOX_WEIGHTS").map(PathBuf::from);
                check_local(entry, &local_candidates(entry, env.as_deref(), root))?
            }
            Source::Hub => {
                let fetched = fetch_hub(entry, &HubConfig::from_env())?;
                for note in &fetched.notes {
                    println!("note: {note}");
                }
                if fetched.downloaded {
                    println!("{model}: downloaded into the Hugging Face cache");
                } else {
                    println!("{model}: already in the Hugging Face cache");
                }
                fetched.checked
            }
        }
    };
    report(model, entry, &checked);
    Ok(())
}

fn report(model: &str, entry: &ModelEntry, checked: &Checked) {
    println!("{model}: {}", checked.path.display());
    println!("  size       {} bytes", checked.size);
    let how = if checked.sha256_verified {
        "verified"
    } else {
        "NOT verified: nothing to compare with"
    };
    println!("  sha256     {} ({how})", checked.sha256);
    if let Some(p) = checked.parameters {
        let how = if entry.parameters.is_some() {
            "matches models.toml"
        } else {
            "not pinned"
        };
        println!("  parameters {p} ({how})");
    }
    if entry.sha256.is_none() || entry.size.is_none() {
        println!(
            "To pin this file, add to [models.{model}] in models/models.toml:\n  size = {}\n  sha256 = \"{}\"",
            checked.size, checked.sha256
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_server::{closed_port, proxy_in_env, Fault, Route, TestServer};
    use crate::weights_check::tiny_safetensors;
    use glassbox_assets::checksum::{bytes_digest, Algorithm};
    use glassbox_assets::manifest::{Naming, Preprocessing};
    use std::time::Instant;

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

    fn hub_entry(parameters: Option<u64>) -> ModelEntry {
        ModelEntry {
            description: "test".into(),
            source: Source::Hub,
            repo: Some("acme/tiny".into()),
            revision: Some("main".into()),
            file: "model.safetensors".into(),
            size: None,
            sha256: None,
            parameters,
            naming: Naming::Timm,
            preprocessing: Preprocessing::Torchvision,
            input_size: 224,
            classifier: true,
        }
    }

    /// Serves a file the way the hub serves an LFS file: the resolve URL answers with a 302 to a CDN URL and the
    /// `x-linked-etag` (the sha256 it claims), `x-linked-size` and `x-repo-commit` headers.
    fn hub_server(body: &[u8], claimed_sha256: &str) -> TestServer {
        faulty_hub_server(body, claimed_sha256, Fault::None)
    }

    /// [`hub_server`] with a CDN that misbehaves as `fault` says.
    fn faulty_hub_server(body: &[u8], claimed_sha256: &str, fault: Fault) -> TestServer {
        let server = TestServer::start();
        let cdn = server.url("/cdn/blob");
        server
            .route(
                "/acme/tiny/resolve/main/model.safetensors",
                Route {
                    status: 302,
                    headers: vec![
                        ("Location".into(), cdn),
                        ("X-Repo-Commit".into(), COMMIT.into()),
                        ("X-Linked-Etag".into(), format!("\"{claimed_sha256}\"")),
                        ("X-Linked-Size".into(), body.len().to_string()),
                        ("ETag".into(), "\"not-the-sha\"".into()),
                    ],
                    body: vec![],
                    sized: true,
                    fault: Fault::None,
                },
            )
            .faulty_file("/cdn/blob", body.to_vec(), fault)
    }

    fn config(endpoint: String, cache: &Path, offline: bool) -> HubConfig {
        HubConfig {
            endpoint,
            cache_dir: cache.to_path_buf(),
            token: None,
            offline,
            progress: Progress::Quiet,
            read_timeout: Duration::from_secs(1),
        }
    }

    fn cached(cache: &Path) -> Option<PathBuf> {
        let repo = hub_repo(&hub_entry(None)).unwrap();
        Cache::new(cache.to_path_buf())
            .repo(repo)
            .get("model.safetensors")
    }

    fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Ok(it) = std::fs::read_dir(dir) {
            for e in it.flatten() {
                let p = e.path();
                if p.is_dir() && !p.is_symlink() {
                    out.extend(files_under(&p));
                } else {
                    out.push(p);
                }
            }
        }
        out
    }

    #[test]
    fn a_hub_file_is_downloaded_into_the_cache_and_verified() {
        if proxy_in_env() {
            eprintln!("skipped: a proxy variable is set and ureq 2 would proxy 127.0.0.1");
            return;
        }
        let body = tiny_safetensors(&[&[3, 4], &[5]]);
        let sha = bytes_digest(&body, Algorithm::Sha256);
        let server = hub_server(&body, &sha);
        let cache = tempfile::tempdir().unwrap();
        let cfg = config(server.base(), cache.path(), false);

        let fetched = fetch_hub(&hub_entry(Some(17)), &cfg).unwrap();
        // A HEAD of the resolve URL (not followed), then one GET through its redirect.
        let cdn: Vec<_> = server
            .requests()
            .into_iter()
            .filter(|r| r.path == "/cdn/blob")
            .map(|r| (r.method, r.range))
            .collect();
        assert_eq!(cdn, [("GET".to_string(), None)]);
        assert!(fetched.downloaded);
        assert_eq!(fetched.checked.sha256, sha);
        assert!(fetched.checked.sha256_verified);
        assert_eq!(fetched.checked.parameters, Some(17));
        assert_eq!(std::fs::read(&fetched.checked.path).unwrap(), body);
        let blob = cache.path().join("models--acme--tiny/blobs").join(&sha);
        assert!(blob.is_file(), "{:?}", files_under(cache.path()));
        assert_eq!(cached(cache.path()), Some(fetched.checked.path.clone()));
        assert_eq!(
            std::fs::read_link(&fetched.checked.path).unwrap(),
            Path::new("../../blobs").join(&sha)
        );

        // The second run finds the current blob in the cache: one HEAD, no download.
        let before = server.requests().len();
        let again = fetch_hub(&hub_entry(Some(17)), &cfg).unwrap();
        assert!(!again.downloaded);
        let after: Vec<_> = server.requests()[before..].to_vec();
        assert_eq!(after.len(), 1, "{after:?}");
        assert_eq!(after[0].method, "HEAD");

        // Offline, the cache alone is used and checked against the etag recorded in the blob's name.
        let before = server.requests().len();
        let offline = fetch_hub(
            &hub_entry(Some(17)),
            &config(server.base(), cache.path(), true),
        )
        .unwrap();
        assert!(offline.checked.sha256_verified);
        assert_eq!(server.requests().len(), before);
    }

    #[test]
    fn a_sha256_mismatch_leaves_nothing_in_the_cache() {
        if proxy_in_env() {
            eprintln!("skipped: a proxy variable is set and ureq 2 would proxy 127.0.0.1");
            return;
        }
        let body = tiny_safetensors(&[&[2]]);
        let wrong = bytes_digest(b"something else", Algorithm::Sha256);
        let server = hub_server(&body, &wrong);
        let cache = tempfile::tempdir().unwrap();
        let cfg = config(server.base(), cache.path(), false);

        let err = fetch_hub(&hub_entry(None), &cfg).unwrap_err().to_string();
        assert!(
            err.contains("sha256 mismatch") && err.contains(&wrong),
            "{err}"
        );
        assert!(
            err.contains("Nothing was written to the cache")
                && err.contains("cargo xtask fetch-weights --model"),
            "{err}"
        );
        assert_eq!(cached(cache.path()), None);
        let left: Vec<_> = files_under(cache.path())
            .into_iter()
            .filter(|p| {
                p.components()
                    .any(|c| c.as_os_str() == "blobs" || c.as_os_str() == "snapshots")
            })
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn a_dropped_hub_transfer_leaves_nothing_readable_and_a_rerun_resumes() {
        if proxy_in_env() {
            eprintln!("skipped: a proxy variable is set and ureq 2 would proxy 127.0.0.1");
            return;
        }
        let body = tiny_safetensors(&[&[3, 4], &[5]]);
        let sha = bytes_digest(&body, Algorithm::Sha256);
        let cut = body.len() / 2;
        let broken = faulty_hub_server(&body, &sha, Fault::DropAfter(cut));
        let cache = tempfile::tempdir().unwrap();
        let err = fetch_hub(
            &hub_entry(Some(17)),
            &config(broken.base(), cache.path(), false),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(&broken.url("/acme/tiny/resolve/main/model.safetensors"))
                && err.contains(&format!("dropped after {cut} of {} bytes", body.len()))
                && err.contains("to resume"),
            "{err}"
        );
        assert_eq!(cached(cache.path()), None);
        let blobs = cache.path().join("models--acme--tiny/blobs");
        assert_eq!(
            files_under(cache.path()),
            [blobs.join(format!(".{sha}.part"))]
        );

        let good = hub_server(&body, &sha);
        let fetched = fetch_hub(
            &hub_entry(Some(17)),
            &config(good.base(), cache.path(), false),
        )
        .unwrap();
        assert!(fetched.checked.sha256_verified);
        assert_eq!(std::fs::read(&fetched.checked.path).unwrap(), body);
        let cdn: Vec<_> = good
            .requests()
            .into_iter()
            .filter(|r| r.path == "/cdn/blob")
            .map(|r| r.range)
            .collect();
        assert_eq!(cdn, [Some(format!("bytes={cut}-"))]);
        assert!(!blobs.join(format!(".{sha}.part")).exists());
    }

    #[test]
    fn a_stalled_hub_times_out_before_and_during_the_transfer() {
        if proxy_in_env() {
            eprintln!("skipped: a proxy variable is set and ureq 2 would proxy 127.0.0.1");
            return;
        }
        let body = tiny_safetensors(&[&[3, 4], &[5]]);
        let sha = bytes_digest(&body, Algorithm::Sha256);
        let stall = Duration::from_secs(30);
        let cache = tempfile::tempdir().unwrap();

        // Fails within 10 s (the read time-out is 1 s) and returns the error.
        let fails_quickly = |base: String| {
            let began = Instant::now();
            let err = fetch_hub(&hub_entry(None), &config(base, cache.path(), false))
                .unwrap_err()
                .to_string();
            assert!(
                began.elapsed() < Duration::from_secs(10),
                "{:?}",
                began.elapsed()
            );
            err
        };
        let server = faulty_hub_server(&body, &sha, Fault::StallAfter(10, stall));
        let err = fails_quickly(server.base());
        assert!(
            err.contains(&format!("timed out after 10 of {} bytes", body.len())),
            "{err}"
        );
        assert_eq!(cached(cache.path()), None);

        // The HEAD that asks what the hub publishes is bounded the same way.
        let silent = TestServer::start().faulty_file(
            "/acme/tiny/resolve/main/model.safetensors",
            vec![],
            Fault::StallBeforeAnswer(stall),
        );
        let err = fails_quickly(silent.base());
        assert!(
            err.contains("timed out waiting for the server to answer") && !err.contains("offline"),
            "{err}"
        );
    }

    #[test]
    fn hub_headers_cannot_name_paths_outside_the_cache() {
        assert!(is_plain_name("0123abc") && is_plain_name("a.b"));
        assert!(!is_plain_name("") && !is_plain_name("..") && !is_plain_name("a/b"));
        assert!(!is_plain_name("a\\b"));
    }

    #[test]
    fn a_wrong_parameter_count_is_rejected() {
        if proxy_in_env() {
            eprintln!("skipped: a proxy variable is set and ureq 2 would proxy 127.0.0.1");
            return;
        }
        let body = tiny_safetensors(&[&[2]]);
        let sha = bytes_digest(&body, Algorithm::Sha256);
        let server = hub_server(&body, &sha);
        let cache = tempfile::tempdir().unwrap();
        let err = fetch_hub(
            &hub_entry(Some(3)),
            &config(server.base(), cache.path(), false),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("parameter count mismatch: expected 3, found 2"),
            "{err}"
        );
    }

    #[test]
    fn offline_without_a_cached_copy_fails_clearly() {
        let cache = tempfile::tempdir().unwrap();
        let cfg = config(
            format!("http://127.0.0.1:{}", closed_port()),
            cache.path(),
            true,
        );
        let err = fetch_hub(&hub_entry(None), &cfg).unwrap_err().to_string();
        assert!(
            err.contains("HF_HUB_OFFLINE") && err.contains("not in the cache"),
            "{err}"
        );
    }

    #[test]
    fn an_unreachable_hub_says_so() {
        if proxy_in_env() {
            eprintln!("skipped: a proxy variable is set and ureq 2 would proxy 127.0.0.1");
            return;
        }
        let cache = tempfile::tempdir().unwrap();
        let endpoint = format!("http://127.0.0.1:{}", closed_port());
        let err = fetch_hub(
            &hub_entry(None),
            &config(endpoint.clone(), cache.path(), false),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(&endpoint) && err.contains("unreachable"),
            "{err}"
        );
    }

    #[test]
    fn a_local_model_is_looked_for_and_checked() {
        let bytes = tiny_safetensors(&[&[4]]);
        let mut entry = hub_entry(Some(4));
        entry.source = Source::Local;
        entry.repo = None;
        entry.sha256 = Some(bytes_digest(&bytes, Algorithm::Sha256));
        let dir = tempfile::tempdir().unwrap();
        let candidates = local_candidates(&entry, Some(dir.path()), Path::new("/nonexistent/repo"));
        let err = check_local(&entry, &candidates).unwrap_err().to_string();
        assert!(
            err.contains("not downloadable") && err.contains("shared/weights"),
            "{err}"
        );
        std::fs::write(dir.path().join(&entry.file), &bytes).unwrap();
        let checked = check_local(&entry, &candidates).unwrap();
        assert!(checked.sha256_verified);
    }

    #[test]
    fn helpers() {
        assert!(is_truthy("1") && is_truthy("TRUE") && !is_truthy("0") && !is_truthy(""));
    }
}
