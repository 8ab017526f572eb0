//! `glassbox rl ...` end to end: Flippers and tic-tac-toe train in seconds, write their tables, figures and
//! metrics, and play from the saved tables.

mod common;

use common::{glassbox, text};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn metrics(dir: &Path) -> serde_json::Value {
    let s = std::fs::read_to_string(dir.join("metrics.json")).expect("metrics.json written");
    serde_json::from_str(&s).expect("metrics.json is JSON")
}

fn is_png(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| b.starts_with(b"\x89PNG"))
}

#[test]
fn flippers_shortest_solves_every_start_in_the_fewest_moves_then_plays() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("flippers");
    let out_s = out.to_str().unwrap();
    let o = glassbox(
        &[
            "rl",
            "flippers",
            "train",
            "--settings",
            "shortest",
            "--games",
            "6000",
            "--eval-games",
            "2",
            "--out",
            out_s,
        ],
        None,
    );
    let s = text(&o);
    assert!(o.status.success(), "{s}");
    let m = metrics(&out);
    let e = &m["metrics"]["evaluation"];
    assert_eq!(e["solved_in_fewest_moves"], 512, "{e}");
    assert_eq!(e["stuck"], 0);
    assert!(is_png(&out.join("game.png")) && is_png(&out.join("training.png")));
    assert_eq!(
        m["metrics"]["figure_game"]["boards"]
            .as_array()
            .unwrap()
            .len(),
        4
    );

    let o = glassbox(
        &["rl", "flippers", "play", "--start", "100", "--out", out_s],
        None,
    );
    let s = text(&o);
    assert!(o.status.success(), "{s}");
    assert!(s.contains("won after"), "{s}");
    let o = glassbox(
        &["rl", "flippers", "play", "--start", "600", "--out", out_s],
        None,
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("0..=511"), "{}", text(&o));
}

#[test]
fn flippers_play_without_a_table_says_how_to_make_one() {
    let tmp = tempfile::tempdir().unwrap();
    let o = glassbox(
        &[
            "rl",
            "flippers",
            "play",
            "--out",
            tmp.path().to_str().unwrap(),
        ],
        None,
    );
    let s = text(&o);
    assert!(!o.status.success());
    assert!(
        s.contains("q-table.json") && s.contains("glassbox rl flippers train"),
        "{s}"
    );
}

#[test]
fn tictactoe_trains_and_a_person_can_play_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ttt");
    let out_s = out.to_str().unwrap();
    let o = glassbox(
        &[
            "rl",
            "tictactoe",
            "train",
            "--games",
            "20000",
            "--eval-games",
            "500",
            "--out",
            out_s,
        ],
        None,
    );
    let s = text(&o);
    assert!(o.status.success(), "{s}");
    let m = metrics(&out);
    assert_eq!(m["metrics"]["against_random"]["games"], 500);
    assert!(
        m["metrics"]["minimax_agreement"]["positions"]
            .as_u64()
            .unwrap()
            > 1000
    );
    assert!(is_png(&out.join("training.png")));

    // A person types moves; one taken square and one bad word are refused politely; input may end early.
    let mut child = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(["rl", "tictactoe", "play", "--out", out_s])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"x\n1\n2\n3\n4\n5\n6\n7\n8\n9\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let s = text(&o);
    assert!(o.status.success(), "{s}");
    assert!(
        s.contains("X takes") && s.contains("is not a square"),
        "{s}"
    );
    assert!(
        s.contains("wins") || s.contains("Draw") || s.contains("no more input"),
        "{s}"
    );

    let o = glassbox(
        &[
            "rl",
            "tictactoe",
            "train",
            "--opponent",
            "mix:2",
            "--out",
            out_s,
        ],
        None,
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("mix:P"), "{}", text(&o));
}
