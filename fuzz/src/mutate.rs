//! Blind mutation for the short runs in CI: a few random edits to a seed, the kinds that break parsers
//! (flipped bits, boundary integers in headers, cut, repeated or spliced spans). libFuzzer does this and
//! more, guided by coverage; this needs no nightly compiler and is deterministic for a given seed.

/// SplitMix64: tiny, seedable, good enough to pick edits.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Integers that sit on the edges parsers get wrong: zero, one, sign bits, all ones, powers of two.
const BOUNDARY: [u32; 10] = [
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x0001_0000,
];

/// `input` with one to four edits; never longer than `max_len`. `others` (the seeds) feed splices.
pub fn mutate(input: &[u8], others: &[Vec<u8>], rng: &mut Rng, max_len: usize) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        edit(&mut out, others, rng);
    }
    out.truncate(max_len);
    out
}

fn edit(out: &mut Vec<u8>, others: &[Vec<u8>], rng: &mut Rng) {
    if out.is_empty() {
        out.push(rng.next_u64() as u8);
        return;
    }
    let at = rng.below(out.len());
    match rng.below(9) {
        0 => out[at] ^= 1 << rng.below(8),
        1 => out[at] = rng.next_u64() as u8,
        2 => {
            // A boundary value written over four bytes, in either byte order (IDX is big-endian,
            // safetensors' header length little-endian).
            let v = BOUNDARY[rng.below(BOUNDARY.len())];
            let bytes = if rng.below(2) == 0 {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            for (i, b) in bytes.into_iter().enumerate() {
                if let Some(slot) = out.get_mut(at + i) {
                    *slot = b;
                }
            }
        }
        3 => out.truncate(at),
        4 => {
            let end = (at + 1 + rng.below(16)).min(out.len());
            out.drain(at..end);
        }
        5 => {
            let n = 1 + rng.below(8);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            out.splice(at..at, bytes);
        }
        6 => {
            // Repeat a span: long lines, many copies of one record.
            let end = (at + 1 + rng.below(64)).min(out.len());
            let span = out[at..end].to_vec();
            let times = 1 + rng.below(8);
            for _ in 0..times {
                out.splice(at..at, span.iter().copied());
            }
        }
        7 => {
            // An ASCII digit string, for the text formats' numbers.
            let digits = [
                "0",
                "-1",
                "4294967296",
                "1e400",
                "NaN",
                "18446744073709551615",
            ];
            let d = digits[rng.below(digits.len())];
            let end = (at + 1 + rng.below(4)).min(out.len());
            out.splice(at..end, d.bytes());
        }
        _ => {
            if let Some(other) = others.get(rng.below(others.len().max(1))) {
                if !other.is_empty() {
                    let from = rng.below(other.len());
                    let end = (from + 1 + rng.below(64)).min(other.len());
                    out.splice(at..at, other[from..end].iter().copied());
                }
            }
        }
    }
}
