//! The cell update of one whole vector of units, in registers.
//!
//! The same arithmetic as [`super::cell_forward`] (which stays for blocks narrower than a vector), written
//! with the lanes of the running instruction set: on arrays, LLVM vectorized the arithmetic but kept the
//! gates and the seven results on the stack and paid scalar bookkeeping around them, which a sampled
//! profile put at half of the forward pass outside the product. Each operation rounds as the scalar one
//! does (`activation::exp`, sigmoid and tanh written out step by step, no fused multiply-adds), so a
//! block gives the same floats whichever of the two computes it.

use super::lanes::Lanes;
use super::{C, GATES, H, TANH_C};
use crate::kernels::activation::{EXP_POLY, EXP_RANGE, LN2_HI, LN2_LO, LOG2E};

/// `activation::exp`, lane by lane.
///
/// # Safety
/// The CPU has `L`'s instruction set.
#[inline(always)]
unsafe fn exp<L: Lanes>(x: L::R) -> L::R {
    // SAFETY: forwarded from the caller.
    unsafe {
        let x = L::clamp(x, EXP_RANGE.0, EXP_RANGE.1);
        let n = L::floor(L::add(L::mul(x, L::set(LOG2E)), L::set(0.5)));
        let r = L::sub(
            L::sub(x, L::mul(n, L::set(LN2_HI))),
            L::mul(n, L::set(LN2_LO)),
        );
        let mut p = L::set(EXP_POLY[0]);
        for c in &EXP_POLY[1..] {
            p = L::add(L::mul(p, r), L::set(*c));
        }
        let p = L::add(L::add(L::mul(L::mul(p, r), r), r), L::set(1.0));
        L::mul(p, L::shl23(L::add(n, L::set(127.0 + 8_388_608.0))))
    }
}

/// `activation::sigmoid`, lane by lane.
///
/// # Safety
/// The CPU has `L`'s instruction set.
#[inline(always)]
unsafe fn sigmoid<L: Lanes>(x: L::R) -> L::R {
    // SAFETY: forwarded from the caller.
    unsafe {
        let one = L::set(1.0);
        L::div(one, L::add(one, exp::<L>(L::sub(L::zero(), x))))
    }
}

/// `activation::tanh`, lane by lane.
///
/// # Safety
/// The CPU has `L`'s instruction set.
#[inline(always)]
unsafe fn tanh<L: Lanes>(x: L::R) -> L::R {
    // SAFETY: forwarded from the caller.
    unsafe {
        let one = L::set(1.0);
        let e = exp::<L>(L::mul(L::set(-2.0), x));
        L::sub(L::div(L::set(2.0), L::add(one, e)), one)
    }
}

/// [`super::cell_forward`] for a block of exactly `L::V` units: the pre-activation of gate `q` is
/// `tile[q tile_gate] + x[q stride] + bias[q stride]`; `c_prev` the cells before the step (`None` at the
/// start); the seven packed segments go to `out`, `stride` apart. With `stream`, the five that only the
/// backward pass reads (`tanh c` and the gates) bypass the caches: stored the usual way, each line was
/// read in before it was written and pushed the recurrent weights out of the core's cache (one layer's
/// forward pass of 100 steps of 32 rows of 256 cells, `examples/lstm_kernel.rs`, took 20.4-21.0 ms on one
/// thread before, 19.6-19.9 after).
///
/// # Safety
/// The CPU has `L`'s instruction set; every pointer valid for `L::V` floats at each of its offsets; no one
/// else accesses the output meanwhile; with `stream`, `out` and `stride` whole vectors (aligned), and a
/// [`Lanes::fence`] before anyone reads those segments.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // the pointers of one block, each used once, and how to store
pub(super) unsafe fn cell_forward_lanes<L: Lanes>(
    tile: *const f32,
    tile_gate: usize,
    x: *const f32,
    bias: *const f32,
    stride: usize,
    c_prev: Option<*const f32>,
    out: *mut f32,
    stream: bool,
) {
    // SAFETY: every read and write stays inside the ranges the caller vouched for.
    unsafe {
        let z = |q: usize| {
            let tx = L::add(L::load(tile.add(q * tile_gate)), L::load(x.add(q * stride)));
            L::add(tx, L::load(bias.add(q * stride)))
        };
        let (i, f, g, o) = (
            sigmoid::<L>(z(0)),
            sigmoid::<L>(z(1)),
            tanh::<L>(z(2)),
            sigmoid::<L>(z(3)),
        );
        let c_prev = match c_prev {
            Some(c) => L::load(c),
            None => L::zero(),
        };
        let c = L::add(L::mul(f, c_prev), L::mul(i, g));
        let t = tanh::<L>(c);
        let segment = |s: usize| out.add(s * stride);
        L::store(segment(H), L::mul(o, t));
        L::store(segment(C), c);
        let saved = [
            (TANH_C, t),
            (GATES, i),
            (GATES + 1, f),
            (GATES + 2, g),
            (GATES + 3, o),
        ];
        for (s, value) in saved {
            if stream {
                L::stream(segment(s), value);
            } else {
                L::store(segment(s), value);
            }
        }
    }
}

/// [`super::cell_backward`] for exactly `L::V` units: from the packed segments of the step (`state`,
/// `stride` apart), the cells before it `c_prev`, and the gradients reaching `h` (`dh` plus `grad`) and
/// `c` (`dc`, updated in place to the gradient of `c_{t-1}`), the gate gradients, written to `dgates`
/// (`stride` apart) and added to the running sums `db`.
///
/// # Safety
/// The CPU has `L`'s instruction set; every pointer valid for `L::V` floats at each of its offsets; no one
/// else accesses `dc` and `dgates` meanwhile.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // the pointers of one block, each used once
pub(super) unsafe fn cell_backward_lanes<L: Lanes>(
    state: *const f32,
    stride: usize,
    c_prev: Option<*const f32>,
    dh: *const f32,
    grad: *const f32,
    dc: *mut f32,
    dgates: *mut f32,
    db: &mut [L::R; 4],
) {
    // SAFETY: every read and write stays inside the ranges the caller vouched for.
    unsafe {
        let segment = |s: usize| L::load(state.add(s * stride));
        let t = segment(TANH_C);
        let (i, f, g, o) = (
            segment(GATES),
            segment(GATES + 1),
            segment(GATES + 2),
            segment(GATES + 3),
        );
        let c_prev = match c_prev {
            Some(c) => L::load(c),
            None => L::zero(),
        };
        let one = L::set(1.0);
        let dhj = L::add(L::load(dh), L::load(grad));
        let dcj = L::add(
            L::load(dc),
            L::mul(L::mul(dhj, o), L::sub(one, L::mul(t, t))),
        );
        let d = [
            L::mul(L::mul(L::mul(dcj, g), i), L::sub(one, i)),
            L::mul(L::mul(L::mul(dcj, c_prev), f), L::sub(one, f)),
            L::mul(L::mul(dcj, i), L::sub(one, L::mul(g, g))),
            L::mul(L::mul(L::mul(dhj, t), o), L::sub(one, o)),
        ];
        L::store(dc, L::mul(dcj, f));
        for (q, (d, sum)) in d.into_iter().zip(db.iter_mut()).enumerate() {
            L::store(dgates.add(q * stride), d);
            *sum = L::add(*sum, d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::lanes::{with_lanes, Isa};
    use super::super::{cell_backward, cell_forward, PACKED};
    use super::*;

    /// One block's inputs: four gates of tile, projections and bias, `stride` apart, and the cells.
    struct Case {
        tile: Vec<f32>,
        x: Vec<f32>,
        bias: Vec<f32>,
        c_prev: Vec<f32>,
        stride: usize,
    }

    /// The block through the lanes and through the scalar arrays: `[lanes, arrays]`.
    #[inline(always)]
    fn both<L: Lanes>(case: &Case, out: &mut [Vec<f32>; 2]) {
        let (v, stride) = (L::V, case.stride);
        for o in out.iter_mut() {
            *o = vec![0.0; PACKED * stride];
        }
        let c = Some(case.c_prev.as_ptr());
        let (t, x, b) = (case.tile.as_ptr(), case.x.as_ptr(), case.bias.as_ptr());
        // SAFETY: `with_lanes` runs this on `L`'s instruction set; every buffer holds its gates or
        // segments `stride` apart and `v` floats in each.
        unsafe {
            cell_forward_lanes::<L>(t, v, x, b, stride, c, out[0].as_mut_ptr(), false);
            let arrays = out[1].as_mut_ptr();
            match v {
                16 => cell_forward::<16>(t, v, x, b, stride, c, arrays, v),
                _ => cell_forward::<8>(t, v, x, b, stride, c, arrays, v),
            }
        }
    }

    /// Backward through the block whose packed state `forward` holds, both ways: `[lanes, arrays]`, each
    /// the gate gradients (`stride` apart), then the updated `dc`, then the four bias sums.
    #[inline(always)]
    fn both_backward<L: Lanes>(case: &Case, forward: &[f32], out: &mut [Vec<f32>; 2]) {
        let (v, stride) = (L::V, case.stride);
        let dh: Vec<f32> = case.tile[..v].iter().map(|x| x * 0.3).collect();
        let grad: Vec<f32> = case.x[..v].iter().map(|x| x * 0.7).collect();
        let c = Some(case.c_prev.as_ptr());
        for (k, out) in out.iter_mut().enumerate() {
            let mut dgates = vec![0.0f32; 4 * stride];
            let mut dc: Vec<f32> = case.c_prev.iter().map(|x| x * 0.2).collect();
            let mut sums = Vec::new();
            // SAFETY: as in `both`; every buffer holds `v` floats per segment.
            unsafe {
                let (state, dgp) = (forward.as_ptr(), dgates.as_mut_ptr());
                let (dhp, gp, dcp) = (dh.as_ptr(), grad.as_ptr(), dc.as_mut_ptr());
                if k == 0 {
                    let mut db = [L::set(0.25); 4];
                    cell_backward_lanes::<L>(state, stride, c, dhp, gp, dcp, dgp, &mut db);
                    for q in db {
                        let mut lane = vec![0.0f32; v];
                        L::store(lane.as_mut_ptr(), q);
                        sums.extend(lane);
                    }
                } else if v == 16 {
                    let mut db = [[0.25f32; 16]; 4];
                    cell_backward::<16>(state, stride, c, dhp, gp, dcp, dgp, &mut db, v);
                    sums.extend(db.iter().flatten());
                } else {
                    let mut db = [[0.25f32; 8]; 4];
                    cell_backward::<8>(state, stride, c, dhp, gp, dcp, dgp, &mut db, v);
                    sums.extend(db.iter().flatten());
                }
            }
            *out = [dgates, dc, sums].concat();
        }
    }

    /// The block stored and streamed into two aligned buffers whose segments are two vectors apart:
    /// `[stored, streamed]`.
    #[inline(always)]
    fn stored_and_streamed<L: Lanes>(case: &Case, out: &mut [Vec<f32>; 2]) {
        let (v, stride) = (L::V, 2 * L::V);
        for (k, o) in out.iter_mut().enumerate() {
            let mut buf = crate::kernels::aligned::AlignedBuf::new(PACKED * stride);
            let (t, x, b) = (case.tile.as_ptr(), case.x.as_ptr(), case.bias.as_ptr());
            let c = Some(case.c_prev.as_ptr());
            // SAFETY: `with_lanes` runs this on `L`'s instruction set; the inputs hold their gates
            // `case.stride >= stride` apart, the output its seven segments `stride` apart from a 64-byte
            // boundary.
            unsafe {
                let p = buf.as_mut_slice().as_mut_ptr();
                cell_forward_lanes::<L>(t, v, x, b, stride, c, p, k == 1);
            }
            // Orders the streamed stores before the reads below.
            L::fence();
            *o = buf.as_slice().to_vec();
        }
    }

    #[test]
    fn streamed_segments_hold_what_stored_ones_hold() {
        for isa in Isa::available() {
            let v = isa.width();
            let stride = 2 * v;
            let case = &Case {
                tile: (0..4 * v).map(|k| (k as f32 * 0.37).sin() * 3.0).collect(),
                x: (0..4 * stride).map(|k| (k as f32 * 0.11).cos()).collect(),
                bias: (0..4 * stride).map(|k| k as f32 * 0.01 - 0.2).collect(),
                c_prev: (0..v).map(|k| k as f32 * 0.3 - 1.0).collect(),
                stride,
            };
            let out = &mut [Vec::new(), Vec::new()];
            with_lanes!(isa, stored_and_streamed(case: &Case, out: &mut [Vec<f32>; 2]));
            for s in 0..PACKED {
                let seg = |o: &Vec<f32>| o[s * stride..][..v].to_vec();
                assert_eq!(seg(&out[0]), seg(&out[1]), "{isa:?} segment {s}");
                assert!(
                    seg(&out[1]).iter().any(|&x| x != 0.0),
                    "{isa:?} segment {s} never written"
                );
            }
        }
    }

    #[test]
    fn lanes_and_arrays_compute_the_same_floats() {
        // Saturating, tiny, ordinary and not-a-number inputs.
        let special = [
            -200.0f32, -87.5, -3.0, -1e-7, 0.0, 1e-7, 0.5, 3.0, 88.5, 200.0,
        ];
        for isa in Isa::available() {
            let v = isa.width();
            let stride = v + 3;
            let value = |k: usize| match k % 13 {
                12 => f32::NAN,
                j if j < special.len() => special[j],
                j => (k as f32 * 0.37).sin() * 4.0 + j as f32 * 0.01,
            };
            for shift in 0..13 {
                let case = &Case {
                    tile: (0..4 * v).map(|k| value(k + shift)).collect(),
                    x: (0..4 * stride)
                        .map(|k| value(3 * k + shift) * 0.5)
                        .collect(),
                    bias: (0..4 * stride).map(|k| value(5 * k + 1) * 0.1).collect(),
                    c_prev: (0..v).map(|k| value(7 * k + shift)).collect(),
                    stride,
                };
                let out = &mut [Vec::new(), Vec::new()];
                with_lanes!(isa, both(case: &Case, out: &mut [Vec<f32>; 2]));
                for s in 0..PACKED {
                    for j in 0..v {
                        let (a, b) = (out[0][s * stride + j], out[1][s * stride + j]);
                        assert!(
                            a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                            "{isa:?} shift {shift} segment {s} unit {j}: {a} vs {b}"
                        );
                    }
                }
                let forward = &out[1].clone()[..];
                with_lanes!(isa, both_backward(case: &Case, forward: &[f32], out: &mut [Vec<f32>; 2]));
                for (k, (a, b)) in out[0].iter().zip(&out[1]).enumerate() {
                    assert!(
                        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                        "{isa:?} shift {shift} backward float {k}: {a} vs {b}"
                    );
                }
                let nans = forward.iter().filter(|x| x.is_nan()).count();
                assert!(nans > 0 || shift > 0, "a NaN input must reach the outputs");
            }
        }
    }
}
