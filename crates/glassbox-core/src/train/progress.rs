//! Progress of a training epoch: an indicatif bar on a terminal, plain lines otherwise (CI logs, pipes).

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Shows epoch, batch, running loss and accuracy, items per second and the time left.
pub struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    done: u64,
    items: u64,
    started: Instant,
    label: String,
    unit: &'static str,
    value_name: &'static str,
    next_plain_report: u64,
}

impl Progress {
    /// A progress display for `total` batches, labelled e.g. "epoch 3/12"; `unit` names the items
    /// ("images", "sequences") in the rate.
    pub fn new(label: impl Into<String>, total: u64, unit: &'static str) -> Self {
        let label = label.into();
        let bar = std::io::stdout().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stdout());
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ETA {eta}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(label.clone());
            bar
        });
        Progress {
            bar,
            total,
            done: 0,
            items: 0,
            started: Instant::now(),
            label,
            unit,
            value_name: "loss",
            next_plain_report: 0,
        }
    }

    /// Names the running value shown as "loss" by default (gradient ascent climbs an "objective").
    pub fn value_name(mut self, name: &'static str) -> Self {
        self.value_name = name;
        self
    }

    /// Records one finished batch of `items` items with the running loss and accuracy so far.
    pub fn batch(&mut self, items: usize, loss: f64, accuracy: Option<f64>) {
        self.done += 1;
        self.items += items as u64;
        let msg = self.message(loss, accuracy);
        match &self.bar {
            Some(bar) => {
                bar.set_message(msg);
                bar.inc(1);
            }
            None => {
                // About ten lines an epoch in a log.
                if self.done >= self.next_plain_report || self.done == self.total {
                    println!(
                        "{} batch {}/{} {msg} ETA {:.0}s",
                        self.label,
                        self.done,
                        self.total,
                        self.eta()
                    );
                    self.next_plain_report = self.done + (self.total / 10).max(1);
                }
            }
        }
    }

    /// Items per second since the start of the epoch.
    pub fn rate(&self) -> f64 {
        self.items as f64 / self.started.elapsed().as_secs_f64().max(1e-9)
    }

    fn eta(&self) -> f64 {
        let per_batch = self.started.elapsed().as_secs_f64() / self.done.max(1) as f64;
        per_batch * (self.total.saturating_sub(self.done)) as f64
    }

    fn message(&self, loss: f64, accuracy: Option<f64>) -> String {
        let acc = accuracy
            .map(|a| format!(" acc {:.4}", a))
            .unwrap_or_default();
        format!(
            "{} {loss:.4}{acc} {:.0} {}/s",
            self.value_name,
            self.rate(),
            self.unit
        )
    }

    /// Ends the display with a summary line.
    pub fn finish(self, summary: &str) {
        match self.bar {
            Some(bar) => bar.finish_with_message(summary.to_string()),
            None => println!("{} {summary}", self.label),
        }
    }
}
