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

    fn gemm_threads(&self) -> Threads {
        // Below about a million multiply-adds a step, waking the pool costs more than it saves.
        if self.batch * 4 * self.hidden * self.hidden >= 1 << 20 {
            Threads::Pool(threads())
        } else {
            Threads::One
        }
    }
}

dispatch_avx2! {
    /// Activates the gates of one packed row in place and computes `c`, `tanh(c)` and `h`.
    pub fn cell_forward(row: &mut [f32], c_prev: Option<&[f32]>, hidden: usize) {
        let (state, gates) = row.split_at_mut(GATES * hidden);
        let (i, rest) = gates.split_at_mut(hidden);
        let (f, rest) = rest.split_at_mut(hidden);
        let (g, o) = rest.split_at_mut(hidden);
        let (h, rest) = state.split_at_mut(hidden);
        let (c, tc) = rest.split_at_mut(hidden);
        for j in 0..hidden {
            let (ij, fj, gj, oj) = (sigmoid(i[j]), sigmoid(f[j]), tanh(g[j]), sigmoid(o[j]));
            let cp = match c_prev {
                Some(cp) => cp[j],
                None => 0.0,
            };
            let cj = fj * cp + ij * gj;
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
        c_prev: Option<&[f32]>,
        dh: &[f32],
        dc: &mut [f32],
        dgates: &mut [f32],
        hidden: usize,
    ) {
        let tc = &row[TANH_C * hidden..(TANH_C + 1) * hidden];
        let gates = &row[GATES * hidden..(GATES + 4) * hidden];
        let (i, f, g, o) = (&gates[..hidden], &gates[hidden..2 * hidden], &gates[2 * hidden..3 * hidden], &gates[3 * hidden..]);
        let (di, rest) = dgates.split_at_mut(hidden);
        let (df, rest) = rest.split_at_mut(hidden);
        let (dg, d_o) = rest.split_at_mut(hidden);
        for j in 0..hidden {
            let t = tc[j];
            let dcj = dc[j] + dh[j] * o[j] * (1.0 - t * t);
            let cp = match c_prev {
                Some(cp) => cp[j],
                None => 0.0,
            };
            di[j] = dcj * g[j] * i[j] * (1.0 - i[j]);
            df[j] = dcj * cp * f[j] * (1.0 - f[j]);
            dg[j] = dcj * i[j] * (1.0 - g[j] * g[j]);
            d_o[j] = dh[j] * t * o[j] * (1.0 - o[j]);
            dc[j] = dcj * f[j];
        }
    }
}

/// Runs the layer from zero state. `xw`: `(steps, batch, 4 hidden)` input projections with both biases;
/// `w_hh`: `(4 hidden, hidden)`. Returns the packed `(steps, batch, 7 hidden)` result.
pub fn lstm_forward(xw: &[f32], w_hh: &[f32], g: &LstmGeometry) -> Vec<f32> {
    let (b, hd) = (g.batch, g.hidden);
    let row = PACKED * hd;
    let mut packed = vec![0.0f32; g.packed_len()];
    let w_t = Mat::rows(w_hh, 4 * hd, hd).t();
    for t in 0..g.steps {
        let (before, now) = packed.split_at_mut(t * b * row);
        let now = &mut now[..b * row];
        for r in 0..b {
            now[r * row + GATES * hd..(r + 1) * row]
                .copy_from_slice(&xw[(t * b + r) * 4 * hd..(t * b + r + 1) * 4 * hd]);
        }
        let prev = (t > 0).then(|| &before[(t - 1) * b * row..]);
        if let Some(prev) = prev {
            let h_prev = Mat {
                data: prev,
                rows: b,
                cols: hd,
                rs: row,
                cs: 1,
            };
            let dst = MatMut::strided(&mut now[GATES * hd..], b, 4 * hd, row);
            sgemm(dst, true, h_prev, w_t, g.gemm_threads());
        }
        for r in 0..b {
            let c_prev = prev.map(|p| &p[r * row + C * hd..r * row + (C + 1) * hd]);
            cell_forward(&mut now[r * row..(r + 1) * row], c_prev, hd);
        }
    }
    packed
}

/// Backpropagation through time. `grad` has the packed shape; only its `h` and `c` parts are read.
/// Returns the gradients of `xw` `(steps, batch, 4 hidden)` and of `w_hh` `(4 hidden, hidden)`.
pub fn lstm_backward(
    packed: &[f32],
    grad: &[f32],
    w_hh: &[f32],
    g: &LstmGeometry,
) -> (Vec<f32>, Vec<f32>) {
    let (b, hd) = (g.batch, g.hidden);
    let row = PACKED * hd;
    let mut dxw = vec![0.0f32; g.steps * b * 4 * hd];
    let mut dh = vec![0.0f32; b * hd];
    let mut dc = vec![0.0f32; b * hd];
    let mut dh_total = vec![0.0f32; hd];
    let w = Mat::rows(w_hh, 4 * hd, hd);
    for t in (0..g.steps).rev() {
        let now = &packed[t * b * row..(t + 1) * b * row];
        let prev = (t > 0).then(|| &packed[(t - 1) * b * row..t * b * row]);
        let dgates = &mut dxw[t * b * 4 * hd..(t + 1) * b * 4 * hd];
        for r in 0..b {
            let gr = &grad[(t * b + r) * row..(t * b + r + 1) * row];
            for ((total, carried), outside) in dh_total
                .iter_mut()
                .zip(&dh[r * hd..(r + 1) * hd])
                .zip(&gr[H * hd..(H + 1) * hd])
            {
                *total = carried + outside;
            }
            let dcr = &mut dc[r * hd..(r + 1) * hd];
            dcr.iter_mut()
                .zip(&gr[C * hd..(C + 1) * hd])
                .for_each(|(d, o)| *d += o);
            let c_prev = prev.map(|p| &p[r * row + C * hd..r * row + (C + 1) * hd]);
            cell_backward(
                &now[r * row..(r + 1) * row],
                c_prev,
                &dh_total,
                dcr,
                &mut dgates[r * 4 * hd..(r + 1) * 4 * hd],
                hd,
            );
        }
        if t > 0 {
            sgemm(
                MatMut::rows(&mut dh, b, hd),
                false,
                Mat::rows(dgates, b, 4 * hd),
                w,
                g.gemm_threads(),
            );
        }
    }
    let mut dw = vec![0.0f32; 4 * hd * hd];
    if g.steps > 1 {
        let rows = (g.steps - 1) * b;
        let dgates = Mat::rows(&dxw[b * 4 * hd..], rows, 4 * hd);
        let h_prev = Mat {
            data: packed,
            rows,
            cols: hd,
            rs: row,
            cs: 1,
        };
        sgemm(
            MatMut::rows(&mut dw, 4 * hd, hd),
            false,
            dgates.t(),
            h_prev,
            Threads::Pool(threads()),
        );
    }
    (dxw, dw)
}
