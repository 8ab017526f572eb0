//! What data and weights this machine has, where, and whether they check out (`glassbox data info`).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::locate::{model_hint, model_path, DataLocator};
use super::mnist::{self, Mnist, MnistSplit};
use super::text::{CharVocab, Corpus};
use std::io::Read;

use crate::assets::checksum::{bytes_digest, file_digest, Algorithm};
use crate::assets::manifest;
use crate::Result;

/// What `glassbox data info` reports: every data directory, MNIST, the corpora, the photos and the models.
#[derive(Debug, Serialize)]
pub struct Inventory {
    /// Data directories in search order and whether each exists.
    pub directories: Vec<DirectoryStatus>,
    /// MNIST as the lessons will load it; `None` when it could not be loaded (see `mnist_error`).
    pub mnist: Option<MnistStatus>,
    /// Why MNIST could not be loaded.
    pub mnist_error: Option<String>,
    /// The text corpora found.
    pub corpora: Vec<FileStatus>,
    /// The photo and painting directories found.
    pub images: Vec<ImageDirStatus>,
    /// Every model of the manifest, found or not.
    pub models: Vec<ModelStatus>,
}

/// One place data is looked for.
#[derive(Debug, Serialize)]
pub struct DirectoryStatus {
    /// Which kind of place (`--data-dir`, `GLASSBOX_DATA`, the download cache).
    pub source: String,
    /// The directory.
    pub path: PathBuf,
    /// Whether it exists.
    pub exists: bool,
}

/// The MNIST set the lessons will use.
#[derive(Debug, Serialize)]
pub struct MnistStatus {
    /// Where it comes from (a directory or the embedded subset).
    pub source: String,
    /// The training split.
    pub train: SplitStatus,
    /// The test split.
    pub test: SplitStatus,
}

/// One MNIST split.
#[derive(Debug, Serialize)]
pub struct SplitStatus {
    /// Images.
    pub count: usize,
    /// Images per digit, 0 to 9.
    pub label_counts: [usize; 10],
    /// The files read (none for the embedded subset).
    pub files: Vec<FileStatus>,
}

/// One data file with its size and checksum.
#[derive(Debug, Serialize)]
pub struct FileStatus {
    /// The file.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// Its md5, to compare with the published one.
    pub md5: String,
    /// How the file compares with the manifest's published checksums, when the manifest knows it.
    pub check: Option<String>,
    /// Details, e.g. characters and vocabulary size of a corpus.
    pub note: String,
}

/// A directory of images.
#[derive(Debug, Serialize)]
pub struct ImageDirStatus {
    /// The directory.
    pub path: PathBuf,
    /// Image files in it.
    pub images: usize,
}

/// One model of the manifest and whether its file is here.
#[derive(Debug, Serialize)]
pub struct ModelStatus {
    /// Its name in `models/models.toml`.
    pub name: String,
    /// The manifest's description.
    pub description: String,
    /// Where its file was found, if anywhere.
    pub path: Option<PathBuf>,
    /// The file's size.
    pub bytes: Option<u64>,
    /// The file's sha256, when it was computed.
    pub sha256: Option<String>,
    /// Whether the file matches the manifest's size and checksum; `None` when not checked.
    pub verified: Option<bool>,
    /// How to get the file when it is missing.
    pub hint: Option<String>,
}

impl Inventory {
    /// Looks at every place data can be; reads and checks what it finds. Problems with individual files are
    /// reported inside the inventory rather than aborting it.
    pub fn collect(locator: &DataLocator) -> Result<Inventory> {
        let directories = locator
            .directories()
            .into_iter()
            .map(|s| DirectoryStatus {
                path: s.dir().map(Path::to_path_buf).unwrap_or_default(),
                exists: s.dir().is_some_and(Path::is_dir),
                source: s.to_string(),
            })
            .collect();
        let (mnist, mnist_error) = match Mnist::load(locator) {
            Ok(m) => (Some(mnist_status(&m)?), None),
            Err(e) => (None, Some(e.to_string())),
        };
        Ok(Inventory {
            directories,
            mnist,
            mnist_error,
            corpora: corpora(locator)?,
            images: image_dirs(locator),
            models: models(locator)?,
        })
    }
}

fn mnist_status(m: &Mnist) -> Result<MnistStatus> {
    let known = manifest::dataset("mnist")?;
    let split = |s: &MnistSplit, embedded: [(PathBuf, &[u8]); 2]| -> Result<SplitStatus> {
        let files = if s.files.is_empty() {
            embedded
                .iter()
                .map(|(p, b)| bytes_status(p, b, known, String::new()))
                .collect()
        } else {
            s.files
                .iter()
                .map(|p| file_status(p, known, String::new()))
                .collect::<Result<_>>()?
        };
        Ok(SplitStatus {
            count: s.count,
            label_counts: s.label_counts(),
            files,
        })
    };
    let [train_images, train_labels, test_images, test_labels] = mnist::embedded_files();
    Ok(MnistStatus {
        source: m.source.to_string(),
        train: split(&m.train, [train_images, train_labels])?,
        test: split(&m.test, [test_images, test_labels])?,
    })
}

fn file_status(path: &Path, known: &manifest::DatasetEntry, note: String) -> Result<FileStatus> {
    let bytes = std::fs::read(path).map_err(|e| crate::Error::io(path, e))?;
    Ok(bytes_status(path, &bytes, known, note))
}

/// Size, md5, and how the file compares with the manifest: the published file itself, or (for gzip copies
/// compressed elsewhere) the published content.
fn bytes_status(
    path: &Path,
    bytes: &[u8],
    known: &manifest::DatasetEntry,
    note: String,
) -> FileStatus {
    let md5 = bytes_digest(bytes, Algorithm::Md5);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let entry = known.files.iter().find(|f| {
        Some(&f.name) == name.as_ref() || Some(f.name.trim_end_matches(".gz")) == name.as_deref()
    });
    let check = entry.map(|f| {
        if f.md5 == md5 {
            return "md5 matches the published file".to_string();
        }
        let Some(content_md5) = &f.content_md5 else {
            return "MD5 DIFFERS from the published file".to_string();
        };
        let content = if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            match flate2::read::GzDecoder::new(bytes).read_to_end(&mut out) {
                Ok(_) => out,
                Err(e) => return format!("CORRUPT gzip: {e}"),
            }
        } else {
            bytes.to_vec()
        };
        if &bytes_digest(&content, Algorithm::Md5) == content_md5 {
            "uncompressed content matches the published md5".to_string()
        } else if path.starts_with("<embedded>") {
            "a real subset: a prefix of the published content".to_string()
        } else {
            "CONTENT DIFFERS from the published file".to_string()
        }
    });
    FileStatus {
        path: path.to_path_buf(),
        bytes: bytes.len() as u64,
        md5,
        check,
        note,
    }
}

fn corpora(locator: &DataLocator) -> Result<Vec<FileStatus>> {
    let known = manifest::dataset("holmes")?;
    let mut out = Vec::new();
    for f in &known.files {
        if let Some((_, path)) = locator.find_file(&format!("{}/{}", known.dir, f.name)) {
            let note = match Corpus::load(&path) {
                Ok(c) => format!(
                    "{} characters after normalization, {} distinct",
                    c.chars(),
                    CharVocab::from_text(&c.text).len()
                ),
                Err(e) => format!("unusable: {e}"),
            };
            out.push(file_status(&path, known, note)?);
        }
    }
    Ok(out)
}

fn image_dirs(locator: &DataLocator) -> Vec<ImageDirStatus> {
    ["images/photos", "images/paintings"]
        .iter()
        .filter_map(|sub| locator.find(sub, Path::is_dir))
        .map(|(_, path)| {
            let images = std::fs::read_dir(&path)
                .map(|rd| {
                    rd.filter_map(|e| e.ok())
                        .filter(|e| {
                            let p = e.path();
                            let ext = p
                                .extension()
                                .map(|x| x.to_string_lossy().to_ascii_lowercase());
                            matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg"))
                        })
                        .count()
                })
                .unwrap_or(0);
            ImageDirStatus { path, images }
        })
        .collect()
}

fn models(locator: &DataLocator) -> Result<Vec<ModelStatus>> {
    let mut out = Vec::new();
    for (name, entry) in manifest::models() {
        let path = model_path(locator, entry);
        let mut status = ModelStatus {
            name: name.clone(),
            description: entry.description.clone(),
            path: path.clone(),
            bytes: None,
            sha256: None,
            verified: None,
            hint: None,
        };
        match path {
            Some(p) => {
                status.bytes = Some(
                    std::fs::metadata(&p)
                        .map_err(|e| crate::Error::io(&p, e))?
                        .len(),
                );
                let sha = file_digest(&p, Algorithm::Sha256)?;
                status.verified = entry.sha256.as_ref().map(|s| s.eq_ignore_ascii_case(&sha));
                status.sha256 = Some(sha);
            }
            None => status.hint = Some(model_hint(name, entry)),
        }
        out.push(status);
    }
    Ok(out)
}

impl fmt::Display for Inventory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Data directories (searched in this order):")?;
        for d in &self.directories {
            writeln!(
                f,
                "  {} [{}]",
                d.source,
                if d.exists { "present" } else { "absent" }
            )?;
        }
        writeln!(f, "  embedded subset [always present]")?;
        writeln!(f, "\nMNIST:")?;
        match (&self.mnist, &self.mnist_error) {
            (Some(m), _) => {
                writeln!(f, "  source: {}", m.source)?;
                for (name, s) in [("train", &m.train), ("test", &m.test)] {
                    writeln!(
                        f,
                        "  {name}: {} images, label counts {:?}",
                        s.count, s.label_counts
                    )?;
                    for file in &s.files {
                        write_file(f, file)?;
                    }
                }
            }
            (None, Some(e)) => writeln!(f, "  unusable: {e}")?,
            (None, None) => writeln!(f, "  not found")?,
        }
        writeln!(f, "\nText corpora:")?;
        if self.corpora.is_empty() {
            writeln!(
                f,
                "  none found (text/holmes.txt; `cargo xtask fetch-data --dataset holmes`)"
            )?;
        }
        for c in &self.corpora {
            write_file(f, c)?;
        }
        writeln!(f, "\nImages:")?;
        if self.images.is_empty() {
            writeln!(f, "  none found (images/photos, images/paintings)")?;
        }
        for i in &self.images {
            writeln!(f, "  {}: {} images", i.path.display(), i.images)?;
        }
        writeln!(f, "\nWeights:")?;
        for m in &self.models {
            match (&m.path, &m.hint) {
                (Some(p), _) => {
                    let check = match m.verified {
                        Some(true) => "sha256 verified",
                        Some(false) => "SHA256 MISMATCH",
                        None => "no pinned sha256",
                    };
                    writeln!(
                        f,
                        "  {}: {} ({} bytes, {check})",
                        m.name,
                        p.display(),
                        m.bytes.unwrap_or(0)
                    )?;
                    writeln!(f, "      sha256 {}", m.sha256.as_deref().unwrap_or("?"))?;
                }
                (None, Some(h)) => writeln!(f, "  {}: {h}", m.name)?,
                (None, None) => writeln!(f, "  {}: not found", m.name)?,
            }
        }
        Ok(())
    }
}

fn write_file(f: &mut fmt::Formatter<'_>, s: &FileStatus) -> fmt::Result {
    let check = s
        .check
        .as_deref()
        .map(|c| format!("; {c}"))
        .unwrap_or_default();
    let note = if s.note.is_empty() {
        String::new()
    } else {
        format!("\n      {}", s.note)
    };
    writeln!(
        f,
        "    {} ({} bytes, md5 {}{check}){note}",
        s.path.display(),
        s.bytes,
        s.md5
    )
}
