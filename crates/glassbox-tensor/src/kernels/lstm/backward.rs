//! The backward pass: a first phase packs the columns of the recurrent weights, one block of hidden
//! units per job; then each step is two phases, the gate gradients of each block of units, and (once all
//! are in) each block's part of the gradient reaching `h_{t-1}`. The recurrent weight gradient follows as
//! one product. For one-hot inputs the cell phase also sums each block's gate gradients into the rows of
//! the table the ids looked up, while they are in the core's cache: summed after the pass on rayon's pool,
//! that was a pass over all the gate gradients (13 MB for the character model) from memory.

use std::ops::Range;

use super::cell::cell_backward_lanes;
use super::lanes::{tile_rows, with_lanes, Isa, Lanes, MAX_TILE};
use super::{
    cell_backward, load, prefetch, store, BackwardLayout, IdRows, LstmGeometry, C, PACKED, TANH_C,
};
use crate::kernels::aligned::AlignedBuf;
use crate::kernels::gemm::{sgemm, Mat, MatMut, Threads};
use crate::kernels::parallel::{partition, SharedMut};
use crate::kernels::team::{run_team, Crew};

/// Rows between a row's prefetch and its use in the cell phase.
const AHEAD: usize = 2;

/// Units per job of the cell phase (whole vectors on every instruction set).
const BLOCK: usize = 16;

/// What the jobs of a backward pass read, and the buffers they write (each job its own block of units).
#[derive(Clone, Copy)]
struct Pass<'a> {
    packed: &'a [f32],
    grad_h: &'a [f32],
    w_hh: Mat<'a>,
    g: LstmGeometry,
    /// `(steps, batch, 4 hidden)` gate gradients.
    dxw: SharedMut,
    /// `(4 hidden, hidden)` recurrent weight gradient, rows `w_hh.rs` apart.
    dw: SharedMut,
    /// The ids of one-hot inputs and the `(symbols, 4 hidden)` gradient of their table.
    ids: Option<&'a [u32]>,
    table: SharedMut,
    /// `(4 hidden)` bias gradient.
    db: SharedMut,
    /// `(batch, hidden)`: the gradients reaching `h` and `c` of the current step from the next one.
    dh: SharedMut,
    dc: SharedMut,
    /// The columns of the recurrent weights, one sliver of `4 hidden x 4 V` floats per `4 V` units.
    panel: SharedMut,
}

/// [`super::lstm_backward`] on `isa` (one of [`Isa::available`]) with a team of `members` threads.
pub fn lstm_backward_on(
    isa: Isa,
    members: usize,
    packed: &[f32],
    grad_h: &[f32],
    w_hh: Mat<'_>,
    ids: Option<IdRows>,
    g: &LstmGeometry,
) -> Vec<f32> {
    assert!(Isa::available().contains(&isa), "lstm: {isa:?} unavailable");
    let (b, hd) = (g.batch, g.hidden);
    assert_eq!(packed.len(), g.packed_len(), "lstm: packed length");
    assert_eq!(grad_h.len(), g.steps * b * hd, "lstm: grad_h length");
    super::check_recurrent(w_hh, hd);
    if let Some(ids) = ids {
        ids.check(g);
    }
    let layout = BackwardLayout::new(g, w_hh.rs, ids.map_or(0, |i| i.symbols));
    let dxw_len = layout.gates;
    // The gate gradients are written in full by the pass (every step, row and unit) before they are
    // read, through raw pointers only; the weight, bias and table gradients are summed into, so they
    // start at zero.
    let total = layout.total();
    let mut all = Vec::with_capacity(total);
    let spare = SharedMut::spare(&mut all, total);
    // SAFETY: the tail lies inside the capacity just reserved.
    unsafe { std::ptr::write_bytes(spare.0.add(dxw_len), 0, total - dxw_len) };
    let at = |offset: usize, len: usize| SharedMut(spare.0.wrapping_add(offset), len);
    let (mut dh, mut dc) = (vec![0.0f32; b * hd], vec![0.0f32; b * hd]);
    let wide = 4 * isa.width();
    let mut panel = AlignedBuf::new(hd.div_ceil(wide) * 4 * hd * wide);
    let pass = Pass {
        packed,
        grad_h,
        w_hh,
        g: *g,
        dxw: spare,
        dw: at(dxw_len, layout.weights),
        db: at(dxw_len + layout.weights, layout.bias),
        ids: ids.map(|i| i.ids),
        table: at(dxw_len + layout.weights + layout.bias, layout.table),
        dh: SharedMut::new(&mut dh),
        dc: SharedMut::new(&mut dc),
        panel: SharedMut::new(panel.as_mut_slice()),
    };
    run_team(members.clamp(1, hd.div_ceil(BLOCK)), |crew| {
        let pass = &pass;
        with_lanes!(isa, member(pass: &Pass, crew: &Crew))
    });
    // SAFETY: the pass has written every gate gradient, and the rest was zeroed before it summed into it.
    unsafe { all.set_len(total) };
    all
}

/// One member's part of the pass: the same phases as every other member, some of their jobs.
#[inline(always)]
fn member<L: Lanes>(pass: &Pass, crew: &Crew) {
    let (hd, wide) = (pass.g.hidden, 4 * L::V);
    let (wides, sliver) = (hd.div_ceil(wide), 4 * hd * wide);
    let units = |k: usize, width: usize| k * width..((k + 1) * width).min(hd);
    for k in crew.jobs(wides) {
        // SAFETY: job k alone writes sliver k, and nothing reads the panel during this phase.
        let out = unsafe { pass.panel.slice(k * sliver, sliver) };
        pack_columns(pass.w_hh, units(k, wide), wide, out);
    }
    let mut tile = [0.0f32; MAX_TILE];
    for t in (0..pass.g.steps).rev() {
        for k in crew.jobs(hd.div_ceil(BLOCK)) {
            cells::<L>(pass, t, units(k, BLOCK));
        }
        if t > 0 {
            for k in crew.jobs(wides) {
                // SAFETY: the panel is complete since the first phase and only read from then on.
                let sliver = unsafe { &*pass.panel.slice(k * sliver, sliver) };
                carry::<L>(pass, t, units(k, wide), sliver, &mut tile);
            }
        }
    }
    if pass.g.steps > 1 {
        // One block of gate rows per member: each block repacks all of `h_prev`, so no more of them.
        let blocks = partition(4 * hd, crew.members());
        for k in crew.jobs(blocks.len()) {
            weight_rows(pass, blocks[k].clone());
        }
    }
}

/// Rows `gates` of the recurrent weight gradient, `dW = Σ_t dgates_t^T h_{t-1}` over every step but the
/// first, as one product over all steps on this thread.
///
/// The product runs as a last phase of the team, in blocks of gate rows, rather than on rayon's pool after
/// it, where it gained little from a second thread; the team's threads are running already.
fn weight_rows(pass: &Pass, gates: Range<usize>) {
    let Pass {
        packed, g, dxw, dw, ..
    } = *pass;
    let (b, hd) = (g.batch, g.hidden);
    let n = (g.steps - 1) * b;
    // SAFETY: every gate gradient was written in the phases before this one and nobody writes them now;
    // the rows `gates` of the weight gradient are this job's alone.
    let rs = pass.w_hh.rs;
    let (dgates, out) = unsafe {
        (
            std::slice::from_raw_parts(dxw.0.add(b * 4 * hd).cast_const(), n * 4 * hd),
            dw.slice(gates.start * rs, (gates.len() - 1) * rs + hd),
        )
    };
    let dgates = Mat {
        data: &dgates[gates.start..],
        rows: n,
        cols: gates.len(),
        rs: 4 * hd,
        cs: 1,
    };
    let h_prev = Mat {
        data: packed,
        rows: n,
        cols: hd,
        rs: PACKED * hd,
        cs: 1,
    };
    sgemm(
        MatMut::strided(out, gates.len(), hd, rs),
        false,
        dgates.t(),
        h_prev,
        Threads::One,
    );
}

/// The gate gradients of step `t` for the block `units` and every row of the batch, added to the bias
/// gradient; the gradient reaching the cells before the step replaces the one reaching the step's.
#[inline(always)]
fn cells<L: Lanes>(pass: &Pass, t: usize, units: Range<usize>) {
    let Pass {
        packed,
        grad_h,
        g,
        dxw,
        db,
        dh,
        dc,
        ..
    } = *pass;
    let (b, hd) = (g.batch, g.hidden);
    let (row, u0, n) = (PACKED * hd, units.start, units.len());
    let prefetch_ahead = |r: usize| {
        if r + AHEAD < b {
            // The saved state of a row a few ahead (see `prefetch`).
            let ahead = (t * b + r + AHEAD) * row + u0;
            for s in TANH_C..PACKED {
                prefetch(packed[ahead + s * hd..].as_ptr(), n);
            }
            if t > 0 {
                prefetch(packed[ahead - b * row + C * hd..].as_ptr(), n);
            }
            prefetch(grad_h[(t * b + r + AHEAD) * hd + u0..].as_ptr(), n);
        }
    };
    // SAFETY (every block below): this job's units of the bias gradient, of every row of dh, dc and the
    // step's gate gradients, written by this job alone (other jobs touch other units, and the next phase
    // reads them only after this one); `packed` and `grad_h` are only read, and each row's units lie
    // inside them; `L` is the running instruction set.
    let at = |r: usize| (t * b + r) * row + u0;
    let c_prev =
        |r: usize| unsafe { (t > 0).then(|| packed.as_ptr().add(at(r) - b * row + C * hd)) };
    if n == BLOCK {
        // Whole vectors, the bias gradient summed in registers over the rows.
        let vectors = BLOCK / L::V;
        let mut sums = [[unsafe { L::zero() }; 4]; BLOCK / 8];
        unsafe {
            for (k, sums) in sums.iter_mut().enumerate().take(vectors) {
                for (q, sum) in sums.iter_mut().enumerate() {
                    *sum = L::load(db.0.add(q * hd + u0 + k * L::V));
                }
            }
        }
        for r in 0..b {
            prefetch_ahead(r);
            for (k, sums) in sums.iter_mut().enumerate().take(vectors) {
                let u = k * L::V;
                unsafe {
                    cell_backward_lanes::<L>(
                        packed.as_ptr().add(at(r) + u),
                        hd,
                        c_prev(r).map(|c| c.add(u)),
                        dh.0.add(r * hd + u0 + u),
                        grad_h.as_ptr().add((t * b + r) * hd + u0 + u),
                        dc.0.add(r * hd + u0 + u),
                        dxw.0.add((t * b + r) * 4 * hd + u0 + u),
                        sums,
                    );
                }
            }
            if let Some(ids) = pass.ids {
                // SAFETY: the row's gate gradients for this job's units were written just above.
                unsafe { add_to_table(pass, ids, t * b + r, &units) };
            }
        }
        unsafe {
            for (k, sums) in sums.iter().enumerate().take(vectors) {
                for (q, sum) in sums.iter().enumerate() {
                    L::store(db.0.add(q * hd + u0 + k * L::V), *sum);
                }
            }
        }
        return;
    }
    // The ragged block at the end of the hidden state, on arrays.
    let mut sums = [[0.0f32; BLOCK]; 4];
    unsafe {
        for (q, sum) in sums.iter_mut().enumerate() {
            *sum = load::<BLOCK>(db.0.add(q * hd + u0), n);
        }
    }
    for r in 0..b {
        prefetch_ahead(r);
        unsafe {
            cell_backward::<BLOCK>(
                packed.as_ptr().add(at(r)),
                hd,
                c_prev(r),
                dh.0.add(r * hd + u0),
                grad_h.as_ptr().add((t * b + r) * hd + u0),
                dc.0.add(r * hd + u0),
                dxw.0.add((t * b + r) * 4 * hd + u0),
                &mut sums,
                n,
            );
            if let Some(ids) = pass.ids {
                add_to_table(pass, ids, t * b + r, &units);
            }
        }
    }
    unsafe {
        for (q, sum) in sums.iter().enumerate() {
            store(sum, db.0.add(q * hd + u0), n);
        }
    }
}

/// The block `units` of `dh_{t-1} = dgates_t W_hh` for every row of the batch, from the block's `sliver`
/// of the weights.
#[inline(always)]
fn carry<L: Lanes>(pass: &Pass, t: usize, units: Range<usize>, sliver: &[f32], tile: &mut [f32]) {
    let Pass { g, dxw, dh, .. } = *pass;
    let (b, hd, wide) = (g.batch, g.hidden, 4 * L::V);
    let (u0, n) = (units.start, units.len());
    for r0 in (0..b).step_by(L::MR) {
        let rows = L::MR.min(b - r0);
        // SAFETY: rows r0..r0+rows of the step's gate gradients (4 hd floats each) lie in `dxw`,
        // complete since the last phase and written by nobody until the pass ends; the sliver holds
        // 4 hd steps of `wide` floats and the tile room for L::MR rows of them; `L` is the running ISA.
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
            // SAFETY: this job's units of row r0 + r; other jobs write other units, and the cell phase
            // reads them only after this one.
            let dh = unsafe { dh.slice((r0 + r) * hd + u0, n) };
            dh.copy_from_slice(&tile[r * wide..][..n]);
        }
    }
}

/// The columns `units` of `w_hh` (every gate row of them) as a sliver of `wide` units: for each of the
/// `4 hd` gate rows, `wide` consecutive weights. Units past the end of the range stay zero.
fn pack_columns(w_hh: Mat<'_>, units: Range<usize>, wide: usize, out: &mut [f32]) {
    let n = units.len();
    for (p, step) in out.chunks_exact_mut(wide).enumerate() {
        step[..n].copy_from_slice(&w_hh.data[p * w_hh.rs + units.start..][..n]);
    }
}

/// Adds the gate gradients of row `i` (`t * batch + r`) for `units` to the table row its id looked up.
///
/// # Safety
/// The row's gate gradients for `units` are written; this job alone writes `units` of the table.
#[inline(always)]
unsafe fn add_to_table(pass: &Pass, ids: &[u32], i: usize, units: &Range<usize>) {
    let four_h = 4 * pass.g.hidden;
    let (u0, n) = (units.start, units.len());
    // SAFETY: as the caller vouches; the id was checked against the table's rows.
    unsafe {
        let from = pass.dxw.0.add(i * four_h + u0).cast_const();
        let to = pass.table.0.add(ids[i] as usize * four_h + u0);
        for q in 0..4 {
            let (from, to) = (from.add(q * pass.g.hidden), to.add(q * pass.g.hidden));
            for j in 0..n {
                *to.add(j) += *from.add(j);
            }
        }
    }
}
