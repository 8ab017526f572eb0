//! The Hugging Face cache, read without the network: where `cargo xtask fetch-weights` put a file.

use std::path::PathBuf;

use hf_hub::{Cache, Repo, RepoType};

use crate::manifest::{ModelEntry, Source};

/// The cache root: `$HF_HOME/hub`, or `~/.cache/huggingface/hub`.
pub fn cache_dir() -> PathBuf {
    Cache::from_env().path().clone()
}

/// The cached file of a hub model, if it has been fetched. Local models have no hub path.
pub fn cached_model_file(entry: &ModelEntry) -> Option<PathBuf> {
    if entry.source != Source::Hub {
        return None;
    }
    let repo = Repo::with_revision(
        entry.repo.clone()?,
        RepoType::Model,
        entry.revision().to_string(),
    );
    Cache::from_env().repo(repo).get(&entry.file)
}
