//! The tic-tac-toe environment (the learner is X and moves first; the environment answers as O) and its
//! Q-learning on (board, move).
//!
//! Rewards are +1 for a win, -1 for a loss and 0 for a draw, undiscounted (gamma = 1): then a move that
//! forces a win is worth exactly 1 against any opponent, a move that only draws under perfect play is
//! worth less, and a move that loses under perfect play is worth less again as long as the opponent plays
//! perfectly more than half the time. So training against such a mix teaches minimax-optimal moves, while
//! training against a purely random O teaches the moves that win most often against random play.

use glassbox_core::seed::Seed;
use rand::rngs::StdRng;
use rand::Rng;
use serde::Serialize;

use super::board::{Board, Mark, SQUARES, STATES};
use super::minimax::Solver;
use crate::agent::{run_episode, Epsilon, Method, TdConfig};
use crate::env::{Environment, Step};
use crate::qtable::QTable;
use crate::{Error, Result};

/// How the environment chooses O's moves.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Opponent {
    /// A uniformly random empty square.
    Random,
    /// A uniformly random one of the minimax-optimal moves.
    Perfect,
    /// Perfect with probability `perfect`, else random, decided afresh at every move.
    Mix {
        /// The probability of a perfect move.
        perfect: f64,
    },
}

impl Opponent {
    /// O's move on `board` (O to move, game not over).
    pub fn choose(&self, board: &Board, solver: &Solver, rng: &mut StdRng) -> usize {
        let perfect = match *self {
            Opponent::Random => false,
            Opponent::Perfect => true,
            Opponent::Mix { perfect } => rng.random::<f64>() < perfect,
        };
        let moves: Vec<usize> = if perfect {
            solver.best_moves(board)
        } else {
            board.moves().collect()
        };
        moves[rng.random_range(0..moves.len())]
    }

    /// Parses `random`, `perfect` or `mix:P` (P, the share of perfect moves, in [0, 1]).
    pub fn parse(text: &str) -> Result<Opponent> {
        let bad = || {
            Error::setting(
                "opponent",
                text,
                "random, perfect or mix:P with P in [0, 1] (e.g. mix:0.7)",
            )
        };
        match text {
            "random" => Ok(Opponent::Random),
            "perfect" => Ok(Opponent::Perfect),
            _ => {
                let p: f64 = text
                    .strip_prefix("mix:")
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(bad)?;
                if (0.0..=1.0).contains(&p) {
                    Ok(Opponent::Mix { perfect: p })
                } else {
                    Err(bad())
                }
            }
        }
    }
}

/// As the command line spells it: `random`, `perfect`, `mix:0.7`.
impl std::fmt::Display for Opponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Opponent::Random => write!(f, "random"),
            Opponent::Perfect => write!(f, "perfect"),
            Opponent::Mix { perfect } => write!(f, "mix:{perfect}"),
        }
    }
}

/// One game against the environment's O.
pub struct TicTacToe<'a> {
    /// The board now.
    pub board: Board,
    /// How O chooses.
    pub opponent: Opponent,
    solver: &'a Solver,
}

impl<'a> TicTacToe<'a> {
    /// A game from the empty board, X (the learner) to move.
    pub fn new(opponent: Opponent, solver: &'a Solver) -> Self {
        Self::from(Board::empty(), opponent, solver)
    }

    /// A game from `board`, which must have X to move.
    pub fn from(board: Board, opponent: Opponent, solver: &'a Solver) -> Self {
        debug_assert_eq!(board.to_move(), Mark::X);
        TicTacToe {
            board,
            opponent,
            solver,
        }
    }
}

fn outcome(board: &Board) -> Option<f64> {
    match board.winner() {
        Some(Mark::X) => Some(1.0),
        Some(Mark::O) => Some(-1.0),
        None if board.is_full() => Some(0.0),
        None => None,
    }
}

impl Environment for TicTacToe<'_> {
    fn state_count(&self) -> usize {
        STATES
    }

    fn action_count(&self) -> usize {
        SQUARES
    }

    fn state(&self) -> usize {
        self.board.index()
    }

    fn legal_actions(&self, out: &mut Vec<usize>) {
        out.clear();
        out.extend(self.board.moves());
    }

    fn step(&mut self, square: usize, rng: &mut StdRng) -> Step {
        self.board = self.board.play(square, Mark::X);
        if let Some(reward) = outcome(&self.board) {
            return Step { reward, done: true };
        }
        let reply = self.opponent.choose(&self.board, self.solver, rng);
        self.board = self.board.play(reply, Mark::O);
        match outcome(&self.board) {
            Some(reward) => Step { reward, done: true },
            None => Step {
                reward: 0.0,
                done: false,
            },
        }
    }

    fn is_done(&self) -> bool {
        self.board.is_over()
    }
}

/// How to train the X player.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Training {
    /// Games to train.
    pub games: usize,
    /// The O that X learns against.
    pub opponent: Opponent,
    /// The temporal-difference update.
    pub td: TdConfig,
    /// The exploration schedule.
    pub epsilon: Epsilon,
    /// The share of games that start from a uniformly random reachable board with X to move instead of
    /// the empty board ("exploring starts", Sutton & Barto 5.3), so that boards a good X never lets happen
    /// are still learned.
    pub exploring_starts: f64,
}

impl Training {
    /// Q-learning with rate 0.2, no discount, exploration falling from 0.5 to 0.05 over 80% of the games.
    pub fn against(opponent: Opponent, games: usize) -> Self {
        Training {
            games,
            opponent,
            td: TdConfig {
                method: Method::QLearning,
                alpha: 0.2,
                gamma: 1.0,
                bootstrap_terminal: false,
            },
            epsilon: Epsilon::Linear {
                start: 0.5,
                end: 0.05,
                fraction: 0.8,
            },
            exploring_starts: 0.5,
        }
    }

    /// An error naming the setting unless every one is in its range.
    pub fn validate(&self) -> Result<()> {
        if self.games == 0 {
            return Err(Error::setting("number of games", 0, "at least 1"));
        }
        if !(0.0..=1.0).contains(&self.exploring_starts) {
            return Err(Error::setting(
                "share of exploring starts",
                self.exploring_starts,
                "a value in [0, 1]",
            ));
        }
        if let Opponent::Mix { perfect } = self.opponent {
            if !(0.0..=1.0).contains(&perfect) {
                return Err(Error::setting(
                    "share of perfect moves",
                    perfect,
                    "a value in [0, 1]",
                ));
            }
        }
        self.td.validate()?;
        self.epsilon.validate()
    }
}

/// Trains X from zero, every random choice drawn from `seed`. Returns the table and the reward of each
/// game (games from exploring starts included).
pub fn train(training: &Training, solver: &Solver, seed: Seed) -> Result<(QTable, Vec<f64>)> {
    training.validate()?;
    let mut q = QTable::new(STATES, SQUARES);
    let mut rng = seed.stream("tictactoe-train");
    let mut rewards = Vec::with_capacity(training.games);
    let starts: Vec<Board> = solver
        .positions()
        .filter(|b| !b.is_over() && b.to_move() == Mark::X)
        .collect();
    for game in 0..training.games {
        let start =
            if training.exploring_starts > 0.0 && rng.random::<f64>() < training.exploring_starts {
                starts[rng.random_range(0..starts.len())]
            } else {
                Board::empty()
            };
        let mut env = TicTacToe::from(start, training.opponent, solver);
        let epsilon = training.epsilon.at(game, training.games);
        let episode = run_episode(&mut env, &mut q, &training.td, epsilon, SQUARES, &mut rng);
        rewards.push(episode.reward);
    }
    Ok((q, rewards))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_environment_answers_and_scores() {
        let solver = Solver::new();
        let mut rng = StdRng::seed_from_u64(0);
        // Perfect O answers a corner with the centre.
        let mut env = TicTacToe::new(Opponent::Perfect, &solver);
        let step = env.step(0, &mut rng);
        assert_eq!((step.reward, step.done), (0.0, false));
        assert_eq!(env.board.get(4), Some(Mark::O));
        // X completing a line wins at once, before O moves.
        let b = Board::empty()
            .play(0, Mark::X)
            .play(3, Mark::O)
            .play(1, Mark::X)
            .play(4, Mark::O);
        let mut env = TicTacToe::from(b, Opponent::Random, &solver);
        let step = env.step(2, &mut rng);
        assert_eq!((step.reward, step.done), (1.0, true));
        // Leaving O's line open against perfect play loses.
        let mut env = TicTacToe::from(b, Opponent::Perfect, &solver);
        let step = env.step(8, &mut rng);
        assert_eq!((step.reward, step.done), (-1.0, true));
    }

    #[test]
    fn opponents_parse_with_clear_errors() {
        assert_eq!(Opponent::parse("random").unwrap(), Opponent::Random);
        assert_eq!(
            Opponent::parse("mix:0.7").unwrap(),
            Opponent::Mix { perfect: 0.7 }
        );
        for bad in ["mix:1.5", "mix:", "best"] {
            let err = Opponent::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad) && err.contains("mix:P"), "{err}");
        }
    }
}
