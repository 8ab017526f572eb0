//! Looking inside a character LSTM (Karpathy, Johnson & Fei-Fei, "Visualizing and understanding
//! recurrent networks", 2015): the activation tanh(c) of every memory cell at every character of a
//! passage, and the cells that follow a property of the text (inside a quotation, the position in the
//! word, a word about to end) most closely.

use candle_core::Tensor;
use glassbox_core::data::CharVocab;
use serde::Serialize;

use crate::char_model::CharModel;
use crate::Result;

/// tanh(c) of every cell after every character: `values[layer][step][cell]`.
pub struct CellTrace {
    /// `values[layer][step][cell]`.
    pub values: Vec<Vec<Vec<f32>>>,
}

impl CellTrace {
    /// Runs `model` over `text` from a zero state (as training starts each window), one step per
    /// character.
    pub fn of(model: &CharModel, vocab: &CharVocab, text: &str) -> Result<CellTrace> {
        let ids = vocab.encode(text, "passage")?;
        let mut state = model.zero_state(1)?;
        let layers = model.config().layers;
        let mut values = vec![Vec::with_capacity(ids.len()); layers];
        for id in ids {
            (_, state) = model.step(&Tensor::new(&[id], model.device())?, &state)?;
            for (layer, c) in values.iter_mut().zip(&state.cells) {
                layer.push(c.squeeze(0)?.tanh()?.to_vec1()?);
            }
        }
        Ok(CellTrace { values })
    }

    /// One cell's activation at every character.
    pub fn cell(&self, layer: usize, cell: usize) -> Vec<f32> {
        self.values[layer].iter().map(|step| step[cell]).collect()
    }

    /// The cell whose activation correlates most strongly (either sign) with `property` (one value per
    /// character), over all layers.
    pub fn closest_cell(&self, property: &[f32]) -> Option<CellChoice> {
        let mut best: Option<CellChoice> = None;
        for (layer, steps) in self.values.iter().enumerate() {
            let cells = steps.first().map_or(0, Vec::len);
            for cell in 0..cells {
                let r = correlation(&self.cell(layer, cell), property);
                if r.is_finite() && best.as_ref().is_none_or(|b| r.abs() > b.correlation.abs()) {
                    best = Some(CellChoice {
                        layer,
                        cell,
                        correlation: r,
                    });
                }
            }
        }
        best
    }
}

/// A cell picked by [`CellTrace::closest_cell`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CellChoice {
    /// The LSTM layer, from 0.
    pub layer: usize,
    /// The cell within the layer.
    pub cell: usize,
    /// Pearson's r between its activation and the property.
    pub correlation: f64,
}

/// Pearson's correlation of two equally long series; NaN when either is constant.
pub fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    let mean = |v: &[f32]| v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let (ma, mb) = (mean(a), mean(b));
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x) - ma, f64::from(y) - mb);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa * bb).sqrt()
}

/// Properties of a text a cell may track, one value per character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextProperty {
    /// 1 from an opening quotation mark through its closing one, else 0: `“` opens and `”` closes;
    /// a straight `"` does whichever is due (the Holmes corpus has both kinds).
    InsideQuotes,
    /// Letters since the start of the current word (0 outside words).
    PositionInWord,
    /// 1 on the last letter of a word, else 0.
    WordEnds,
}

impl TextProperty {
    /// Every property, in the order figures show them.
    pub const ALL: [TextProperty; 3] = [
        TextProperty::InsideQuotes,
        TextProperty::PositionInWord,
        TextProperty::WordEnds,
    ];

    /// The property in words, for figures and metrics.
    pub fn name(self) -> &'static str {
        match self {
            TextProperty::InsideQuotes => "inside a quotation",
            TextProperty::PositionInWord => "position in the word",
            TextProperty::WordEnds => "last letter of a word",
        }
    }

    /// The property's value at each character of `text`.
    pub fn of(self, text: &str) -> Vec<f32> {
        let chars: Vec<char> = text.chars().collect();
        let letter = |i: usize| chars.get(i).is_some_and(|c| c.is_alphabetic());
        let mut inside = false;
        let mut position = 0.0;
        (0..chars.len())
            .map(|i| match self {
                TextProperty::InsideQuotes => {
                    let (opens, closes) = match chars[i] {
                        '“' => (true, false),
                        '”' => (false, true),
                        '"' => (!inside, inside),
                        _ => (false, false),
                    };
                    // Both marks belong to the quotation.
                    let value = inside || opens;
                    inside = (inside || opens) && !closes;
                    f32::from(u8::from(value))
                }
                TextProperty::PositionInWord => {
                    position = if letter(i) { position + 1.0 } else { 0.0 };
                    position
                }
                TextProperty::WordEnds => f32::from(u8::from(letter(i) && !letter(i + 1))),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_follow_the_text() {
        let text = "He said \"no, Sir.\" Then";
        assert_eq!(
            TextProperty::InsideQuotes.of(text),
            [
                0., 0., 0., 0., 0., 0., 0., 0., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 0., 0., 0.,
                0., 0.
            ]
        );
        assert_eq!(
            TextProperty::InsideQuotes.of("a “b” c \"d\" e"),
            [0., 0., 1., 1., 1., 0., 0., 0., 1., 1., 1., 0., 0.]
        );
        assert_eq!(
            TextProperty::PositionInWord.of("ab c"),
            [1.0, 2.0, 0.0, 1.0]
        );
        assert_eq!(
            TextProperty::WordEnds.of("ab c."),
            [0.0, 1.0, 0.0, 1.0, 0.0]
        );
    }

    #[test]
    fn the_closest_cell_is_the_one_that_follows_the_property() {
        let property = [0.0, 1.0, 1.0, 0.0, 1.0, 0.0];
        let noise = [0.3, -0.1, 0.2, 0.1, -0.2, 0.4];
        let opposite: Vec<f32> = property.iter().map(|p| 0.5 - 0.9 * p).collect();
        // layer 1 cell 1 tracks the property inverted: chosen, with r = -1.
        let values = vec![
            (0..6).map(|t| vec![noise[t], noise[5 - t]]).collect(),
            (0..6).map(|t| vec![noise[t] * 0.5, opposite[t]]).collect(),
        ];
        let trace = CellTrace { values };
        let best = trace.closest_cell(&property).unwrap();
        assert_eq!((best.layer, best.cell), (1, 1));
        assert!((best.correlation + 1.0).abs() < 1e-6, "{best:?}");
        assert!(correlation(&[1.0, 1.0], &[0.0, 1.0]).is_nan());
    }
}
