//! How good a Flippers table is: greedy play from every one of the 512 boards.

use glassbox_core::seed::Seed;
use serde::Serialize;

use super::board::{min_moves, Board, STATES};
use super::train::Flippers;
use crate::agent::greedy_game;
use crate::qtable::QTable;

/// The course's move limit for one game.
pub const MAX_MOVES: usize = 99;

/// Greedy play from all 512 starts, without and with surprises.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    /// Starts (all 512 boards, the 6 winning ones included: solved in 0 moves).
    pub starts: usize,
    /// Without surprises: starts from which greedy play reaches a win within the move limit.
    pub solved: usize,
    /// Without surprises: starts solved in the fewest possible moves.
    pub solved_in_fewest_moves: usize,
    /// Without surprises: starts from which greedy play never wins (it cycles until the move limit).
    pub stuck: usize,
    /// Without surprises: the average moves per game over all starts, unsolved games counted at the limit.
    pub mean_moves: f64,
    /// With surprises: seeded games played from every start.
    pub surprise_games_per_start: usize,
    /// With surprises (probability 0.1): the average moves per game, games that hit the limit counted at it.
    pub surprise_mean_moves: f64,
    /// With surprises: the share of games won within the limit.
    pub surprise_solved_share: f64,
}

/// Plays the table greedily (first tile on ties) from every board, first without surprises, then
/// `games_per_start` seeded games per board with the course's 0.1 surprise probability.
pub fn evaluate(q: &QTable, seed: Seed, games_per_start: usize) -> Evaluation {
    let mut rng = seed.stream("flippers-eval");
    let (mut solved, mut fewest, mut total_moves) = (0, 0, 0);
    for start in 0..STATES {
        let (ep, _) = greedy_game(
            &mut Flippers::new(start as Board, 0.0),
            q,
            MAX_MOVES,
            &mut rng,
        );
        total_moves += ep.moves;
        if ep.done {
            solved += 1;
            if ep.moves == min_moves(start as Board) {
                fewest += 1;
            }
        }
    }
    let (mut surprise_moves, mut surprise_wins) = (0, 0);
    for start in 0..STATES {
        for _ in 0..games_per_start {
            let mut env = Flippers::new(start as Board, 0.1);
            let (ep, _) = greedy_game(&mut env, q, MAX_MOVES, &mut rng);
            surprise_moves += ep.moves;
            surprise_wins += usize::from(ep.done);
        }
    }
    let surprise_games = (STATES * games_per_start).max(1) as f64;
    Evaluation {
        starts: STATES,
        solved,
        solved_in_fewest_moves: fewest,
        stuck: STATES - solved,
        mean_moves: total_moves as f64 / STATES as f64,
        surprise_games_per_start: games_per_start,
        surprise_mean_moves: surprise_moves as f64 / surprise_games,
        surprise_solved_share: surprise_wins as f64 / surprise_games,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flippers::board::{flip, is_win, TILES};

    /// The perfect table: each flip is worth 0.85^(moves left after it), built from the fewest-move counts.
    fn perfect() -> QTable {
        let mut q = QTable::new(STATES, TILES);
        for s in 0..STATES as Board {
            if is_win(s) {
                continue;
            }
            for t in 0..TILES {
                let after = flip(s, t);
                q.set(usize::from(s), t, 0.85f64.powi(min_moves(after) as i32));
            }
        }
        q
    }

    #[test]
    fn a_perfect_table_solves_every_start_in_the_fewest_moves() {
        let e = evaluate(&perfect(), Seed(1), 2);
        assert_eq!((e.solved, e.solved_in_fewest_moves, e.stuck), (512, 512, 0));
        let expected_mean =
            (0..STATES).map(|s| min_moves(s as Board)).sum::<usize>() as f64 / 512.0;
        assert!((e.mean_moves - expected_mean).abs() < 1e-12);
        assert!(e.surprise_solved_share > 0.99, "{e:?}");
    }

    #[test]
    fn an_empty_table_is_stuck_everywhere_but_the_wins_and_their_neighbours() {
        // All values 0: greedy always flips tile 0, so it toggles between two boards.
        let e = evaluate(&QTable::new(STATES, TILES), Seed(1), 1);
        let expected = (0..STATES as Board)
            .filter(|&s| is_win(s) || is_win(flip(s, 0)))
            .count();
        assert_eq!(e.solved, expected);
        assert_eq!(e.stuck, 512 - expected);
    }
}
