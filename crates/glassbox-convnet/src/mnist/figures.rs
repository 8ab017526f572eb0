//! The MNIST lesson's figures: training curves, the confusion matrix, and test digits with their
//! predictions (mistakes framed in red).

use std::path::Path;

use glassbox_core::data::MnistSplit;
use glassbox_core::imaging::{grid, save_rgb_png, side_by_side, upscale};
use glassbox_core::plot::{confusion_matrix, line_chart, ConfusionMatrix, LineChart, Series};
use image::{Rgb, RgbImage};
use serde_json::Value;

use super::eval::Evaluation;
use crate::Result;

const DIGIT_SCALE: u32 = 3;
const FRAME: u32 = 3;
const MISTAKE: Rgb<u8> = Rgb([220, 30, 30]);

/// `loss.png` and `accuracy.png` from the epochs of a metrics log (train and test, per epoch).
pub fn training_curves(out: &Path, epochs: &[Value]) -> Result<()> {
    let series = |key: &str, name: &str, nested: bool| {
        Series::from_epochs(name, epochs, |e| {
            if nested { &e["eval"][key] } else { &e[key] }.as_f64()
        })
    };
    line_chart(
        out.join("loss.png"),
        &LineChart {
            title: "MNIST CNN: loss".into(),
            x_label: "epoch".into(),
            y_label: "cross-entropy".into(),
            series: vec![
                series("train_loss", "train (with dropout)", false),
                series("test_loss", "test", true),
            ],
            y_range: None,
        },
    )?;
    line_chart(
        out.join("accuracy.png"),
        &LineChart {
            title: "MNIST CNN: accuracy".into(),
            x_label: "epoch".into(),
            y_label: "accuracy".into(),
            series: vec![
                series("train_accuracy", "train (with dropout)", false),
                series("test_accuracy", "test", true),
            ],
            y_range: None,
        },
    )?;
    Ok(())
}

/// `confusion.png`.
pub fn confusion(out: &Path, eval: &Evaluation) -> Result<()> {
    confusion_matrix(
        out.join("confusion.png"),
        &ConfusionMatrix {
            title: format!(
                "MNIST CNN on {} test digits: {:.2}% right",
                eval.count,
                100.0 * eval.accuracy
            ),
            labels: (0..10).map(|d| d.to_string()).collect(),
            counts: eval.confusion.iter().map(|r| r.to_vec()).collect(),
        },
    )?;
    Ok(())
}

/// A 28x28 digit (bytes, row-major, 0 = background) as a gray RGB image `scale` times larger.
pub fn digit_rgb(pixels: &[u8], side: u32, scale: u32) -> RgbImage {
    let small = RgbImage::from_fn(side, side, |x, y| {
        let v = pixels[(y * side + x) as usize];
        Rgb([v, v, v])
    });
    upscale(&small, scale)
}

/// Digit `i` of `split` as an RGB image, `DIGIT_SCALE` times larger, framed in red when `mistake`.
pub fn digit_image(split: &MnistSplit, i: usize, mistake: bool) -> RgbImage {
    let big = digit_rgb(split.image(i), split.cols as u32, DIGIT_SCALE);
    if !mistake {
        return big;
    }
    let mut framed =
        RgbImage::from_pixel(big.width() + 2 * FRAME, big.height() + 2 * FRAME, MISTAKE);
    image::imageops::replace(&mut framed, &big, i64::from(FRAME), i64::from(FRAME));
    framed
}

/// A grid of the digits `indices` of `split`, each captioned with its prediction (and the truth where the
/// prediction is wrong), `per_row` to a row.
pub fn predictions_grid(
    split: &MnistSplit,
    eval: &Evaluation,
    indices: &[usize],
    per_row: usize,
) -> Result<RgbImage> {
    let rows = indices
        .chunks(per_row.max(1))
        .map(|chunk| {
            let images: Vec<RgbImage> = chunk
                .iter()
                .map(|&i| digit_image(split, i, eval.predictions[i] != split.labels[i]))
                .collect();
            let captions: Vec<String> = chunk
                .iter()
                .map(|&i| {
                    let (p, t) = (eval.predictions[i], split.labels[i]);
                    if p == t {
                        format!("{p}")
                    } else {
                        format!("{p} (is {t})")
                    }
                })
                .collect();
            let captions: Vec<&str> = captions.iter().map(String::as_str).collect();
            side_by_side(&images, &captions)
        })
        .collect::<glassbox_core::Result<Vec<_>>>()?;
    Ok(grid(&rows, 1, 0, Rgb([255, 255, 255])))
}

/// `predictions.png` (the first 40 test digits) and `mistakes.png` (up to 40 of the wrongly predicted).
pub fn prediction_figures(out: &Path, split: &MnistSplit, eval: &Evaluation) -> Result<()> {
    let first: Vec<usize> = (0..split.count.min(40)).collect();
    save_rgb_png(
        out.join("predictions.png"),
        &predictions_grid(split, eval, &first, 10)?,
    )?;
    let mistakes: Vec<usize> = eval.mistakes(split).into_iter().take(40).collect();
    if !mistakes.is_empty() {
        save_rgb_png(
            out.join("mistakes.png"),
            &predictions_grid(split, eval, &mistakes, 10)?,
        )?;
    }
    Ok(())
}
