//! How much of a model's text is made of real words: the share of the words it writes that occur in
//! the corpus (issue 16's measure of a character model's samples; 79% for a PyTorch 2x256 LSTM after
//! four epochs at temperature 0.5).
//!
//! A word is a maximal run of ASCII letters, compared lowercased; a run cut off by the end of the text is
//! not counted. tests/fixtures/reference_char_lstm.py counts PyTorch's samples the same way.

use std::collections::HashSet;

use rand::Rng;
use serde::Serialize;

use crate::generate::{Sampler, Sampling};
use crate::Result;

/// The distinct words of a corpus, lowercased.
#[derive(Clone, Debug, Default)]
pub struct WordList(HashSet<String>);

impl WordList {
    /// The words of `corpus`: its runs of letters, lowercased.
    pub fn of(corpus: &str) -> Self {
        WordList(
            letter_runs(corpus)
                .map(|(w, _)| w.to_ascii_lowercase())
                .collect(),
        )
    }

    /// Whether `word` is in the list, whatever its case.
    pub fn contains(&self, word: &str) -> bool {
        self.0.contains(&word.to_ascii_lowercase())
    }

    /// Distinct words.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The runs of ASCII letters in `text`, each with whether a non-letter follows it.
fn letter_runs(text: &str) -> impl Iterator<Item = (&str, bool)> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let start = rest.find(|c: char| c.is_ascii_alphabetic())?;
        let run = &rest[start..];
        let end = run
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(run.len());
        rest = &run[end..];
        Some((&run[..end], end < run.len()))
    })
}

/// The words of `text` that end before it does.
pub fn complete_words(text: &str) -> impl Iterator<Item = &str> {
    letter_runs(text).filter_map(|(w, complete)| complete.then_some(w))
}

/// The outcome of [`real_words`].
#[derive(Clone, Debug, Serialize)]
pub struct RealWords {
    /// Words counted.
    pub words: usize,
    /// Those the corpus has.
    pub real: usize,
    /// The text drawn, through the last counted word.
    pub sample: String,
}

impl RealWords {
    /// `real / words` (0 when no word was counted).
    pub fn share(&self) -> f64 {
        self.real as f64 / self.words.max(1) as f64
    }
}

/// Draws text after `sampler`'s seed until it holds `words` complete words and counts those in
/// `corpus`. Refuses to go on past 20 characters a word on average (a model that writes no words).
pub fn real_words(
    sampler: &mut Sampler,
    corpus: &WordList,
    words: usize,
    sampling: Sampling,
    rng: &mut impl Rng,
) -> Result<RealWords> {
    let mut sample = String::new();
    let mut complete = 0;
    let mut in_word = false;
    let limit = 20 * words.max(1);
    while complete < words && sample.len() < limit {
        let c = sampler.next(sampling, rng)?;
        let letter = c.is_ascii_alphabetic();
        complete += usize::from(in_word && !letter);
        in_word = letter;
        sample.push(c);
    }
    let counted: Vec<&str> = complete_words(&sample).take(words).collect();
    Ok(RealWords {
        words: counted.len(),
        real: counted.iter().filter(|w| corpus.contains(w)).count(),
        sample,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_letter_runs_that_end_before_the_text() {
        let text = "\"It's Mr. Holmes,\" said he--quietly; 42 yrds";
        let words: Vec<&str> = complete_words(text).collect();
        assert_eq!(words, ["It", "s", "Mr", "Holmes", "said", "he", "quietly"]);
        let list = WordList::of("It is Mr. Holmes said he quietly yards");
        assert!(list.contains("HOLMES") && list.contains("it"));
        assert!(!list.contains("yrds"));
        assert_eq!(list.len(), 8);
    }
}
