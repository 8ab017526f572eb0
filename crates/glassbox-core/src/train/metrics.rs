//! Per-epoch metrics in one JSON file, rewritten atomically after every epoch so a killed run keeps every
//! finished epoch and a resumed run continues the same file. A run that stops on an error (a NaN loss, a
//! full disk) says so in the file, and where: `"stopped": {"error": ..., "epoch": ..., "batch": ...}`.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::assets::atomic::write_bytes_atomic;
use crate::{Error, Result};

/// The entry that says where and why a run stopped early.
pub const STOPPED: &str = "stopped";

/// `{"run": {...}, "epochs": [{...}, ...], "summary": {...}}`.
#[derive(Debug)]
pub struct MetricsLog {
    path: PathBuf,
    doc: Map<String, Value>,
}

impl MetricsLog {
    /// Starts a new file, replacing any earlier one; `run` describes the run (lesson, seed, settings).
    pub fn create(path: impl Into<PathBuf>, run: Value) -> Result<Self> {
        let mut doc = Map::new();
        doc.insert("run".into(), run);
        doc.insert("epochs".into(), Value::Array(vec![]));
        let log = MetricsLog {
            path: path.into(),
            doc,
        };
        log.write()?;
        Ok(log)
    }

    /// Continues an existing file after `completed_epochs` epochs (later entries, from work that was not
    /// checkpointed, are dropped); starts a new one if there is none.
    pub fn resume(path: impl Into<PathBuf>, run: Value, completed_epochs: usize) -> Result<Self> {
        let path = path.into();
        if !path.exists() {
            return Self::create(path, run);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let mut doc: Map<String, Value> = serde_json::from_str(&text)
            .map_err(|e| Error::format(&path, format!("not a metrics JSON object: {e}")))?;
        let epochs = doc
            .entry("epochs")
            .or_insert_with(|| Value::Array(vec![]))
            .as_array_mut()
            .ok_or_else(|| Error::format(&path, "\"epochs\" is not an array"))?;
        epochs.truncate(completed_epochs);
        doc.insert("run".into(), run);
        // The run goes on from its last checkpoint: an earlier stop is history.
        doc.remove(STOPPED);
        let log = MetricsLog { path, doc };
        log.write()?;
        Ok(log)
    }

    /// The metrics.json file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one epoch's metrics and rewrites the file.
    pub fn push_epoch(&mut self, epoch: Value) -> Result<()> {
        self.epochs_mut().push(epoch);
        self.write()
    }

    /// Sets a top-level entry (e.g. "summary", "test") and rewrites the file.
    pub fn set(&mut self, key: &str, value: Value) -> Result<()> {
        self.doc.insert(key.into(), value);
        self.write()
    }

    /// Passes `result` through, first recording an error in the file as where and why the run stopped
    /// (see [`MetricsLog::record_stop`]). A failure to record it (the disk that failed the run may be
    /// full) is dropped: the run's own error is the one to report.
    pub fn outcome<T>(&mut self, result: Result<T>) -> Result<T> {
        if let Err(e) = &result {
            let _ = self.record_stop(e);
        }
        result
    }

    /// Writes `"stopped": {"error": message, ...}` with the epoch (and batch, and the loss or tensor)
    /// where `error` says it happened; a resumed run removes it.
    pub fn record_stop(&mut self, error: &Error) -> Result<()> {
        let mut stop = json!({ "error": error.to_string() });
        match error {
            Error::NonFiniteLoss {
                epoch,
                batch,
                value,
            } => {
                stop["epoch"] = json!(epoch);
                stop["batch"] = json!(batch);
                // JSON has no NaN or infinity: the value as Rust prints it.
                stop["loss"] = json!(value.to_string());
            }
            Error::NonFiniteWeights { epoch, tensor, .. } => {
                stop["epoch"] = json!(epoch);
                stop["tensor"] = json!(tensor);
            }
            _ => {}
        }
        stop["epochs_recorded"] = json!(self.epochs().len());
        self.set(STOPPED, stop)
    }

    /// Every epoch recorded so far, in order.
    pub fn epochs(&self) -> &[Value] {
        self.doc["epochs"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    fn epochs_mut(&mut self) -> &mut Vec<Value> {
        self.doc
            .entry("epochs")
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .expect("epochs is an array (checked on load)")
    }

    fn write(&self) -> Result<()> {
        write_json(&self.path, &self.doc)
    }
}

/// Writes one JSON document (pretty) atomically: the metrics.json of lessons that do not train, and the
/// per-epoch rewrites of [`MetricsLog`].
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::format(path, format!("cannot serialize metrics: {e}")))?;
    write_bytes_atomic(path, &text)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_and_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.json");
        let mut log = MetricsLog::create(&path, json!({"lesson": "t"})).unwrap();
        for e in 1..=3 {
            log.push_epoch(json!({"epoch": e, "loss": 1.0 / e as f64}))
                .unwrap();
        }
        let log = MetricsLog::resume(&path, json!({"lesson": "t"}), 2).unwrap();
        assert_eq!(log.epochs().len(), 2);
        let on_disk: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(on_disk["epochs"][1]["epoch"], 2);
    }

    #[test]
    fn a_stop_is_recorded_with_where_it_happened_and_cleared_on_resume() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.json");
        let mut log = MetricsLog::create(&path, json!({"lesson": "t"})).unwrap();
        log.push_epoch(json!({"epoch": 1})).unwrap();
        let diverged: Result<()> = Err(Error::NonFiniteLoss {
            epoch: 2,
            batch: 7,
            value: f64::NAN,
        });
        assert!(log.outcome(diverged).is_err());
        let read =
            || -> Value { serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap() };
        let stop = &read()[STOPPED];
        assert_eq!(
            (
                &stop["epoch"],
                &stop["batch"],
                &stop["loss"],
                &stop["epochs_recorded"]
            ),
            (&json!(2), &json!(7), &json!("NaN"), &json!(1)),
            "{stop}"
        );
        assert!(
            stop["error"].as_str().unwrap().contains("learning rate"),
            "{stop}"
        );
        assert_eq!(log.outcome(Ok(5)).unwrap(), 5);
        MetricsLog::resume(&path, json!({"lesson": "t"}), 1).unwrap();
        assert!(read().get(STOPPED).is_none(), "{}", read());
    }
}
