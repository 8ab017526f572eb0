//! What `glassbox text train` ends with and `glassbox text inspect` does for any checkpoint: the share of
//! real words in a long sample, and the memory cells that follow quotations and words, drawn as shaded
//! text (cells.png).

use std::path::Path;

use glassbox_core::assets::atomic::write_bytes_atomic;
use glassbox_core::data::CharVocab;
use glassbox_core::plot::{text_heatmap, ShadedText, TextHeatmap, TEXT_HEATMAP_COLUMNS};
use glassbox_core::seed::Seed;
use glassbox_sequence::cells::{CellTrace, TextProperty};
use glassbox_sequence::generate::{Sampler, Sampling};
use glassbox_sequence::real_words::{real_words, WordList};
use glassbox_sequence::CharModel;
use serde_json::{json, Value};

/// The course's first sentence: the default text to continue.
pub const DEFAULT_SEED_TEXT: &str = "To Sherlock Holmes she is always THE woman. ";
/// The measure: this many words at temperature 0.5.
pub const REAL_WORDS: usize = 3000;
pub const REAL_WORDS_TEMPERATURE: f64 = 0.5;
/// Held-out characters the cells are chosen over.
const CELL_PASSAGE: usize = 20_000;
/// Lines of the passage each panel of cells.png shows.
const SHOWN_LINES: usize = 8;

/// `DEFAULT_SEED_TEXT` where the model knows its symbols, else its first symbol.
pub fn seed_text_for(vocab: &CharVocab) -> String {
    if DEFAULT_SEED_TEXT.chars().all(|c| vocab.index(c).is_some()) {
        DEFAULT_SEED_TEXT.to_string()
    } else {
        vocab.chars()[..1].iter().collect()
    }
}

/// Measures `model` against `corpus` (the words it may use) and `held_out` (text it never trained on),
/// writes real-words.txt and cells.png into `out`, and returns what it found.
pub fn inspect(
    model: &CharModel,
    vocab: &CharVocab,
    corpus: &str,
    held_out: &str,
    out: &Path,
    seed: Seed,
) -> anyhow::Result<Value> {
    let words = WordList::of(corpus);
    let mut sampler = Sampler::new(model, vocab, &seed_text_for(vocab))?;
    let mut rng = seed.stream("text real words");
    let sampling = Sampling::from_temperature(REAL_WORDS_TEMPERATURE)?;
    let found = real_words(&mut sampler, &words, REAL_WORDS, sampling, &mut rng)?;
    println!(
        "{:.1}% of {} words sampled at temperature {REAL_WORDS_TEMPERATURE} occur in the corpus",
        100.0 * found.share(),
        found.words,
    );
    write_bytes_atomic(&out.join("real-words.txt"), found.sample.as_bytes())?;

    // From the first opening quotation mark, so that quotations pair up from there.
    let opening = held_out
        .find(" “")
        .or_else(|| held_out.find(" \""))
        .map_or(0, |i| i + 1);
    let passage: String = held_out[opening..].chars().take(CELL_PASSAGE).collect();
    let trace = CellTrace::of(model, vocab, &passage)?;
    let chars: Vec<char> = passage.chars().collect();
    let shown = SHOWN_LINES * TEXT_HEATMAP_COLUMNS;
    let start = quotation_start(&chars, shown);
    let mut panels = Vec::new();
    let mut cells = Vec::new();
    for property in TextProperty::ALL {
        let Some(choice) = trace.closest_cell(&property.of(&passage)) else {
            continue;
        };
        let values = trace.cell(choice.layer, choice.cell);
        let end = (start + shown).min(chars.len());
        panels.push(ShadedText {
            label: format!(
                "layer {}, cell {}: {} (r = {:.2} over {} held-out characters)",
                choice.layer + 1,
                choice.cell,
                property.name(),
                choice.correlation,
                chars.len()
            ),
            text: chars[start..end].iter().collect(),
            values: values[start..end].to_vec(),
        });
        cells.push(json!({"property": property.name(), "cell": choice}));
    }
    let figure = out.join("cells.png");
    text_heatmap(
        &figure,
        &TextHeatmap {
            title: format!(
                "{}: tanh(cell) per character (blue -1, red +1)",
                model.name()
            ),
            panels,
        },
    )?;
    println!("wrote {}", figure.display());
    Ok(json!({
        "real_words": {
            "temperature": REAL_WORDS_TEMPERATURE,
            "words": found.words,
            "real": found.real,
            "share": found.share(),
        },
        "cells": cells,
    }))
}

/// Where the shown stretch starts: a little before the first quotation that fits in it whole, so the
/// quotation cell has something to show; the start of the passage if there is none.
fn quotation_start(chars: &[char], shown: usize) -> usize {
    let quotes: Vec<usize> = (0..chars.len())
        .filter(|&i| matches!(chars[i], '"' | '“' | '”'))
        .collect();
    quotes
        .windows(2)
        .step_by(2)
        .find(|pair| pair[1] - pair[0] < shown / 2)
        .map_or(0, |pair| pair[0].saturating_sub(TEXT_HEATMAP_COLUMNS / 2))
}
