//! The backward pass of the team: each member packs the columns of the recurrent weights that its units'
//! `dh` reads, then walks the sequence backwards; the recurrent weight gradient follows as one product.

use std::ops::Range;

use super::lanes::{tile_rows, with_lanes, Isa, Lanes, MAX_TILE};
use super::team::{run_team, SpinBarrier};
use super::{cell_backward, segment_mut, LstmGeometry, C, PACKED};
use crate::kernels::aligned::AlignedBuf;
use crate::kernels::gemm::{sgemm, Mat, MatMut, Threads};
use crate::kernels::parallel::{threads, SharedMut};

/// Units per block of the cell updates (whole vectors on every instruction set).
const BLOCK: usize = 16;

/// What every member of a backward team reads, and the gradients it writes its units of.
#[derive(Clone, Copy)]
struct Pass<'a> {
    packed: &'a [f32],
    grad_h: &'a [f32],
    w_hh: &'a [f32],
    g: LstmGeometry,
    /// `(steps, batch, 4 hidden)` gate gradients.
    dxw: SharedMut,
    /// `(4 hidden)` bias gradient.
    db: SharedMut,
}

/// [`super::lstm_backward`] on `isa` (one of [`Isa::available`]) with a team of `members` threads.
pub fn lstm_backward_on(
    isa: Isa,
    members: usize,
    packed: &[f32],
    grad_h: &[f32],
    w_hh: &[f32],
    g: &LstmGeometry,
) -> Vec<f32> {
    assert!(Isa::available().contains(&isa), "lstm: {isa:?} unavailable");
    let (b, hd) = (g.batch, g.hidden);
    assert_eq!(packed.len(), g.packed_len(), "lstm: packed length");
    assert_eq!(grad_h.len(), g.steps * b * hd, "lstm: grad_h length");
    assert_eq!(w_hh.len(), 4 * hd * hd, "lstm: w_hh length");
    let dxw_len = g.steps * b * 4 * hd;
    let mut all = vec![0.0f32; dxw_len + 4 * hd * hd + 4 * hd];
    let (dgates_all, rest) = all.split_at_mut(dxw_len);
    let (dw, db) = rest.split_at_mut(4 * hd * hd);
    let units = g.unit_ranges(isa, members);
    let pass = Pass {
        packed,
        grad_h,
        w_hh,
        g: *g,
        dxw: SharedMut::new(dgates_all),
        db: SharedMut::new(db),
    };
    run_team(units.len(), |m, barrier| {
        let (pass, units) = (&pass, units[m].clone());
        with_lanes!(isa, member(pass: &Pass, units: Range<usize>, barrier: &SpinBarrier))
    });
    if g.steps > 1 {
        let rows = (g.steps - 1) * b;
        let dgates = Mat::rows(&dgates_all[b * 4 * hd..], rows, 4 * hd);
        let h_prev = Mat {
            data: packed,
            rows,
            cols: hd,
            rs: PACKED * hd,
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
    all
}

/// One member's walk back through the sequence: the gate gradients of `units` for every row, then (once
/// every member's are in) its units of the gradient reaching `h_{t-1}`.
#[inline(always)]
fn member<L: Lanes>(pass: &Pass, units: Range<usize>, barrier: &SpinBarrier) {
    let Pass {
        packed,
        grad_h,
        w_hh,
        g,
        dxw,
        db: db_out,
    } = *pass;
    let (b, hd, nu, wide) = (g.batch, g.hidden, units.len(), 4 * L::V);
    let row = PACKED * hd;
    let panel = pack_columns(w_hh, hd, units.clone(), wide);
    // The gradients reaching this member's units of h and c, carried from step to step: (batch, nu).
    let (mut dh, mut dc) = (vec![0.0f32; b * nu], vec![0.0f32; b * nu]);
    let mut db = vec![0.0f32; 4 * nu];
    let mut tile = [0.0f32; MAX_TILE];
    for t in (0..g.steps).rev() {
        for r in 0..b {
            let at = (t * b + r) * row;
            // Blocks of 16 units, the last one ragged.
            for u in (0..nu).step_by(BLOCK) {
                let (u0, n, local) = (units.start + u, BLOCK.min(nu - u), r * nu + u);
                let seg = |s: usize| &packed[at + s * hd + u0..][..n];
                let state = [seg(0), seg(1), seg(2), seg(3), seg(4), seg(5), seg(6)];
                let c_prev = match t {
                    0 => None,
                    _ => Some(&packed[at - b * row + C * hd + u0..][..n]),
                };
                let (db0, rest) = db.split_at_mut(nu);
                let (db1, rest) = rest.split_at_mut(nu);
                let (db2, db3) = rest.split_at_mut(nu);
                let gate_sums = [
                    &mut db0[u..u + n],
                    &mut db1[u..u + n],
                    &mut db2[u..u + n],
                    &mut db3[u..u + n],
                ];
                let d_row = (t * b + r) * 4 * hd;
                // SAFETY: this member's units of the four gates of row r at step t; other members
                // write other units, and the product below reads step t only after the barrier.
                let dgates = unsafe {
                    let d = |q| segment_mut(&dxw, d_row, hd, u0, n, q);
                    [d(0), d(1), d(2), d(3)]
                };
                cell_backward::<BLOCK>(
                    state,
                    c_prev,
                    &dh[local..][..n],
                    &grad_h[(t * b + r) * hd + u0..][..n],
                    &mut dc[local..][..n],
                    dgates,
                    gate_sums,
                );
            }
        }
        barrier.wait();
        if t == 0 {
            break;
        }
        for (k, u0) in (0..nu).step_by(wide).enumerate() {
            let n = wide.min(nu - u0);
            let sliver = &panel.as_slice()[k * 4 * hd * wide..][..4 * hd * wide];
            for r0 in (0..b).step_by(L::MR) {
                let rows = L::MR.min(b - r0);
                // SAFETY: rows r0..r0+rows of the step's gate gradients (4 hd floats each) lie in `dxw`,
                // complete since the barrier and written by nobody until the pass ends; the sliver holds
                // 4 hd steps of `wide` floats and the tile room for L::MR rows of them; `L` is the
                // running ISA.
                unsafe {
                    tile_rows::<L>(
                        rows,
                        4 * hd,
                        dxw.0.add((t * b + r0) * 4 * hd),
                        4 * hd,
                        sliver.as_ptr(),
                        tile.as_mut_ptr(),
                    )
                }
                for r in 0..rows {
                    dh[(r0 + r) * nu + u0..][..n].copy_from_slice(&tile[r * wide..][..n]);
                }
            }
        }
    }
    for (q, d) in db.chunks_exact(nu).enumerate() {
        // SAFETY: this member's units of gate q of the bias gradient; other members own other units.
        unsafe { db_out.slice(q * hd + units.start, nu) }.copy_from_slice(d);
    }
}

/// The columns `units` of `w_hh` (every gate row of them) in slivers of `wide` units: for each of the
/// `4 hd` gate rows, `wide` consecutive weights. Units past the end of the range are zero.
fn pack_columns(w_hh: &[f32], hd: usize, units: Range<usize>, wide: usize) -> AlignedBuf {
    let mut buf = AlignedBuf::new(units.len().div_ceil(wide) * 4 * hd * wide);
    for (k, sliver) in buf
        .as_mut_slice()
        .chunks_exact_mut(4 * hd * wide)
        .enumerate()
    {
        let u0 = units.start + k * wide;
        let n = wide.min(units.end - u0);
        for (p, step) in sliver.chunks_exact_mut(wide).enumerate() {
            step[..n].copy_from_slice(&w_hh[p * hd + u0..][..n]);
        }
    }
    buf
}
