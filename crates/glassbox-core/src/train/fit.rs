//! The epoch and mini-batch loop every training lesson shares.
//!
//! The lesson supplies one closure that trains on a batch of indices and one that evaluates after each
//! epoch; the loop shuffles with the run's seed, shows progress, stops on a NaN/Inf loss, and reports each
//! epoch to a callback (where lessons write metrics and checkpoints). The shuffle of epoch `e` depends only
//! on the seed and `e`, so a run resumed at epoch `e` sees the same batches as one that never stopped.
//! (For fault tests, `GLASSBOX_TEST_PAUSE_BATCH` stops the loop after a chosen batch: see
//! [`crate::assets::testhook`].)

use std::time::Instant;

use serde::Serialize;

use super::progress::Progress;
use crate::assets::testhook;
use crate::data::Batches;
use crate::seed::Seed;
use crate::{Error, Result};

/// How to loop.
#[derive(Clone, Debug)]
pub struct FitConfig {
    /// Epochs to run in all (a resumed run counts those done).
    pub epochs: usize,
    /// Items per batch (the last may be smaller).
    pub batch_size: usize,
    /// Drives the shuffles (one stream per epoch).
    pub seed: Seed,
    /// Epochs already done (from a checkpoint): the loop starts at `start_epoch + 1`.
    pub start_epoch: usize,
    /// Shuffle the items each epoch (else in order).
    pub shuffle: bool,
    /// What the items are, for the progress display ("images", "sequences").
    pub unit: &'static str,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            epochs: 1,
            batch_size: 128,
            seed: Seed::default(),
            start_epoch: 0,
            shuffle: true,
            unit: "items",
        }
    }
}

impl FitConfig {
    /// Checks what a run needs before anything is loaded: at least one epoch and one item per batch.
    pub fn check(epochs: usize, batch_size: usize) -> Result<()> {
        if epochs == 0 || batch_size == 0 {
            return Err(Error::invalid(
                "epochs and batch size",
                format!("{epochs} and {batch_size}"),
                "both at least 1",
            ));
        }
        Ok(())
    }
}

/// The current mini-batch.
pub struct Batch<'a> {
    /// The epoch, from 1.
    pub epoch: usize,
    /// The batch within the epoch, from 0.
    pub index: usize,
    /// The items of the batch.
    pub indices: &'a [usize],
}

/// What a training step reports: the batch's mean loss and, for classifiers, how many it got right.
#[derive(Clone, Copy, Debug, Default)]
pub struct StepOutput {
    /// The batch's mean loss.
    pub loss: f64,
    /// For classifiers: how many items of the batch were right.
    pub correct: Option<usize>,
}

/// One finished epoch.
#[derive(Clone, Debug, Serialize)]
pub struct EpochReport {
    /// The epoch, from 1.
    pub epoch: usize,
    /// The mean training loss over the epoch's items.
    pub train_loss: f64,
    /// For classifiers: the share of training items right during the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_accuracy: Option<f64>,
    /// Wall-clock seconds of the epoch.
    pub seconds: f64,
    /// Training items per second.
    pub items_per_second: f64,
    /// Whatever the evaluation closure returned (e.g. validation loss and accuracy).
    pub eval: serde_json::Value,
}

/// Runs epochs `start_epoch + 1 ..= epochs` over `n` training items.
pub fn fit<S, E, R>(
    config: &FitConfig,
    n: usize,
    mut step: S,
    mut evaluate: E,
    mut on_epoch: R,
) -> Result<Vec<EpochReport>>
where
    S: FnMut(Batch<'_>) -> Result<StepOutput>,
    E: FnMut(usize) -> Result<serde_json::Value>,
    R: FnMut(&EpochReport) -> Result<()>,
{
    if config.batch_size == 0 {
        return Err(Error::invalid("batch size", 0, "a positive number"));
    }
    if n == 0 {
        return Err(Error::invalid("training set size", 0, "at least one item"));
    }
    let mut reports = Vec::new();
    for epoch in config.start_epoch + 1..=config.epochs {
        let batches = if config.shuffle {
            Batches::shuffled(
                n,
                config.batch_size,
                &mut config.seed.stream(&format!("shuffle/epoch{epoch}")),
            )
        } else {
            Batches::sequential(n, config.batch_size)
        };
        let started = Instant::now();
        let mut progress = Progress::new(
            format!("epoch {epoch}/{}", config.epochs),
            batches.len() as u64,
            config.unit,
        );
        let (mut loss_sum, mut seen, mut correct, mut counted) = (0.0, 0usize, 0usize, 0usize);
        for (index, indices) in batches.iter().enumerate() {
            let out = step(Batch {
                epoch,
                index,
                indices,
            })?;
            if !out.loss.is_finite() {
                return Err(Error::NonFiniteLoss {
                    epoch,
                    batch: index + 1,
                    value: out.loss,
                });
            }
            loss_sum += out.loss * indices.len() as f64;
            seen += indices.len();
            if let Some(c) = out.correct {
                correct += c;
                counted += indices.len();
            }
            let acc = (counted > 0).then(|| correct as f64 / counted as f64);
            progress.batch(indices.len(), loss_sum / seen as f64, acc);
            if testhook::pause_batch() == Some((epoch, index + 1)) {
                testhook::pause(&format!("after batch {} of epoch {epoch}", index + 1));
            }
        }
        let items_per_second = progress.rate();
        let eval = evaluate(epoch)?;
        let broken = non_finite_loss(&eval);
        let report = EpochReport {
            epoch,
            train_loss: loss_sum / seen as f64,
            train_accuracy: (counted > 0).then(|| correct as f64 / counted as f64),
            seconds: started.elapsed().as_secs_f64(),
            items_per_second,
            eval,
        };
        progress.finish(&format!(
            "loss {:.4}{} {:.0} {}/s {:.1}s {}",
            report.train_loss,
            report
                .train_accuracy
                .map(|a| format!(" acc {a:.4}"))
                .unwrap_or_default(),
            report.items_per_second,
            config.unit,
            report.seconds,
            if report.eval.is_null() {
                String::new()
            } else {
                report.eval.to_string()
            }
        ));
        // The lesson's own end of epoch first: where the weights themselves went NaN or infinite (the usual
        // reason an evaluated loss does), it says so more precisely and keeps the previous checkpoint.
        on_epoch(&report)?;
        if let Some(metric) = broken {
            return Err(Error::NonFiniteEvaluation { epoch, metric });
        }
        reports.push(report);
    }
    Ok(reports)
}

/// The name of an evaluated loss that came back NaN or infinite. `json!` turns such an `f64` into
/// `null`, so a top-level key naming a loss that holds `null` is one.
fn non_finite_loss(eval: &serde_json::Value) -> Option<String> {
    let fields = eval.as_object()?;
    fields
        .iter()
        .find(|(name, value)| name.contains("loss") && value.is_null())
        .map(|(name, _)| name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn visits_every_item_each_epoch_and_resumes_identically() {
        let config = FitConfig {
            epochs: 3,
            batch_size: 4,
            seed: Seed(3),
            ..Default::default()
        };
        let mut full = Vec::new();
        fit(
            &config,
            10,
            |b| {
                full.push((b.epoch, b.indices.to_vec()));
                Ok(StepOutput {
                    loss: 0.5,
                    correct: Some(b.indices.len()),
                })
            },
            |_| Ok(json!(null)),
            |_| Ok(()),
        )
        .unwrap();
        assert_eq!(full.len(), 9);
        let mut resumed = Vec::new();
        let reports = fit(
            &FitConfig {
                start_epoch: 2,
                ..config
            },
            10,
            |b| {
                resumed.push((b.epoch, b.indices.to_vec()));
                Ok(StepOutput {
                    loss: 0.5,
                    correct: None,
                })
            },
            |e| Ok(json!({"val": e})),
            |_| Ok(()),
        )
        .unwrap();
        assert_eq!(resumed, full[6..].to_vec());
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].eval["val"], 3);
    }

    #[test]
    fn stops_clearly_on_a_non_finite_loss() {
        let config = FitConfig {
            epochs: 2,
            batch_size: 2,
            ..Default::default()
        };
        let err = fit(
            &config,
            6,
            |b| {
                Ok(StepOutput {
                    loss: if b.index == 1 { f64::NAN } else { 1.0 },
                    correct: None,
                })
            },
            |_| Ok(json!(null)),
            |_| Ok(()),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                Error::NonFiniteLoss {
                    epoch: 1,
                    batch: 2,
                    ..
                }
            ),
            "{msg}"
        );
        assert!(
            msg.contains("NaN") && msg.contains("learning rate"),
            "{msg}"
        );
    }

    #[test]
    fn stops_clearly_on_a_non_finite_evaluation() {
        let config = FitConfig {
            epochs: 3,
            batch_size: 2,
            ..Default::default()
        };
        let mut reported = Vec::new();
        let err = fit(
            &config,
            4,
            |_| {
                Ok(StepOutput {
                    loss: 1.0,
                    correct: None,
                })
            },
            |epoch| {
                let loss = if epoch == 2 { f64::INFINITY } else { 0.5 };
                Ok(json!({ "validation_loss": loss, "note": null }))
            },
            |report| {
                reported.push(report.epoch);
                Ok(())
            },
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(&err, Error::NonFiniteEvaluation { epoch: 2, metric } if metric == "validation_loss"),
            "{msg}"
        );
        assert!(
            msg.contains("validation_loss") && msg.contains("epoch 2"),
            "{msg}"
        );
        // The lesson saw both epochs (its own checks run first), and nothing after the broken one.
        assert_eq!(reported, [1, 2]);
    }
}
