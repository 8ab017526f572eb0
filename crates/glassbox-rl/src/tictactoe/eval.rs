//! How good an X player is: games against an opponent, every line of perfect play, and its move on every
//! reachable position compared with minimax.

use glassbox_core::seed::Seed;
use serde::Serialize;

use super::board::{Board, Mark};
use super::minimax::Solver;
use super::train::{Opponent, TicTacToe};
use crate::agent::greedy_game;
use crate::qtable::QTable;

/// Wins, draws and losses of X.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Record {
    /// Games played.
    pub games: usize,
    /// Games X won.
    pub wins: usize,
    /// Games drawn.
    pub draws: usize,
    /// Games X lost.
    pub losses: usize,
}

impl Record {
    fn add(&mut self, reward: f64) {
        self.games += 1;
        match reward {
            r if r > 0.0 => self.wins += 1,
            r if r < 0.0 => self.losses += 1,
            _ => self.draws += 1,
        }
    }

    /// The share of games won.
    pub fn win_share(&self) -> f64 {
        self.wins as f64 / self.games.max(1) as f64
    }

    /// The share of games drawn.
    pub fn draw_share(&self) -> f64 {
        self.draws as f64 / self.games.max(1) as f64
    }
}

/// `games` seeded games of greedy X (first square on ties) against `opponent`.
pub fn against(
    q: &QTable,
    opponent: Opponent,
    solver: &Solver,
    games: usize,
    seed: Seed,
) -> Record {
    let mut rng = seed.stream("tictactoe-eval");
    let mut record = Record::default();
    for _ in 0..games {
        let (episode, _) = greedy_game(&mut TicTacToe::new(opponent, solver), q, 9, &mut rng);
        record.add(episode.reward);
    }
    record
}

/// Greedy X against every way of playing perfectly as O: at each O turn the game branches over all of O's
/// minimax-optimal moves, so the record counts every distinct game a perfect O can produce.
pub fn against_perfect(q: &QTable, solver: &Solver) -> Record {
    let mut record = Record::default();
    let mut stack = vec![Board::empty()];
    let mut legal = Vec::new();
    while let Some(board) = stack.pop() {
        legal.clear();
        legal.extend(board.moves());
        let square = q.greedy(board.index(), &legal).expect("X has a move");
        let after = board.play(square, Mark::X);
        if let Some(reward) = finished(&after) {
            record.add(reward);
            continue;
        }
        for reply in solver.best_moves(&after) {
            let next = after.play(reply, Mark::O);
            match finished(&next) {
                Some(reward) => record.add(reward),
                None => stack.push(next),
            }
        }
    }
    record
}

fn finished(board: &Board) -> Option<f64> {
    match board.winner() {
        Some(Mark::X) => Some(1.0),
        Some(Mark::O) => Some(-1.0),
        None if board.is_full() => Some(0.0),
        None => None,
    }
}

/// How often X's greedy move keeps the minimax value.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Agreement {
    /// Reachable boards with X to move and the game not over.
    pub positions: usize,
    /// Those where X's greedy move is minimax-optimal.
    pub optimal: usize,
    /// `optimal / positions`.
    pub share: f64,
}

/// X's greedy move against minimax on every reachable board where X is to move.
pub fn minimax_agreement(q: &QTable, solver: &Solver) -> Agreement {
    let (mut positions, mut optimal) = (0, 0);
    let mut legal = Vec::new();
    for board in solver.positions() {
        if board.is_over() || board.to_move() != Mark::X {
            continue;
        }
        legal.clear();
        legal.extend(board.moves());
        positions += 1;
        let square = q.greedy(board.index(), &legal).expect("X has a move");
        if solver.best_moves(&board).contains(&square) {
            optimal += 1;
        }
    }
    Agreement {
        positions,
        optimal,
        share: optimal as f64 / positions.max(1) as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tictactoe::board::{SQUARES, STATES};

    /// A table that stores the minimax value of each move: a perfect player.
    fn minimax_table(solver: &Solver) -> QTable {
        let mut q = QTable::new(STATES, SQUARES);
        for board in solver.positions() {
            if board.is_over() || board.to_move() != Mark::X {
                continue;
            }
            for m in board.moves() {
                let v = solver.value(&board.play(m, Mark::X)).unwrap();
                q.set(board.index(), m, f64::from(v));
            }
        }
        q
    }

    #[test]
    fn a_minimax_player_is_graded_perfect() {
        let solver = Solver::new();
        let q = minimax_table(&solver);
        let a = minimax_agreement(&q, &solver);
        assert_eq!(a.optimal, a.positions);
        let perfect = against_perfect(&q, &solver);
        assert_eq!((perfect.draws, perfect.losses), (perfect.games, 0));
        assert!(perfect.games > 1);
        let random = against(&q, Opponent::Random, &solver, 2000, Seed(1));
        assert_eq!(random.losses, 0);
    }

    #[test]
    fn an_empty_table_loses_to_perfect_play() {
        // All values 0: X always takes the first free square, which perfect O beats.
        let solver = Solver::new();
        let q = QTable::new(STATES, SQUARES);
        assert!(against_perfect(&q, &solver).losses > 0);
        assert!(minimax_agreement(&q, &solver).share < 0.9);
    }
}
