//! Issue 5's acceptance lines, with the default seed: both games train in well under a second.

use glassbox_core::seed::Seed;
use glassbox_rl::flippers;
use glassbox_rl::tictactoe::{self, Opponent, Solver};

#[test]
fn flippers_shortest_settings_solve_every_start_in_the_fewest_moves_within_6000_games() {
    let (q, _) = flippers::train(&flippers::Training::shortest(6000), Seed::default()).unwrap();
    let e = flippers::evaluate(&q, Seed::default(), 2);
    assert_eq!(
        (e.solved, e.solved_in_fewest_moves, e.stuck),
        (512, 512, 0),
        "{e:?}"
    );
}

/// Starts solved (of 512) by the course settings after 3000 games, for each seed.
fn course_solved(seeds: impl Iterator<Item = u64>) -> Vec<(u64, flippers::Evaluation)> {
    let training = flippers::Training::course(3000);
    seeds
        .map(|s| {
            let (q, _) = flippers::train(&training, Seed(s)).unwrap();
            (s, flippers::evaluate(&q, Seed(s), 5))
        })
        .collect()
}

/// Over seeds 1-50 the course settings solve 287 to 512 starts (median 421) and average at most 21.9
/// moves with surprises (`flippers_course_settings_over_50_seeds` prints them); an untrained table solves
/// only the 6 winning starts.
const COURSE_3000_SOLVED_AT_LEAST: usize = 280;
const COURSE_3000_MEDIAN_SOLVED_AT_LEAST: usize = 400;
const COURSE_3000_SURPRISE_MOVES_BELOW: f64 = 25.0;

#[test]
fn flippers_course_settings_learn_and_are_reproducible() {
    let training = flippers::Training::course(3000);
    let (q, log) = flippers::train(&training, Seed::default()).unwrap();
    let (again, _) = flippers::train(&training, Seed::default()).unwrap();
    assert_eq!(q, again);
    // The course's own 3000-game table: 182 stuck starts, 17.69 moves with surprises; ours are of that kind
    // (docs/lessons/rl.md). Each of eleven seeds clears the bounds that all of seeds 1-50 clear, and
    // their median is that of the fifty.
    let runs = course_solved((1..=10).chain([42]));
    for (seed, e) in &runs {
        assert!(
            e.solved >= COURSE_3000_SOLVED_AT_LEAST
                && e.surprise_mean_moves < COURSE_3000_SURPRISE_MOVES_BELOW,
            "seed {seed}: {e:?}"
        );
    }
    let mut solved: Vec<usize> = runs.iter().map(|(_, e)| e.solved).collect();
    solved.sort_unstable();
    assert!(
        solved[solved.len() / 2] >= COURSE_3000_MEDIAN_SOLVED_AT_LEAST,
        "{solved:?}"
    );
    // Games get shorter as epsilon falls.
    let first: f64 = log.moves[..300].iter().sum::<usize>() as f64 / 300.0;
    let last: f64 = log.moves[2700..].iter().sum::<usize>() as f64 / 300.0;
    assert!(last < first, "{first} -> {last}");
}

/// The spread behind COURSE_3000_SOLVED_AT_LEAST:
/// `cargo test --release -p glassbox-rl --test acceptance -- --ignored --nocapture`.
#[test]
#[ignore = "measurement: prints the spread over 50 seeds"]
fn flippers_course_settings_over_50_seeds() {
    let mut runs = course_solved(1..=50);
    runs.sort_by_key(|(_, e)| e.solved);
    for (seed, e) in &runs {
        println!(
            "seed {seed:>2}: solved {}, fewest moves {}, stuck {}, with surprises {:.2} moves",
            e.solved, e.solved_in_fewest_moves, e.stuck, e.surprise_mean_moves
        );
    }
    let solved: Vec<usize> = runs.iter().map(|(_, e)| e.solved).collect();
    let moves: Vec<f64> = runs.iter().map(|(_, e)| e.surprise_mean_moves).collect();
    println!(
        "solved: min {} (seed {}), median {}, max {}; moves with surprises: max {:.2}",
        solved[0],
        runs[0].0,
        solved[solved.len() / 2],
        solved[solved.len() - 1],
        moves.iter().copied().fold(0.0, f64::max)
    );
}

#[test]
fn tictactoe_against_a_mix_never_loses_and_plays_minimax_moves() {
    let solver = Solver::new();
    let training = tictactoe::Training::against(Opponent::Mix { perfect: 0.7 }, 200_000);
    let (q, _) = tictactoe::train(&training, &solver, Seed::default()).unwrap();
    let (again, _) = tictactoe::train(&training, &solver, Seed::default()).unwrap();
    assert_eq!(q, again, "the same seed trains the same table");
    let random = tictactoe::against(&q, Opponent::Random, &solver, 10_000, Seed::default());
    assert_eq!(random.losses, 0, "{random:?}");
    assert!(random.win_share() >= 0.95, "{random:?}");
    let perfect = tictactoe::against_perfect(&q, &solver);
    assert_eq!(perfect.draws, perfect.games, "{perfect:?}");
    let agreement = tictactoe::minimax_agreement(&q, &solver);
    assert!(agreement.share >= 0.99, "{agreement:?}");
}
