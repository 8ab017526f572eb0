//! The character lesson's data: a corpus as symbol indices, its held-out tail, and the windows the
//! models read.
//!
//! The course (Keras's lstm_text_generation on holmes.txt) normalizes the text, takes its sorted distinct
//! characters as the vocabulary (89 symbols), and cuts 40-character windows every 3 characters, each with
//! the character after it as the target (545,742 windows). Here the last 5% of the text is held out to
//! measure generalization; windows are cut within each part, never across the split.

use std::path::Path;

use glassbox_core::data::text::window_starts;
use glassbox_core::data::{CharVocab, Corpus};

use crate::Result;

/// The share of the text held out for validation: its last 5%.
pub const HELD_OUT: f64 = 0.05;

/// The most distinct symbols a corpus may have. The output layer is a softmax over every symbol; more than
/// this almost always means a binary or mis-encoded file (holmes.txt has 89, a novel in any alphabet a
/// few hundred).
pub const MAX_SYMBOLS: usize = 1024;

/// A normalized corpus as indices into its vocabulary, split into training and held-out text.
#[derive(Clone, Debug)]
pub struct CharText {
    /// The sorted distinct characters.
    pub vocab: CharVocab,
    /// The whole normalized text, one index per character.
    pub ids: Vec<u32>,
    /// The first held-out character.
    pub split: usize,
}

impl CharText {
    /// Reads and normalizes a UTF-8 corpus (glassbox-core's [`Corpus`]) and checks it can give windows of
    /// `window` characters plus a target on both sides of the split.
    pub fn load(path: &Path, window: usize) -> Result<CharText> {
        let corpus = Corpus::load(path)?;
        CharText::from_text(&corpus.text, path, window)
    }

    /// As [`CharText::load`], for text already normalized; `source` names it in errors.
    pub fn from_text(text: &str, source: &Path, window: usize) -> Result<CharText> {
        let bad = |problem: String| glassbox_core::Error::format(source, problem);
        if let Some((at, c)) = text
            .chars()
            .enumerate()
            .find(|&(_, c)| c.is_control() && c != '\t' && c != '\u{c}')
        {
            return Err(bad(format!(
                "not a text file: control character U+{:04X} at character {at}",
                c as u32
            ))
            .into());
        }
        let vocab = CharVocab::from_text(text);
        if vocab.len() > MAX_SYMBOLS {
            return Err(bad(format!(
                "{} distinct characters, over the limit of {MAX_SYMBOLS} (a mis-encoded file?)",
                vocab.len()
            ))
            .into());
        }
        let ids = vocab.encode(text, "corpus")?;
        let held_out = (ids.len() as f64 * HELD_OUT).round() as usize;
        let split = ids.len() - held_out;
        let needed = window + 1;
        if held_out < needed {
            return Err(bad(format!(
                "{} characters is too short: {window}-character windows need at least {needed} characters \
                 in the held-out {:.0}% as well as in the rest, so at least {} in all",
                ids.len(),
                HELD_OUT * 100.0,
                (needed as f64 / HELD_OUT).ceil()
            ))
            .into());
        }
        Ok(CharText { vocab, ids, split })
    }

    /// The text models learn from.
    pub fn train(&self) -> &[u32] {
        &self.ids[..self.split]
    }

    /// The held-out tail.
    pub fn validation(&self) -> &[u32] {
        &self.ids[self.split..]
    }
}

/// The course's windows over `ids`: where each of its `maxlen`-character inputs starts, every `step`
/// characters; the target of the window at `s` is `ids[s + maxlen]`.
pub fn course_windows(ids: &[u32], maxlen: usize, step: usize) -> Vec<usize> {
    window_starts(ids.len(), maxlen, step).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(n: usize) -> String {
        "the quick brown fox jumps over the lazy dog. "
            .chars()
            .cycle()
            .take(n)
            .collect()
    }

    #[test]
    fn the_tail_is_held_out_and_windows_stay_on_their_side() {
        let t = CharText::from_text(&text_of(1000), Path::new("fox.txt"), 40).unwrap();
        assert_eq!(t.split, 950);
        assert_eq!(t.train().len() + t.validation().len(), 1000);
        let starts = course_windows(t.train(), 40, 3);
        // Keras's range(0, len - maxlen, step): 910 / 3 rounded up.
        assert_eq!(starts.len(), 304);
        assert!(starts.iter().all(|&s| s + 40 < t.train().len()));
        assert_eq!(t.vocab.decode(&t.ids[..9]), "the quick");
    }

    #[test]
    fn holmes_gives_the_course_numbers() {
        let Some(path) = glassbox_core::testdata::data_file("text/holmes.txt") else {
            return;
        };
        let t = CharText::load(&path, 40).unwrap();
        assert_eq!(t.ids.len(), 1_637_265);
        assert_eq!(t.vocab.len(), 89);
        assert_eq!(course_windows(&t.ids, 40, 3).len(), 545_742);
        // Windows of the training part only end before the held-out 5%.
        let train = course_windows(t.train(), 40, 3);
        assert_eq!(train.len(), (t.split - 40).div_ceil(3));
        assert_eq!(t.validation().len(), 81_863);
    }

    #[test]
    fn unusable_corpora_are_refused_with_the_file_named() {
        let err = |text: &str| {
            CharText::from_text(text, Path::new("corpus.txt"), 40)
                .unwrap_err()
                .to_string()
        };
        let short = err(&text_of(500));
        assert!(
            short.contains("corpus.txt") && short.contains("too short"),
            "{short}"
        );
        let binary = err(&format!("{}\u{0}{}", text_of(600), text_of(600)));
        assert!(
            binary.contains("U+0000") && binary.contains("character 600"),
            "{binary}"
        );
        let many: String = (0..2000u32)
            .filter_map(|i| char::from_u32(0x4e00 + i))
            .collect();
        let wide = err(&many);
        assert!(wide.contains("distinct characters"), "{wide}");
    }
}
