//! The one font of every figure and plot: DejaVu Sans, embedded (see `assets/fonts/LICENSE`), registered
//! with plotters as `"sans-serif"` the first time text is drawn. Nothing depends on the fonts installed on
//! the machine.

use std::sync::OnceLock;

use plotters::style::FontStyle;

/// DejaVu Sans 2.37, unmodified.
pub(crate) const DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// The family name figures and plots ask plotters for.
pub(crate) const FAMILY: &str = "sans-serif";

/// Registers the embedded font once. Returns why it failed if the bytes are not a font (a build defect,
/// reported rather than panicking so a figure error names the output file).
pub(crate) fn ensure() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS)
                .map_err(|_| "the embedded DejaVu Sans font could not be parsed".to_string())
        })
        .clone()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_embedded_font_registers() {
        super::ensure().unwrap();
        super::ensure().unwrap();
    }
}
