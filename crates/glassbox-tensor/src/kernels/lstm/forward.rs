//! The forward pass: a first phase packs the recurrent weights, one block of hidden units per job; then
//! each step is a phase whose jobs compute the gates and cells of one block of units for the whole batch,
//! and copy the block's new hidden states to the layer's output.

use std::ops::Range;

use super::cell::cell_forward_lanes;
use super::lanes::{tile_rows, with_lanes, Isa, Lanes, MAX_TILE};
use super::{
    cell_forward, load, prefetch, store, ForwardPass, LstmGeometry, Projections, C, H, PACKED,
};
use crate::kernels::aligned::AlignedBuf;
use crate::kernels::gemm::Mat;
use crate::kernels::parallel::SharedMut;
use crate::kernels::team::{run_team, Crew};

/// What the jobs of a forward pass read, and the buffers they write (each job its own block of units).
#[derive(Clone, Copy)]
struct Pass<'a> {
    xw: Projections<'a>,
    w_hh: Mat<'a>,
    bias: &'a [f32],
    g: LstmGeometry,
    /// The packed `(steps, batch, 7 hidden)` result.
    out: SharedMut,
    /// The hidden states `(steps, batch, hidden)`, the layer's output.
    hidden: SharedMut,
    /// Whether the segments only the backward pass reads go past the caches (see `cell_forward_lanes`):
    /// when every block's segments start on a whole vector.
    stream: bool,
    /// The recurrent weights, one sliver of `hidden x 4 V` floats per block of `V` units.
    panel: SharedMut,
}

/// [`super::lstm_forward`] on `isa` (one of [`Isa::available`]) with a team of `members` threads.
pub fn lstm_forward_on(
    isa: Isa,
    members: usize,
    xw: Projections,
    w_hh: Mat<'_>,
    bias: &[f32],
    g: &LstmGeometry,
) -> ForwardPass {
    assert!(Isa::available().contains(&isa), "lstm: {isa:?} unavailable");
    let hd = g.hidden;
    xw.check(g);
    super::check_recurrent(w_hh, hd);
    assert_eq!(bias.len(), 4 * hd, "lstm: bias length");
    let v = isa.width();
    let blocks = hd.div_ceil(v);
    let mut panel_buf = AlignedBuf::new(blocks * hd * 4 * v);
    let panel = SharedMut::new(panel_buf.as_mut_slice());
    let len = g.packed_len();
    let mut hidden = Vec::with_capacity(g.steps * g.batch * hd);
    let hidden_out = SharedMut::spare(&mut hidden, g.steps * g.batch * hd);
    let run = |out: *mut f32| {
        let pass = Pass {
            xw,
            w_hh,
            bias,
            g: *g,
            out: SharedMut(out, len),
            hidden: hidden_out,
            stream: hd.is_multiple_of(v) && (out as usize).is_multiple_of(4 * v),
            panel,
        };
        run_team(members.clamp(1, blocks), |crew| {
            let pass = &pass;
            with_lanes!(isa, member(pass: &Pass, crew: &Crew))
        });
    };
    // SAFETY: the pass writes every float of the result (each step, each row, every unit's seven
    // segments) and of the hidden states before they are read, through raw pointers only.
    unsafe {
        let packed = AlignedBuf::written(len, run);
        hidden.set_len(g.steps * g.batch * hd);
        ForwardPass { packed, hidden }
    }
}

/// One member's part of the pass: the same phases as every other member, some of their jobs.
#[inline(always)]
fn member<L: Lanes>(pass: &Pass, crew: &Crew) {
    let (hd, v) = (pass.g.hidden, L::V);
    let (blocks, sliver) = (hd.div_ceil(v), hd * 4 * v);
    let units = |k: usize| k * v..((k + 1) * v).min(hd);
    for k in crew.jobs(blocks) {
        // SAFETY: job k alone writes sliver k, and nothing reads the panel during this phase.
        let out = unsafe { pass.panel.slice(k * sliver, sliver) };
        pack_gates(pass.w_hh, hd, units(k), v, out);
    }
    let mut tile = [0.0f32; MAX_TILE];
    for t in 0..pass.g.steps {
        for k in crew.jobs(blocks) {
            // SAFETY: the panel is complete since the first phase and only read from then on.
            let sliver = unsafe { &*pass.panel.slice(k * sliver, sliver) };
            step::<L>(pass, t, units(k), sliver, &mut tile);
        }
    }
    // The streamed segments are read only after the pass, by whichever thread: ordered before the
    // member's end.
    L::fence();
}

/// Step `t` of the block `units` for every row of the batch: the recurrent part of its gates (from the
/// block's `sliver` of the weights), then its cells.
#[inline(always)]
fn step<L: Lanes>(pass: &Pass, t: usize, units: Range<usize>, sliver: &[f32], tile: &mut [f32]) {
    let Pass {
        xw,
        bias,
        g,
        out,
        hidden,
        stream,
        ..
    } = *pass;
    let (b, hd, v) = (g.batch, g.hidden, L::V);
    let (row, u0, n) = (PACKED * hd, units.start, units.len());
    for r0 in (0..b).step_by(L::MR) {
        let rows = L::MR.min(b - r0);
        // The rows' input projections and packed results, fetched while the product runs.
        for r in r0..r0 + rows {
            for q in 0..4 {
                prefetch(xw.row(t * b + r, 4 * hd)[q * hd + u0..].as_ptr(), n);
            }
        }
        if t == 0 {
            tile.fill(0.0);
        } else {
            // SAFETY: rows r0..r0+rows of h_{t-1} lie in `out` (hd floats each, `row` apart), complete
            // since the last phase and written by nobody during this one; the sliver holds hd steps of
            // 4v floats and the tile room for L::MR rows of them; `L` is the running ISA.
            unsafe {
                tile_rows::<L>(
                    rows,
                    hd,
                    out.0.add(((t - 1) * b + r0) * row + H * hd),
                    row,
                    sliver.as_ptr(),
                    tile.as_mut_ptr(),
                )
            }
        }
        for r in 0..rows {
            let at = |t: usize| (t * b + r0 + r) * row + u0;
            // SAFETY: the tile holds `rows` rows of 4 v floats; the row's projections and bias hold this job's units of
            // each gate of the row; `out` this job's units of each segment of row r0 + r, of step t-1
            // (cells, complete since the last phase) and t (written here alone: other jobs touch other
            // units), and of `hidden` this job's units of that row (written by this job alone).
            unsafe {
                let c_prev = (t > 0).then(|| out.0.add(at(t - 1) + C * hd).cast_const());
                let (tile, x) = (
                    tile.as_ptr().add(r * 4 * v),
                    xw.row(t * b + r0 + r, 4 * hd).as_ptr().add(u0),
                );
                let (bias, dst) = (bias.as_ptr().add(u0), out.0.add(at(t)));
                // A block of one vector of units, whichever width that is; in registers when whole.
                match v {
                    _ if n == v => {
                        cell_forward_lanes::<L>(tile, v, x, bias, hd, c_prev, dst, stream)
                    }
                    16 => cell_forward::<16>(tile, v, x, bias, hd, c_prev, dst, n),
                    _ => cell_forward::<8>(tile, v, x, bias, hd, c_prev, dst, n),
                }
                // The layer's output, copied while the new states are in the core's cache: copied
                // after the pass, it was a pass over the packed result on one thread.
                let (from, to) = (
                    dst.add(H * hd).cast_const(),
                    hidden.0.add((t * b + r0 + r) * hd + u0),
                );
                match v {
                    16 => store(&load::<16>(from, n), to, n),
                    _ => store(&load::<8>(from, n), to, n),
                }
            }
        }
    }
}

/// The rows of `w_hh` for `units` (all four gates), transposed into a sliver of `v` units: for each input
/// `p`, the `v` weights of the input gate, then of the forget, cell and output gates. Units past the end
/// of the range stay zero.
fn pack_gates(w_hh: Mat<'_>, hd: usize, units: Range<usize>, v: usize, out: &mut [f32]) {
    for q in 0..4 {
        for (j, u) in units.clone().enumerate() {
            let w = &w_hh.data[(q * hd + u) * w_hh.rs..][..hd];
            for (p, &x) in w.iter().enumerate() {
                out[p * 4 * v + q * v + j] = x;
            }
        }
    }
}
