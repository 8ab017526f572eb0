//! The forward pass of the team: each member packs the recurrent weights of its units once, then walks
//! the sequence.

use std::ops::Range;

use super::lanes::{tile_rows, with_lanes, Isa, Lanes, MAX_TILE};
use super::team::{run_team, SpinBarrier};
use super::{cell_forward, gates_of, segment_mut, LstmGeometry, C, H, PACKED};
use crate::kernels::aligned::AlignedBuf;
use crate::kernels::parallel::SharedMut;

/// What every member of a forward team reads, and the result it writes its units of.
#[derive(Clone, Copy)]
struct Pass<'a> {
    xw: &'a [f32],
    w_hh: &'a [f32],
    bias: &'a [f32],
    g: LstmGeometry,
    out: SharedMut,
}

/// [`super::lstm_forward`] on `isa` (one of [`Isa::available`]) with a team of `members` threads.
pub fn lstm_forward_on(
    isa: Isa,
    members: usize,
    xw: &[f32],
    w_hh: &[f32],
    bias: &[f32],
    g: &LstmGeometry,
) -> Vec<f32> {
    assert!(Isa::available().contains(&isa), "lstm: {isa:?} unavailable");
    let hd = g.hidden;
    assert_eq!(xw.len(), g.steps * g.batch * 4 * hd, "lstm: xw length");
    assert_eq!(w_hh.len(), 4 * hd * hd, "lstm: w_hh length");
    assert_eq!(bias.len(), 4 * hd, "lstm: bias length");
    let mut packed = vec![0.0f32; g.packed_len()];
    let units = g.unit_ranges(isa, members);
    let pass = Pass {
        xw,
        w_hh,
        bias,
        g: *g,
        out: SharedMut::new(&mut packed),
    };
    run_team(units.len(), |m, barrier| {
        let (pass, units) = (&pass, units[m].clone());
        with_lanes!(isa, member(pass: &Pass, units: Range<usize>, barrier: &SpinBarrier))
    });
    packed
}

/// One member's walk through the sequence: the gates and cells of `units` for every row, each step.
#[inline(always)]
fn member<L: Lanes>(pass: &Pass, units: Range<usize>, barrier: &SpinBarrier) {
    let Pass {
        xw,
        w_hh,
        bias,
        g,
        out,
    } = *pass;
    let (b, hd, v) = (g.batch, g.hidden, L::V);
    let row = PACKED * hd;
    let panel = pack_gates(w_hh, hd, units.clone(), v);
    let mut tile = [0.0f32; MAX_TILE];
    for t in 0..g.steps {
        let xw_t = &xw[t * b * 4 * hd..][..b * 4 * hd];
        for (k, u0) in units.clone().step_by(v).enumerate() {
            let n = v.min(units.end - u0);
            let sliver = &panel.as_slice()[k * hd * 4 * v..][..hd * 4 * v];
            for r0 in (0..b).step_by(L::MR) {
                let rows = L::MR.min(b - r0);
                if t == 0 {
                    tile.fill(0.0);
                } else {
                    // SAFETY: rows r0..r0+rows of h_{t-1} lie in `out` (hd floats each, `row` apart), all
                    // written before the last barrier and by nobody during this step; the sliver holds hd
                    // steps of 4v floats and the tile room for L::MR rows of them; `L` is the running ISA.
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
                    let at = |t: usize| (t * b + r0 + r) * row;
                    let tile = gates_of(&tile[r * 4 * v..][..4 * v], v, 0, n);
                    let x = gates_of(&xw_t[(r0 + r) * 4 * hd..][..4 * hd], hd, u0, n);
                    let bias = gates_of(bias, hd, u0, n);
                    // SAFETY: this member's units of row r0 + r, of step t-1 (cells) and t (all seven
                    // segments); other members own other units and touch none of these floats.
                    let (c_prev, seg) = unsafe {
                        let c_prev = match t {
                            0 => None,
                            _ => Some(&*out.slice(at(t - 1) + C * hd + u0, n)),
                        };
                        let seg = |s| segment_mut(&out, at(t), hd, u0, n, s);
                        (
                            c_prev,
                            [seg(0), seg(1), seg(2), seg(3), seg(4), seg(5), seg(6)],
                        )
                    };
                    // A block of one vector of units, whichever width that is.
                    match v {
                        16 => cell_forward::<16>(tile, x, bias, c_prev, seg),
                        _ => cell_forward::<8>(tile, x, bias, c_prev, seg),
                    }
                }
            }
        }
        barrier.wait();
    }
}

/// The rows of `w_hh` for `units` (all four gates), transposed into slivers of `v` units: for each input
/// `p`, the `v` weights of the input gate, then of the forget, cell and output gates. Units past the end
/// of the range are zero.
fn pack_gates(w_hh: &[f32], hd: usize, units: Range<usize>, v: usize) -> AlignedBuf {
    let mut buf = AlignedBuf::new(units.len().div_ceil(v) * hd * 4 * v);
    for (k, sliver) in buf.as_mut_slice().chunks_exact_mut(hd * 4 * v).enumerate() {
        let u0 = units.start + k * v;
        for q in 0..4 {
            for (j, u) in (u0..units.end.min(u0 + v)).enumerate() {
                let w = &w_hh[(q * hd + u) * hd..][..hd];
                for (p, &x) in w.iter().enumerate() {
                    sliver[p * 4 * v + q * v + j] = x;
                }
            }
        }
    }
    buf
}
