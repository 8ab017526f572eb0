//! Single-precision matrix products through the `gemm` crate (the one candle uses), called directly so that
//! the kernels choose transposes by strides, accumulate in place and decide their own threading; large
//! multi-threaded products on AVX2 without AVX-512 go to [`super::sgemm_avx2`], which is faster there.

use super::parallel::SharedMut;

/// A read-only row-major-or-not view: element (r, c) is at `data[r * rs + c * cs]`.
#[derive(Clone, Copy)]
pub struct Mat<'a> {
    /// The elements, at least up to the last one the strides reach.
    pub data: &'a [f32],
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Row stride, in elements.
    pub rs: usize,
    /// Column stride, in elements.
    pub cs: usize,
}

impl<'a> Mat<'a> {
    /// A dense row-major `rows x cols` matrix.
    pub fn rows(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Mat {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose, without copying.
    pub fn t(self) -> Self {
        Mat {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }

    pub(crate) fn span(&self) -> usize {
        if self.rows == 0 || self.cols == 0 {
            0
        } else {
            (self.rows - 1) * self.rs + (self.cols - 1) * self.cs + 1
        }
    }
}

/// A mutable view with a row stride (columns are contiguous). It may be built over memory that other
/// threads write too (other columns of the same rows), hence the raw pointer.
pub struct MatMut<'a> {
    ptr: *mut f32,
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Row stride, in elements.
    pub rs: usize,
    _borrow: std::marker::PhantomData<&'a mut [f32]>,
}

impl<'a> MatMut<'a> {
    /// A dense row-major `rows x cols` matrix.
    pub fn rows(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        Self::strided(data, rows, cols, cols)
    }

    /// `rows x cols` with row stride `rs`, starting at `data[0]`.
    pub fn strided(data: &'a mut [f32], rows: usize, cols: usize, rs: usize) -> Self {
        assert!(span(rows, cols, rs) <= data.len(), "MatMut: out of bounds");
        MatMut {
            ptr: data.as_mut_ptr(),
            rows,
            cols,
            rs,
            _borrow: std::marker::PhantomData,
        }
    }

    /// A view into shared memory.
    ///
    /// # Safety
    /// `start + span` must lie inside `shared`, and no other thread may touch the elements this view
    /// covers while it lives.
    pub unsafe fn shared(
        shared: SharedMut,
        start: usize,
        rows: usize,
        cols: usize,
        rs: usize,
    ) -> Self {
        assert!(
            start + span(rows, cols, rs) <= shared.1,
            "MatMut: out of bounds"
        );
        MatMut {
            ptr: shared.0.add(start),
            rows,
            cols,
            rs,
            _borrow: std::marker::PhantomData,
        }
    }

    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) fn as_ptr(&self) -> *mut f32 {
        self.ptr
    }
}

fn span(rows: usize, cols: usize, rs: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * rs + cols
    }
}

/// How many threads one product may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// The calling thread only.
    One,
    /// Up to this many threads of rayon's pool (0 and 1 mean the calling thread only).
    Pool(usize),
}

impl Threads {
    fn parallelism(self) -> gemm::Parallelism {
        match self {
            Threads::One | Threads::Pool(0) | Threads::Pool(1) => gemm::Parallelism::None,
            Threads::Pool(n) => gemm::Parallelism::Rayon(n),
        }
    }
}

/// `a * b` as a new row-major `a.rows x b.cols` buffer, written by the product alone: a result zeroed
/// first and then overwritten cost a pass over it (13 MB for the input projection of the character
/// lesson's second LSTM layer, every step).
pub fn sgemm_new(a: Mat<'_>, b: Mat<'_>, threads: Threads) -> Vec<f32> {
    // SAFETY: without `accumulate` every kernel writes each element of `dst` without reading it first
    // (the `gemm` crate with `read_dst == false`, `sgemm_avx2` by storing its first panel, the empty
    // product by filling).
    unsafe { written_in_full(a.rows, b.cols, |dst| sgemm(dst, false, a, b, threads)) }
}

/// Depth of each part of [`sgemm_new_deep`], at least.
const DEEP_PART: usize = 2048;

/// `a * b` where the depth dwarfs the result (a dense layer over flattened feature maps: the MNIST
/// network's 128 x 9,216 by 9,216 x 128): partial products over consecutive slices of the depth, one
/// thread each, summed in part order. Threading the product itself split only its 128 x 128 result, and
/// each thread packed the whole depth of its operand (`perf record` of `kernels_bench --case mnist_infer`:
/// the gemm crate's packing 8.8% of the samples, as much as the layer's multiply-adds). The parts follow
/// the shapes alone, so the sum does not depend on the thread count. Other shapes go to [`sgemm_new`].
pub fn sgemm_new_deep(a: Mat<'_>, b: Mat<'_>) -> Vec<f32> {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let parts = super::parallel::reduction_parts(k, DEEP_PART);
    if parts <= 1 || k < 16 * m.max(n) {
        return sgemm_new(a, b, Threads::Pool(super::parallel::threads()));
    }
    let partials = super::parallel::for_parts(k, parts, |_, depth| {
        let a_part = Mat {
            data: &a.data[depth.start * a.cs..],
            cols: depth.len(),
            ..a
        };
        let b_part = Mat {
            data: &b.data[depth.start * b.rs..],
            rows: depth.len(),
            ..b
        };
        if b.rs == 1 && b.cs != 1 {
            // The transpose of a row-major matrix (a dense layer's weights), copied row-major: the gemm
            // crate packs a strided operand slowly, and with the copies MNIST inference went from 5,789
            // to 6,291 images/s (`kernels_bench --case mnist_infer`, builds alternated, AMD Zen 4).
            return super::parallel::with_scratch(depth.len() * n, |copy| {
                transpose_into(b_part, copy, n);
                sgemm_new(a_part, Mat::rows(copy, depth.len(), n), Threads::One)
            });
        }
        sgemm_new(a_part, b_part, Threads::One)
    });
    super::parallel::sum_in_order(partials, || unreachable!("at least two parts"))
}

/// Copies `m`, whose rows are contiguous columns of memory (`rs == 1`), into `out` row-major with rows
/// `out_stride` floats apart: 8 x 8 blocks transposed in AVX2 registers where the CPU has them (a scalar
/// copy of the MNIST layer's weights cost as much as its product), the edges one by one.
pub(crate) fn transpose_into(m: Mat<'_>, out: &mut [f32], out_stride: usize) {
    let (rows, cols) = (m.rows, m.cols);
    assert!(m.rs == 1 && m.span() <= m.data.len() && out_stride >= cols);
    assert!(rows == 0 || out.len() >= (rows - 1) * out_stride + cols);
    let (full_r, full_c) = (rows / 8 * 8, cols / 8 * 8);
    #[cfg(target_arch = "x86_64")]
    if super::activation::has_avx2_fma() {
        for c0 in (0..full_c).step_by(8) {
            for r0 in (0..full_r).step_by(8) {
                // SAFETY: AVX2 checked; the block's reads are inside `m`'s span (asserted above) and
                // its writes inside the first `rows x cols` floats of `out`.
                unsafe {
                    transpose_8x8(
                        m.data.as_ptr().add(c0 * m.cs + r0),
                        m.cs,
                        out.as_mut_ptr().add(r0 * out_stride + c0),
                        out_stride,
                    )
                };
            }
        }
    } else {
        copy_block(m, out, out_stride, 0..full_r, 0..full_c);
    }
    #[cfg(not(target_arch = "x86_64"))]
    copy_block(m, out, out_stride, 0..full_r, 0..full_c);
    copy_block(m, out, out_stride, full_r..rows, 0..cols);
    copy_block(m, out, out_stride, 0..full_r, full_c..cols);
}

/// `out[r * out_stride + c] = m[r, c]` over a block, one element at a time.
fn copy_block(
    m: Mat<'_>,
    out: &mut [f32],
    out_stride: usize,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
) {
    for c in cols {
        for r in rows.clone() {
            out[r * out_stride + c] = m.data[r * m.rs + c * m.cs];
        }
    }
}

/// `dst[j * dst_stride + i] = src[i * src_stride + j]` for `i, j < 8`.
///
/// # Safety
/// AVX2; `src` valid for 8 rows of 8 floats `src_stride` apart, `dst` likewise for writing.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn transpose_8x8(src: *const f32, src_stride: usize, dst: *mut f32, dst_stride: usize) {
    use std::arch::x86_64::*;
    let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(src.add(i * src_stride)));
    let t0 = _mm256_unpacklo_ps(r[0], r[1]);
    let t1 = _mm256_unpackhi_ps(r[0], r[1]);
    let t2 = _mm256_unpacklo_ps(r[2], r[3]);
    let t3 = _mm256_unpackhi_ps(r[2], r[3]);
    let t4 = _mm256_unpacklo_ps(r[4], r[5]);
    let t5 = _mm256_unpackhi_ps(r[4], r[5]);
    let t6 = _mm256_unpacklo_ps(r[6], r[7]);
    let t7 = _mm256_unpackhi_ps(r[6], r[7]);
    let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
    let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
    let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
    let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
    let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
    let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
    let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
    let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
    let out = [
        _mm256_permute2f128_ps::<0x20>(s0, s4),
        _mm256_permute2f128_ps::<0x20>(s1, s5),
        _mm256_permute2f128_ps::<0x20>(s2, s6),
        _mm256_permute2f128_ps::<0x20>(s3, s7),
        _mm256_permute2f128_ps::<0x31>(s0, s4),
        _mm256_permute2f128_ps::<0x31>(s1, s5),
        _mm256_permute2f128_ps::<0x31>(s2, s6),
        _mm256_permute2f128_ps::<0x31>(s3, s7),
    ];
    for (j, v) in out.into_iter().enumerate() {
        _mm256_storeu_ps(dst.add(j * dst_stride), v);
    }
}

/// A new row-major `rows x cols` buffer, filled by `write` through a view of its spare capacity.
///
/// # Safety
/// `write` writes every element of the view it is given before anything reads it.
unsafe fn written_in_full(rows: usize, cols: usize, write: impl FnOnce(MatMut<'_>)) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows * cols);
    let spare = SharedMut::spare(&mut out, rows * cols);
    // SAFETY: the view covers the spare capacity just reserved, which nothing else touches, and the
    // caller vouches that `write` fills all of it.
    unsafe {
        write(MatMut::shared(spare, 0, rows, cols, cols));
        out.set_len(rows * cols);
    }
    out
}

/// `dst = a * b` (or `+=` with `accumulate`) as `blocks` products of consecutive rows, each on one
/// thread of a team of up to [`super::parallel::threads`] (scoped threads, like the LSTM's passes; see
/// [`sgemm_new_in_blocks`]). `blocks` must follow the shapes alone, never the thread count, so that the
/// result does not depend on it.
pub fn sgemm_in_blocks(dst: MatMut<'_>, accumulate: bool, a: Mat<'_>, b: Mat<'_>, blocks: usize) {
    assert_eq!(a.rows, dst.rows, "sgemm: rows of a and dst");
    let ranges = super::parallel::partition(dst.rows, blocks);
    let (rs, cols) = (dst.rs, dst.cols);
    let shared = SharedMut(dst.ptr, span(dst.rows, cols, rs));
    let members = super::parallel::threads().min(ranges.len()).max(1);
    super::team::run_team(members, |crew| {
        for j in crew.jobs(ranges.len()) {
            let r = ranges[j].clone();
            let part = Mat {
                data: &a.data[r.start * a.rs..],
                rows: r.len(),
                ..a
            };
            // SAFETY: blocks cover disjoint rows of `dst`, each written by the one job that owns it.
            let out = unsafe { MatMut::shared(shared, r.start * rs, r.len(), cols, rs) };
            sgemm(out, accumulate, part, b, Threads::One);
        }
    });
}

/// [`sgemm_new`] as [`sgemm_in_blocks`] runs it. For the LSTM lessons' large products, between the
/// recurrence's passes: on rayon's pool their threads scaled less (1.78x on 2 threads on a Zen 4,
/// `examples/lstm_kernel.rs --products`, where two independent halves make 2x), and the team's threads are
/// the ones the next pass runs on.
pub fn sgemm_new_in_blocks(a: Mat<'_>, b: Mat<'_>, blocks: usize) -> Vec<f32> {
    // SAFETY: as in `sgemm_new`: the blocks' products write every row without reading it.
    unsafe {
        written_in_full(a.rows, b.cols, |dst| {
            sgemm_in_blocks(dst, false, a, b, blocks)
        })
    }
}

/// `dst = a * b` (or `dst += a * b` with `accumulate`).
///
/// Panics if the shapes disagree or a view reaches past its slice: these are programming errors inside
/// the kernels, never user input.
pub fn sgemm(dst: MatMut<'_>, accumulate: bool, a: Mat<'_>, b: Mat<'_>, threads: Threads) {
    assert_eq!(a.rows, dst.rows, "sgemm: rows of a and dst");
    assert_eq!(b.cols, dst.cols, "sgemm: cols of b and dst");
    assert_eq!(a.cols, b.rows, "sgemm: inner dimensions");
    assert!(
        a.span() <= a.data.len() && b.span() <= b.data.len(),
        "sgemm: operand out of bounds"
    );
    if dst.rows == 0 || dst.cols == 0 {
        return;
    }
    if a.cols == 0 {
        if !accumulate {
            for r in 0..dst.rows {
                // SAFETY: inside the span checked when `dst` was built.
                unsafe {
                    std::slice::from_raw_parts_mut(dst.ptr.add(r * dst.rs), dst.cols).fill(0.0)
                };
            }
        }
        return;
    }
    // The kernel follows the sizes alone, whatever `threads` says: the two kernels round differently,
    // and callers pick `threads` by the thread count, which must not change results. With AVX-512 the
    // crate's own kernels are the faster ones (1.8x at 2048³, 2 threads, on a Zen 5 EPYC:
    // examples/sgemm_compare.rs, docs/benchmarks.md).
    #[cfg(target_arch = "x86_64")]
    if super::sgemm_avx2::suits(dst.rows, dst.cols, a.cols)
        && super::activation::has_avx2_fma()
        && !super::activation::has_avx512f()
    {
        return super::sgemm_avx2::sgemm(dst, accumulate, a, b, threads);
    }
    // SAFETY: every access of the product lies inside the spans checked above, and `dst` is a mutable
    // borrow (or a view the caller vouched for), so it aliases neither operand.
    unsafe {
        gemm::gemm(
            dst.rows,
            dst.cols,
            a.cols,
            dst.ptr,
            1,
            dst.rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            threads.parallelism(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: Mat, b: Mat) -> Vec<f32> {
        let mut out = vec![0.0; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                for k in 0..a.cols {
                    out[i * b.cols + j] +=
                        a.data[i * a.rs + k * a.cs] * b.data[k * b.rs + j * b.cs];
                }
            }
        }
        out
    }

    /// A deep product split over its depth equals the product summed in f64, for operands read in
    /// place with the strides a dense layer gives them (rows of `x`, the transpose of `W`, copied in 8 x 8
    /// blocks with edges on both sides), on a depth that splits into four parts and one too shallow to
    /// split.
    #[test]
    fn a_deep_product_summed_by_parts_matches_the_definition() {
        for (m, k, n) in [(5, 9000, 19), (3, 40, 2)] {
            let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
            let w: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.11).cos()).collect();
            let (am, bm) = (Mat::rows(&a, m, k), Mat::rows(&w, n, k).t());
            let got = sgemm_new_deep(am, bm);
            for i in 0..m {
                for j in 0..n {
                    let want: f64 = (0..k)
                        .map(|t| a[i * k + t] as f64 * w[j * k + t] as f64)
                        .sum();
                    let scale: f64 = (0..k)
                        .map(|t| (a[i * k + t] * w[j * k + t]).abs() as f64)
                        .sum();
                    let have = got[i * n + j] as f64;
                    assert!(
                        (have - want).abs() <= 1e-6 * scale,
                        "({m}, {k}, {n}) at ({i}, {j}): {have} against {want}"
                    );
                }
            }
        }
    }

    /// A product into a fresh buffer equals the same product into zeros, on a small shape (the `gemm`
    /// crate) and on one large enough for the AVX2 kernel where that is chosen; an empty inner dimension
    /// gives zeros.
    #[test]
    fn a_product_into_a_new_buffer_writes_every_element() {
        for (m, n, k) in [(7, 5, 3), (487, 301, 263)] {
            let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
            let (am, bm) = (Mat::rows(&a, m, k), Mat::rows(&b, n, k).t());
            let mut zeroed = vec![0.0f32; m * n];
            sgemm(
                MatMut::rows(&mut zeroed, m, n),
                false,
                am,
                bm,
                Threads::Pool(2),
            );
            let fresh = sgemm_new(am, bm, Threads::Pool(2));
            assert_eq!(fresh, zeroed, "{m}x{n}x{k}");
            assert!(fresh.iter().any(|&x| x.abs() > 0.1));
        }
        let empty = sgemm_new(Mat::rows(&[], 3, 0), Mat::rows(&[], 0, 4), Threads::One);
        assert_eq!(empty, vec![0.0; 12]);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn large_products_match_with_transposes_and_accumulation() {
        // Big enough for the AVX2 kernel with 2 threads; sizes not multiples of its 6x16 tiles or blocks.
        let (m, n, k) = (487, 301, 263);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        let am = Mat::rows(&a, m, k);
        let bm = Mat::rows(&b, n, k).t();
        assert!(crate::kernels::sgemm_avx2::suits(m, n, k));
        let expected = naive(am, bm);
        let mut out = vec![1.0f32; m * n];
        sgemm(MatMut::rows(&mut out, m, n), true, am, bm, Threads::Pool(2));
        for (o, e) in out.iter().zip(&expected) {
            assert!((o - (e + 1.0)).abs() < 1e-3, "{o} vs {}", e + 1.0);
        }
        sgemm(
            MatMut::rows(&mut out, m, n),
            false,
            am,
            bm,
            Threads::Pool(2),
        );
        for (o, e) in out.iter().zip(&expected) {
            assert!((o - e).abs() < 1e-3, "{o} vs {e}");
        }
        // `sgemm` sends these to the AVX2 kernel only without AVX-512: test it directly as well, alone
        // and threaded, which must give the same bits.
        if crate::kernels::activation::has_avx2_fma() {
            let mut alone = vec![0.0f32; m * n];
            for (threads, dst) in [(Threads::One, &mut alone), (Threads::Pool(3), &mut out)] {
                dst.fill(1.0);
                crate::kernels::sgemm_avx2::sgemm(MatMut::rows(dst, m, n), true, am, bm, threads);
                for (o, e) in dst.iter().zip(&expected) {
                    assert!((o - (e + 1.0)).abs() < 1e-3, "{o} vs {}", e + 1.0);
                }
            }
            assert!(alone
                .iter()
                .zip(&out)
                .all(|(x, y)| x.to_bits() == y.to_bits()));
        }
    }

    /// Products in blocks of rows on a team: the same as the whole product (to rounding), whatever the
    /// number of threads, transposed operands and accumulation included; every element of a fresh
    /// buffer written.
    #[test]
    fn products_in_blocks_match_the_whole_product() {
        let (m, n, k) = (103, 37, 29);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        // a stored transposed, as the LSTM's weight gradient reads its gate gradients.
        let (am, bm) = (Mat::rows(&a, k, m).t(), Mat::rows(&b, k, n));
        let expected = naive(am, bm);
        let mut results = Vec::new();
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let (fresh, accumulated) = pool.install(|| {
                let fresh = sgemm_new_in_blocks(am, bm, 4);
                let mut acc = vec![1.0f32; m * n];
                sgemm_in_blocks(MatMut::rows(&mut acc, m, n), true, am, bm, 4);
                (fresh, acc)
            });
            for ((f, a), e) in fresh.iter().zip(&accumulated).zip(&expected) {
                assert!((f - e).abs() < 1e-4, "{threads} threads: {f} vs {e}");
                assert!(
                    (a - (e + 1.0)).abs() < 1e-4,
                    "{threads} threads: {a} vs {}",
                    e + 1.0
                );
            }
            results.push(fresh);
        }
        assert!(
            results.windows(2).all(|w| w[0] == w[1]),
            "results follow the thread count"
        );
    }

    #[test]
    fn matches_a_naive_product_with_transposes_and_accumulation() {
        let a: Vec<f32> = (0..35).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..35).map(|i| (i as f32 * 0.11).cos()).collect();
        // a: 5x7, b stored as 5x7 and used transposed (7x5).
        let am = Mat::rows(&a, 5, 7);
        let bm = Mat::rows(&b, 5, 7).t();
        let expected = naive(am, bm);
        for threads in [Threads::One, Threads::Pool(2)] {
            let mut out = vec![1.0; 25];
            sgemm(MatMut::rows(&mut out, 5, 5), true, am, bm, threads);
            for (o, e) in out.iter().zip(&expected) {
                assert!((o - (e + 1.0)).abs() < 1e-5);
            }
            sgemm(MatMut::rows(&mut out, 5, 5), false, am, bm, threads);
            for (o, e) in out.iter().zip(&expected) {
                assert!((o - e).abs() < 1e-5);
            }
        }
    }
}
