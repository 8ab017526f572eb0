//! The Q table: for every (state, action), the Total Future Reward the agent expects from taking that
//! action in that state and playing on.
//!
//! Saved as JSON that a learner can open and read: only the rows that training touched, keyed by state,
//! with the game and the settings that made the table.

use std::collections::BTreeMap;
use std::path::Path;

use glassbox_core::train::write_json;
use rand::rngs::StdRng;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Result};

const FORMAT: &str = "glassbox-q-table/1";

/// A dense `states x actions` table of values, zero where nothing was learned.
#[derive(Clone, Debug, PartialEq)]
pub struct QTable {
    states: usize,
    actions: usize,
    values: Vec<f64>,
}

#[derive(Serialize, Deserialize)]
struct TableFile {
    format: String,
    game: String,
    states: usize,
    actions: usize,
    /// How the table was made (settings, seed, games); informational.
    #[serde(default)]
    made_by: Value,
    /// State index -> one value per action; rows that are all zero are left out.
    rows: BTreeMap<usize, Vec<f64>>,
}

impl QTable {
    /// A table of zeros for `states` x `actions`.
    pub fn new(states: usize, actions: usize) -> Self {
        QTable {
            states,
            actions,
            values: vec![0.0; states * actions],
        }
    }

    /// States (rows).
    pub fn states(&self) -> usize {
        self.states
    }

    /// Actions (columns).
    pub fn actions(&self) -> usize {
        self.actions
    }

    /// The value of `action` in `state`.
    pub fn get(&self, state: usize, action: usize) -> f64 {
        self.values[self.at(state, action)]
    }

    /// Sets the value of `action` in `state`.
    pub fn set(&mut self, state: usize, action: usize, value: f64) {
        let i = self.at(state, action);
        self.values[i] = value;
    }

    /// Every action's value in `state`.
    pub fn row(&self, state: usize) -> &[f64] {
        &self.values[state * self.actions..(state + 1) * self.actions]
    }

    /// Every action's value in `state`, to change.
    pub fn row_mut(&mut self, state: usize) -> &mut [f64] {
        &mut self.values[state * self.actions..(state + 1) * self.actions]
    }

    /// The largest value among `legal` actions; 0 when there is none (the game is over).
    pub fn best_value(&self, state: usize, legal: &[usize]) -> f64 {
        legal
            .iter()
            .map(|&a| self.get(state, a))
            .reduce(f64::max)
            .unwrap_or(0.0)
    }

    /// The legal action of largest value, the first in `legal` on ties, so greedy play is deterministic.
    pub fn greedy(&self, state: usize, legal: &[usize]) -> Option<usize> {
        let mut best: Option<(usize, f64)> = None;
        for &a in legal {
            let v = self.get(state, a);
            if best.is_none_or(|(_, b)| v > b) {
                best = Some((a, v));
            }
        }
        best.map(|(a, _)| a)
    }

    /// The legal action of largest value, ties broken at random: while training, so that an untouched
    /// state does not always try its first action.
    pub fn greedy_random_ties(
        &self,
        state: usize,
        legal: &[usize],
        rng: &mut StdRng,
    ) -> Option<usize> {
        let best = self.best_value(state, legal);
        let ties = legal
            .iter()
            .filter(|&&a| self.get(state, a) == best)
            .count();
        if ties == 0 {
            return None;
        }
        let pick = rng.random_range(0..ties);
        legal
            .iter()
            .copied()
            .filter(|&a| self.get(state, a) == best)
            .nth(pick)
    }

    /// Writes the table (atomically) with the game's name and how it was made.
    pub fn save(&self, path: &Path, game: &str, made_by: Value) -> Result<()> {
        let rows = (0..self.states)
            .filter(|&s| self.row(s).iter().any(|&v| v != 0.0))
            .map(|s| (s, self.row(s).to_vec()))
            .collect();
        let file = TableFile {
            format: FORMAT.into(),
            game: game.into(),
            states: self.states,
            actions: self.actions,
            made_by,
            rows,
        };
        write_json(path, &file)?;
        Ok(())
    }

    /// Reads a table saved by [`save`](Self::save) for `game`, checking its sizes against what the game
    /// needs. Returns the table and how it was made.
    pub fn load(path: &Path, game: &str, states: usize, actions: usize) -> Result<(QTable, Value)> {
        let bad = |problem: String| Error::Table {
            path: path.to_path_buf(),
            problem,
        };
        let text = std::fs::read(path).map_err(|e| glassbox_core::Error::io(path, e))?;
        let file: TableFile = serde_json::from_slice(&text)
            .map_err(|e| bad(format!("not a glassbox Q table ({e})")))?;
        if file.format != FORMAT {
            return Err(bad(format!(
                "format {:?}, expected {FORMAT:?}",
                file.format
            )));
        }
        if file.game != game {
            return Err(bad(format!(
                "a Q table for {:?}, not for {game:?}",
                file.game
            )));
        }
        if (file.states, file.actions) != (states, actions) {
            return Err(bad(format!(
                "{} states x {} actions, expected {states} x {actions}",
                file.states, file.actions
            )));
        }
        let mut table = QTable::new(states, actions);
        for (state, row) in file.rows {
            if state >= states {
                return Err(bad(format!(
                    "row for state {state}, past the last state {}",
                    states - 1
                )));
            }
            if row.len() != actions {
                return Err(bad(format!(
                    "state {state} has {} values, expected {actions}",
                    row.len()
                )));
            }
            if let Some(v) = row.iter().find(|v| !v.is_finite()) {
                return Err(bad(format!("state {state} holds the non-finite value {v}")));
            }
            table.row_mut(state).copy_from_slice(&row);
        }
        Ok((table, file.made_by))
    }

    fn at(&self, state: usize, action: usize) -> usize {
        assert!(
            state < self.states && action < self.actions,
            "Q table is {}x{}, asked for ({state}, {action})",
            self.states,
            self.actions
        );
        state * self.actions + action
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn greedy_takes_the_first_of_equal_values_and_skips_illegal_actions() {
        let mut q = QTable::new(2, 4);
        q.row_mut(1).copy_from_slice(&[0.5, 0.9, 0.9, 2.0]);
        assert_eq!(q.greedy(1, &[0, 1, 2]), Some(1));
        assert_eq!(q.greedy(1, &[2, 1]), Some(2));
        assert_eq!(q.best_value(1, &[0, 2]), 0.9);
        assert_eq!(q.greedy(1, &[]), None);
        assert_eq!(q.best_value(1, &[]), 0.0);
    }

    #[test]
    fn random_ties_pick_only_among_the_best() {
        let mut q = QTable::new(1, 4);
        q.row_mut(0).copy_from_slice(&[1.0, 0.0, 1.0, 1.0]);
        let mut rng = StdRng::seed_from_u64(3);
        let mut seen = [0; 4];
        for _ in 0..300 {
            seen[q.greedy_random_ties(0, &[0, 1, 2], &mut rng).unwrap()] += 1;
        }
        assert_eq!(seen[1], 0);
        assert_eq!(seen[3], 0);
        assert!(seen[0] > 100 && seen[2] > 100, "{seen:?}");
    }

    #[test]
    fn saves_and_loads_and_names_the_file_when_it_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.json");
        let mut q = QTable::new(5, 3);
        q.set(4, 2, -0.25);
        q.set(0, 1, 1.0);
        // A value serde_json's default parser reads one ulp off (float_roundtrip reads it exactly).
        q.set(2, 0, 0.24784315697074402);
        q.save(&path, "test", serde_json::json!({"seed": 1}))
            .unwrap();
        let (back, made_by) = QTable::load(&path, "test", 5, 3).unwrap();
        assert_eq!(back, q);
        assert_eq!(made_by["seed"], 1);

        let err = QTable::load(&path, "flippers", 5, 3)
            .unwrap_err()
            .to_string();
        assert!(err.contains("q.json") && err.contains("\"test\""), "{err}");
        let err = QTable::load(&path, "test", 5, 4).unwrap_err().to_string();
        assert!(
            err.contains("5 states x 3 actions, expected 5 x 4"),
            "{err}"
        );
        std::fs::write(&path, b"{not json").unwrap();
        let err = QTable::load(&path, "test", 5, 3).unwrap_err().to_string();
        assert!(
            err.contains("q.json") && err.contains("not a glassbox Q table"),
            "{err}"
        );
        let err = QTable::load(&dir.path().join("missing.json"), "test", 5, 3)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.json"), "{err}");
    }
}
