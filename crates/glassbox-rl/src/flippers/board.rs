//! The rules of Flippers. A board is 9 bits: tile (x, y) is bit 2^(3y + x), set when its dot shows.

/// A board: bit `3y + x` is set when tile (x, y) shows its dot.
pub type Board = u16;

/// Tiles on the board, and so moves.
pub const TILES: usize = 9;
/// Boards.
pub const STATES: usize = 1 << TILES;

/// The winning boards: the three rows (7, 56, 448) and the three columns (73, 146, 292).
pub const WINS: [Board; 6] = [7, 56, 448, 73, 146, 292];

/// Whether `board` is won.
pub fn is_win(board: Board) -> bool {
    WINS.contains(&board)
}

/// `board` with tile `tile` (0..9, `3y + x`) turned over.
pub fn flip(board: Board, tile: usize) -> Board {
    debug_assert!(tile < TILES);
    board ^ (1 << tile)
}

/// The fewest moves that win from `board`: each move changes one tile, so it is the number of tiles that
/// differ from the nearest winning board (the Hamming distance).
pub fn min_moves(board: Board) -> usize {
    WINS.iter()
        .map(|&w| (board ^ w).count_ones() as usize)
        .min()
        .expect("there are winning boards")
}

/// Tile `tile` as (x, y).
pub fn coordinates(tile: usize) -> (usize, usize) {
    (tile % 3, tile / 3)
}

/// Whether tile `tile` of `board` shows its dot.
pub fn has_dot(board: Board, tile: usize) -> bool {
    board >> tile & 1 == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_winning_set_follows_from_the_rule() {
        // Exactly three dots, forming a full row or a full column, every other tile blank.
        let lines: Vec<[usize; 3]> = (0..3)
            .map(|y| [3 * y, 3 * y + 1, 3 * y + 2])
            .chain((0..3).map(|x| [x, x + 3, x + 6]))
            .collect();
        let derived: Vec<Board> = (0..STATES as Board)
            .filter(|&b| {
                b.count_ones() == 3 && lines.iter().any(|l| l.iter().all(|&t| has_dot(b, t)))
            })
            .collect();
        let mut wins = WINS.to_vec();
        wins.sort();
        assert_eq!(derived, wins);
        assert!(is_win(7));
        assert!(!is_win(7 | 8));
        assert_eq!(coordinates(5), (2, 1));
        assert_eq!(flip(0, 5), 32);
    }

    #[test]
    fn fewest_moves_by_hand_and_by_search() {
        // By hand: the empty board needs three flips; a full board needs six; 7 + tile 3 needs one.
        assert_eq!(min_moves(0), 3);
        assert_eq!(min_moves(511), 6);
        assert_eq!(min_moves(7 | 8), 1);
        assert_eq!(min_moves(56), 0);
        // Against a breadth-first search over flips from the winning boards.
        let mut dist = vec![usize::MAX; STATES];
        let mut frontier: Vec<Board> = WINS.to_vec();
        for &w in &WINS {
            dist[w as usize] = 0;
        }
        let mut d = 0;
        while !frontier.is_empty() {
            d += 1;
            let mut next = Vec::new();
            for b in frontier {
                for t in 0..TILES {
                    let n = flip(b, t);
                    if dist[n as usize] == usize::MAX {
                        dist[n as usize] = d;
                        next.push(n);
                    }
                }
            }
            frontier = next;
        }
        for (b, &d) in dist.iter().enumerate() {
            assert_eq!(min_moves(b as Board), d, "board {b}");
        }
    }
}
