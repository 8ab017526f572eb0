//! A BLIS-style single-precision product for large multi-threaded products on AVX2 + FMA (Goto & van de
//! Geijn's layering: a 6x16 register-blocked micro-kernel over packed slivers of A and B, B blocks of
//! 256 x n shared by all threads, A blocks of 240 x 256 packed per thread). Multi-threaded on large
//! products it is a little faster than the `gemm` crate on AVX2 (`examples/sgemm_compare.rs`,
//! docs/benchmarks.md), and much slower on small products, so [`super::gemm::sgemm`] sends only large
//! products here, by their sizes alone (threaded or not: each value is summed in the same order either
//! way, so results do not depend on the thread count).

use rayon::prelude::*;
use std::arch::x86_64::*;

use super::aligned::AlignedBuf;
use super::gemm::{Mat, MatMut, Threads};

const MR: usize = 6;
const NR: usize = 16;
const KC: usize = 256;
const MC: usize = 240;

/// Whether a product is large enough to come here. It looks at the sizes alone:
/// this kernel and the `gemm` crate's round differently, so a choice that followed the thread count would
/// give other results under another `RAYON_NUM_THREADS`.
pub fn suits(m: usize, n: usize, k: usize) -> bool {
    m >= 2 * MC && n >= 256 && k >= 256
}

/// `dst = a * b` (or `+=` with `accumulate`). The caller checked shapes, spans and AVX2 + FMA.
pub fn sgemm(dst: MatMut<'_>, accumulate: bool, a: Mat<'_>, b: Mat<'_>, threads: Threads) {
    let (m, n, k) = (dst.rows, dst.cols, a.cols);
    let rs = dst.rs;
    // Blocks of at most MC rows, as many as a multiple of the threads so that none waits on another.
    // The blocks split the rows only: every value's sum runs over the same KC slices in the same order.
    let threads = match threads {
        Threads::One => 1,
        Threads::Pool(t) => t.max(1),
    };
    let blocks = threads * m.div_ceil(MC * threads);
    let mc_step = m.div_ceil(blocks).next_multiple_of(MR);
    let c = dst.as_ptr() as usize;
    let mut packed_b_buf = AlignedBuf::new(KC * n.div_ceil(NR) * NR);
    let packed_b = packed_b_buf.as_mut_slice();
    for p0 in (0..k).step_by(KC) {
        let kc = KC.min(k - p0);
        pack_b(b, p0, kc, packed_b);
        let packed_b = &*packed_b;
        let store = p0 == 0 && !accumulate;
        let block_product = |block: usize| {
            let i0 = block * mc_step;
            let mc = mc_step.min(m - i0);
            let mut packed_a_buf = AlignedBuf::new(mc.div_ceil(MR) * MR * kc);
            let packed_a = packed_a_buf.as_mut_slice();
            pack_a(a, i0, mc, p0, kc, packed_a);
            for js in 0..n.div_ceil(NR) {
                let cols = NR.min(n - js * NR);
                let bs = &packed_b[js * NR * kc..(js + 1) * NR * kc];
                for is in 0..mc.div_ceil(MR) {
                    let rows = MR.min(mc - is * MR);
                    let as_ = &packed_a[is * MR * kc..(is + 1) * MR * kc];
                    // SAFETY: the tile (rows x cols at this corner) lies inside `dst`, and each tile
                    // belongs to one block of rows, so one thread; AVX2 + FMA was checked by the caller.
                    unsafe {
                        let corner = (c as *mut f32).add((i0 + is * MR) * rs + js * NR);
                        if rows == MR && cols == NR {
                            kernel(kc, as_.as_ptr(), bs.as_ptr(), corner, rs, store);
                        } else {
                            let mut tile = [0.0f32; MR * NR];
                            kernel(kc, as_.as_ptr(), bs.as_ptr(), tile.as_mut_ptr(), NR, true);
                            for r in 0..rows {
                                for q in 0..cols {
                                    let d = corner.add(r * rs + q);
                                    *d = if store {
                                        tile[r * NR + q]
                                    } else {
                                        *d + tile[r * NR + q]
                                    };
                                }
                            }
                        }
                    }
                }
            }
        };
        let blocks = m.div_ceil(mc_step);
        if threads == 1 {
            (0..blocks).for_each(block_product);
        } else {
            (0..blocks).into_par_iter().for_each(block_product);
        }
    }
}

/// `c[0..6, 0..16] (=|+=) Σ_p a[p][0..6] ⊗ b[p][0..16]` over `k` packed steps.
#[target_feature(enable = "avx2,fma")]
unsafe fn kernel(k: usize, a: *const f32, b: *const f32, c: *mut f32, rs: usize, store: bool) {
    // The tile of C is far away in memory (rows a whole matrix row apart): fetch it while computing.
    for i in 0..MR {
        let row = c.add(i * rs) as *const i8;
        _mm_prefetch::<_MM_HINT_T0>(row);
        _mm_prefetch::<_MM_HINT_T0>(row.add(4 * (NR - 1)));
    }
    let mut acc = [_mm256_setzero_ps(); 2 * MR];
    let (mut a, mut b) = (a, b);
    for _ in 0..k {
        let b0 = _mm256_loadu_ps(b);
        let b1 = _mm256_loadu_ps(b.add(8));
        for i in 0..MR {
            let ai = _mm256_broadcast_ss(&*a.add(i));
            acc[2 * i] = _mm256_fmadd_ps(ai, b0, acc[2 * i]);
            acc[2 * i + 1] = _mm256_fmadd_ps(ai, b1, acc[2 * i + 1]);
        }
        a = a.add(MR);
        b = b.add(NR);
    }
    for i in 0..MR {
        let row = c.add(i * rs);
        let (lo, hi) = (acc[2 * i], acc[2 * i + 1]);
        if store {
            _mm256_storeu_ps(row, lo);
            _mm256_storeu_ps(row.add(8), hi);
        } else {
            _mm256_storeu_ps(row, _mm256_add_ps(_mm256_loadu_ps(row), lo));
            _mm256_storeu_ps(row.add(8), _mm256_add_ps(_mm256_loadu_ps(row.add(8)), hi));
        }
    }
}

/// Rows `i0..i0+mc`, columns `p0..p0+kc` of `a` as slivers of 6 rows, step-major, zero-padded.
fn pack_a(a: Mat<'_>, i0: usize, mc: usize, p0: usize, kc: usize, out: &mut [f32]) {
    for (s, sliver) in out.chunks_exact_mut(MR * kc).enumerate() {
        for (p, step) in sliver.chunks_exact_mut(MR).enumerate() {
            for (i, v) in step.iter_mut().enumerate() {
                let r = s * MR + i;
                *v = if r < mc {
                    a.data[(i0 + r) * a.rs + (p0 + p) * a.cs]
                } else {
                    0.0
                };
            }
        }
    }
}

/// Rows `p0..p0+kc` of `b` as slivers of 16 columns, step-major, zero-padded; slivers in parallel.
fn pack_b(b: Mat<'_>, p0: usize, kc: usize, out: &mut [f32]) {
    let n = b.cols;
    out[..n.div_ceil(NR) * NR * kc]
        .par_chunks_mut(NR * kc)
        .enumerate()
        .for_each(|(s, sliver)| {
            for (p, step) in sliver.chunks_exact_mut(NR).enumerate() {
                for (j, v) in step.iter_mut().enumerate() {
                    let col = s * NR + j;
                    *v = if col < n {
                        b.data[(p0 + p) * b.rs + col * b.cs]
                    } else {
                        0.0
                    };
                }
            }
        });
}
