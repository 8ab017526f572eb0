//! `glassbox rl ...`: the reinforcement-learning lesson (glassbox-rl): Flippers and tic-tac-toe with
//! tabular Q-learning, figures and metrics.json.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Subcommand, ValueEnum};
use glassbox_core::imaging::save_rgb_png;
use glassbox_core::plot::{line_chart, LineChart, Series};
use glassbox_rl::flippers::{self, board::Board};
use glassbox_rl::qtable::QTable;
use glassbox_rl::tictactoe::{self, Mark, Opponent, Solver};
use serde_json::{json, Value};

use crate::cli::Common;

/// The course's published figures for its 3000-game Flippers table.
const COURSE_MEAN_MOVES_WITH_SURPRISES: f64 = 17.69;
const COURSE_STUCK_STARTS: usize = 182;

#[derive(Debug, Subcommand)]
pub enum RlCommand {
    /// Flippers, the course's 3x3 tile puzzle.
    #[command(subcommand)]
    Flippers(FlippersCommand),
    /// Tic-tac-toe: the learner plays X against a random, perfect or mixed O.
    #[command(subcommand)]
    Tictactoe(TicTacToeCommand),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FlippersSettings {
    /// The course's recipe: surprises, epsilon 0.8 exp(-5e/(N/2)), alpha 0.99, gamma 0.85, win bonus.
    Course,
    /// Textbook Q-learning with random exploration and no surprises: every start solved in the fewest moves.
    Shortest,
}

impl FlippersSettings {
    fn name(self) -> &'static str {
        match self {
            FlippersSettings::Course => "course",
            FlippersSettings::Shortest => "shortest",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum FlippersCommand {
    /// Trains a Q table, evaluates it from all 512 starts and draws a game step by step.
    Train {
        /// Games to train on (the course uses 3000 and 6000).
        #[arg(long, default_value_t = 3000)]
        games: usize,
        #[arg(long, value_enum, default_value = "course")]
        settings: FlippersSettings,
        /// The board the figure's game starts from (0..511; bit 3y+x is tile (x, y)).
        #[arg(long, default_value_t = 0)]
        start: u16,
        /// Seeded games per start for the evaluation with surprises.
        #[arg(long, default_value_t = 20)]
        eval_games: usize,
    },
    /// Plays a trained table greedily from one board and draws the game.
    Play {
        /// The table (default: q-table.json in the output directory, written by `train`).
        #[arg(long, value_name = "FILE")]
        table: Option<PathBuf>,
        /// The starting board (0..511).
        #[arg(long, default_value_t = 0)]
        start: u16,
        /// The chance of a surprise flip after each move.
        #[arg(long, default_value_t = 0.0)]
        surprise: f64,
    },
}

#[derive(Debug, Subcommand)]
pub enum TicTacToeCommand {
    /// Trains X, then evaluates it against random and perfect play and against minimax move by move.
    Train {
        /// random, perfect, or mix:P (perfect with probability P at each move).
        #[arg(long, default_value = "mix:0.7")]
        opponent: String,
        #[arg(long, default_value_t = 200_000)]
        games: usize,
        /// Seeded games for the evaluation against random play.
        #[arg(long, default_value_t = 10_000)]
        eval_games: usize,
    },
    /// Play O against the trained X in the terminal (squares 1-9, row by row).
    Play {
        /// The table (default: q-table.json in the output directory, written by `train`).
        #[arg(long, value_name = "FILE")]
        table: Option<PathBuf>,
    },
}

pub fn run(common: &Common, cmd: &RlCommand) -> anyhow::Result<()> {
    // Training and playing both write q-table.json, game.png and metrics.json here.
    let _lock = common.lock_out()?;
    let (lesson, metrics, written) = match cmd {
        RlCommand::Flippers(FlippersCommand::Train {
            games,
            settings,
            start,
            eval_games,
        }) => flippers_train(common, *games, *settings, *start, *eval_games)?,
        RlCommand::Flippers(FlippersCommand::Play {
            table,
            start,
            surprise,
        }) => flippers_play(common, table.as_deref(), *start, *surprise)?,
        RlCommand::Tictactoe(TicTacToeCommand::Train {
            opponent,
            games,
            eval_games,
        }) => tictactoe_train(common, opponent, *games, *eval_games)?,
        RlCommand::Tictactoe(TicTacToeCommand::Play { table }) => {
            return tictactoe_play(common, table.as_deref())
        }
    };
    common.finish_lesson(&format!("rl {lesson}"), metrics, &written)
}

type Outcome = (&'static str, Value, Vec<&'static str>);

fn check_board(start: u16) -> anyhow::Result<Board> {
    if usize::from(start) >= flippers::STATES {
        bail!(
            "invalid --start {start}: expected a board number in 0..=511 (bit 3y+x is tile (x, y))"
        );
    }
    Ok(start)
}

fn flippers_train(
    common: &Common,
    games: usize,
    settings: FlippersSettings,
    start: u16,
    eval_games: usize,
) -> anyhow::Result<Outcome> {
    let start = check_board(start)?;
    let training = match settings {
        FlippersSettings::Course => flippers::Training::course(games),
        FlippersSettings::Shortest => flippers::Training::shortest(games),
    };
    let clock = std::time::Instant::now();
    let (q, log) = flippers::train(&training, common.seed())?;
    let seconds = clock.elapsed().as_secs_f64();
    let eval = flippers::evaluate(&q, common.seed(), eval_games);
    println!(
        "trained on {games} games ({} settings) in {:.1} ms; won {} of them",
        settings.name(),
        seconds * 1e3,
        log.won.iter().filter(|&&w| w).count()
    );
    print_flippers_eval(&eval);
    let out = &common.out;
    q.save(
        &out.join("q-table.json"),
        flippers::GAME,
        json!({"training": training, "seed": common.seed}),
    )?;
    let mut rng = common.seed().stream("flippers-figure");
    let frames = flippers::record_game(&q, start, 0.0, flippers::eval::MAX_MOVES, &mut rng);
    save_rgb_png(out.join("game.png"), &flippers::draw_game(&q, &frames)?)?;
    let window = (games / 30).max(1);
    let per_window = |values: Vec<f64>| -> Vec<(f64, f64)> {
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| (((i + 1) * window) as f64, v))
            .collect()
    };
    line_chart(
        out.join("training.png"),
        &LineChart {
            title: format!(
                "Flippers: moves per game while training ({} settings)",
                settings.name()
            ),
            x_label: "game".into(),
            y_label: format!("mean moves per game, per {window} games"),
            series: vec![Series::new("moves", per_window(log.mean_moves(window)))],
            y_range: None,
        },
    )?;
    let metrics = json!({
        "training": training,
        "seconds": seconds,
        "games_won_while_training": log.won.iter().filter(|&&w| w).count(),
        "evaluation": eval,
        "course_3000_games": {
            "surprise_mean_moves": COURSE_MEAN_MOVES_WITH_SURPRISES,
            "stuck": COURSE_STUCK_STARTS,
        },
        "figure_game": game_json(&frames),
    });
    Ok((
        "flippers train",
        metrics,
        vec!["q-table.json", "game.png", "training.png"],
    ))
}

fn print_flippers_eval(e: &flippers::Evaluation) {
    println!(
        "without surprises: {} of {} starts solved, {} in the fewest moves, {} stuck (course's 3000-game table: {COURSE_STUCK_STARTS} stuck)",
        e.solved, e.starts, e.solved_in_fewest_moves, e.stuck
    );
    println!(
        "with surprises: {:.2} moves per game on average over {} games per start, {:.1}% solved (course's table: {COURSE_MEAN_MOVES_WITH_SURPRISES} moves)",
        e.surprise_mean_moves,
        e.surprise_games_per_start,
        100.0 * e.surprise_solved_share
    );
}

fn game_json(frames: &[flippers::Frame]) -> Value {
    json!({
        "start": frames[0].board,
        "fewest_moves": flippers::min_moves(frames[0].board),
        "boards": frames.iter().map(|f| f.board).collect::<Vec<_>>(),
        "flips": frames.iter().filter_map(|f| f.flip).collect::<Vec<_>>(),
        "won": flippers::is_win(frames[frames.len() - 1].board),
    })
}

fn table_path(common: &Common, table: Option<&Path>) -> PathBuf {
    table
        .map(Path::to_path_buf)
        .unwrap_or_else(|| common.out.join("q-table.json"))
}

fn load_table(
    path: &Path,
    game: &str,
    states: usize,
    actions: usize,
    train: &str,
) -> anyhow::Result<QTable> {
    if !path.exists() {
        bail!(
            "no Q table at {}; train one first with `glassbox rl {train} train --out {}` or pass --table FILE",
            path.display(),
            path.parent().map(|p| p.display().to_string()).unwrap_or_default()
        );
    }
    Ok(QTable::load(path, game, states, actions)?.0)
}

fn flippers_play(
    common: &Common,
    table: Option<&Path>,
    start: u16,
    surprise: f64,
) -> anyhow::Result<Outcome> {
    let start = check_board(start)?;
    if !(0.0..=1.0).contains(&surprise) {
        bail!("invalid --surprise {surprise}: expected a probability in [0, 1]");
    }
    let path = table_path(common, table);
    let q = load_table(
        &path,
        flippers::GAME,
        flippers::STATES,
        flippers::TILES,
        "flippers",
    )?;
    let mut rng = common.seed().stream("flippers-play");
    let frames = flippers::record_game(&q, start, surprise, flippers::eval::MAX_MOVES, &mut rng);
    for (i, f) in frames.iter().enumerate() {
        match f.flip {
            Some(t) => println!(
                "board {:3}: flip ({}, {}) worth {:.3}{}",
                f.board,
                t % 3,
                t / 3,
                q.get(usize::from(f.board), t),
                f.surprise
                    .map(|s| format!(", then a surprise flips ({}, {})", s % 3, s / 3))
                    .unwrap_or_default()
            ),
            None if flippers::is_win(f.board) => {
                println!("board {:3}: won after {i} moves", f.board)
            }
            None => println!("board {:3}: not won after {i} moves", f.board),
        }
    }
    save_rgb_png(
        common.out.join("game.png"),
        &flippers::draw_game(&q, &frames)?,
    )?;
    Ok((
        "flippers play",
        json!({"table": path, "surprise": surprise, "game": game_json(&frames)}),
        vec!["game.png"],
    ))
}

fn tictactoe_train(
    common: &Common,
    opponent: &str,
    games: usize,
    eval_games: usize,
) -> anyhow::Result<Outcome> {
    let opponent = Opponent::parse(opponent)?;
    let solver = Solver::new();
    let training = tictactoe::Training::against(opponent, games);
    let clock = std::time::Instant::now();
    let (q, rewards) = tictactoe::train(&training, &solver, common.seed())?;
    let seconds = clock.elapsed().as_secs_f64();
    let random = tictactoe::against(&q, Opponent::Random, &solver, eval_games, common.seed());
    let perfect = tictactoe::against_perfect(&q, &solver);
    let agreement = tictactoe::minimax_agreement(&q, &solver);
    println!(
        "trained X on {games} games against {opponent} in {:.1} ms",
        seconds * 1e3
    );
    println!(
        "against random O over {} games: {} wins, {} draws, {} losses ({:.2}% wins)",
        random.games,
        random.wins,
        random.draws,
        random.losses,
        100.0 * random.win_share()
    );
    println!(
        "against every line of perfect O ({} games): {} draws, {} losses",
        perfect.games, perfect.draws, perfect.losses
    );
    println!(
        "minimax-optimal move on {} of {} reachable positions with X to move ({:.2}%)",
        agreement.optimal,
        agreement.positions,
        100.0 * agreement.share
    );
    let out = &common.out;
    q.save(
        &out.join("q-table.json"),
        tictactoe::GAME,
        json!({"training": training, "seed": common.seed}),
    )?;
    let window = (games / 40).max(1);
    let mean_reward: Vec<(f64, f64)> = rewards
        .chunks(window)
        .enumerate()
        .map(|(i, c)| {
            (
                ((i + 1) * window) as f64,
                c.iter().sum::<f64>() / c.len() as f64,
            )
        })
        .collect();
    line_chart(
        out.join("training.png"),
        &LineChart {
            title: format!("Tic-tac-toe: X's reward while training against {opponent}"),
            x_label: "game".into(),
            y_label: format!("mean reward per {window} games (win 1, draw 0, loss -1)"),
            series: vec![Series::new("reward", mean_reward)],
            y_range: Some((-1.0, 1.0)),
        },
    )?;
    let metrics = json!({
        "training": training,
        "seconds": seconds,
        "against_random": random,
        "against_perfect_every_line": perfect,
        "minimax_agreement": agreement,
    });
    Ok((
        "tictactoe train",
        metrics,
        vec!["q-table.json", "training.png"],
    ))
}

/// A person plays O in the terminal against the table's greedy X.
fn tictactoe_play(common: &Common, table: Option<&Path>) -> anyhow::Result<()> {
    let path = table_path(common, table);
    let q = load_table(
        &path,
        tictactoe::GAME,
        tictactoe::STATES,
        tictactoe::SQUARES,
        "tictactoe",
    )?;
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut board = tictactoe::Board::empty();
    println!("You are O; X (the learned table) moves first. Squares are 1-9, row by row:\n123\n456\n789\n");
    loop {
        let legal: Vec<usize> = board.moves().collect();
        let square = q
            .greedy(board.index(), &legal)
            .context("X has no move on a board that is not over")?;
        let values: Vec<String> = legal
            .iter()
            .map(|&m| format!("{}: {:+.2}", m + 1, q.get(board.index(), m)))
            .collect();
        println!("X's values: {}", values.join(", "));
        board = board.play(square, Mark::X);
        println!("X takes {}\n{board}\n", square + 1);
        if board.is_over() {
            break;
        }
        let reply = loop {
            print!("your move (1-9, q to quit): ");
            std::io::stdout().flush()?;
            let Some(line) = lines.next() else {
                println!("\nno more input; stopping");
                return Ok(());
            };
            let line = line?;
            let line = line.trim();
            if line == "q" {
                return Ok(());
            }
            match line.parse::<usize>() {
                Ok(n @ 1..=9) if board.get(n - 1).is_none() => break n - 1,
                Ok(n @ 1..=9) => println!("square {n} is taken"),
                _ => println!("{line:?} is not a square: type 1-9"),
            }
        };
        board = board.play(reply, Mark::O);
        println!("{board}\n");
        if board.is_over() {
            break;
        }
    }
    match board.winner() {
        Some(Mark::X) => println!("X wins."),
        Some(Mark::O) => println!("You win!"),
        None => println!("Draw."),
    }
    Ok(())
}
