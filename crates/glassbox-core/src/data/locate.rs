//! Where data lives. In order: `--data-dir`, the `GLASSBOX_DATA` variable, `data/` in the repository (the
//! download cache of `cargo xtask fetch-data`, git-ignored), then the subset embedded in this crate.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::assets::{hub, manifest};

/// The environment variable that points at a data directory (for example `../shared/data`).
pub const DATA_ENV: &str = "GLASSBOX_DATA";

/// Where a piece of data was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataSource {
    /// `--data-dir DIR`.
    Flag(PathBuf),
    /// `GLASSBOX_DATA=DIR`.
    Env(PathBuf),
    /// `data/` in the repository, where `cargo xtask fetch-data` downloads.
    RepoCache(PathBuf),
    /// The real subset compiled into glassbox-core.
    Embedded,
}

impl DataSource {
    /// The directory, for the sources that have one.
    pub fn dir(&self) -> Option<&Path> {
        match self {
            DataSource::Flag(p) | DataSource::Env(p) | DataSource::RepoCache(p) => Some(p),
            DataSource::Embedded => None,
        }
    }
}

impl fmt::Display for DataSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataSource::Flag(p) => write!(f, "--data-dir {}", p.display()),
            DataSource::Env(p) => write!(f, "{DATA_ENV}={}", p.display()),
            DataSource::RepoCache(p) => write!(f, "repository cache {}", p.display()),
            DataSource::Embedded => write!(f, "embedded subset (compiled into glassbox-core)"),
        }
    }
}

/// The data directories to search, in priority order.
#[derive(Clone, Debug, Default)]
pub struct DataLocator {
    flag: Option<PathBuf>,
    env: Option<PathBuf>,
    repo: Option<PathBuf>,
}

impl DataLocator {
    /// The usual search: the flag if given, `GLASSBOX_DATA` if set, and `data/` in the repository.
    pub fn new(flag: Option<PathBuf>) -> Self {
        let env = std::env::var_os(DATA_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        DataLocator {
            flag,
            env,
            repo: Some(repo_data_dir()),
        }
    }

    /// Only the given directory (tests, library users who manage their own paths).
    pub fn only(dir: impl Into<PathBuf>) -> Self {
        DataLocator {
            flag: Some(dir.into()),
            env: None,
            repo: None,
        }
    }

    /// No directory at all: only the embedded subset.
    pub fn embedded_only() -> Self {
        DataLocator::default()
    }

    /// The directory sources in priority order (whether or not they exist).
    pub fn directories(&self) -> Vec<DataSource> {
        let mut out = Vec::new();
        if let Some(p) = &self.flag {
            out.push(DataSource::Flag(p.clone()));
        }
        if let Some(p) = &self.env {
            out.push(DataSource::Env(p.clone()));
        }
        if let Some(p) = &self.repo {
            out.push(DataSource::RepoCache(p.clone()));
        }
        out
    }

    /// Whether the user named a directory explicitly with `--data-dir`: then a missing dataset there is an
    /// error rather than a reason to fall back.
    pub fn explicit(&self) -> Option<&Path> {
        self.flag.as_deref()
    }

    /// The first directory source whose `sub` directory satisfies `has`.
    pub fn find(&self, sub: &str, has: impl Fn(&Path) -> bool) -> Option<(DataSource, PathBuf)> {
        self.directories().into_iter().find_map(|source| {
            let dir = source.dir()?.join(sub);
            has(&dir).then_some((source, dir))
        })
    }

    /// A file below the data directories, e.g. `text/holmes.txt`, with where it was found.
    pub fn find_file(&self, relative: &str) -> Option<(DataSource, PathBuf)> {
        self.directories().into_iter().find_map(|source| {
            let path = source.dir()?.join(relative);
            path.is_file().then_some((source, path))
        })
    }

    /// The directories searched for `sub`, for error messages.
    pub fn searched(&self, sub: &str) -> Vec<PathBuf> {
        self.directories()
            .iter()
            .filter_map(|s| s.dir().map(|d| d.join(sub)))
            .collect()
    }
}

/// `data/` at the repository root: the download cache.
pub fn repo_data_dir() -> PathBuf {
    repo_root().join("data")
}

/// The repository root, as known when this crate was built.
pub fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// The environment variable that points at a weights directory (for example `../shared/weights`).
pub const WEIGHTS_ENV: &str = "GLASSBOX_WEIGHTS";

/// Directories searched for local weights files: `GLASSBOX_WEIGHTS`, then `weights/` beside each data
/// directory (so `GLASSBOX_DATA=../shared/data` finds `../shared/weights`), then `models/` in the repository.
pub fn weights_dirs(data: &DataLocator) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::env::var_os(WEIGHTS_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .into_iter()
        .collect();
    for source in data.directories() {
        if let Some(parent) = source.dir().and_then(Path::parent) {
            out.push(parent.join("weights"));
        }
    }
    out.push(repo_root().join("models"));
    out
}

/// Where the manifest's model `entry` is on this machine: the Hugging Face cache for hub models (where
/// `cargo xtask fetch-weights` puts them), the [`weights_dirs`] for local ones.
pub fn model_path(data: &DataLocator, entry: &manifest::ModelEntry) -> Option<PathBuf> {
    match entry.source {
        manifest::Source::Hub => hub::cached_model_file(entry),
        manifest::Source::Local => weights_dirs(data)
            .into_iter()
            .map(|d| d.join(&entry.file))
            .find(|p| p.is_file()),
    }
}

/// How to get the manifest's model `name` when [`model_path`] finds nothing.
pub fn model_hint(name: &str, entry: &manifest::ModelEntry) -> String {
    match entry.source {
        manifest::Source::Hub => format!(
            "not fetched; run `cargo xtask fetch-weights --model {name}` (cache: {})",
            hub::cache_dir().display()
        ),
        manifest::Source::Local => format!(
            "{} not found; set GLASSBOX_WEIGHTS to its directory (e.g. ../shared/weights)",
            entry.file
        ),
    }
}

/// The file of the manifest's model `name`, or [`crate::Error::NotFound`] listing where it looked and how
/// to get it.
pub fn find_model(data: &DataLocator, name: &str) -> crate::Result<PathBuf> {
    let entry = manifest::model(name)?;
    model_path(data, entry).ok_or_else(|| crate::Error::NotFound {
        what: format!("model {name} ({})", entry.file),
        searched: match entry.source {
            manifest::Source::Hub => vec![hub::cache_dir()],
            manifest::Source::Local => weights_dirs(data),
        },
        hint: Some(model_hint(name, entry)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_comes_first_and_find_reports_the_source() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("mnist")).unwrap();
        let loc = DataLocator {
            flag: Some(dir.path().to_path_buf()),
            env: Some("/nonexistent-env".into()),
            repo: None,
        };
        let (source, path) = loc.find("mnist", |p| p.is_dir()).unwrap();
        assert_eq!(source, DataSource::Flag(dir.path().to_path_buf()));
        assert_eq!(path, dir.path().join("mnist"));
        assert!(loc.find("text", |p| p.is_dir()).is_none());
        assert_eq!(loc.searched("text").len(), 2);
    }
}
