//! Text corpora for the character- and word-level lessons.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::locate::{DataLocator, DataSource};
use crate::{Error, Result};

/// Where the course's corpus lives below a data directory.
pub const HOLMES: &str = "text/holmes.txt";

/// The first 199,940 bytes of holmes.txt (to the end of a line: most of "A Scandal in Bohemia" and "The
/// Red-headed League"), compiled in so that a fresh clone's text lessons run without downloads.
const EMBEDDED_HOLMES: &[u8] = include_bytes!("../../embedded/text/holmes-head.txt.gz");

/// A corpus after the course's normalization.
#[derive(Clone, Debug)]
pub struct Corpus {
    /// The normalized text.
    pub text: String,
    /// The file it was read from.
    pub path: PathBuf,
}

impl Corpus {
    /// Reads a UTF-8 file and normalizes it as the course does. Invalid UTF-8 and empty corpora are errors
    /// that name the file (and the byte offset of the first bad byte).
    pub fn load(path: &Path) -> Result<Corpus> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let raw = String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            Error::format(
                path,
                format!(
                    "not valid UTF-8: bad byte 0x{:02x} at offset {at}",
                    e.as_bytes()[at]
                ),
            )
        })?;
        let text = normalize(&raw);
        if text.trim().is_empty() {
            return Err(Error::format(
                path,
                "corpus is empty (no text after normalization)",
            ));
        }
        Ok(Corpus {
            text,
            path: path.to_path_buf(),
        })
    }

    /// The course's corpus from the usual places (`--data-dir`, `GLASSBOX_DATA`, `data/`), else the
    /// embedded slice of it; says where it came from. A `--data-dir` without it is an error rather than
    /// a silent fall-back.
    pub fn holmes(locator: &DataLocator) -> Result<(Corpus, DataSource)> {
        if let Some((source, path)) = locator.find_file(HOLMES) {
            return Ok((Corpus::load(&path)?, source));
        }
        if let Some(dir) = locator.explicit() {
            return Err(Error::NotFound {
                what: "the Holmes corpus".into(),
                searched: vec![dir.join(HOLMES)],
                hint: Some(
                    "run `cargo xtask fetch-data --dataset holmes`, or omit --data-dir to use the \
                     embedded slice"
                        .into(),
                ),
            });
        }
        Ok((Corpus::embedded_holmes()?, DataSource::Embedded))
    }

    /// The slice of holmes.txt compiled into glassbox-core, normalized.
    pub fn embedded_holmes() -> Result<Corpus> {
        let path = PathBuf::from("<embedded>/text/holmes-head.txt.gz");
        let mut raw = String::new();
        flate2::read::GzDecoder::new(EMBEDDED_HOLMES)
            .read_to_string(&mut raw)
            .map_err(|e| Error::io(&path, e))?;
        Ok(Corpus {
            text: normalize(&raw),
            path,
        })
    }

    /// Number of characters (not bytes).
    pub fn chars(&self) -> usize {
        self.text.chars().count()
    }
}

/// The course's normalization: newlines become spaces, then double spaces are collapsed in one left-to-right
/// pass (Python's `text.replace('\n', ' ').replace('  ', ' ')`). One pass, not until none remain: that is
/// what gives the course's 1,637,265 characters for holmes.txt. Carriage returns go with the newlines.
pub fn normalize(raw: &str) -> String {
    raw.replace("\r\n", " ")
        .replace(['\n', '\r'], " ")
        .replace("  ", " ")
}

/// The sorted set of distinct characters and the index of each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CharVocab {
    chars: Vec<char>,
}

impl CharVocab {
    /// The sorted distinct characters of `text`.
    pub fn from_text(text: &str) -> Self {
        let set: BTreeSet<char> = text.chars().collect();
        CharVocab {
            chars: set.into_iter().collect(),
        }
    }

    /// Symbols in the vocabulary.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Whether the vocabulary is empty.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The symbols, sorted: index `i` is `chars()[i]`.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// The index of `c`, if it is in the vocabulary.
    pub fn index(&self, c: char) -> Option<u32> {
        self.chars.binary_search(&c).ok().map(|i| i as u32)
    }

    /// The symbol at `index`, if there is one.
    pub fn char(&self, index: u32) -> Option<char> {
        self.chars.get(index as usize).copied()
    }

    /// The whole text as indices; a character outside the vocabulary is an error naming the first one
    /// (and its code point), `what` naming the text ("seed text").
    pub fn encode(&self, text: &str, what: &str) -> Result<Vec<u32>> {
        text.chars()
            .enumerate()
            .map(|(i, c)| {
                self.index(c).ok_or_else(|| {
                    Error::invalid(
                        what,
                        format!("{c:?} (U+{:04X}) at character {i}", c as u32),
                        format!("only the {} symbols of the vocabulary", self.len()),
                    )
                })
            })
            .collect()
    }

    /// The symbols at `indices` as text (indices outside the vocabulary are skipped).
    pub fn decode(&self, indices: &[u32]) -> String {
        indices.iter().filter_map(|&i| self.char(i)).collect()
    }
}

/// Start offsets of the training windows: `maxlen` characters followed by the next one, every `step`
/// characters (Keras' lstm_text_generation: `range(0, len(text) - maxlen, step)`).
pub fn window_starts(len: usize, maxlen: usize, step: usize) -> impl Iterator<Item = usize> {
    (0..len.saturating_sub(maxlen)).step_by(step.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_is_one_pass_like_the_course() {
        assert_eq!(normalize("a\nb"), "a b");
        assert_eq!(normalize("a \nb"), "a b");
        // Four spaces become two in one pass, as Python's str.replace does.
        assert_eq!(normalize("a    b"), "a  b");
        assert_eq!(normalize("a\r\nb"), "a b");
    }

    #[test]
    fn vocab_round_trips_and_windows_count_like_keras() {
        let v = CharVocab::from_text("hello world");
        assert_eq!(v.len(), 8);
        assert_eq!(v.index(' '), Some(0));
        let enc = v.encode("low", "text").unwrap();
        assert_eq!(v.decode(&enc), "low");
        let err = v.encode("oz", "seed text").unwrap_err().to_string();
        assert!(
            err.contains("seed text") && err.contains("'z' (U+007A) at character 1"),
            "{err}"
        );
        assert_eq!(window_starts(10, 4, 3).collect::<Vec<_>>(), vec![0, 3]);
    }

    #[test]
    fn the_embedded_slice_is_the_start_of_the_course_corpus() {
        let c = Corpus::embedded_holmes().unwrap();
        assert!(c
            .text
            .starts_with("THE ADVENTURES OF SHERLOCK HOLMES by SIR ARTHUR CONAN DOYLE"));
        assert!(c
            .text
            .contains("To Sherlock Holmes she is always THE woman."));
        assert_eq!(c.chars(), 198_942);
        if let Some(full) = crate::testdata::data_file(HOLMES) {
            let full = Corpus::load(&full).unwrap();
            assert!(full.text.starts_with(c.text.trim_end()));
        }
    }

    #[test]
    fn bad_utf8_and_empty_corpora_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("latin1.txt");
        std::fs::write(&bad, b"caf\xe9 au lait").unwrap();
        let err = Corpus::load(&bad).unwrap_err().to_string();
        assert!(
            err.contains("latin1.txt") && err.contains("offset 3"),
            "{err}"
        );
        let empty = dir.path().join("empty.txt");
        std::fs::write(&empty, "\n\n  \n").unwrap();
        let err = Corpus::load(&empty).unwrap_err().to_string();
        assert!(err.contains("empty.txt") && err.contains("empty"), "{err}");
    }
}
