//! Every model and dataset the manifests compiled into glassbox-assets describe, and whether a hub model
//! is already in the Hugging Face cache (no network is used).
//!
//!     cargo run -p glassbox-assets --example list_models [-- FILE]
//!
//! With FILE, its sha256 is also printed and compared with every model entry's checksum.

use glassbox_assets::checksum::{file_digest, Algorithm};
use glassbox_assets::{hub, manifest};

fn main() -> glassbox_assets::Result<()> {
    println!(
        "models (Hugging Face cache: {}):",
        hub::cache_dir().display()
    );
    for (name, m) in manifest::models() {
        let place = match (m.source, &m.repo) {
            (manifest::Source::Hub, Some(repo)) => format!("hub {repo}@{}", m.revision()),
            _ => "a local file (GLASSBOX_WEIGHTS)".to_string(),
        };
        let cached = match m.source {
            manifest::Source::Hub => match hub::cached_model_file(m) {
                Some(path) => format!("cached at {}", path.display()),
                None => "not cached".to_string(),
            },
            manifest::Source::Local => String::new(),
        };
        println!("  {name}: {} ({})", m.description, m.file);
        println!(
            "    from {place}; {:?} names, {:?} preprocessing, {} pixels in, classifier: {}. {cached}",
            m.naming, m.preprocessing, m.input_size, m.classifier
        );
    }
    println!("datasets:");
    for (name, d) in manifest::datasets() {
        let bytes: u64 = d.files.iter().map(|f| f.size).sum();
        println!(
            "  {name}: {} ({} files, {:.1} MB, {} mirrors, into {}/)",
            d.description,
            d.files.len(),
            bytes as f64 / 1e6,
            d.mirrors.len(),
            d.dir
        );
    }
    if let Some(file) = std::env::args_os().nth(1) {
        let path = std::path::PathBuf::from(file);
        let sha = file_digest(&path, Algorithm::Sha256)?;
        let matching: Vec<&String> = manifest::models()
            .iter()
            .filter(|(_, m)| m.sha256.as_deref() == Some(sha.as_str()))
            .map(|(name, _)| name)
            .collect();
        println!("{}: sha256 {sha}; matches {matching:?}", path.display());
    }
    Ok(())
}
