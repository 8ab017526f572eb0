//! The Flippers environment and its training.
//!
//! The course's recipe, reproduced by [`Training::course`]: every game starts on a uniformly random board
//! and lasts at most 99 moves; after each move a "surprise" flips a random tile with probability 0.10;
//! reaching a win pays 1, everything else 0; `Q(s,a) += 0.99 (r + 0.85 max Q(s') - Q(s,a))`; epsilon is
//! `0.8 exp(-5 e / (0.5 N))` for the first half of the `N` games and 0 after; when a game is won, every action
//! of the winning board is given `1/sqrt(moves)`, so that shorter wins leave larger values behind.

use glassbox_core::seed::Seed;
use rand::rngs::StdRng;
use rand::Rng;
use serde::Serialize;

use super::board::{flip, is_win, Board, STATES, TILES};
use crate::agent::{run_episode, Epsilon, Method, TdConfig};
use crate::env::{Environment, Step};
use crate::qtable::QTable;
use crate::{Error, Result};

/// One game of Flippers, with the environment's surprise flips.
#[derive(Clone, Debug)]
pub struct Flippers {
    /// The board now.
    pub board: Board,
    /// The chance that a random tile flips after each move.
    pub surprise: f64,
    /// The tile the last surprise flipped, if the last move had one.
    pub last_surprise: Option<usize>,
}

impl Flippers {
    /// A game from `board` with a random flip after each move with probability `surprise`.
    pub fn new(board: Board, surprise: f64) -> Self {
        Flippers {
            board,
            surprise,
            last_surprise: None,
        }
    }
}

impl Environment for Flippers {
    fn state_count(&self) -> usize {
        STATES
    }

    fn action_count(&self) -> usize {
        TILES
    }

    fn state(&self) -> usize {
        usize::from(self.board)
    }

    fn legal_actions(&self, out: &mut Vec<usize>) {
        out.clear();
        if !is_win(self.board) {
            out.extend(0..TILES);
        }
    }

    fn step(&mut self, tile: usize, rng: &mut StdRng) -> Step {
        self.board = flip(self.board, tile);
        self.last_surprise = None;
        if self.surprise > 0.0 && rng.random::<f64>() < self.surprise {
            let t = rng.random_range(0..TILES);
            self.board = flip(self.board, t);
            self.last_surprise = Some(t);
        }
        let won = is_win(self.board);
        Step {
            reward: if won { 1.0 } else { 0.0 },
            done: won,
        }
    }

    fn is_done(&self) -> bool {
        is_win(self.board)
    }
}

/// How to train a Flippers table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Training {
    /// Games played (the course uses 3000 and 6000).
    pub games: usize,
    /// Moves after which a game is abandoned.
    pub max_moves: usize,
    /// The surprise probability while training.
    pub surprise: f64,
    /// The temporal-difference update.
    pub td: TdConfig,
    /// The exploration schedule.
    pub epsilon: Epsilon,
    /// The course's reward shaping: a won game sets every value of its winning board to `1/sqrt(moves)`.
    pub win_bonus: bool,
}

impl Training {
    /// The course's settings for `games` games.
    pub fn course(games: usize) -> Self {
        Training {
            games,
            max_moves: 99,
            surprise: 0.1,
            td: TdConfig {
                method: Method::QLearning,
                alpha: 0.99,
                gamma: 0.85,
                bootstrap_terminal: true,
            },
            epsilon: Epsilon::ExpDecay {
                start: 0.8,
                rate: 5.0,
                fraction: 0.5,
            },
            win_bonus: true,
        }
    }

    /// Settings that solve every start in the fewest moves: textbook Q-learning (a won game's future is
    /// worth 0, no bonus) without surprises while learning, and purely random moves. Q-learning is
    /// off-policy, so exploring at random still learns the values of the best moves; with every (board,
    /// flip) tried many times the values settle at `0.85^(d-1)` for a move that leaves `d - 1` flips to
    /// go, and the greedy move is always one that brings a win closer.
    pub fn shortest(games: usize) -> Self {
        Training {
            games,
            max_moves: 99,
            surprise: 0.0,
            td: TdConfig {
                method: Method::QLearning,
                alpha: 1.0,
                gamma: 0.85,
                bootstrap_terminal: false,
            },
            epsilon: Epsilon::Constant(1.0),
            win_bonus: false,
        }
    }

    /// An error naming the setting unless every one is in its range.
    pub fn validate(&self) -> Result<()> {
        if self.games == 0 {
            return Err(Error::setting("number of games", 0, "at least 1"));
        }
        if self.max_moves == 0 {
            return Err(Error::setting("move limit", 0, "at least 1"));
        }
        if !(0.0..=1.0).contains(&self.surprise) {
            return Err(Error::setting(
                "surprise probability",
                self.surprise,
                "a value in [0, 1]",
            ));
        }
        self.td.validate()?;
        self.epsilon.validate()
    }
}

/// What happened while training: per game, the moves made and whether it was won.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TrainingLog {
    /// The moves of each game.
    pub moves: Vec<usize>,
    /// Whether each game was won within the move limit.
    pub won: Vec<bool>,
}

impl TrainingLog {
    /// The mean moves per game in each consecutive window of `window` games.
    pub fn mean_moves(&self, window: usize) -> Vec<f64> {
        self.moves
            .chunks(window.max(1))
            .map(|c| c.iter().sum::<usize>() as f64 / c.len() as f64)
            .collect()
    }
}

/// Trains a table from zero with `training`, every random choice drawn from `seed`.
pub fn train(training: &Training, seed: Seed) -> Result<(QTable, TrainingLog)> {
    training.validate()?;
    let mut q = QTable::new(STATES, TILES);
    let mut rng = seed.stream("flippers-train");
    let mut log = TrainingLog::default();
    for game in 0..training.games {
        let start = rng.random_range(0..STATES) as Board;
        let mut env = Flippers::new(start, training.surprise);
        let epsilon = training.epsilon.at(game, training.games);
        let episode = run_episode(
            &mut env,
            &mut q,
            &training.td,
            epsilon,
            training.max_moves,
            &mut rng,
        );
        if training.win_bonus && episode.done && episode.moves > 0 {
            q.row_mut(episode.final_state)
                .fill(1.0 / (episode.moves as f64).sqrt());
        }
        log.moves.push(episode.moves);
        log.won.push(episode.done);
    }
    Ok((q, log))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_move_then_a_surprise_then_the_reward() {
        let mut rng = StdRng::seed_from_u64(0);
        let mut env = Flippers::new(7 | 8, 0.0);
        assert!(!env.is_done());
        let step = env.step(3, &mut rng);
        assert_eq!((step.reward, step.done, env.board), (1.0, true, 7));
        let mut legal = vec![1];
        env.legal_actions(&mut legal);
        assert!(legal.is_empty());
        // Always a surprise: the board changes by two tiles or none.
        let mut env = Flippers::new(0, 1.0);
        for _ in 0..20 {
            let before = env.board;
            env.step(4, &mut rng);
            let t = env.last_surprise.expect("a surprise every move");
            assert_eq!(env.board, flip(flip(before, 4), t));
        }
    }

    #[test]
    fn the_course_update_on_a_hand_worked_win() {
        // One course game from a board one flip from a win (tile 3 completes row 0) with no exploration
        // and no surprise: the greedy move (all values equal; the tie is broken at random) ends somewhere,
        // and any move into the win is updated by 0.99 (1 + 0.85 max Q(win) - 0) with Q(win) = 0 at first;
        // then the bonus sets every action of the winning board to 1/sqrt(1) = 1.
        let mut training = Training::course(1);
        training.epsilon = Epsilon::Constant(0.0);
        training.surprise = 0.0;
        let mut q = QTable::new(STATES, TILES);
        for t in 0..TILES {
            q.set(7 | 8, t, if t == 3 { 0.01 } else { 0.0 });
        }
        let mut rng = StdRng::seed_from_u64(0);
        let mut env = Flippers::new(7 | 8, 0.0);
        let ep = run_episode(&mut env, &mut q, &training.td, 0.0, 99, &mut rng);
        assert_eq!((ep.moves, ep.done, ep.final_state), (1, true, 7));
        let expected = 0.01 + 0.99 * (1.0 + 0.85 * 0.0 - 0.01);
        assert!((q.get(7 | 8, 3) - expected).abs() < 1e-12);
        // A second win into the same board now reads the bonus values: 0.99 (1 + 0.85 * 1 - Q).
        q.row_mut(7).fill(1.0);
        let before = q.get(7 | 8, 3);
        run_episode(
            &mut Flippers::new(7 | 8, 0.0),
            &mut q,
            &training.td,
            0.0,
            99,
            &mut rng,
        );
        assert!((q.get(7 | 8, 3) - (before + 0.99 * (1.0 + 0.85 - before))).abs() < 1e-12);
    }

    #[test]
    fn training_is_reproducible_and_checks_its_settings() {
        let training = Training::course(200);
        let (a, log_a) = train(&training, Seed(5)).unwrap();
        let (b, log_b) = train(&training, Seed(5)).unwrap();
        assert_eq!(a, b);
        assert_eq!(log_a.moves, log_b.moves);
        let (c, _) = train(&training, Seed(6)).unwrap();
        assert_ne!(a, c);
        let mut bad = training.clone();
        bad.td.alpha = 0.0;
        assert!(train(&bad, Seed(5))
            .unwrap_err()
            .to_string()
            .contains("learning rate"));
        bad = Training::course(0);
        assert!(train(&bad, Seed(5)).is_err());
    }
}
