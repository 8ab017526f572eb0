//! Loss and accuracy curves, 2-D scatter plots, bar charts, confusion matrices and shaded text, as PNG
//! files.
//!
//! Charts are drawn with plotters into an in-memory RGB buffer (with the embedded DejaVu Sans, so they look
//! the same on every machine), encoded with the image crate and written atomically. Every drawing problem is
//! an [`Error::Plot`] naming the output file.

use std::path::Path;

use image::RgbImage;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::imaging::{font, save_rgb_png};
use crate::{Error, Result};

mod text;
pub use text::{text_heatmap, ShadedText, TextHeatmap, TEXT_HEATMAP_COLUMNS};

/// The size of every chart, in pixels.
pub const PLOT_WIDTH: u32 = 900;
/// The height of every chart, in pixels.
pub const PLOT_HEIGHT: u32 = 600;

/// Width of the legend column of [`scatter`].
const LEGEND_WIDTH: u32 = 170;

/// matplotlib's `tab10`: ten colours that stay distinct, for curves and for the ten MNIST digits.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The colour of series or class `i` (the palette repeats after ten).
pub fn palette_color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// One named curve.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// The legend's name.
    pub name: String,
    /// `(x, y)` points in drawing order, for example `(epoch, loss)`.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A curve called `name` through `points`.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
        }
    }

    /// One point per entry of a metrics log's `epochs` (see [`crate::train::MetricsLog`]): `(epoch, pick(entry))`,
    /// skipping entries where `pick` finds nothing.
    pub fn from_epochs(
        name: impl Into<String>,
        epochs: &[serde_json::Value],
        pick: impl Fn(&serde_json::Value) -> Option<f64>,
    ) -> Self {
        let points = epochs
            .iter()
            .filter_map(|e| Some((e["epoch"].as_f64()?, pick(e)?)))
            .collect();
        Series::new(name, points)
    }

    /// Points `(1, v0), (2, v1), ...`: one value per epoch, epochs counted from 1.
    pub fn per_epoch(name: impl Into<String>, values: &[f64]) -> Self {
        let points = values
            .iter()
            .enumerate()
            .map(|(i, &v)| ((i + 1) as f64, v))
            .collect();
        Series::new(name, points)
    }
}

/// A line chart: one or more curves with a legend.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LineChart {
    /// The title above the chart.
    pub title: String,
    /// The x axis's label.
    pub x_label: String,
    /// The y axis's label.
    pub y_label: String,
    /// Series with no points are left out (and out of the legend); at least one must have points.
    pub series: Vec<Series>,
    /// The y axis range; `None` fits the data with a 5% margin (for accuracies, `Some((0.0, 1.0))`).
    pub y_range: Option<(f64, f64)>,
}

/// A scatter plot of labelled 2-D points, one colour per class, for latent spaces and embeddings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scatter {
    /// The title above the plot.
    pub title: String,
    /// `(x, y, class)`.
    pub points: Vec<(f64, f64, usize)>,
    /// The legend's name of each class; a class without a name is shown by its number.
    pub class_names: Vec<String>,
}

/// Draws `chart` as a `PLOT_WIDTH` x `PLOT_HEIGHT` PNG at `path` (atomically; the directory is created).
/// Curves with up to 40 points also get a marker at each point, so a single point is visible.
///
/// Errors: [`Error::Plot`] if no series has points, a point is NaN or infinite, or `y_range` is not an
/// increasing pair of finite numbers.
pub fn line_chart(path: impl AsRef<Path>, chart: &LineChart) -> Result<()> {
    let path = path.as_ref();
    let image = render(path, |root| draw_line_chart(root, chart))?;
    save_rgb_png(path, &image)
}

/// Draws `plot` as a `PLOT_WIDTH` x `PLOT_HEIGHT` PNG at `path`, with the legend in a column on the right.
///
/// Errors: [`Error::Plot`] if there are no points or a coordinate is NaN or infinite.
pub fn scatter(path: impl AsRef<Path>, plot: &Scatter) -> Result<()> {
    let path = path.as_ref();
    let image = render(path, |root| draw_scatter(root, plot))?;
    save_rgb_png(path, &image)
}

/// Horizontal bars, one per label, longest on top as given (for top-k class probabilities).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BarChart {
    /// The title above the chart.
    pub title: String,
    /// The label under the bars' axis.
    pub x_label: String,
    /// `(label, value)`, drawn top to bottom.
    pub bars: Vec<(String, f64)>,
    /// The value axis; `None` runs from 0 to the largest value.
    pub x_range: Option<(f64, f64)>,
}

/// Draws `chart` as a `PLOT_WIDTH` x `PLOT_HEIGHT` PNG at `path`.
///
/// Errors: [`Error::Plot`] if there are no bars or a value is not finite.
pub fn bar_chart(path: impl AsRef<Path>, chart: &BarChart) -> Result<()> {
    let path = path.as_ref();
    let image = render(path, |root| draw_bars(root, chart))?;
    save_rgb_png(path, &image)
}

fn draw_bars(root: &Root, chart: &BarChart) -> std::result::Result<(), String> {
    if chart.bars.is_empty() {
        return Err("no bars to draw".into());
    }
    check_finite("bar chart", chart.bars.iter().map(|(_, v)| (0.0, *v)))?;
    let (lo, hi) = chart.x_range.unwrap_or((
        0.0,
        chart
            .bars
            .iter()
            .map(|b| b.1)
            .fold(0.0, f64::max)
            .max(1e-12),
    ));
    let n = chart.bars.len();
    let longest = chart
        .bars
        .iter()
        .map(|b| b.0.chars().count())
        .max()
        .unwrap_or(0);
    let label_area = ((longest as u32) * 9 + 20).clamp(60, 420);
    let mut c = ChartBuilder::on(root)
        .caption(&chart.title, (font::FAMILY, 24))
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(label_area)
        .build_cartesian_2d(lo..hi, 0.0..n as f64)
        .map_err(draw_error)?;
    let labels: Vec<String> = chart.bars.iter().map(|b| b.0.clone()).collect();
    c.configure_mesh()
        .disable_y_mesh()
        .x_desc(chart.x_label.as_str())
        .y_labels(n * 2 + 1)
        .y_label_formatter(&|y: &f64| {
            // Labels sit at the bar centres (k + 0.5), the first bar on top.
            let k = (n as f64 - y - 0.5).round();
            if (n as f64 - y - 0.5 - k).abs() < 1e-6 && k >= 0.0 && (k as usize) < n {
                labels[k as usize].clone()
            } else {
                String::new()
            }
        })
        .label_style((font::FAMILY, 16))
        .axis_desc_style((font::FAMILY, 18))
        .draw()
        .map_err(draw_error)?;
    c.draw_series(chart.bars.iter().enumerate().map(|(k, (_, v))| {
        let top = n as f64 - k as f64 - 0.1;
        Rectangle::new([(lo, top - 0.8), (*v, top)], palette_color(0).filled())
    }))
    .map_err(draw_error)?;
    Ok(())
}

/// A confusion matrix: `counts[true][predicted]` for classes named `labels`, each cell shaded by its share
/// of its row (white to dark blue) and printed with its count; the diagonal is what was right.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConfusionMatrix {
    /// The title above the matrix.
    pub title: String,
    /// The class names, in class order.
    pub labels: Vec<String>,
    /// `counts[true][predicted]`: one row per true class.
    pub counts: Vec<Vec<usize>>,
}

/// Draws `matrix` as a `PLOT_WIDTH` x `PLOT_HEIGHT` PNG at `path`.
///
/// Errors: [`Error::Plot`] if there are no classes, more than 20, or `counts` is not square with one row
/// per label.
pub fn confusion_matrix(path: impl AsRef<Path>, matrix: &ConfusionMatrix) -> Result<()> {
    let path = path.as_ref();
    let image = render(path, |root| draw_confusion(root, matrix))?;
    save_rgb_png(path, &image)
}

fn draw_confusion(root: &Root, m: &ConfusionMatrix) -> std::result::Result<(), String> {
    let k = m.labels.len();
    if k == 0 || k > 20 {
        return Err(format!("{k} classes; a confusion matrix needs 1 to 20"));
    }
    if m.counts.len() != k || m.counts.iter().any(|r| r.len() != k) {
        return Err(format!(
            "counts must be {k} x {k}, one row and column per label"
        ));
    }
    let (top, left) = (70i32, 110i32);
    let cell = ((PLOT_HEIGHT as i32 - top - 70) / k as i32)
        .min((PLOT_WIDTH as i32 - left - 40) / k as i32);
    let title =
        TextStyle::from((font::FAMILY, 24).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
    root.draw(&Text::new(
        m.title.as_str(),
        (PLOT_WIDTH as i32 / 2, 28),
        title,
    ))
    .map_err(draw_error)?;
    let centred = |size: i32| {
        TextStyle::from((font::FAMILY, size).into_font()).pos(Pos::new(HPos::Center, VPos::Center))
    };
    let number_size = (cell / 3).clamp(9, 18);
    for (t, row) in m.counts.iter().enumerate() {
        let total = row.iter().sum::<usize>().max(1) as f64;
        for (p, &count) in row.iter().enumerate() {
            let share = count as f64 / total;
            // White (0) to a dark blue (1), as matplotlib's Blues.
            let shade = |lo: f64, hi: f64| (lo + (hi - lo) * share).round() as u8;
            let fill = RGBColor(shade(247.0, 8.0), shade(251.0, 48.0), shade(255.0, 107.0));
            let (x0, y0) = (left + p as i32 * cell, top + t as i32 * cell);
            root.draw(&Rectangle::new(
                [(x0, y0), (x0 + cell, y0 + cell)],
                fill.filled(),
            ))
            .map_err(draw_error)?;
            root.draw(&Rectangle::new(
                [(x0, y0), (x0 + cell, y0 + cell)],
                RGBColor(200, 200, 200),
            ))
            .map_err(draw_error)?;
            let ink = if share > 0.5 { WHITE } else { BLACK };
            root.draw(&Text::new(
                count.to_string(),
                (x0 + cell / 2, y0 + cell / 2),
                centred(number_size).color(&ink),
            ))
            .map_err(draw_error)?;
        }
    }
    for (i, label) in m.labels.iter().enumerate() {
        let c = i as i32 * cell + cell / 2;
        root.draw(&Text::new(
            label.as_str(),
            (left + c, top + k as i32 * cell + 16),
            centred(16),
        ))
        .map_err(draw_error)?;
        root.draw(&Text::new(
            label.as_str(),
            (left - 16, top + c),
            centred(16),
        ))
        .map_err(draw_error)?;
    }
    let grid_mid = top + k as i32 * cell / 2;
    root.draw(&Text::new(
        "predicted",
        (left + k as i32 * cell / 2, top + k as i32 * cell + 44),
        centred(18),
    ))
    .map_err(draw_error)?;
    root.draw(&Text::new("true", (left - 60, grid_mid), centred(18)))
        .map_err(draw_error)?;
    Ok(())
}

type Root<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Runs `draw` on a white in-memory canvas; its string errors become [`Error::Plot`] naming `path`.
fn render(
    path: &Path,
    draw: impl FnOnce(&Root) -> std::result::Result<(), String>,
) -> Result<RgbImage> {
    let problem = |problem: String| Error::Plot {
        path: path.to_path_buf(),
        problem,
    };
    font::ensure().map_err(problem)?;
    let mut buffer = vec![255u8; (PLOT_WIDTH * PLOT_HEIGHT * 3) as usize];
    {
        let root =
            BitMapBackend::with_buffer(&mut buffer, (PLOT_WIDTH, PLOT_HEIGHT)).into_drawing_area();
        draw(&root).map_err(problem)?;
        root.present().map_err(|e| problem(e.to_string()))?;
    }
    Ok(RgbImage::from_raw(PLOT_WIDTH, PLOT_HEIGHT, buffer).expect("sized"))
}

fn draw_error<E: std::fmt::Display>(e: E) -> String {
    format!("drawing failed: {e}")
}

/// `lo..hi` of the finite values with `margin` (a fraction of the span) on each side; a single value gets
/// a span around it.
fn padded_range(values: impl Iterator<Item = f64>, margin: f64) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if hi > lo {
        let m = (hi - lo) * margin;
        (lo - m, hi + m)
    } else {
        let m = if lo.abs() > 1e-12 {
            lo.abs() * 0.1
        } else {
            1.0
        };
        (lo - m, lo + m)
    }
}

/// A tick label with as many decimals as the axis span needs; with `integers`, whole numbers have none.
fn tick_formatter(lo: f64, hi: f64, integers: bool) -> impl Fn(&f64) -> String {
    let span = (hi - lo).abs();
    // Ticks step by about a tenth of the span (1, 2 or 5 times a power of ten).
    let decimals = if span > 0.0 {
        (1.0 - span.log10().floor()).clamp(0.0, 8.0) as usize
    } else {
        2
    };
    move |v: &f64| {
        let decimals = if integers && (v - v.round()).abs() < 1e-9 {
            0
        } else {
            decimals
        };
        let s = format!("{v:.decimals$}");
        // No "-0" or "-0.00".
        if s.trim_start_matches('-')
            .chars()
            .all(|c| c == '0' || c == '.')
        {
            s.trim_start_matches('-').to_string()
        } else {
            s
        }
    }
}

fn check_finite(
    what: &str,
    points: impl Iterator<Item = (f64, f64)>,
) -> std::result::Result<(), String> {
    for (i, (x, y)) in points.enumerate() {
        if !x.is_finite() || !y.is_finite() {
            return Err(format!(
                "{what} has a non-finite point ({x}, {y}) at index {i}"
            ));
        }
    }
    Ok(())
}

fn draw_line_chart(root: &Root, chart: &LineChart) -> std::result::Result<(), String> {
    let series: Vec<(usize, &Series)> = chart
        .series
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.points.is_empty())
        .collect();
    if series.is_empty() {
        return Err(format!("line chart {:?} has no data points", chart.title));
    }
    for (_, s) in &series {
        check_finite(&format!("series {:?}", s.name), s.points.iter().copied())?;
    }
    let all = || series.iter().flat_map(|(_, s)| s.points.iter().copied());
    // Whole-number x (epochs): whole-number ticks, and a single epoch gets its neighbours as the range.
    let integer_x = all().all(|(x, _)| x.fract() == 0.0);
    let (x_min, x_max) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (x, _)| {
        (lo.min(x), hi.max(x))
    });
    let (x_lo, x_hi) = if integer_x && x_min == x_max {
        (x_min - 1.0, x_max + 1.0)
    } else {
        padded_range(all().map(|p| p.0), 0.02)
    };
    let x_labels = if integer_x {
        ((x_hi - x_lo).round() as usize + 1).clamp(2, 12)
    } else {
        10
    };
    let (y_lo, y_hi) = match chart.y_range {
        Some((lo, hi)) if lo.is_finite() && hi.is_finite() && lo < hi => (lo, hi),
        Some((lo, hi)) => {
            return Err(format!(
                "y range ({lo}, {hi}) is not an increasing pair of finite numbers"
            ))
        }
        None => padded_range(all().map(|p| p.1), 0.05),
    };

    root.fill(&WHITE).map_err(draw_error)?;
    let mut cc = ChartBuilder::on(root)
        .caption(&chart.title, (font::FAMILY, 26))
        .margin(20)
        .x_label_area_size(55)
        .y_label_area_size(80)
        .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)
        .map_err(draw_error)?;
    let x_fmt = tick_formatter(x_lo, x_hi, integer_x);
    let y_fmt = tick_formatter(y_lo, y_hi, false);
    cc.configure_mesh()
        .x_labels(x_labels)
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style((font::FAMILY, 16))
        .axis_desc_style((font::FAMILY, 18))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(210, 210, 210))
        .draw()
        .map_err(draw_error)?;

    for &(i, s) in &series {
        let color = palette_color(i);
        let anno = cc
            .draw_series(LineSeries::new(
                s.points.iter().copied(),
                color.stroke_width(3),
            ))
            .map_err(draw_error)?;
        anno.label(s.name.as_str()).legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
        });
        if s.points.len() <= 40 {
            cc.draw_series(s.points.iter().map(|&p| Circle::new(p, 4, color.filled())))
                .map_err(draw_error)?;
        }
    }

    // The legend goes where the curves end low (loss) or high (accuracy), away from them.
    let ends_high = {
        let ends: Vec<f64> = series
            .iter()
            .map(|(_, s)| s.points[s.points.len() - 1].1)
            .collect();
        let mean = ends.iter().sum::<f64>() / ends.len() as f64;
        (mean - y_lo) / (y_hi - y_lo) > 0.5
    };
    cc.configure_series_labels()
        .position(if ends_high {
            SeriesLabelPosition::LowerRight
        } else {
            SeriesLabelPosition::UpperRight
        })
        .margin(15)
        .label_font((font::FAMILY, 17))
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(160, 160, 160))
        .draw()
        .map_err(draw_error)?;
    Ok(())
}

fn draw_scatter(root: &Root, plot: &Scatter) -> std::result::Result<(), String> {
    if plot.points.is_empty() {
        return Err(format!("scatter plot {:?} has no points", plot.title));
    }
    check_finite("scatter plot", plot.points.iter().map(|&(x, y, _)| (x, y)))?;
    let (x_lo, x_hi) = padded_range(plot.points.iter().map(|p| p.0), 0.05);
    let (y_lo, y_hi) = padded_range(plot.points.iter().map(|p| p.1), 0.05);
    let classes = plot.points.iter().map(|p| p.2).max().unwrap_or(0) + 1;

    root.fill(&WHITE).map_err(draw_error)?;
    let (plot_area, legend_area) = root.split_horizontally(PLOT_WIDTH - LEGEND_WIDTH);
    let mut cc = ChartBuilder::on(&plot_area)
        .caption(&plot.title, (font::FAMILY, 26))
        .margin(20)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)
        .map_err(draw_error)?;
    let x_fmt = tick_formatter(x_lo, x_hi, false);
    let y_fmt = tick_formatter(y_lo, y_hi, false);
    cc.configure_mesh()
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style((font::FAMILY, 16))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(210, 210, 210))
        .draw()
        .map_err(draw_error)?;

    // Smaller, more transparent dots when there are many.
    let (radius, alpha) = match plot.points.len() {
        0..=2_000 => (4, 0.8),
        2_001..=20_000 => (3, 0.6),
        _ => (2, 0.5),
    };
    let mut present = vec![false; classes];
    for (class, seen) in present.iter_mut().enumerate() {
        let color = palette_color(class);
        let points: Vec<(f64, f64)> = plot
            .points
            .iter()
            .filter(|p| p.2 == class)
            .map(|p| (p.0, p.1))
            .collect();
        *seen = !points.is_empty();
        cc.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, radius, color.mix(alpha).filled())),
        )
        .map_err(draw_error)?;
    }

    // The legend: one row per class that has points, in the right-hand column.
    let label = TextStyle::from((font::FAMILY, 17).into_font())
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let mut y = 80;
    for (class, _) in present.iter().enumerate().filter(|(_, &p)| p) {
        let name = plot
            .class_names
            .get(class)
            .cloned()
            .unwrap_or_else(|| class.to_string());
        legend_area
            .draw(&Circle::new((18, y), 7, palette_color(class).filled()))
            .map_err(draw_error)?;
        legend_area
            .draw(&Text::new(name, (34, y), label.clone()))
            .map_err(draw_error)?;
        y += 28;
        if y > PLOT_HEIGHT as i32 - 20 {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_from_epochs_skips_entries_without_the_value() {
        let epochs = vec![
            serde_json::json!({"epoch": 1, "eval": {"test_loss": 0.5}}),
            serde_json::json!({"epoch": 2, "eval": {}}),
            serde_json::json!({"epoch": 3, "eval": {"test_loss": 0.25}}),
        ];
        let s = Series::from_epochs("test", &epochs, |e| e["eval"]["test_loss"].as_f64());
        assert_eq!(s.points, vec![(1.0, 0.5), (3.0, 0.25)]);
        assert_eq!(s.name, "test");
    }

    #[test]
    fn bar_chart_draws_and_refuses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bars.png");
        let mut chart = BarChart {
            title: "top 5".into(),
            x_label: "probability".into(),
            bars: vec![
                ("tabby".into(), 0.6),
                ("tiger cat".into(), 0.3),
                ("lynx".into(), 0.05),
            ],
            x_range: Some((0.0, 1.0)),
        };
        bar_chart(&path, &chart).unwrap();
        assert!(image::open(&path)
            .unwrap()
            .to_rgb8()
            .pixels()
            .any(|p| *p == image::Rgb([31, 119, 180])));
        chart.bars.clear();
        assert!(bar_chart(&path, &chart)
            .unwrap_err()
            .to_string()
            .contains("bars.png"));
    }

    #[test]
    fn confusion_matrix_draws_and_refuses_ragged_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("confusion.png");
        let mut m = ConfusionMatrix {
            title: "digits".into(),
            labels: (0..10).map(|d| d.to_string()).collect(),
            counts: (0..10)
                .map(|t| {
                    (0..10)
                        .map(|p| if t == p { 95 } else { t + p % 2 })
                        .collect()
                })
                .collect(),
        };
        confusion_matrix(&path, &m).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        assert_eq!((img.width(), img.height()), (PLOT_WIDTH, PLOT_HEIGHT));
        // The diagonal cells are dark.
        assert!(img.pixels().any(|p| p.0[0] < 40 && p.0[2] > 90));
        m.counts[3].pop();
        let err = confusion_matrix(&path, &m).unwrap_err().to_string();
        assert!(
            err.contains("confusion.png") && err.contains("10 x 10"),
            "{err}"
        );
    }

    /// Decodes a written chart and checks its size and that it is not blank.
    fn check_png(path: &Path) {
        let image = image::open(path).unwrap().to_rgb8();
        assert_eq!(image.dimensions(), (PLOT_WIDTH, PLOT_HEIGHT));
        let first = image.get_pixel(0, 0);
        let different = image.pixels().filter(|p| *p != first).count();
        assert!(different > 1000, "{} is nearly one colour", path.display());
        let colourful = image
            .pixels()
            .filter(|p| p.0.iter().max().unwrap() - p.0.iter().min().unwrap() > 60)
            .count();
        assert!(colourful > 100, "{} has no coloured marks", path.display());
    }

    fn curves() -> LineChart {
        let loss: Vec<f64> = (0..12)
            .map(|e| 2.3 * (-0.25 * e as f64).exp() + 0.1)
            .collect();
        let val: Vec<f64> = (0..12)
            .map(|e| 2.3 * (-0.2 * e as f64).exp() + 0.2)
            .collect();
        LineChart {
            title: "MNIST MLP: loss".into(),
            x_label: "epoch".into(),
            y_label: "cross-entropy".into(),
            series: vec![
                Series::per_epoch("train", &loss),
                Series::per_epoch("validation", &val),
            ],
            y_range: None,
        }
    }

    #[test]
    fn line_chart_writes_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plots/loss.png");
        line_chart(&path, &curves()).unwrap();
        check_png(&path);
        // Accuracies in a fixed range, legend low.
        let acc = LineChart {
            title: "accuracy".into(),
            x_label: "epoch".into(),
            y_label: "accuracy".into(),
            series: vec![
                Series::per_epoch("train", &[0.8, 0.9, 0.95, 0.97]),
                Series::new("empty", vec![]),
            ],
            y_range: Some((0.0, 1.0)),
        };
        let path = dir.path().join("acc.png");
        line_chart(&path, &acc).unwrap();
        check_png(&path);
    }

    #[test]
    fn line_chart_with_one_point() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("one.png");
        let chart = LineChart {
            series: vec![Series::per_epoch("loss", &[0.5])],
            ..curves()
        };
        line_chart(&path, &chart).unwrap();
        check_png(&path);
    }

    #[test]
    fn line_chart_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.png");
        for chart in [
            LineChart::default(),
            LineChart {
                series: vec![Series::new("empty", vec![])],
                ..curves()
            },
            LineChart {
                series: vec![Series::new("nan", vec![(1.0, 0.5), (2.0, f64::NAN)])],
                ..curves()
            },
            LineChart {
                y_range: Some((1.0, 0.0)),
                ..curves()
            },
        ] {
            let err = line_chart(&path, &chart).unwrap_err();
            assert!(matches!(err, Error::Plot { .. }), "{err:?}");
            assert!(err.to_string().contains("bad.png"), "{err}");
        }
        assert!(!path.exists());
    }

    #[test]
    fn scatter_writes_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latent.png");
        // Ten clusters on a circle.
        let points = (0..1000)
            .map(|i| {
                let class = i % 10;
                let angle = class as f64 / 10.0 * std::f64::consts::TAU;
                let jitter = ((i * 7919) % 100) as f64 / 100.0 - 0.5;
                (
                    3.0 * angle.cos() + jitter,
                    3.0 * angle.sin() - jitter * 0.5,
                    class,
                )
            })
            .collect();
        let plot = Scatter {
            title: "latent space".into(),
            points,
            class_names: (0..10).map(|d| format!("digit {d}")).collect(),
        };
        scatter(&path, &plot).unwrap();
        check_png(&path);
        // One point, classes without names.
        let one = Scatter {
            title: "one".into(),
            points: vec![(0.0, 0.0, 3)],
            class_names: vec![],
        };
        scatter(dir.path().join("one.png"), &one).unwrap();
        let err = scatter(dir.path().join("none.png"), &Scatter::default()).unwrap_err();
        assert!(err.to_string().contains("none.png"), "{err}");
        let nan = Scatter {
            points: vec![(f64::INFINITY, 0.0, 0)],
            ..Scatter::default()
        };
        assert!(matches!(
            scatter(dir.path().join("nan.png"), &nan),
            Err(Error::Plot { .. })
        ));
    }

    #[test]
    fn ticks_and_ranges() {
        assert_eq!(padded_range([1.0].into_iter(), 0.05), (0.9, 1.1));
        assert_eq!(padded_range([0.0].into_iter(), 0.05), (-1.0, 1.0));
        assert_eq!(padded_range([0.0, 10.0].into_iter(), 0.1), (-1.0, 11.0));
        let f = tick_formatter(0.0, 1.0, false);
        assert_eq!(f(&0.5), "0.5");
        assert_eq!(f(&-0.0001), "0.0");
        let f = tick_formatter(0.1, 0.15, false);
        assert_eq!(f(&0.125), "0.125");
        let f = tick_formatter(0.0, 100.0, false);
        assert_eq!(f(&40.0), "40");
        let f = tick_formatter(1.0, 3.0, false);
        assert_eq!(f(&1.5), "1.5");
        assert_eq!(f(&2.0), "2.0");
        let f = tick_formatter(1.0, 3.0, true);
        assert_eq!(f(&1.5), "1.5");
        assert_eq!(f(&2.0), "2");
    }

    /// Whether a written chart contains a pixel of exactly `colour` (a series' line or a class's marker).
    fn has_colour(path: &Path, colour: RGBColor) -> bool {
        let want = image::Rgb([colour.0, colour.1, colour.2]);
        image::open(path)
            .unwrap()
            .to_rgb8()
            .pixels()
            .any(|p| *p == want)
    }

    /// Example charts, each checked (size, not blank, every series' colour drawn); also left in
    /// `GLASSBOX_FIGS` when that names a directory, to look at.
    #[test]
    fn example_charts() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = crate::testdata::figures_dir().unwrap_or_else(|| tmp.path().to_path_buf());
        let check = |name: &str, series: usize| {
            let path = dir.join(name);
            check_png(&path);
            for k in 0..series {
                assert!(
                    has_colour(&path, palette_color(k)),
                    "{name}: series {k} not drawn"
                );
            }
        };
        line_chart(dir.join("loss.png"), &curves()).unwrap();
        check("loss.png", 2);
        let acc = LineChart {
            title: "MNIST MLP: accuracy".into(),
            x_label: "epoch".into(),
            y_label: "accuracy".into(),
            series: vec![
                Series::per_epoch("train", &[0.86, 0.93, 0.955, 0.967, 0.975, 0.981, 0.985]),
                Series::per_epoch("validation", &[0.9, 0.94, 0.953, 0.96, 0.964, 0.966, 0.967]),
            ],
            y_range: Some((0.8, 1.0)),
        };
        line_chart(dir.join("accuracy.png"), &acc).unwrap();
        check("accuracy.png", 2);
        let one = LineChart {
            series: vec![Series::per_epoch("loss", &[0.5])],
            ..curves()
        };
        line_chart(dir.join("one_point.png"), &one).unwrap();
        check("one_point.png", 1);
        let long: Vec<f64> = (0..60)
            .map(|e| 1.0 / (1.0 + 0.2 * e as f64) + 0.02 * ((e * 7) % 5) as f64)
            .collect();
        let many = LineChart {
            title: "char-RNN: loss per epoch".into(),
            series: vec![Series::per_epoch("train", &long)],
            ..curves()
        };
        line_chart(dir.join("many_epochs.png"), &many).unwrap();
        check("many_epochs.png", 1);
        let points = (0..5000)
            .map(|i| {
                let class = i % 10;
                let angle = class as f64 / 10.0 * std::f64::consts::TAU;
                let a = ((i * 7919) % 1000) as f64 / 1000.0 - 0.5;
                let b = ((i * 104729) % 997) as f64 / 997.0 - 0.5;
                (
                    3.0 * angle.cos() + 1.5 * a,
                    3.0 * angle.sin() + 1.2 * b,
                    class,
                )
            })
            .collect();
        let plot = Scatter {
            title: "VAE latent space (test set)".into(),
            points,
            class_names: (0..10).map(|d| format!("digit {d}")).collect(),
        };
        scatter(dir.join("scatter.png"), &plot).unwrap();
        check("scatter.png", 10);
    }
}
