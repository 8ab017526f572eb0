//! Train the course's Flippers puzzle with tabular Q-learning and print the learned policy: for a few
//! boards, the tile the table flips and the game it plays, then the evaluation from all 512 starts.
//!
//!     cargo run --release -p glassbox-rl --example flippers -- [GAMES] [SEED]
//!
//! Needs no data and no GPU; 3000 games train in well under a second.

use glassbox_core::seed::Seed;
use glassbox_rl::flippers::{self, board, Board, Training};
use glassbox_rl::qtable::QTable;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let games: usize = args.next().map_or(Ok(3000), |a| a.parse())?;
    let seed = Seed(args.next().map_or(Ok(42), |a| a.parse())?);

    let (q, log) = flippers::train(&Training::course(games), seed)?;
    let moves = log.mean_moves(100);
    println!(
        "trained {games} games; mean moves in the last window of 100 games: {:.2}",
        moves.last().copied().unwrap_or(f64::NAN)
    );

    // The policy from a few starts: greedy play without surprises.
    for start in [0b000_000_000, 0b100_010_001, 0b111_111_111, 0b010_101_010] {
        println!("\nfrom {}:", show(start));
        play(&q, start);
    }

    let eval = flippers::evaluate(&q, seed, 20);
    println!(
        "\nall {} starts: {} solved ({} in the fewest moves), {} stuck, {:.2} moves on average",
        eval.starts, eval.solved, eval.solved_in_fewest_moves, eval.stuck, eval.mean_moves
    );
    Ok(())
}

/// Greedy play (no surprises) from `start`, one line a move, until a win or a board seen before (greedy
/// play is deterministic, so it would loop forever: the start is one the table has not learned).
fn play(q: &QTable, start: Board) {
    let legal: Vec<usize> = (0..flippers::TILES).collect();
    let mut b = start;
    let mut seen = vec![start];
    loop {
        if board::is_win(b) {
            let fewest = board::min_moves(start);
            println!(
                "  won in {} moves ({fewest} was the fewest possible)",
                seen.len() - 1
            );
            return;
        }
        let tile = q.greedy(usize::from(b), &legal).expect("nine legal tiles");
        let (x, y) = board::coordinates(tile);
        b = board::flip(b, tile);
        println!("  flip ({x}, {y}) -> {}", show(b));
        if seen.contains(&b) {
            println!("  back to a board seen before: greedy play loops here and never wins");
            return;
        }
        seen.push(b);
    }
}

/// A board as three rows of `o` (dot) and `.` (blank), top row first.
fn show(b: Board) -> String {
    (0..3)
        .map(|y| {
            (0..3)
                .map(|x| {
                    if board::has_dot(b, 3 * y + x) {
                        'o'
                    } else {
                        '.'
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}
