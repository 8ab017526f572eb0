//! Tic-tac-toe: the learner plays X (moving first) against an environment that plays O.
//!
//! - [`board`]: boards, their 3^9 indexes, wins and draws.
//! - [`minimax`]: the game solved exactly, for the perfect opponent and to grade the learner.
//! - [`train`](mod@train): the environment (O's policy: random, perfect or a mix) and Q-learning on (board, move).
//! - [`eval`]: against random play, against every perfect line, and move by move against minimax.

pub mod board;
pub mod eval;
pub mod minimax;
pub mod train;

pub use board::{Board, Mark, SQUARES, STATES};
pub use eval::{against, against_perfect, minimax_agreement, Agreement, Record};
pub use minimax::Solver;
pub use train::{train, Opponent, TicTacToe, Training};

/// The name saved Q tables carry.
pub const GAME: &str = "tictactoe";
