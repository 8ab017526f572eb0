//! Threading of the kernels: fixed partitions over rayon's pool, and per-thread scratch buffers.
//!
//! Every split that decides how a sum is grouped (the parts of a reduction, the bands of a convolution)
//! is a function of the problem's size alone, never of the thread count: floating-point addition is not
//! associative, so a split that followed `RAYON_NUM_THREADS` or the machine's cores would give a training
//! run other weights on another machine, or under another setting, than the same seed gave before.
//! Rayon then spreads the parts over whatever threads there are.

use std::cell::RefCell;

/// The number of threads the kernels use: rayon's pool size (`RAYON_NUM_THREADS`, else the core count),
/// the same setting candle's own CPU ops follow.
pub fn threads() -> usize {
    rayon::current_num_threads().max(1)
}

/// The most parts a reduction is split into: enough to keep 32 threads busy. More would only add
/// partial sums (memory, and a longer final sum) on the machines this runs on.
pub const REDUCTION_PARTS: usize = 32;

/// Work items a split into bands aims for at least, whatever the thread count: enough for two cores to
/// share the lowering and transforms. More bands would shrink each band's product (a batch-1 VGG16 layer
/// of 512 channels packs its 9 MB of filters once per band), so where there are fewer than two items per
/// thread the products use the pool themselves ([`band_threads`]).
pub const MIN_WORK_ITEMS: usize = 4;

/// How the product inside each of `items` parallel work items is threaded: alone when the items keep
/// every thread busy, else on the pool. Either way each value is the same sum in the same order (a
/// product's kernel and depth blocking follow its sizes, never its threads: `super::gemm::sgemm`), so
/// this may follow the thread count.
pub fn band_threads(items: usize) -> super::gemm::Threads {
    let t = threads();
    if items >= 2 * t {
        super::gemm::Threads::One
    } else {
        super::gemm::Threads::Pool(t)
    }
}

/// How many parts a reduction over `n` items is split into: as many as give each at least
/// `min_per_part` items, between 1 and [`REDUCTION_PARTS`]. It depends on `n` alone, so that the partial
/// sums, and so the result, are the same bit for bit whatever the thread count.
pub fn reduction_parts(n: usize, min_per_part: usize) -> usize {
    (n / min_per_part.max(1)).clamp(1, REDUCTION_PARTS)
}

/// Splits `0..n` into at most `parts` contiguous ranges of nearly equal length.
pub fn partition(n: usize, parts: usize) -> Vec<std::ops::Range<usize>> {
    let parts = parts.clamp(1, n.max(1));
    (0..parts)
        .map(|p| (p * n / parts)..((p + 1) * n / parts))
        .filter(|r| !r.is_empty())
        .collect()
}

/// Runs `f(part_index, range)` for each part of `partition(n, parts)` on rayon's pool and returns the
/// results in part order.
pub fn for_parts<T: Send>(
    n: usize,
    parts: usize,
    f: impl Fn(usize, std::ops::Range<usize>) -> T + Sync,
) -> Vec<T> {
    use rayon::prelude::*;
    let ranges = partition(n, parts);
    if ranges.len() <= 1 {
        return ranges
            .into_iter()
            .enumerate()
            .map(|(i, r)| f(i, r))
            .collect();
    }
    ranges
        .into_par_iter()
        .enumerate()
        .map(|(i, r)| f(i, r))
        .collect()
}

/// The element-wise sum of `parts` in their order (the partial sums of a fixed partition, so the result
/// is the same whatever the threads), or `empty()` when there are none.
pub(crate) fn sum_in_order(parts: Vec<Vec<f32>>, empty: impl FnOnce() -> Vec<f32>) -> Vec<f32> {
    let mut parts = parts.into_iter();
    let mut sum = parts.next().unwrap_or_else(empty);
    for part in parts {
        sum.iter_mut().zip(&part).for_each(|(s, p)| *s += p);
    }
    sum
}

thread_local! {
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static SECOND_SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static THIRD_SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Calls `f` with this thread's scratch buffer of at least `len` floats (contents unspecified).
pub fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    scratch(&SCRATCH, len, f)
}

/// A second per-thread buffer, for use inside [`with_scratch`].
pub fn with_second_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    scratch(&SECOND_SCRATCH, len, f)
}

/// A third per-thread buffer, for use inside [`with_second_scratch`].
pub fn with_third_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    scratch(&THIRD_SCRATCH, len, f)
}

fn scratch<R>(
    key: &'static std::thread::LocalKey<RefCell<Vec<f32>>>,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    key.with(|cell| {
        let mut buf = cell.take();
        if buf.len() < len {
            buf.resize(len, 0.0);
        }
        let out = f(&mut buf[..len]);
        cell.replace(buf);
        out
    })
}

/// A raw pointer that may cross threads; each thread writes a disjoint region, which the caller
/// guarantees.
#[derive(Clone, Copy)]
pub struct SharedMut(pub *mut f32, pub usize);
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

impl SharedMut {
    /// A pointer to `slice` and its length.
    pub fn new(slice: &mut [f32]) -> Self {
        SharedMut(slice.as_mut_ptr(), slice.len())
    }

    /// The spare capacity of `buf` (`len` floats, which it must have room for), to be written in full
    /// through this pointer before [`Vec::set_len`] makes them part of `buf`. For kernels that write every
    /// element of a large result: zeroing it first was a pass over memory as long as the result (a
    /// sampled profile of the LSTM's training step found 7% of the time in `memset`).
    pub fn spare(buf: &mut Vec<f32>, len: usize) -> Self {
        assert!(buf.capacity() >= len, "SharedMut: no room for {len} floats");
        SharedMut(buf.as_mut_ptr(), len)
    }

    /// # Safety
    /// No two live slices obtained from the same `SharedMut` may overlap.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice(&self, start: usize, len: usize) -> &mut [f32] {
        assert!(start + len <= self.1, "SharedMut: out of bounds");
        std::slice::from_raw_parts_mut(self.0.add(start), len)
    }
}

/// A vector of `len` floats (with room for `extra` more after them) that `fill` writes, from any
/// threads, through the pointer it is given ([`SharedMut::spare`]): not zeroed first.
///
/// # Safety
/// `fill` must write every one of the `len` floats, each from one thread.
pub(crate) unsafe fn written_in_full(
    len: usize,
    extra: usize,
    fill: impl FnOnce(SharedMut),
) -> Vec<f32> {
    let mut v = Vec::with_capacity(len + extra);
    fill(SharedMut::spare(&mut v, len));
    v.set_len(len);
    v
}

/// Values per piece of [`elementwise`]: 64 KB of output, large enough that handing a piece to a thread
/// costs little beside it.
pub(crate) const ELEMENTWISE_PIECE: usize = 16 * 1024;

/// A vector of `len` values that `fill(range, out)` writes piece by piece (`out` is the piece for
/// `range`, not zeroed first), on rayon's pool where there is more than one piece. For element-wise
/// kernels, whose every value depends on its own inputs alone, so the pieces change nothing but the
/// threads. On two cores, candle's own element-wise ops run on the calling thread alone
/// (`super::process::quiet_candle_pool`), and one of the DCGAN step's was a tanh of 100,000 values:
/// 2.6 ms of a 100 ms step with the other core idle (`perf record` on `kernels_bench --case dcgan_train`).
pub(crate) fn elementwise(
    len: usize,
    fill: impl Fn(std::ops::Range<usize>, &mut [f32]) + Sync,
) -> Vec<f32> {
    // SAFETY: `fill` writes every value of each piece it is given (its contract), and
    // `MaybeUninit<f32>` has the layout of `f32`.
    unsafe {
        in_pieces(len, ELEMENTWISE_PIECE, |i, piece| {
            let start = i * ELEMENTWISE_PIECE;
            fill(start..start + piece.len(), assume_floats(piece))
        })
    }
}

/// A buffer of `len` zeros to accumulate into (`+=`) or write over, cut into `chunk`-sized pieces that
/// `fill` gets in parallel with their index, each zeroed by its own thread just before.
///
/// Not `vec![0.0; len]` and then `+=`: for a buffer above glibc's mmap threshold (32 MB) calloc hands
/// over untouched pages from the kernel, and the first read of each maps the shared zero page, so the
/// write after it copies the page and flushes the other cores' TLBs, an interrupt per page. At style
/// transfer's 512x512 that was about 15% of a step (`perf record`: `native_write_msr` under
/// `do_wp_page`), in max pooling's backward. For a smaller buffer calloc zeroes recycled heap memory on
/// one thread, a pass this saves. Here each page is first written, once, by the thread that uses it.
pub(crate) fn zeros_accumulated_in_parallel(
    len: usize,
    chunk: usize,
    fill: impl Fn(usize, &mut [f32]) + Sync + Send,
) -> Vec<f32> {
    // SAFETY: every piece is initialized (zeroed) before `fill` sees it.
    unsafe {
        in_pieces(len, chunk.max(1), |i, piece| {
            piece.fill(std::mem::MaybeUninit::new(0.0));
            fill(i, assume_floats(piece));
        })
    }
}

/// The floats of a piece that is, or is about to be, written in full: `MaybeUninit<f32>` has the layout
/// of `f32`. The callers above read nothing before they write it.
fn assume_floats(piece: &mut [std::mem::MaybeUninit<f32>]) -> &mut [f32] {
    // SAFETY: same layout; every caller writes the piece before anything reads it.
    unsafe { &mut *(piece as *mut [std::mem::MaybeUninit<f32>] as *mut [f32]) }
}

/// A vector of `len` floats that `write(index, piece)` initializes piece by piece (pieces of `piece`
/// values, the last one shorter), on rayon's pool where there is more than one piece and on the calling
/// thread otherwise (a lone piece is not worth sending to the pool).
///
/// # Safety
/// `write` must initialize every value of every piece it is given.
unsafe fn in_pieces(
    len: usize,
    piece: usize,
    write: impl Fn(usize, &mut [std::mem::MaybeUninit<f32>]) + Sync,
) -> Vec<f32> {
    use rayon::prelude::*;
    let mut buf: Vec<f32> = Vec::with_capacity(len);
    let spare = &mut buf.spare_capacity_mut()[..len];
    if len > piece {
        spare
            .par_chunks_mut(piece)
            .enumerate()
            .for_each(|(i, p)| write(i, p));
    } else if len > 0 {
        write(0, spare);
    }
    // SAFETY: the pieces cover `0..len` and `write` initialized each (its contract; a panic above drops
    // `buf` at length 0, which is sound for `f32`).
    buf.set_len(len);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_cover_the_range_in_order() {
        assert_eq!(partition(10, 3), vec![0..3, 3..6, 6..10]);
        assert_eq!(partition(2, 4), vec![0..1, 1..2]);
        assert_eq!(partition(0, 4), Vec::<std::ops::Range<usize>>::new());
    }

    #[test]
    fn reduction_parts_follow_the_size_only() {
        assert_eq!(reduction_parts(0, 16), 1);
        assert_eq!(reduction_parts(100, 16), 6);
        assert_eq!(reduction_parts(1 << 20, 1), REDUCTION_PARTS);
        let in_pool = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| reduction_parts(1000, 16))
        };
        assert_eq!(in_pool(1), in_pool(3));
    }

    #[test]
    fn element_wise_pieces_cover_the_output_once() {
        for len in [0, 5, ELEMENTWISE_PIECE, 3 * ELEMENTWISE_PIECE + 7] {
            let out = elementwise(len, |range, piece| {
                assert_eq!(range.len(), piece.len());
                for (v, i) in piece.iter_mut().zip(range) {
                    *v = i as f32;
                }
            });
            assert_eq!(out.len(), len);
            assert!(
                out.iter().enumerate().all(|(i, &v)| v == i as f32),
                "len {len}"
            );
        }
    }

    #[test]
    fn accumulating_into_fresh_zeros_in_pieces() {
        // 10 is not a multiple of the piece size 4: the last piece is short.
        let buf = zeros_accumulated_in_parallel(10, 4, |i, piece| {
            for (j, v) in piece.iter_mut().enumerate() {
                *v += (i * 100 + j) as f32;
            }
        });
        assert_eq!(buf, [0., 1., 2., 3., 100., 101., 102., 103., 200., 201.]);
        assert!(zeros_accumulated_in_parallel(0, 0, |_, _| unreachable!()).is_empty());
        // Large enough to come from mmap: every element reads zero before it is added to.
        let big = zeros_accumulated_in_parallel(10 << 20, 1 << 20, |_, piece| {
            for v in piece.iter_mut().step_by(1021) {
                *v += 1.0;
            }
        });
        assert_eq!(
            big.iter().filter(|&&v| v == 1.0).count(),
            10 * (1usize << 20).div_ceil(1021)
        );
        assert_eq!(big.iter().filter(|&&v| v != 0.0 && v != 1.0).count(), 0);
    }
}
