//! One LSTM layer over a whole sequence, fused: per step one GEMM for the four gates of the whole batch
//! (`h_{t-1} W_hh^T`, added to the precomputed input projections), then one vectorized pass for the
//! activations and the cell update; backward through time mirrors it, and the recurrent weight gradient
//! is a single GEMM over all steps at the end.
//!
//! Gate order is PyTorch's (input, forget, cell, output). Each (step, batch row) of the result packs
//! `[h | c | tanh(c) | i | f | g | o]` (7 x hidden floats), everything backward needs.

use super::activation::{dispatch_avx2, sigmoid, tanh};
use super::gemm::{sgemm, Mat, MatMut, Threads};
use super::parallel::threads;

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

    /// Batch rows per thread in a step: one block per thread once a step has about a million
    /// multiply-adds, below which waking the pool costs more than it saves.
    fn block_rows(&self) -> usize {
        let parts = if self.batch * 4 * self.hidden * self.hidden >= 1 << 20 {
            threads()
        } else {
            1
        };
        self.batch.div_ceil(parts).max(1)
    }
}

dispatch_avx2! {
    /// Activates the gates of one packed row in place (adding `bias` first) and computes `c`, `tanh(c)`
    /// and `h` from the previous cell state `c_prev`.
    pub fn cell_forward(row: &mut [f32], bias: &[f32], c_prev: &[f32], hidden: usize) {
        let (state, gates) = row.split_at_mut(GATES * hidden);
        let (i, rest) = gates.split_at_mut(hidden);
        let (f, rest) = rest.split_at_mut(hidden);
        let (g, o) = rest.split_at_mut(hidden);
        let o = &mut o[..hidden];
        let (h, rest) = state.split_at_mut(hidden);
        let (c, tc) = rest.split_at_mut(hidden);
        let tc = &mut tc[..hidden];
        let (bi, bf, bg, bo) = (&bias[..hidden], &bias[hidden..2 * hidden], &bias[2 * hidden..3 * hidden], &bias[3 * hidden..4 * hidden]);
        let c_prev = &c_prev[..hidden];
        for j in 0..hidden {
            let ij = sigmoid(i[j] + bi[j]);
            let fj = sigmoid(f[j] + bf[j]);
            let gj = tanh(g[j] + bg[j]);
            let oj = sigmoid(o[j] + bo[j]);
            let cj = fj * c_prev[j] + ij * gj;
            let t = tanh(cj);
            i[j] = ij;
            f[j] = fj;
            g[j] = gj;
            o[j] = oj;
            c[j] = cj;
            tc[j] = t;
            h[j] = oj * t;
        }
    }
}

dispatch_avx2! {
    /// One row of backpropagation through a step: from the gradients reaching `h` and `c` (`dh`, `dc`,
    /// the second updated in place to the gradient of `c_{t-1}`), the gradients of the four gate
    /// pre-activations.
    pub fn cell_backward(
        row: &[f32],
        c_prev: &[f32],
        dh: &[f32],
        dc: &mut [f32],
        dgates: &mut [f32],
        hidden: usize,
    ) {
        let tc = &row[TANH_C * hidden..(TANH_C + 1) * hidden];
        let gates = &row[GATES * hidden..(GATES + 4) * hidden];
        let (i, f, g, o) = (&gates[..hidden], &gates[hidden..2 * hidden], &gates[2 * hidden..3 * hidden], &gates[3 * hidden..4 * hidden]);
        let (di, rest) = dgates.split_at_mut(hidden);
        let (df, rest) = rest.split_at_mut(hidden);
        let (dg, d_o) = rest.split_at_mut(hidden);
        let d_o = &mut d_o[..hidden];
        let (c_prev, dh, dc) = (&c_prev[..hidden], &dh[..hidden], &mut dc[..hidden]);
        for j in 0..hidden {
            let t = tc[j];
            let dcj = dc[j] + dh[j] * o[j] * (1.0 - t * t);
            di[j] = dcj * g[j] * i[j] * (1.0 - i[j]);
            df[j] = dcj * c_prev[j] * f[j] * (1.0 - f[j]);
            dg[j] = dcj * i[j] * (1.0 - g[j] * g[j]);
            d_o[j] = dh[j] * t * o[j] * (1.0 - o[j]);
            dc[j] = dcj * f[j];
        }
    }
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

/// Runs the layer from zero state. `xw`: `(steps, batch, 4 hidden)` input projections; `w_hh`:
/// `(4 hidden, hidden)`; `bias`: `(4 hidden)` (both of PyTorch's biases, summed). Returns the packed
/// `(steps, batch, 7 hidden)` result.
pub fn lstm_forward(xw: &[f32], w_hh: &[f32], bias: &[f32], g: &LstmGeometry) -> Vec<f32> {
    use rayon::prelude::*;
    let (b, hd) = (g.batch, g.hidden);
    let row = PACKED * hd;
    let zeros = vec![0.0f32; hd];
    let mut packed = vec![0.0f32; g.packed_len()];
    let w_t = Mat::rows(w_hh, 4 * hd, hd).t();
    let block = g.block_rows();
    for t in 0..g.steps {
        let (before, now) = packed.split_at_mut(t * b * row);
        let prev = (t > 0).then(|| &before[(t - 1) * b * row..]);
        let xw_t = &xw[t * b * 4 * hd..(t + 1) * b * 4 * hd];
        // Rows of the batch are independent within a step: each thread takes a block of them.
        now[..b * row]
            .par_chunks_mut(block * row)
            .enumerate()
            .for_each(|(k, now)| {
                let (r0, rows) = (k * block, now.len() / row);
                for r in 0..rows {
                    now[r * row + GATES * hd..(r + 1) * row]
                        .copy_from_slice(&xw_t[(r0 + r) * 4 * hd..(r0 + r + 1) * 4 * hd]);
                }
                if let Some(prev) = prev {
                    let h_prev = Mat {
                        data: &prev[r0 * row..],
                        rows,
                        cols: hd,
                        rs: row,
                        cs: 1,
                    };
                    let dst = MatMut::strided(&mut now[GATES * hd..], rows, 4 * hd, row);
                    sgemm(dst, true, h_prev, w_t, Threads::One);
                }
                for r in 0..rows {
                    let at = (r0 + r) * row + C * hd;
                    let c_prev = prev.map_or(&zeros[..], |p| &p[at..at + hd]);
                    cell_forward(&mut now[r * row..(r + 1) * row], bias, c_prev, hd);
                }
            });
    }
    packed
}

/// Backpropagation through time from the gradient of every hidden state, `grad_h: (steps, batch,
/// hidden)` (the final cell state carries none). Returns the gradients of `xw` `(steps, batch, 4 hidden)`,
/// of `w_hh` `(4 hidden, hidden)` and of the bias `(4 hidden)`, one after the other in one buffer.
pub fn lstm_backward(packed: &[f32], grad_h: &[f32], w_hh: &[f32], g: &LstmGeometry) -> Vec<f32> {
    use rayon::prelude::*;
    let (b, hd) = (g.batch, g.hidden);
    let row = PACKED * hd;
    let zeros = vec![0.0f32; hd];
    let mut dxw = vec![0.0f32; g.steps * b * 4 * hd];
    let mut dh = vec![0.0f32; b * hd];
    let mut dc = vec![0.0f32; b * hd];
    let w = Mat::rows(w_hh, 4 * hd, hd);
    let block = g.block_rows();
    for t in (0..g.steps).rev() {
        let now = &packed[t * b * row..(t + 1) * b * row];
        let prev = (t > 0).then(|| &packed[(t - 1) * b * row..t * b * row]);
        let dgates = &mut dxw[t * b * 4 * hd..(t + 1) * b * 4 * hd];
        let grad_t = &grad_h[t * b * hd..(t + 1) * b * hd];
        dgates
            .par_chunks_mut(block * 4 * hd)
            .zip(
                dh.par_chunks_mut(block * hd)
                    .zip(dc.par_chunks_mut(block * hd)),
            )
            .enumerate()
            .for_each(|(k, (dgates, (dh, dc)))| {
                let (r0, rows) = (k * block, dh.len() / hd);
                let mut dh_total = vec![0.0f32; hd];
                for r in 0..rows {
                    let outside = &grad_t[(r0 + r) * hd..(r0 + r + 1) * hd];
                    for ((total, carried), o) in dh_total
                        .iter_mut()
                        .zip(&dh[r * hd..(r + 1) * hd])
                        .zip(outside)
                    {
                        *total = carried + o;
                    }
                    let at = (r0 + r) * row + C * hd;
                    let c_prev = prev.map_or(&zeros[..], |p| &p[at..at + hd]);
                    cell_backward(
                        &now[(r0 + r) * row..(r0 + r + 1) * row],
                        c_prev,
                        &dh_total,
                        &mut dc[r * hd..(r + 1) * hd],
                        &mut dgates[r * 4 * hd..(r + 1) * 4 * hd],
                        hd,
                    );
                }
                if t > 0 {
                    sgemm(
                        MatMut::rows(dh, rows, hd),
                        false,
                        Mat::rows(dgates, rows, 4 * hd),
                        w,
                        Threads::One,
                    );
                }
            });
    }
    let dxw_len = dxw.len();
    dxw.resize(dxw_len + 4 * hd * hd + 4 * hd, 0.0);
    let (dgates_all, rest) = dxw.split_at_mut(dxw_len);
    let (dw, db) = rest.split_at_mut(4 * hd * hd);
    if g.steps > 1 {
        let rows = (g.steps - 1) * b;
        let dgates = Mat::rows(&dgates_all[b * 4 * hd..], rows, 4 * hd);
        let h_prev = Mat {
            data: packed,
            rows,
            cols: hd,
            rs: row,
            cs: 1,
        };
        sgemm(
            MatMut::rows(dw, 4 * hd, hd),
            false,
            dgates.t(),
            h_prev,
            Threads::Pool(threads()),
        );
    }
    for gate_row in dgates_all.chunks_exact(4 * hd) {
        db.iter_mut().zip(gate_row).for_each(|(d, v)| *d += v);
    }
    dxw
}
