//! `tour-lesson.json`: what the tour did in a lesson's directory, read back by the report.

use std::path::Path;

use serde_json::{json, Value};

/// The record's file name in a lesson's directory.
pub const FILE: &str = "tour-lesson.json";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    Failed,
    Skipped,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Status::Ok, Status::Failed, Status::Skipped]
            .into_iter()
            .find(|x| x.name() == s)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct StepRecord {
    pub dir: String,
    pub status: Status,
    pub seconds: f64,
    /// The command as it ran (empty when skipped).
    pub command: String,
    /// The command of the full version.
    pub full: String,
    /// Failed: the error (or panic) message.
    pub error: Option<String>,
    /// Skipped: why, and what would bring the input.
    pub skip: Option<(String, String)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LessonRecord {
    pub id: String,
    /// "quick" or "full".
    pub mode: String,
    pub seconds: f64,
    pub steps: Vec<StepRecord>,
}

impl LessonRecord {
    /// Failed if a step failed, skipped if every step was, else ok.
    pub fn status(&self) -> Status {
        if self.steps.iter().any(|s| s.status == Status::Failed) {
            Status::Failed
        } else if !self.steps.is_empty() && self.steps.iter().all(|s| s.status == Status::Skipped) {
            Status::Skipped
        } else {
            Status::Ok
        }
    }

    pub fn step(&self, dir: &str) -> Option<&StepRecord> {
        self.steps.iter().find(|s| s.dir == dir)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "lesson": self.id,
            "mode": self.mode,
            "seconds": self.seconds,
            "status": self.status().name(),
            "steps": self.steps.iter().map(|s| json!({
                "dir": s.dir,
                "status": s.status.name(),
                "seconds": s.seconds,
                "command": s.command,
                "full_command": s.full,
                "error": s.error,
                "skip": s.skip.as_ref().map(|(reason, fetch)| json!({"reason": reason, "fetch": fetch})),
            })).collect::<Vec<_>>(),
        })
    }

    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        glassbox_core::train::write_json(&dir.join(FILE), &self.to_json())?;
        Ok(())
    }

    /// The record in `dir`, if there is one; a file that is there but unreadable is an error naming it.
    pub fn load(dir: &Path) -> anyhow::Result<Option<Self>> {
        let path = dir.join(FILE);
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path)?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: not JSON ({e})", path.display()))?;
        Self::from_json(&v)
            .map(Some)
            .ok_or_else(|| anyhow::anyhow!("{}: not a tour record", path.display()))
    }

    fn from_json(v: &Value) -> Option<Self> {
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let steps = v
            .get("steps")?
            .as_array()?
            .iter()
            .map(|s| {
                Some(StepRecord {
                    dir: text(s, "dir")?,
                    status: Status::parse(s.get("status")?.as_str()?)?,
                    seconds: s.get("seconds")?.as_f64()?,
                    command: text(s, "command").unwrap_or_default(),
                    full: text(s, "full_command").unwrap_or_default(),
                    error: text(s, "error"),
                    skip: s
                        .get("skip")
                        .filter(|k| k.is_object())
                        .map(|k| Some((text(k, "reason")?, text(k, "fetch")?)))
                        .unwrap_or(None),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(LessonRecord {
            id: text(v, "lesson")?,
            mode: text(v, "mode").unwrap_or_else(|| "quick".into()),
            seconds: v.get("seconds")?.as_f64()?,
            steps,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let record = LessonRecord {
            id: "vgg".into(),
            mode: "quick".into(),
            seconds: 12.5,
            steps: vec![
                StepRecord {
                    dir: "classify".into(),
                    status: Status::Skipped,
                    seconds: 0.0,
                    command: String::new(),
                    full: "glassbox vgg classify x.png".into(),
                    error: None,
                    skip: Some(("no weights".into(), "cargo xtask fetch-weights".into())),
                },
                StepRecord {
                    dir: "edges".into(),
                    status: Status::Failed,
                    seconds: 1.0,
                    command: "glassbox vgg edges".into(),
                    full: "glassbox vgg edges".into(),
                    error: Some("boom".into()),
                    skip: None,
                },
            ],
        };
        record.save(dir.path()).unwrap();
        let back = LessonRecord::load(dir.path()).unwrap().unwrap();
        assert_eq!(back, record);
        assert_eq!(back.status(), Status::Failed);
        std::fs::write(dir.path().join(FILE), "{").unwrap();
        let err = LessonRecord::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains(FILE), "{err}");
    }
}
