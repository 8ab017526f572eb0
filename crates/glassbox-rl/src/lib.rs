//! Reinforcement learning you can see into: tabular Q-learning and Sarsa on the course's Flippers puzzle and
//! on tic-tac-toe.
//!
//! The split follows the course's slides: the [`env::Environment`] does everything but choose the move
//! (state, legal moves, the move's consequences, the reward, whether the game is over); the agent side
//! ([`agent`]) chooses moves epsilon-greedily from a [`qtable::QTable`] of Total Future Rewards and updates
//! it after every move. Both games implement the same trait and train through the same episode loop
//! ([`agent::run_episode`]).
//!
//! - [`flippers`]: the course's 3x3 tile puzzle, its training recipe, the evaluation from all 512 starts and
//!   the step-by-step figure with each move's stored value.
//! - [`tictactoe`]: the learner plays X against a random, perfect (minimax) or mixed O, with the evaluation
//!   against random and perfect play and against minimax on every reachable position.
//!
//! # Example
//!
//! ```
//! use glassbox_core::seed::Seed;
//! use glassbox_rl::flippers::{self, Training};
//!
//! let (q, log) = flippers::train(&Training::course(3000), Seed(42))?;
//! assert_eq!(log.moves.len(), 3000);
//! let eval = flippers::evaluate(&q, Seed(42), 5);
//! // The six winning boards are solved in 0 moves; the learned table solves far more.
//! assert!(eval.solved > 6 && eval.solved <= 512, "{eval:?}");
//! # Ok::<(), glassbox_rl::Error>(())
//! ```

#![warn(missing_docs)]

pub mod agent;
pub mod env;
pub mod error;
pub mod flippers;
pub mod qtable;
pub mod tictactoe;

pub use error::{Error, Result};
