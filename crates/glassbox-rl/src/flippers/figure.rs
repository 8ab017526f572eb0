//! A Flippers game step by step, as the course's slides draw it: each board with the tile about to be
//! flipped outlined, and under every tile a bar for the value the table stores for flipping it (longer and
//! brighter is better).

use glassbox_core::imaging::{grid, side_by_side, Colormap};
use image::{Rgb, RgbImage};
use rand::rngs::StdRng;

use super::board::{coordinates, has_dot, is_win, min_moves, Board};
use super::train::Flippers;
use crate::agent::greedy_game;
use crate::env::Environment;
use crate::qtable::QTable;
use crate::Result;

const TILE: u32 = 54;
const GAP: u32 = 6;
const BAR: u32 = 9;
const BORDER: u32 = 4;
/// Boards per row of the figure.
const PER_ROW: usize = 6;
/// Boards drawn at most; a game that cycles to the move limit is cut here.
const MAX_PANELS: usize = 24;

const TILE_FACE: Rgb<u8> = Rgb([236, 226, 198]);
const WIN_FACE: Rgb<u8> = Rgb([196, 232, 188]);
const DOT: Rgb<u8> = Rgb([30, 30, 30]);
const CHOSEN: Rgb<u8> = Rgb([214, 40, 40]);
const SURPRISED: Rgb<u8> = Rgb([40, 90, 214]);
const BAR_TRACK: Rgb<u8> = Rgb([225, 225, 225]);

/// One board of a recorded game: the move chosen on it, and the surprise that followed that move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The board before the move.
    pub board: Board,
    /// The tile flipped; `None` on the last (won) board.
    pub flip: Option<usize>,
    /// The tile a surprise flipped after the move, if one did.
    pub surprise: Option<usize>,
}

/// Plays greedily from `start` (surprises with probability `surprise`) and records every board.
pub fn record_game(
    q: &QTable,
    start: Board,
    surprise: f64,
    max_moves: usize,
    rng: &mut StdRng,
) -> Vec<Frame> {
    let mut frames = Vec::new();
    let mut env = Flippers::new(start, surprise);
    // One move at a time, so the surprise after each move can be read off the environment.
    while frames.len() < max_moves && !env.is_done() {
        let board = env.board;
        let (ep, trace) = greedy_game(&mut env, q, 1, rng);
        let Some(&(_, tile)) = trace.first() else {
            break;
        };
        frames.push(Frame {
            board,
            flip: Some(tile),
            surprise: env.last_surprise,
        });
        if ep.done {
            break;
        }
    }
    frames.push(Frame {
        board: env.board,
        flip: None,
        surprise: None,
    });
    frames
}

/// The figure of a recorded game, with the values of `q` under the tiles.
pub fn draw_game(q: &QTable, frames: &[Frame]) -> Result<RgbImage> {
    let scale = frames
        .iter()
        .flat_map(|f| q.row(usize::from(f.board)).iter().copied())
        .fold(0.0f64, f64::max);
    let moves = frames.len() - 1;
    let shown: Vec<&Frame> = if frames.len() > MAX_PANELS {
        frames[..MAX_PANELS - 1]
            .iter()
            .chain(frames.last())
            .collect()
    } else {
        frames.iter().collect()
    };
    let mut panels = Vec::new();
    let mut captions = Vec::new();
    for (i, frame) in shown.iter().enumerate() {
        panels.push(draw_board(q, frame, scale));
        let last = i + 1 == shown.len();
        captions.push(caption(frame, if last { moves } else { i }, last));
    }
    let rows = panels
        .chunks(PER_ROW)
        .zip(captions.chunks(PER_ROW))
        .map(|(p, c)| {
            let c: Vec<&str> = c.iter().map(String::as_str).collect();
            side_by_side(p, &c)
        })
        .collect::<glassbox_core::Result<Vec<_>>>()?;
    Ok(grid(&rows, 1, 0, Rgb([255, 255, 255])))
}

fn caption(frame: &Frame, index: usize, last: bool) -> String {
    let board = frame.board;
    let head = if last && is_win(board) {
        format!("won after {index} moves")
    } else if last {
        format!("not won after {index} moves")
    } else if index == 0 {
        format!("start {board} (fewest moves {})", min_moves(board))
    } else {
        format!("after move {index}")
    };
    let mut lines = vec![head];
    if let Some(t) = frame.flip {
        let (x, y) = coordinates(t);
        lines.push(format!("flip ({x}, {y})"));
    }
    if let Some(t) = frame.surprise {
        let (x, y) = coordinates(t);
        lines.push(format!("surprise ({x}, {y})"));
    }
    lines.join("\n")
}

fn draw_board(q: &QTable, frame: &Frame, scale: f64) -> RgbImage {
    let side = 3 * TILE + 4 * GAP;
    let height = 3 * (TILE + BAR + GAP) + GAP;
    let mut img = RgbImage::from_pixel(side, height, Rgb([255, 255, 255]));
    let face = if is_win(frame.board) {
        WIN_FACE
    } else {
        TILE_FACE
    };
    let values = q.row(usize::from(frame.board));
    for (tile, &value) in values.iter().enumerate() {
        let (x, y) = coordinates(tile);
        let x0 = GAP + x as u32 * (TILE + GAP);
        let y0 = GAP + y as u32 * (TILE + BAR + GAP);
        fill(&mut img, x0, y0, TILE, TILE, face);
        if frame.flip == Some(tile) {
            outline(&mut img, x0, y0, TILE, CHOSEN);
        } else if frame.surprise == Some(tile) {
            outline(&mut img, x0, y0, TILE, SURPRISED);
        }
        if has_dot(frame.board, tile) {
            disc(&mut img, x0 + TILE / 2, y0 + TILE / 2, TILE / 4, DOT);
        }
        fill(&mut img, x0, y0 + TILE + 2, TILE, BAR - 2, BAR_TRACK);
        let t = if scale > 0.0 {
            (value / scale).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let len = (t * f64::from(TILE)).round() as u32;
        if len > 0 {
            fill(
                &mut img,
                x0,
                y0 + TILE + 2,
                len,
                BAR - 2,
                Colormap::Viridis.color(t as f32),
            );
        }
    }
    img
}

fn fill(img: &mut RgbImage, x0: u32, y0: u32, w: u32, h: u32, color: Rgb<u8>) {
    for y in y0..(y0 + h).min(img.height()) {
        for x in x0..(x0 + w).min(img.width()) {
            img.put_pixel(x, y, color);
        }
    }
}

fn outline(img: &mut RgbImage, x0: u32, y0: u32, size: u32, color: Rgb<u8>) {
    fill(img, x0, y0, size, BORDER, color);
    fill(img, x0, y0 + size - BORDER, size, BORDER, color);
    fill(img, x0, y0, BORDER, size, color);
    fill(img, x0 + size - BORDER, y0, BORDER, size, color);
}

fn disc(img: &mut RgbImage, cx: u32, cy: u32, r: u32, color: Rgb<u8>) {
    let r2 = (r * r) as i64;
    for y in cy - r..=cy + r {
        for x in cx - r..=cx + r {
            let (dx, dy) = (x as i64 - cx as i64, y as i64 - cy as i64);
            if dx * dx + dy * dy <= r2 {
                img.put_pixel(x, y, color);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn records_a_short_game_and_draws_one_panel_per_board() {
        // Values that lead from 0 to 7 by flipping tiles 0, 1, 2 in turn.
        let mut q = QTable::new(512, 9);
        q.set(0, 0, 0.7);
        q.set(1, 1, 0.8);
        q.set(3, 2, 0.9);
        let mut rng = StdRng::seed_from_u64(0);
        let frames = record_game(&q, 0, 0.0, 99, &mut rng);
        let boards: Vec<Board> = frames.iter().map(|f| f.board).collect();
        assert_eq!(boards, vec![0, 1, 3, 7]);
        assert_eq!(frames[0].flip, Some(0));
        assert_eq!(frames[3].flip, None);
        let img = draw_game(&q, &frames).unwrap();
        assert!(img.width() > 4 * (3 * TILE) && img.height() > 3 * TILE);
        // A chosen tile is outlined in red in the first panel; the winning board is green.
        assert!(img.pixels().any(|p| *p == CHOSEN));
        assert!(img.pixels().any(|p| *p == WIN_FACE));
        assert_eq!(caption(&frames[3], 3, true), "won after 3 moves");
    }

    #[test]
    fn a_game_that_cycles_is_cut_to_the_panel_limit() {
        let q = QTable::new(512, 9);
        let mut rng = StdRng::seed_from_u64(0);
        let frames = record_game(&q, 0, 0.0, 99, &mut rng);
        assert_eq!(frames.len(), 100);
        let img = draw_game(&q, &frames).unwrap();
        assert!(img.height() > 3 * (3 * TILE));
    }
}
