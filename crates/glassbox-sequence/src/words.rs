//! The word lesson's vocabulary: a tokenizers `WordLevel` model over words and punctuation marks (the
//! `Whitespace` pre-tokenizer: runs of word characters, and runs of other non-space characters), keeping
//! the most frequent tokens of the training text and one unknown token for the rest. The course keeps
//! 8,000: `[UNK]` and the 7,999 most frequent. It is saved as `tokenizer.json` beside a checkpoint, so
//! anything that reads the tokenizers format can use it.
//!
//! [`WordText`] is the lesson's data: the corpus as token ids, its last 5% held out. The tokenizer learns
//! its vocabulary from the training part only, so held-out words it never saw count as unknown, as they
//! would for new text.

use std::path::Path;

use tokenizers::models::wordlevel::{WordLevel, WordLevelTrainerBuilder};
use tokenizers::pre_tokenizers::whitespace::Whitespace;
use tokenizers::{
    AddedToken, DecoderWrapper, Model, NormalizerWrapper, PostProcessorWrapper,
    PreTokenizerWrapper, Tokenizer, TokenizerBuilder,
};

use crate::Result;

/// The token that stands for every word outside the vocabulary (id 0).
pub const UNKNOWN: &str = "[UNK]";
/// The course's vocabulary: the unknown token and the 7,999 most frequent tokens.
pub const COURSE_VOCABULARY: usize = 8000;
/// The file name beside a checkpoint.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// A word-level tokenizer and its vocabulary.
pub struct WordTokenizer {
    tokenizer: Tokenizer,
}

fn tokenizer_error(path: &Path, what: &str, e: impl std::fmt::Display) -> crate::Error {
    glassbox_core::Error::format(path, format!("{what}: {e}")).into()
}

impl WordTokenizer {
    /// Learns the `vocabulary - 1` most frequent tokens of `text` (ties broken alphabetically, so the
    /// result is the same on every run) plus [`UNKNOWN`]. `source` names the text in errors.
    pub fn train(text: &str, vocabulary: usize, source: &Path) -> Result<WordTokenizer> {
        if vocabulary < 2 {
            return Err(glassbox_core::Error::invalid(
                "vocabulary",
                vocabulary,
                "at least 2 (the unknown token and one word)",
            )
            .into());
        }
        let model = WordLevel::builder()
            .unk_token(UNKNOWN.into())
            .build()
            .map_err(|e| tokenizer_error(source, "word-level model", e))?;
        let mut trainer = WordLevelTrainerBuilder::default()
            .vocab_size(vocabulary)
            .min_frequency(0)
            .show_progress(false)
            .special_tokens(vec![AddedToken::from(UNKNOWN, true)])
            .build()
            .map_err(|e| tokenizer_error(source, "word-level trainer", e))?;
        let mut word_level = TokenizerBuilder::<
            WordLevel,
            NormalizerWrapper,
            PreTokenizerWrapper,
            PostProcessorWrapper,
            DecoderWrapper,
        >::new()
        .with_model(model)
        .with_pre_tokenizer(Some(PreTokenizerWrapper::Whitespace(Whitespace {})))
        .build()
        .map_err(|e| tokenizer_error(source, "tokenizer", e))?;
        word_level
            .train(&mut trainer, std::iter::once(text))
            .map_err(|e| tokenizer_error(source, "training the tokenizer", e))?;
        let tokenizer = Tokenizer::from(word_level);
        Ok(WordTokenizer { tokenizer })
    }

    /// Reads a `tokenizer.json` written by [`WordTokenizer::save`]; anything else is an error naming the
    /// file.
    pub fn load(path: &Path) -> Result<WordTokenizer> {
        let bytes = std::fs::read(path).map_err(|e| glassbox_core::Error::io(path, e))?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|e| tokenizer_error(path, "not a tokenizer file (not UTF-8 text)", e))?;
        serde_json::from_str::<serde::de::IgnoredAny>(text)
            .map_err(|e| tokenizer_error(path, "not a tokenizer file (not JSON)", e))?;
        // tokenizers 0.23 panics on some well-formed JSON it cannot use (a malformed decoder, found by
        // fuzzing) instead of returning its error.
        let parsed = std::panic::catch_unwind(|| text.parse::<Tokenizer>()).map_err(|_| {
            tokenizer_error(
                path,
                "not a tokenizer file",
                "the tokenizers library could not read it",
            )
        })?;
        let tokenizer = parsed.map_err(|e| tokenizer_error(path, "not a tokenizer file", e))?;
        // The model's embedding has one row per id: ids must be exactly 0..len.
        let ids: std::collections::BTreeSet<u32> =
            tokenizer.get_vocab(true).into_values().collect();
        let dense = ids.iter().enumerate().all(|(i, &id)| i as u32 == id);
        let tokens = tokenizer.get_model().get_vocab_size();
        if !dense || ids.len() != tokens || tokenizer.get_vocab_size(true) != tokens {
            return Err(glassbox_core::Error::format(
                path,
                format!("the ids of its {tokens} tokens are not 0..{tokens}, each once"),
            )
            .into());
        }
        if tokenizer.token_to_id(UNKNOWN) != Some(0) {
            return Err(glassbox_core::Error::format(
                path,
                format!("not a word-level tokenizer of this lesson: no {UNKNOWN} token with id 0"),
            )
            .into());
        }
        Ok(WordTokenizer { tokenizer })
    }

    /// Writes the tokenizer atomically in the tokenizers JSON format.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = self
            .tokenizer
            .to_string(true)
            .map_err(|e| tokenizer_error(path, "serializing the tokenizer", e))?;
        glassbox_core::assets::atomic::write_bytes_atomic(path, json.as_bytes())
            .map_err(glassbox_core::Error::from)?;
        Ok(())
    }

    /// Tokens in the vocabulary, the unknown one included.
    pub fn len(&self) -> usize {
        self.tokenizer.get_model().get_vocab_size()
    }

    /// Whether the vocabulary is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ids of `text`'s tokens; a token outside the vocabulary becomes [`UNKNOWN`]'s id, 0.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| tokenizer_error(Path::new("text"), "tokenizing", e))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The id of `token`, if the vocabulary has it.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.tokenizer.token_to_id(token)
    }

    /// The token of `id`, if the vocabulary has one.
    pub fn token(&self, id: u32) -> Option<String> {
        self.tokenizer.id_to_token(id)
    }

    /// The tokens of `ids` joined by spaces (the word level keeps no spacing).
    pub fn decode(&self, ids: &[u32]) -> String {
        ids.iter()
            .map(|&id| self.token(id).unwrap_or_else(|| UNKNOWN.to_string()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The tokens of `ids` as prose: spaces between words, none before closing punctuation.
    pub fn to_prose(&self, ids: &[u32]) -> String {
        ids.iter()
            .enumerate()
            .map(|(i, &id)| self.prose_piece(id, i == 0))
            .collect()
    }

    /// Token `id` as it continues prose: after a space, unless it is closing punctuation or `first`.
    pub fn prose_piece(&self, id: u32, first: bool) -> String {
        let token = self.token(id).unwrap_or_else(|| UNKNOWN.to_string());
        if first || token.starts_with(['.', ',', ';', ':', '!', '?', ')']) {
            token
        } else {
            format!(" {token}")
        }
    }

    /// A short digest of the vocabulary (FNV-1a over the tokens in id order): checkpoints keep it, so a
    /// run never resumes with another corpus's tokens.
    pub fn fingerprint(&self) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for id in 0..self.len() as u32 {
            let token = self.token(id).unwrap_or_default();
            for b in token.bytes().chain([0xff]) {
                hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        format!("{hash:016x}")
    }
}

/// A corpus as token ids, split into training and held-out text.
pub struct WordText {
    /// The tokenizer that made the ids.
    pub tokenizer: WordTokenizer,
    /// The training tokens, then the held-out ones.
    pub ids: Vec<u32>,
    /// The first held-out token.
    pub split: usize,
}

impl WordText {
    /// Learns a tokenizer of `vocabulary` tokens from the first 95% of `text` (cut at a space) and
    /// encodes both parts. `window` is checked: both parts must hold a window and its target. `source`
    /// names the text in errors.
    pub fn from_text(
        text: &str,
        source: &Path,
        vocabulary: usize,
        window: usize,
    ) -> Result<WordText> {
        let (train, _) = text.split_at(held_out_start(text));
        let tokenizer = WordTokenizer::train(train, vocabulary, source)?;
        WordText::with_tokenizer(text, source, tokenizer, window)
    }

    /// As [`WordText::from_text`] with a tokenizer already learned (e.g. read beside a checkpoint).
    pub fn with_tokenizer(
        text: &str,
        source: &Path,
        tokenizer: WordTokenizer,
        window: usize,
    ) -> Result<WordText> {
        let (train, held_out) = text.split_at(held_out_start(text));
        let mut ids = tokenizer.encode(train)?;
        let split = ids.len();
        ids.extend(tokenizer.encode(held_out)?);
        let needed = window + 1;
        if split < needed || ids.len() - split < needed {
            return Err(glassbox_core::Error::format(
                source,
                format!(
                    "too short for {window}-word windows: {split} tokens to train on and {} held out, \
                     and each part needs at least {needed}",
                    ids.len() - split
                ),
            )
            .into());
        }
        Ok(WordText {
            tokenizer,
            ids,
            split,
        })
    }

    /// The training tokens.
    pub fn train(&self) -> &[u32] {
        &self.ids[..self.split]
    }

    /// The held-out tokens.
    pub fn validation(&self) -> &[u32] {
        &self.ids[self.split..]
    }

    /// Both, as the training loop takes them.
    pub fn split(&self) -> crate::train::Split<'_> {
        crate::train::Split {
            train: self.train(),
            validation: self.validation(),
        }
    }
}

/// Where the held-out text starts, in bytes: after the first 95% of the characters
/// ([`crate::chars::HELD_OUT`]), moved on to the next whitespace so that no word is cut in two.
pub fn held_out_start(text: &str) -> usize {
    let chars = text.chars().count();
    let held_out = (chars as f64 * crate::chars::HELD_OUT).round() as usize;
    text.char_indices()
        .skip(chars - held_out)
        .find(|(_, c)| c.is_whitespace())
        .map_or(text.len(), |(at, _)| at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_frequent_tokens_and_the_unknown_one_make_the_vocabulary() {
        let text = "the cat saw the dog. The dog saw the cat, and the bird saw nothing!";
        let source = Path::new("tiny.txt");
        // Counts: the 4, saw 3, cat 2, dog 2, . 1, The 1, , 1, and 1, bird 1, nothing 1, ! 1.
        let t = WordTokenizer::train(text, 5, source).unwrap();
        assert_eq!(t.len(), 5);
        let ids = t.encode("the dog saw a bird.").unwrap();
        let tokens: Vec<String> = ids.iter().map(|&i| t.token(i).unwrap()).collect();
        assert_eq!(tokens, ["the", "dog", "saw", UNKNOWN, UNKNOWN, UNKNOWN]);
        assert_eq!(t.token(0).as_deref(), Some(UNKNOWN));
        assert_eq!(t.token(1).as_deref(), Some("the"));
        // Equal counts are broken alphabetically: cat before dog.
        assert_eq!(
            (t.token(3).as_deref(), t.token(4).as_deref()),
            (Some("cat"), Some("dog"))
        );

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(TOKENIZER_FILE);
        t.save(&path).unwrap();
        let back = WordTokenizer::load(&path).unwrap();
        assert_eq!(back.encode("the dog saw a bird.").unwrap(), ids);
        assert_eq!(back.decode(&ids[..3]), "the dog saw");

        std::fs::write(&path, b"{ not json").unwrap();
        let err = WordTokenizer::load(&path).err().unwrap().to_string();
        assert!(err.contains(TOKENIZER_FILE), "{err}");
        assert!(WordTokenizer::train(text, 1, source).is_err());
        assert_eq!(back.fingerprint(), t.fingerprint());
        let other = WordTokenizer::train("the cat, the cat. A dog!", 5, source).unwrap();
        assert_ne!(other.fingerprint(), t.fingerprint());
    }

    #[test]
    fn prose_closes_up_punctuation() {
        let t = WordTokenizer::train("Holmes said , Watson ! .", 10, Path::new("x")).unwrap();
        let ids = t.encode("Holmes said, Watson!").unwrap();
        assert_eq!(t.to_prose(&ids), "Holmes said, Watson!");
    }

    #[test]
    fn the_held_out_words_are_the_tail_and_unknown_to_the_tokenizer_if_new() {
        // 100 sentences; the last 5% of the characters hold the only "zebra".
        let mut text = "the cat saw the dog . ".repeat(95);
        text.push_str("a zebra saw the cat .");
        let cut = held_out_start(&text);
        assert!(text[cut..].starts_with(' '), "{:?}", &text[cut..]);
        assert!(text[..cut].len() as f64 > 0.94 * text.len() as f64);
        let words = WordText::from_text(&text, Path::new("zoo.txt"), 50, 5).unwrap();
        assert_eq!(words.tokenizer.token_to_id("zebra"), None);
        assert!(words.validation().contains(&0), "zebra is unknown");
        assert_eq!(words.train().len(), words.split);
        let err = WordText::from_text(&text, Path::new("zoo.txt"), 50, 200)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("zoo.txt") && err.contains("too short"),
            "{err}"
        );
    }
}
