//! Flippers, the course's puzzle: a 3x3 board of two-sided tiles (a dot on one side, blank on the other);
//! a move flips one tile; the game is won when the dots form exactly one full row or column and every other
//! tile is blank.
//!
//! - [`board`]: the rules, the winning set and the fewest moves to a win from any board.
//! - [`train`](mod@train): the environment (with the course's random "surprise" flips) and the course's training recipe.
//! - [`eval`]: greedy play from all 512 starts, with and without surprises.
//! - [`figure`]: a game step by step, each tile with its stored value drawn as a bar beneath it.

pub mod board;
pub mod eval;
pub mod figure;
pub mod train;

pub use board::{is_win, min_moves, Board, STATES, TILES, WINS};
pub use eval::{evaluate, Evaluation};
pub use figure::{draw_game, record_game, Frame};
pub use train::{train, Flippers, Training, TrainingLog};

/// The name saved Q tables carry.
pub const GAME: &str = "flippers";
