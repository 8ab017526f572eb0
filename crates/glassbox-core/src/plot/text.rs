//! Text whose characters are shaded by a value each: how an LSTM cell's activation follows a passage
//! (Karpathy et al.'s figure), one panel per cell.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{draw_error, render, Root, PLOT_HEIGHT, PLOT_WIDTH};
use crate::imaging::{font, save_rgb_png, Colormap};
use crate::Result;

/// One panel: `text` with `values[i]` in -1..=1 shading character `i` (blue negative, red positive).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShadedText {
    /// The panel's caption.
    pub label: String,
    /// The text, one cell per character.
    pub text: String,
    /// One value per character of `text`.
    pub values: Vec<f32>,
}

/// Panels of [`ShadedText`] under a title.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TextHeatmap {
    /// The title above the panels.
    pub title: String,
    /// The panels, top to bottom.
    pub panels: Vec<ShadedText>,
}

const MARGIN: i32 = 16;
const CELL_WIDTH: i32 = 11;
const ROW_HEIGHT: i32 = 17;
const LABEL_HEIGHT: i32 = 24;
const PANEL_GAP: i32 = 12;
const TITLE_HEIGHT: i32 = 44;

/// Characters a panel line holds.
pub const TEXT_HEATMAP_COLUMNS: usize = ((PLOT_WIDTH as i32 - 2 * MARGIN) / CELL_WIDTH) as usize;

/// Draws `map` as a `PLOT_WIDTH` x `PLOT_HEIGHT` PNG at `path`; each panel's text wraps at
/// [`TEXT_HEATMAP_COLUMNS`] characters and is cut where the page ends.
///
/// Errors: [`crate::Error::Plot`] if there are no panels or a panel has not one value per character.
pub fn text_heatmap(path: impl AsRef<Path>, map: &TextHeatmap) -> Result<()> {
    let path = path.as_ref();
    let image = render(path, |root| draw_text_heatmap(root, map))?;
    save_rgb_png(path, &image)
}

fn draw_text_heatmap(root: &Root, map: &TextHeatmap) -> std::result::Result<(), String> {
    if map.panels.is_empty() {
        return Err("a text heat map needs at least one panel".into());
    }
    for p in &map.panels {
        let chars = p.text.chars().count();
        if chars != p.values.len() {
            return Err(format!(
                "panel {:?}: {chars} characters but {} values",
                p.label,
                p.values.len()
            ));
        }
    }
    let style = |size: i32, h: HPos| {
        TextStyle::from((font::FAMILY, size).into_font()).pos(Pos::new(h, VPos::Center))
    };
    root.draw(&Text::new(
        map.title.as_str(),
        (PLOT_WIDTH as i32 / 2, TITLE_HEIGHT / 2),
        style(22, HPos::Center),
    ))
    .map_err(draw_error)?;
    let panels = map.panels.len() as i32;
    let room = PLOT_HEIGHT as i32 - TITLE_HEIGHT - MARGIN;
    let rows = ((room / panels - LABEL_HEIGHT - PANEL_GAP) / ROW_HEIGHT).max(1) as usize;
    let panel_height = LABEL_HEIGHT + rows as i32 * ROW_HEIGHT + PANEL_GAP;
    for (k, panel) in map.panels.iter().enumerate() {
        let top = TITLE_HEIGHT + k as i32 * panel_height;
        root.draw(&Text::new(
            panel.label.as_str(),
            (MARGIN, top + LABEL_HEIGHT / 2),
            style(16, HPos::Left),
        ))
        .map_err(draw_error)?;
        let cells = panel.text.chars().zip(&panel.values);
        for (i, (c, &v)) in cells.take(rows * TEXT_HEATMAP_COLUMNS).enumerate() {
            let x = MARGIN + (i % TEXT_HEATMAP_COLUMNS) as i32 * CELL_WIDTH;
            let y = top + LABEL_HEIGHT + (i / TEXT_HEATMAP_COLUMNS) as i32 * ROW_HEIGHT;
            let shade = Colormap::BlueWhiteRed.color((v.clamp(-1.0, 1.0) + 1.0) / 2.0);
            let fill = RGBColor(shade[0], shade[1], shade[2]);
            root.draw(&Rectangle::new(
                [(x, y), (x + CELL_WIDTH, y + ROW_HEIGHT)],
                fill.filled(),
            ))
            .map_err(draw_error)?;
            if !c.is_whitespace() {
                root.draw(&Text::new(
                    c.to_string(),
                    (x + CELL_WIDTH / 2, y + ROW_HEIGHT / 2),
                    style(14, HPos::Center).color(if v.abs() > 0.6 { &WHITE } else { &BLACK }),
                ))
                .map_err(draw_error)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_are_shaded_by_their_values_and_mismatches_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cells.png");
        let panel = ShadedText {
            label: "cell 3".into(),
            text: "ab".into(),
            values: vec![-1.0, 1.0],
        };
        let map = TextHeatmap {
            title: "t".into(),
            panels: vec![panel.clone()],
        };
        text_heatmap(&path, &map).unwrap();
        let image = image::open(&path).unwrap().to_rgb8();
        // The corners of the two cells, clear of the glyphs: blue, then red.
        let y = (TITLE_HEIGHT + LABEL_HEIGHT + 1) as u32;
        let first = image.get_pixel(MARGIN as u32 + 1, y);
        let second = image.get_pixel((MARGIN + CELL_WIDTH) as u32 + 1, y);
        assert!(first[2] > first[0] + 50, "{first:?}");
        assert!(second[0] > second[2] + 50, "{second:?}");
        let bad = TextHeatmap {
            panels: vec![ShadedText {
                values: vec![0.0],
                ..panel
            }],
            ..map
        };
        let err = text_heatmap(&path, &bad).unwrap_err().to_string();
        assert!(err.contains("2 characters but 1 values"), "{err}");
    }
}
