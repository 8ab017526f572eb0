//! One LSTM layer over a whole sequence, fused, on a team of threads that split the hidden units (all
//! four gates of each) between them.
//!
//! Forward, per step, the job of a block of units computes its gate columns of `h_{t-1} W_hh^T` for the
//! whole batch from a sliver of `W_hh` packed once for the sequence (before, every thread repacked all of
//! `W_hh` at every step), then updates the block's cells. Each thread keeps taking the same blocks (see
//! `team`), so its slivers stay in its own L2 cache; a step ends when every block is done. Backward
//! mirrors it: the gate gradients of each block, then each block's part of `dh_{t-1} = dgates_t W_hh`.
//! The recurrent weight gradient is a single product over all steps at the end.
//!
//! Every output element is computed by the same code in the same order whichever thread runs its block,
//! so the results do not depend on the thread count.
//!
//! Gate order is PyTorch's (input, forget, cell, output). Each (step, batch row) of the result packs
//! `[h | c | tanh(c) | i | f | g | o]` (7 x hidden floats), everything backward needs.

mod backward;
mod cell;
mod forward;
pub mod lanes;

use super::activation::{sigmoid, tanh};
use super::aligned::AlignedBuf;
use super::gemm::Mat;
use super::parallel::threads;
pub use backward::lstm_backward_on;
pub use forward::lstm_forward_on;
pub use lanes::Isa;

/// Floats per (step, batch row) of the packed result, in units of `hidden`.
pub const PACKED: usize = 7;
/// Offsets in the packed row, in units of `hidden`.
pub const H: usize = 0;
/// The cell state's offset in the packed row.
pub const C: usize = 1;
const TANH_C: usize = 2;
const GATES: usize = 3;

/// The sizes of one LSTM layer's run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LstmGeometry {
    /// Time steps.
    pub steps: usize,
    /// Sequences side by side.
    pub batch: usize,
    /// Cells.
    pub hidden: usize,
}

impl LstmGeometry {
    /// Floats of the packed result: `PACKED * hidden` per (step, batch row).
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

/// The input projections of a layer, `4 hidden` floats for each (step, batch row).
#[derive(Clone, Copy, Debug)]
pub enum Projections<'a> {
    /// `(steps, batch, 4 hidden)`, computed beforehand.
    Rows(&'a [f32]),
    /// For one-hot inputs: row `ids[t * batch + r]` of `table`, `(symbols, 4 hidden)` (the transpose of
    /// `W_ih`), read where it lies instead of gathered into a `(steps, batch, 4 hidden)` copy first.
    Lookup {
        /// `(symbols, 4 hidden)`.
        table: &'a [f32],
        /// `(steps, batch)` symbol indices.
        ids: &'a [u32],
    },
}

impl Projections<'_> {
    /// Checks the lengths (and the ids against the table) for `g`.
    fn check(&self, g: &LstmGeometry) {
        let four_h = 4 * g.hidden;
        match *self {
            Projections::Rows(xw) => {
                assert_eq!(xw.len(), g.steps * g.batch * four_h, "lstm: xw length")
            }
            Projections::Lookup { table, ids } => {
                assert_eq!(table.len() % four_h, 0, "lstm: table length");
                let symbols = table.len() / four_h;
                IdRows { ids, symbols }.check(g);
            }
        }
    }

    /// The projections of row `i` (`t * batch + r`).
    #[inline(always)]
    fn row(&self, i: usize, four_h: usize) -> &[f32] {
        match *self {
            Projections::Rows(xw) => &xw[i * four_h..][..four_h],
            Projections::Lookup { table, ids } => &table[ids[i] as usize * four_h..][..four_h],
        }
    }
}

/// What a forward pass returns.
#[derive(Debug)]
pub struct ForwardPass {
    /// The packed `(steps, batch, 7 hidden)` result, everything the backward pass reads.
    pub packed: AlignedBuf,
    /// The hidden states `(steps, batch, hidden)`: the layer's output.
    pub hidden: Vec<f32>,
}

/// Symbol ids that stood for one-hot inputs, for the backward pass to sum the gradient of the table they
/// looked up (see [`Projections::Lookup`]).
#[derive(Clone, Copy, Debug)]
pub struct IdRows<'a> {
    /// `(steps, batch)` symbol indices.
    pub ids: &'a [u32],
    /// Rows of the table.
    pub symbols: usize,
}

impl IdRows<'_> {
    /// Checks the ids' count for `g` and each id against the table's rows.
    fn check(&self, g: &LstmGeometry) {
        assert_eq!(self.ids.len(), g.steps * g.batch, "lstm: ids length");
        let symbols = self.symbols;
        assert!(
            self.ids.iter().all(|&id| (id as usize) < symbols),
            "lstm: an id out of range for {symbols} symbols"
        );
    }
}

/// Checks that `w_hh` is the `(4 hidden, hidden)` recurrent weights with contiguous rows (any row stride:
/// PyTorch's weights travel with the bias beside them, `hidden + 1` apart).
fn check_recurrent(w_hh: Mat<'_>, hidden: usize) {
    assert!(
        w_hh.rows == 4 * hidden && w_hh.cols == hidden && w_hh.cs == 1 && w_hh.rs >= hidden,
        "lstm: w_hh is {}x{} (strides {}, {}), expected {}x{hidden} with contiguous rows",
        w_hh.rows,
        w_hh.cols,
        w_hh.rs,
        w_hh.cs,
        4 * hidden
    );
    assert!(w_hh.span() <= w_hh.data.len(), "lstm: w_hh length");
}

/// Runs the layer from zero state on the fastest instruction set and every thread. `xw`: the input
/// projections; `w_hh`: `(4 hidden, hidden)`; `bias`: `(4 hidden)` (both of PyTorch's biases, summed).
pub fn lstm_forward(xw: Projections, w_hh: Mat<'_>, bias: &[f32], g: &LstmGeometry) -> ForwardPass {
    let isa = Isa::best();
    lstm_forward_on(isa, g.team_size(), xw, w_hh, bias, g)
}

/// Backpropagation through time from the gradient of every hidden state, `grad_h: (steps, batch,
/// hidden)` (the final cell state carries none), on the fastest instruction set and every thread. Returns,
/// one after the other in one buffer (see [`BackwardLayout`]): the gradients of `xw` `(steps, batch,
/// 4 hidden)`, of `w_hh` in the layout it came in (`4 hidden` rows `w_hh.rs` apart, the columns past
/// `hidden` zero), of the bias `(4 hidden)`, and with `ids` the gradient of the table they looked up
/// `(symbols, 4 hidden)`.
pub fn lstm_backward(
    packed: &[f32],
    grad_h: &[f32],
    w_hh: Mat<'_>,
    ids: Option<IdRows>,
    g: &LstmGeometry,
) -> Vec<f32> {
    let isa = Isa::best();
    lstm_backward_on(isa, g.team_size(), packed, grad_h, w_hh, ids, g)
}

/// Where each gradient lies in the buffer [`lstm_backward`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackwardLayout {
    /// Floats of the gate gradients, first.
    pub gates: usize,
    /// Floats of the recurrent weights' gradient (`4 hidden` rows of the weights' stride), next.
    pub weights: usize,
    /// Floats of the bias gradient (`4 hidden`), next.
    pub bias: usize,
    /// Floats of the table's gradient (zero without ids), last.
    pub table: usize,
}

impl BackwardLayout {
    /// The layout for weights rows `stride` apart and `symbols` looked-up rows (0 without ids).
    pub fn new(g: &LstmGeometry, stride: usize, symbols: usize) -> Self {
        let four_h = 4 * g.hidden;
        BackwardLayout {
            gates: g.steps * g.batch * four_h,
            weights: four_h * stride,
            bias: four_h,
            table: symbols * four_h,
        }
    }

    /// The buffer's four parts, in order.
    pub fn split<'a>(&self, all: &'a [f32]) -> [&'a [f32]; 4] {
        let (gates, rest) = all.split_at(self.gates);
        let (weights, rest) = rest.split_at(self.weights);
        let (bias, table) = rest.split_at(self.bias);
        [gates, weights, bias, table]
    }

    /// Floats in all.
    pub fn total(&self) -> usize {
        self.gates + self.weights + self.bias + self.table
    }
}

/// Asks for the cache lines of `len` floats from `p` ahead of their use. The recurrence reads and writes
/// each step's rows once, scattered (one block of units of every row, `7 hidden` floats apart), a pattern
/// the hardware prefetchers do not follow: without this, the loads of the input projections and of the
/// saved state waited on memory for a quarter of the time (a sampled profile of the forward pass).
#[inline(always)]
fn prefetch(p: *const f32, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch never faults, whatever the address.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(p.cast());
            _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(len.max(1) - 1).cast());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, len);
}

/// Up to `W` floats from `p` in a fixed-size block (`n` of them, zero past). The cell updates run on such
/// blocks, read and written through raw pointers: local arrays of constant length LLVM keeps in vector
/// registers, and a pointer per block costs none of the bounds checks and slice building that made the
/// scalar bookkeeping around the cell updates cost as much as their arithmetic.
///
/// # Safety
/// `p` is valid for reading `n <= W` floats.
#[inline(always)]
unsafe fn load<const W: usize>(p: *const f32, n: usize) -> [f32; W] {
    if n == W {
        // SAFETY: n == W floats are readable.
        unsafe { p.cast::<[f32; W]>().read_unaligned() }
    } else {
        // SAFETY: as the caller vouches.
        unsafe { load_ragged(p, n) }
    }
}

/// The first `n` floats of a block to `p`.
///
/// # Safety
/// `p` is valid for writing `n <= W` floats, and no one else accesses them meanwhile.
#[inline(always)]
unsafe fn store<const W: usize>(b: &[f32; W], p: *mut f32, n: usize) {
    if n == W {
        // SAFETY: n == W floats are writable.
        unsafe { p.cast::<[f32; W]>().write_unaligned(*b) }
    } else {
        // SAFETY: as the caller vouches.
        unsafe { store_ragged(b, p, n) }
    }
}

// The ragged ends stay out of line: inlined, LLVM merges their copies with the full blocks' into one
// `memcpy` call of variable length, which then runs for every block.
#[cold]
#[inline(never)]
unsafe fn load_ragged<const W: usize>(p: *const f32, n: usize) -> [f32; W] {
    let mut b = [0.0f32; W];
    // SAFETY: `p` is valid for `n <= W` floats (the caller of `load`).
    unsafe { std::ptr::copy_nonoverlapping(p, b.as_mut_ptr(), n) };
    b
}

#[cold]
#[inline(never)]
unsafe fn store_ragged(b: &[f32], p: *mut f32, n: usize) {
    // SAFETY: `p` is valid for `n <= b.len()` floats (the caller of `store`).
    unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), p, n) };
}

/// The cells before a step, or zero at the first.
///
/// # Safety
/// As [`load`], when `c_prev` is given.
#[inline(always)]
unsafe fn load_cells<const W: usize>(c_prev: Option<*const f32>, n: usize) -> [f32; W] {
    match c_prev {
        // SAFETY: forwarded from the caller.
        Some(c) => unsafe { load::<W>(c, n) },
        None => [0.0; W],
    }
}

/// One step of `n <= W` cells. The pre-activation of gate `q` is `tile[q tile_stride] + x[q stride] +
/// bias[q stride]` (the recurrent part, the input projection, the bias); `c_prev` holds the cells before
/// the step (`None` at the start). Writes the seven packed segments `[h, c, tanh(c), i, f, g, o]` to
/// `out`, `stride` apart.
///
/// # Safety
/// Every pointer valid for `n` floats at each of its offsets; no one else accesses the output meanwhile.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // the pointers and strides of one block, each used once
unsafe fn cell_forward<const W: usize>(
    tile: *const f32,
    tile_stride: usize,
    x: *const f32,
    bias: *const f32,
    stride: usize,
    c_prev: Option<*const f32>,
    out: *mut f32,
    n: usize,
) {
    // SAFETY: every read and write stays inside the ranges the caller vouched for.
    unsafe {
        let mut z = [[0.0f32; W]; 4];
        for (q, z) in z.iter_mut().enumerate() {
            let t = load::<W>(tile.add(q * tile_stride), n);
            let x = load::<W>(x.add(q * stride), n);
            let b = load::<W>(bias.add(q * stride), n);
            for j in 0..W {
                z[j] = t[j] + x[j] + b[j];
            }
        }
        let c_prev = load_cells::<W>(c_prev, n);
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
        for (s, cells) in cells.iter().enumerate() {
            store(cells, out.add(s * stride), n);
        }
    }
}

/// Backpropagation through one step of `n <= W` cells: from the packed segments of the step (`state`,
/// `stride` apart), the cells before it `c_prev`, and the gradients reaching `h` (`dh` carried back from
/// the next step plus `grad` from outside) and `c` (`dc`, updated in place to the gradient of `c_{t-1}`),
/// the gradients of the four gate pre-activations, written to `dgates` (`stride` apart) and added to `db`.
///
/// # Safety
/// Every pointer valid for `n` floats at each of its offsets; no one else accesses `dc` and `dgates`
/// meanwhile.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // the pointers and strides of one block, each used once
unsafe fn cell_backward<const W: usize>(
    state: *const f32,
    stride: usize,
    c_prev: Option<*const f32>,
    dh: *const f32,
    grad: *const f32,
    dc: *mut f32,
    dgates: *mut f32,
    db: &mut [[f32; W]; 4],
    n: usize,
) {
    // SAFETY: every read and write stays inside the ranges the caller vouched for.
    unsafe {
        let segment = |s: usize| load::<W>(state.add(s * stride), n);
        let t = segment(TANH_C);
        let (i, f, g, o) = (
            segment(GATES),
            segment(GATES + 1),
            segment(GATES + 2),
            segment(GATES + 3),
        );
        let c_prev = load_cells::<W>(c_prev, n);
        let (dh, grad, mut dcw) = (load::<W>(dh, n), load::<W>(grad, n), load::<W>(dc, n));
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
        store(&dcw, dc, n);
        for (q, (d, total)) in d.iter().zip(db.iter_mut()).enumerate() {
            store(d, dgates.add(q * stride), n);
            for j in 0..W {
                total[j] += d[j];
            }
        }
    }
}

#[cfg(test)]
mod tests;
