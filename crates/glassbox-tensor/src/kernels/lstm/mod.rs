//! One LSTM layer over a whole sequence, fused, on a team of threads that split the hidden units (all
//! four gates of each) between them.
//!
//! Forward, per step, the job of a block of units computes its gate columns of `h_{t-1} W_hh^T` for the
//! whole batch from a sliver of `W_hh` packed once for the sequence (before, every thread repacked all of
//! `W_hh` at every step), then updates the block's cells. Each thread keeps taking the same blocks (see
//! [`team`]), so its slivers stay in its own L2 cache; a step ends when every block is done. Backward
//! mirrors it: the gate gradients of each block, then each block's part of `dh_{t-1} = dgates_t W_hh`.
//! The recurrent weight gradient is a single product over all steps at the end.
//!
//! Every output element is computed by the same code in the same order whichever thread runs its block,
//! so the results do not depend on the thread count.
//!
//! Gate order is PyTorch's (input, forget, cell, output). Each (step, batch row) of the result packs
//! `[h | c | tanh(c) | i | f | g | o]` (7 x hidden floats), everything backward needs.

mod backward;
mod forward;
pub mod lanes;
mod team;

use super::activation::{sigmoid, tanh};
use super::parallel::{threads, SharedMut};
pub use backward::lstm_backward_on;
pub use forward::lstm_forward_on;
pub use lanes::Isa;

/// Floats per (step, batch row) of the packed result, in units of `hidden`.
pub const PACKED: usize = 7;
/// Offsets in the packed row, in units of `hidden`.
pub const H: usize = 0;
pub const C: usize = 1;
const TANH_C: usize = 2;
const GATES: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LstmGeometry {
    pub steps: usize,
    pub batch: usize,
    pub hidden: usize,
}

impl LstmGeometry {
    pub fn packed_len(&self) -> usize {
        self.steps * self.batch * PACKED * self.hidden
    }

    /// Threads for a pass: all of them once a step has about a million multiply-adds, below which the
    /// synchronization costs more than it saves.
    fn team_size(&self) -> usize {
        if self.batch * 4 * self.hidden * self.hidden >= 1 << 20 {
            threads()
        } else {
            1
        }
    }
}

/// Runs the layer from zero state on the fastest instruction set and every thread. `xw`: `(steps, batch,
/// 4 hidden)` input projections; `w_hh`: `(4 hidden, hidden)`; `bias`: `(4 hidden)` (both of PyTorch's
/// biases, summed). Returns the packed `(steps, batch, 7 hidden)` result.
pub fn lstm_forward(xw: &[f32], w_hh: &[f32], bias: &[f32], g: &LstmGeometry) -> Vec<f32> {
    let isa = Isa::best();
    lstm_forward_on(isa, g.team_size(), xw, w_hh, bias, g)
}

/// Backpropagation through time from the gradient of every hidden state, `grad_h: (steps, batch,
/// hidden)` (the final cell state carries none), on the fastest instruction set and every thread. Returns
/// the gradients of `xw` `(steps, batch, 4 hidden)`, of `w_hh` `(4 hidden, hidden)` and of the bias
/// `(4 hidden)`, one after the other in one buffer.
pub fn lstm_backward(packed: &[f32], grad_h: &[f32], w_hh: &[f32], g: &LstmGeometry) -> Vec<f32> {
    let isa = Isa::best();
    lstm_backward_on(isa, g.team_size(), packed, grad_h, w_hh, g)
}

/// The hidden states `(steps, batch, hidden)` out of the packed result.
pub fn hidden_states(packed: &[f32], g: &LstmGeometry) -> Vec<f32> {
    let row = PACKED * g.hidden;
    let mut out = Vec::with_capacity(g.steps * g.batch * g.hidden);
    for r in packed.chunks_exact(row) {
        out.extend_from_slice(&r[H * g.hidden..(H + 1) * g.hidden]);
    }
    out
}

/// `n` units starting at `u0` of segment `s` (of `hidden` floats) of the row at `start` in `shared`.
///
/// # Safety
/// No other live slice may overlap this one (other threads own other units of the row).
#[inline(always)]
#[allow(clippy::mut_from_ref)] // as `SharedMut::slice`: the caller keeps the slices disjoint
unsafe fn segment_mut(
    shared: &SharedMut,
    start: usize,
    hidden: usize,
    u0: usize,
    n: usize,
    s: usize,
) -> &mut [f32] {
    // SAFETY: the caller vouches that no one else holds these floats.
    unsafe { shared.slice(start + s * hidden + u0, n) }
}

/// The four gate segments of a `4 hidden` row, narrowed to `n` units from `u0`.
///
/// The hot loops build their small arrays by hand: `array::map` and `array::from_fn` do not always
/// inline into the instruction-set wrappers, and then every block pays a call and a copy.
#[inline(always)]
fn gates_of(row: &[f32], hidden: usize, u0: usize, n: usize) -> [&[f32]; 4] {
    let gate = |q: usize| &row[q * hidden + u0..][..n];
    [gate(0), gate(1), gate(2), gate(3)]
}

/// Up to `W` floats in a fixed-size block, zero past the end of `s`. The cell updates run on such blocks:
/// on slices that come from raw pointers LLVM cannot rule out aliasing and leaves the loops scalar, while
/// local arrays of constant length it keeps in vector registers.
#[inline(always)]
fn load<const W: usize>(s: &[f32]) -> [f32; W] {
    match <&[f32; W]>::try_from(s) {
        Ok(full) => *full,
        Err(_) => load_ragged(s),
    }
}

/// The first `s.len()` floats of a block back into `s`.
#[inline(always)]
fn store<const W: usize>(b: &[f32; W], s: &mut [f32]) {
    match <&mut [f32; W]>::try_from(&mut *s) {
        Ok(full) => *full = *b,
        Err(_) => store_ragged(b, s),
    }
}

// The ragged ends stay out of line: inlined, LLVM merges their copies with the full blocks' into one
// `memcpy` call of variable length, which then runs for every block.
#[cold]
#[inline(never)]
fn load_ragged<const W: usize>(s: &[f32]) -> [f32; W] {
    let mut b = [0.0f32; W];
    b[..s.len()].copy_from_slice(s);
    b
}

#[cold]
#[inline(never)]
fn store_ragged(b: &[f32], s: &mut [f32]) {
    let n = s.len();
    s.copy_from_slice(&b[..n]);
}

/// One step of up to `W` cells: `tile[q]`, `x[q]` and `bias[q]` are the recurrent part, the input
/// projection and the bias of gate `q`'s pre-activations, `c_prev` the cells before the step (zero at the
/// start). Writes the seven packed segments `[h, c, tanh(c), i, f, g, o]` to `out`.
#[inline(always)]
fn cell_forward<const W: usize>(
    tile: [&[f32]; 4],
    x: [&[f32]; 4],
    bias: [&[f32]; 4],
    c_prev: Option<&[f32]>,
    out: [&mut [f32]; PACKED],
) {
    let mut z = [[0.0f32; W]; 4];
    for q in 0..4 {
        let (t, x, b) = (load::<W>(tile[q]), load::<W>(x[q]), load::<W>(bias[q]));
        for j in 0..W {
            z[q][j] = t[j] + x[j] + b[j];
        }
    }
    let c_prev = match c_prev {
        Some(c) => load::<W>(c),
        None => [0.0; W],
    };
    let mut cells = [[0.0f32; W]; PACKED];
    for j in 0..W {
        let i = sigmoid(z[0][j]);
        let f = sigmoid(z[1][j]);
        let g = tanh(z[2][j]);
        let o = sigmoid(z[3][j]);
        let c = f * c_prev[j] + i * g;
        let t = tanh(c);
        cells[H][j] = o * t;
        cells[C][j] = c;
        cells[TANH_C][j] = t;
        cells[GATES][j] = i;
        cells[GATES + 1][j] = f;
        cells[GATES + 2][j] = g;
        cells[GATES + 3][j] = o;
    }
    for (cells, out) in cells.iter().zip(out) {
        store(cells, out);
    }
}

/// Backpropagation through one step of up to `W` cells: from the packed segments of the step `state`,
/// the cells before it `c_prev`, and the gradients reaching `h` (`dh` carried back from the next step plus
/// `grad` from outside) and `c` (`dc`, updated in place to the gradient of `c_{t-1}`), the gradients of
/// the four gate pre-activations, written to `dgates` and added to `db`.
#[inline(always)]
fn cell_backward<const W: usize>(
    state: [&[f32]; PACKED],
    c_prev: Option<&[f32]>,
    dh: &[f32],
    grad: &[f32],
    dc: &mut [f32],
    dgates: [&mut [f32]; 4],
    db: [&mut [f32]; 4],
) {
    let t = load::<W>(state[TANH_C]);
    let (i, f, g, o) = (
        load::<W>(state[GATES]),
        load::<W>(state[GATES + 1]),
        load::<W>(state[GATES + 2]),
        load::<W>(state[GATES + 3]),
    );
    let c_prev = match c_prev {
        Some(c) => load::<W>(c),
        None => [0.0; W],
    };
    let (dh, grad, mut dcw) = (load::<W>(dh), load::<W>(grad), load::<W>(dc));
    let mut d = [[0.0f32; W]; 4];
    for j in 0..W {
        let dhj = dh[j] + grad[j];
        let dcj = dcw[j] + dhj * o[j] * (1.0 - t[j] * t[j]);
        d[0][j] = dcj * g[j] * i[j] * (1.0 - i[j]);
        d[1][j] = dcj * c_prev[j] * f[j] * (1.0 - f[j]);
        d[2][j] = dcj * i[j] * (1.0 - g[j] * g[j]);
        d[3][j] = dhj * t[j] * o[j] * (1.0 - o[j]);
        dcw[j] = dcj * f[j];
    }
    store(&dcw, dc);
    for ((d, out), sum) in d.iter().zip(dgates).zip(db) {
        store(d, out);
        let mut total = load::<W>(sum);
        for j in 0..W {
            total[j] += d[j];
        }
        store(&total, sum);
    }
}

#[cfg(test)]
mod tests;
