//! Tic-tac-toe boards. Square `i` is row `i / 3`, column `i % 3`; a board's index is the base-3 number whose
//! digit `i` is 0 (empty), 1 (X) or 2 (O), so every board has a state number below 3^9.

use std::fmt;

/// Squares on the board, and so moves.
pub const SQUARES: usize = 9;
/// Board indexes: 3^9.
pub const STATES: usize = 19_683;

const LINES: [[usize; 3]; 8] = [
    [0, 1, 2],
    [3, 4, 5],
    [6, 7, 8],
    [0, 3, 6],
    [1, 4, 7],
    [2, 5, 8],
    [0, 4, 8],
    [2, 4, 6],
];

/// A player's mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mark {
    /// The learner, who moves first.
    X,
    /// The environment's player.
    O,
}

impl Mark {
    /// The opponent's mark.
    pub fn other(self) -> Mark {
        match self {
            Mark::X => Mark::O,
            Mark::O => Mark::X,
        }
    }
}

/// The nine squares, row by row, each empty or marked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Board([Option<Mark>; SQUARES]);

impl Board {
    /// No marks.
    pub fn empty() -> Self {
        Board::default()
    }

    /// The mark on `square` (0..9, row by row), if any.
    pub fn get(&self, square: usize) -> Option<Mark> {
        self.0[square]
    }

    /// The board after `mark` takes the empty `square`.
    pub fn play(mut self, square: usize, mark: Mark) -> Board {
        assert!(self.0[square].is_none(), "square {square} is taken");
        self.0[square] = Some(mark);
        self
    }

    /// X moves first, so X is to move when both have made as many moves.
    pub fn to_move(&self) -> Mark {
        let xs = self.0.iter().filter(|&&c| c == Some(Mark::X)).count();
        let os = self.0.iter().filter(|&&c| c == Some(Mark::O)).count();
        if xs == os {
            Mark::X
        } else {
            Mark::O
        }
    }

    /// The player with three in a row, if any.
    pub fn winner(&self) -> Option<Mark> {
        LINES.iter().find_map(|&[a, b, c]| {
            let m = self.0[a]?;
            (self.0[b] == Some(m) && self.0[c] == Some(m)).then_some(m)
        })
    }

    /// Whether every square is marked.
    pub fn is_full(&self) -> bool {
        self.0.iter().all(Option::is_some)
    }

    /// Whether the game is over: won or full.
    pub fn is_over(&self) -> bool {
        self.winner().is_some() || self.is_full()
    }

    /// The empty squares, none once the game is over.
    pub fn moves(&self) -> impl Iterator<Item = usize> + '_ {
        let over = self.is_over();
        (0..SQUARES).filter(move |&i| !over && self.0[i].is_none())
    }

    /// The board as a state number: the squares as base-3 digits (empty 0, X 1, O 2), square 0 lowest.
    pub fn index(&self) -> usize {
        self.0.iter().rev().fold(0, |acc, c| {
            acc * 3
                + match c {
                    None => 0,
                    Some(Mark::X) => 1,
                    Some(Mark::O) => 2,
                }
        })
    }

    /// The board of a state number (the inverse of [`Board::index`]).
    pub fn from_index(mut index: usize) -> Board {
        assert!(index < STATES, "board index {index} is not below 3^9");
        let mut b = Board::empty();
        for cell in &mut b.0 {
            *cell = match index % 3 {
                0 => None,
                1 => Some(Mark::X),
                _ => Some(Mark::O),
            };
            index /= 3;
        }
        b
    }
}

/// Three lines of `X`, `O` and `.`.
impl fmt::Display for Board {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for row in 0..3 {
            for col in 0..3 {
                let c = match self.0[3 * row + col] {
                    None => '.',
                    Some(Mark::X) => 'X',
                    Some(Mark::O) => 'O',
                };
                write!(f, "{c}")?;
            }
            if row < 2 {
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_round_trip_and_lines_win() {
        let b = Board::empty()
            .play(0, Mark::X)
            .play(4, Mark::O)
            .play(8, Mark::X);
        assert_eq!(b.index(), 1 + 2 * 81 + 6561);
        assert_eq!(Board::from_index(b.index()), b);
        assert_eq!(b.to_move(), Mark::O);
        assert_eq!(b.to_string(), "X..\n.O.\n..X");
        assert_eq!(b.winner(), None);
        let won = b.play(1, Mark::O).play(2, Mark::X).play(7, Mark::O);
        assert_eq!(won.winner(), Some(Mark::O));
        assert_eq!(won.moves().count(), 0);
        for i in [0, 1, 100, 19_682] {
            assert_eq!(Board::from_index(i).index(), i);
        }
    }
}
