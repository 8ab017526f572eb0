//! The model and dataset manifests, embedded at build time so every crate and xtask agree.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::{Error, Result};

// A link to the repository's models/models.toml, so the packaged crate carries the file (cargo packages what
// the link points at).
const MODELS_TOML: &str = include_str!("../models.toml");
const DATASETS_TOML: &str = include_str!("../datasets.toml");

/// Where a model file comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The Hugging Face hub, into its cache.
    Hub,
    /// A file handed to the project (for example `../shared/weights`).
    Local,
}

/// Which tensor names a weights file uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Naming {
    /// timm's names (`features.0.weight`, `pre_logits.fc1.weight`, `head.fc.weight`).
    Timm,
    /// torchvision's names (`features.0.weight`, `classifier.0.weight`).
    Torchvision,
}

/// How an RGB image in 0..255 becomes the network's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preprocessing {
    /// x/255, minus the ImageNet mean (0.485, 0.456, 0.406), divided by its std (0.229, 0.224, 0.225).
    Torchvision,
    /// x in 0..255 minus the mean (123.68, 116.779, 103.939); no std scaling.
    Caffe,
}

/// One model of `models/models.toml`: where its file comes from, how to check it and how to use it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// One line for listings (`glassbox data info`).
    pub description: String,
    /// The hub or a local file.
    pub source: Source,
    /// Hub repository (`owner/name`), for `source = "hub"`.
    pub repo: Option<String>,
    /// A hub revision (branch, tag or commit); `main` when absent.
    pub revision: Option<String>,
    /// The file's name in the repository or weights directory.
    pub file: String,
    /// Its size in bytes, checked when present.
    pub size: Option<u64>,
    /// Its sha256 as 64 hex digits, checked when present.
    pub sha256: Option<String>,
    /// Total number of tensor elements in the file.
    pub parameters: Option<u64>,
    /// The tensor names the file uses.
    pub naming: Naming,
    /// How images are normalized for this network.
    pub preprocessing: Preprocessing,
    /// The side of the square input the network was trained on.
    pub input_size: u32,
    /// Whether the file holds the classifier (and so can classify).
    pub classifier: bool,
}

impl ModelEntry {
    /// The revision to fetch: the manifest's, else `main`.
    pub fn revision(&self) -> &str {
        self.revision.as_deref().unwrap_or("main")
    }
}

/// One file of a dataset, with the checksum its mirrors must match.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetFile {
    /// The file name, the same on every mirror.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// MD5 as 32 hex digits.
    pub md5: String,
    /// For gzip files: size and md5 of the uncompressed content, which re-compressed copies share.
    pub content_size: Option<u64>,
    /// See `content_size`.
    pub content_md5: Option<String>,
}

/// One dataset of `datasets.toml`: its files and the mirrors to try in order.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetEntry {
    /// One line for listings.
    pub description: String,
    /// The directory under the data directory that holds it (`mnist`, `text`).
    pub dir: String,
    /// Base URLs, each followed by a file name to download.
    pub mirrors: Vec<String>,
    /// Every file the dataset needs.
    pub files: Vec<DatasetFile>,
}

#[derive(Debug, Deserialize)]
struct ModelsFile {
    models: BTreeMap<String, ModelEntry>,
}

#[derive(Debug, Deserialize)]
struct DatasetsFile {
    datasets: BTreeMap<String, DatasetEntry>,
}

fn parse<T: for<'de> Deserialize<'de>>(name: &str, text: &str) -> Result<T> {
    toml::from_str(text).map_err(|e| Error::Manifest {
        name: name.into(),
        problem: e.to_string(),
    })
}

/// Reads a models manifest in the format of `models/models.toml` (the compiled-in one is [`models`]),
/// checking what the file's syntax cannot: checksums are hex of the right length, file names stay inside
/// the directory they are joined to, hub models name their repository.
pub fn parse_models(text: &str) -> Result<BTreeMap<String, ModelEntry>> {
    const NAME: &str = "models/models.toml";
    let models = parse::<ModelsFile>(NAME, text)?.models;
    for (name, entry) in &models {
        let bad = |problem: String| Error::Manifest {
            name: NAME.into(),
            problem: format!("model {name}: {problem}"),
        };
        check_relative(&entry.file).map_err(|p| bad(format!("file {p}")))?;
        if let Some(sha) = &entry.sha256 {
            check_hex(sha, 64).map_err(|p| bad(format!("sha256 {p}")))?;
        }
        if entry.input_size == 0 {
            return Err(bad("input_size 0".into()));
        }
        if entry.source == Source::Hub && entry.repo.as_deref().is_none_or(str::is_empty) {
            return Err(bad("a hub model without its repo".into()));
        }
    }
    Ok(models)
}

/// Reads a datasets manifest in the format of `datasets.toml` (the compiled-in one is [`datasets`]),
/// with the checks of [`parse_models`] and mirrors that are http(s) URLs.
pub fn parse_datasets(text: &str) -> Result<BTreeMap<String, DatasetEntry>> {
    const NAME: &str = "datasets.toml";
    let datasets = parse::<DatasetsFile>(NAME, text)?.datasets;
    for (name, entry) in &datasets {
        let bad = |problem: String| Error::Manifest {
            name: NAME.into(),
            problem: format!("dataset {name}: {problem}"),
        };
        check_relative(&entry.dir).map_err(|p| bad(format!("dir {p}")))?;
        for mirror in &entry.mirrors {
            if !(mirror.starts_with("https://") || mirror.starts_with("http://")) {
                return Err(bad(format!("mirror {mirror:?} is not an http(s) URL")));
            }
        }
        for file in &entry.files {
            check_relative(&file.name).map_err(|p| bad(format!("file {p}")))?;
            check_hex(&file.md5, 32).map_err(|p| bad(format!("md5 of {} {p}", file.name)))?;
            if let Some(md5) = &file.content_md5 {
                check_hex(md5, 32).map_err(|p| bad(format!("content_md5 of {} {p}", file.name)))?;
            }
        }
    }
    Ok(datasets)
}

/// A path that, joined to a directory, stays below it.
fn check_relative(path: &str) -> std::result::Result<(), String> {
    let plain = std::path::Path::new(path)
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if path.is_empty() || !plain {
        return Err(format!(
            "{path:?} is not a relative path below the directory"
        ));
    }
    Ok(())
}

fn check_hex(digest: &str, len: usize) -> std::result::Result<(), String> {
    if digest.len() != len || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{digest:?} is not {len} hex digits"));
    }
    Ok(())
}

/// Every model of `models/models.toml`, by name.
pub fn models() -> &'static BTreeMap<String, ModelEntry> {
    static MODELS: OnceLock<BTreeMap<String, ModelEntry>> = OnceLock::new();
    // The file is compiled in and checked by this crate's tests, so a parse failure is a build defect.
    MODELS.get_or_init(|| parse_models(MODELS_TOML).expect("models/models.toml is valid (tested)"))
}

/// Every dataset `cargo xtask fetch-data` knows, by name.
pub fn datasets() -> &'static BTreeMap<String, DatasetEntry> {
    static DATASETS: OnceLock<BTreeMap<String, DatasetEntry>> = OnceLock::new();
    DATASETS.get_or_init(|| parse_datasets(DATASETS_TOML).expect("datasets.toml is valid (tested)"))
}

/// One model by name, or an error that lists the known names.
pub fn model(name: &str) -> Result<&'static ModelEntry> {
    lookup("models/models.toml", models(), name)
}

/// One dataset by name, or an error that lists the known names.
pub fn dataset(name: &str) -> Result<&'static DatasetEntry> {
    lookup("datasets.toml", datasets(), name)
}

fn lookup<'a, T>(manifest: &str, entries: &'a BTreeMap<String, T>, name: &str) -> Result<&'a T> {
    entries.get(name).ok_or_else(|| Error::Manifest {
        name: manifest.into(),
        problem: format!(
            "no entry {name:?}; known: {}",
            entries.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_manifests_parse_and_are_consistent() {
        let models: ModelsFile = parse("models", MODELS_TOML).unwrap();
        for (name, m) in &models.models {
            if m.source == Source::Hub {
                assert!(m.repo.is_some(), "{name}: hub model without repo");
            }
            if let Some(sha) = &m.sha256 {
                assert_eq!(sha.len(), 64, "{name}: sha256 must be 64 hex digits");
            }
        }
        let vgg = model("vgg16").unwrap();
        assert_eq!(vgg.repo.as_deref(), Some("timm/vgg16.tv_in1k"));
        assert_eq!(vgg.preprocessing, Preprocessing::Torchvision);
        let hed = model("vgg16-features-hed").unwrap();
        assert_eq!(hed.preprocessing, Preprocessing::Caffe);
        assert!(!hed.classifier);

        let datasets: DatasetsFile = parse("datasets", DATASETS_TOML).unwrap();
        let mnist = &datasets.datasets["mnist"];
        assert_eq!(mnist.files.len(), 4);
        for f in datasets.datasets.values().flat_map(|d| &d.files) {
            assert_eq!(f.md5.len(), 32, "{}: md5 must be 32 hex digits", f.name);
        }
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let err = model("resnet").unwrap_err().to_string();
        assert!(err.contains("vgg16") && err.contains("resnet"), "{err}");
    }
}
