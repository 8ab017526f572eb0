//! The environment side: everything but the choice of move.
//!
//! States and actions are small integers so that a [`QTable`](crate::qtable::QTable) can be a dense array:
//! Flippers has 512 boards and 9 flips, tic-tac-toe 3^9 = 19,683 boards and 9 squares.

use rand::rngs::StdRng;

/// What one move brought.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// The reward of the move.
    pub reward: f64,
    /// The game is over (won, lost or drawn); no further move is possible.
    pub done: bool,
}

/// A game the agent plays. The environment owns the rules and every random event that is not the agent's
/// choice (Flippers' surprise flips, tic-tac-toe's opponent), drawn from the generator it is given.
pub trait Environment {
    /// States are `0..state_count()`.
    fn state_count(&self) -> usize;
    /// Actions are `0..action_count()`.
    fn action_count(&self) -> usize;
    /// The current state.
    fn state(&self) -> usize;
    /// The actions allowed in the current state, into `out` (cleared first); empty once the game is over.
    fn legal_actions(&self, out: &mut Vec<usize>);
    /// Plays `action` (one of [`legal_actions`](Self::legal_actions)) and everything the environment does
    /// in reply.
    fn step(&mut self, action: usize, rng: &mut StdRng) -> Step;
    /// Whether the game is over.
    fn is_done(&self) -> bool;
}
