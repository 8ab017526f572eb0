//! `cargo xtask fetch-weights`: hub models into the Hugging Face cache (with hf-hub's blocking API), local
//! models found where they are handed over; every file checked before it is trusted.
//!
//! The hub settings are passed in as a [`HubConfig`] rather than read from the environment here, so tests can
//! point at a local server and a temporary cache without touching process-wide variables.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use glassbox_assets::manifest::{self, ModelEntry, Source};
use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Cache, Repo, RepoType};

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
    /// Sent as a bearer token; `None` leaves hf-hub to read `$HF_HOME/token`.
    pub token: Option<String>,
    /// `HF_HUB_OFFLINE`: look in the cache only.
    pub offline: bool,
    pub progress: bool,
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
            progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        }
    }

    fn cache(&self) -> Cache {
        Cache::new(self.cache_dir.clone())
    }

    /// The same builder `ApiBuilder::from_env()` gives when the environment holds this config.
    fn api(&self) -> anyhow::Result<hf_hub::api::sync::Api> {
        let mut builder = ApiBuilder::from_cache(self.cache())
            .with_endpoint(self.endpoint.clone())
            .with_progress(self.progress);
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
    let published = match hub_head::published(&url, config.token.as_deref()) {
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
            if e.is_unreachable() {
                "\nThis machine looks offline: set HF_ENDPOINT to a reachable mirror, or copy a Hugging Face cache \
                 holding the file into HF_HOME and set HF_HUB_OFFLINE=1."
            } else {
                ""
            }
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
        let path = api_repo
            .download(&entry.file)
            .with_context(|| format!("downloading {url}"))?;
        (path, true)
    };
    let checked = check_cached(entry, &path, published.as_ref())?;
    Ok(Fetched {
        checked,
        downloaded,
        notes,
    })
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
    use crate::test_server::{closed_port, proxy_in_env, Route, TestServer};
    use crate::weights_check::tiny_safetensors;
    use glassbox_assets::checksum::{bytes_digest, Algorithm};
    use glassbox_assets::manifest::{Naming, Preprocessing};

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
                },
            )
            .file("/cdn/blob", body.to_vec())
    }

    fn config(endpoint: String, cache: &Path, offline: bool) -> HubConfig {
        HubConfig {
            endpoint,
            cache_dir: cache.to_path_buf(),
            token: None,
            offline,
            progress: false,
        }
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
        // hf-hub's own steps: a `bytes=0-0` probe of the resolve URL, then the ranged download via the redirect.
        let cdn_range: Vec<_> = server
            .requests()
            .into_iter()
            .filter(|r| r.path == "/cdn/blob")
            .filter_map(|r| r.range)
            .collect();
        assert_eq!(cdn_range, ["bytes=0-0", "bytes=0-"]);
        assert!(fetched.downloaded);
        assert_eq!(fetched.checked.sha256, sha);
        assert!(fetched.checked.sha256_verified);
        assert_eq!(fetched.checked.parameters, Some(17));
        assert_eq!(std::fs::read(&fetched.checked.path).unwrap(), body);
        let blob = cache.path().join("models--acme--tiny/blobs").join(&sha);
        assert!(blob.is_file(), "{:?}", files_under(cache.path()));

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
    fn a_sha256_mismatch_removes_the_file_from_the_cache() {
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
        assert!(err.contains("removed from the cache"), "{err}");
        let repo = hub_repo(&hub_entry(None)).unwrap();
        assert_eq!(
            Cache::new(cache.path().to_path_buf())
                .repo(repo)
                .get("model.safetensors"),
            None
        );
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
