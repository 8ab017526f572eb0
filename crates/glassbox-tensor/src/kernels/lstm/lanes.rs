//! The instruction sets the recurrence runs on, and its one micro-kernel: a tile of `rows x 4 vectors` of a
//! product `A B`, with `A` read in place (rows of hidden states or of gate gradients) and `B` a packed panel
//! of the recurrent weights, kept across all steps of a sequence.
//!
//! The whole per-thread loop of a pass is generic over [`Lanes`] and compiled once per instruction set (see
//! `with_lanes`), so the cell updates around the micro-kernel get the same vector width as the product.

/// Where the recurrence can run. A value other than `Portable` exists only when the CPU has the features
/// ([`Isa::available`] checks), which is what makes the `unsafe` dispatch in `with_lanes` sound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512F: 16 floats a vector, 6-row tiles.
    Avx512,
    /// AVX2 + FMA: 8 floats a vector, 2-row tiles.
    Avx2,
    /// Plain Rust over arrays of 8 floats, vectorized as the target allows.
    Portable,
}

impl Isa {
    /// The fastest instruction set this CPU has.
    pub fn best() -> Isa {
        Isa::available()[0]
    }

    /// Every instruction set this CPU can run, fastest first.
    pub fn available() -> Vec<Isa> {
        let mut out = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            use super::super::activation::{has_avx2_fma, has_avx512f};
            if has_avx2_fma() {
                if has_avx512f() {
                    out.push(Isa::Avx512);
                }
                out.push(Isa::Avx2);
            }
        }
        out.push(Isa::Portable);
        out
    }

    /// Floats per vector, which is also the unit block of the packed forward panel.
    pub fn width(self) -> usize {
        match self {
            Isa::Avx512 => 16,
            Isa::Avx2 | Isa::Portable => 8,
        }
    }
}

/// One instruction set's vectors of `V` floats, as the micro-kernel uses them.
///
/// Every method is `unsafe` for the same reasons: the CPU must have the instruction set (guaranteed by
/// `with_lanes`, the only way the generic code is entered) and pointers must be valid for what they
/// read or write.
pub trait Lanes {
    /// Floats per vector.
    const V: usize;
    /// Rows of a micro-kernel tile: as many as leave registers for the 4 vectors of `B` and a broadcast.
    const MR: usize;
    /// The vector register type.
    type R: Copy;
    /// # Safety
    /// The CPU has the instruction set.
    unsafe fn zero() -> Self::R;
    /// # Safety
    /// The CPU has the instruction set; `p` is valid for reading `V` floats.
    unsafe fn load(p: *const f32) -> Self::R;
    /// `*p` in every lane.
    ///
    /// # Safety
    /// The CPU has the instruction set; `p` is valid for reading one float.
    unsafe fn splat(p: *const f32) -> Self::R;
    /// `a * b + acc`.
    ///
    /// # Safety
    /// The CPU has the instruction set.
    unsafe fn fma(a: Self::R, b: Self::R, acc: Self::R) -> Self::R;
    /// # Safety
    /// The CPU has the instruction set; `p` is valid for writing `V` floats.
    unsafe fn store(p: *mut f32, v: Self::R);
    /// A store past the caches, for results not read again soon (a plain store on arrays).
    ///
    /// # Safety
    /// As [`Lanes::store`], and `p` aligned to a whole vector. The stores become visible to other threads
    /// in order only after a [`Lanes::fence`].
    unsafe fn stream(p: *mut f32, v: Self::R);
    /// Orders every streaming store before the stores that follow (the team's signals among them): `sfence`,
    /// part of every x86-64 CPU.
    #[inline(always)]
    fn fence() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: SSE, which x86-64 always has.
        unsafe {
            std::arch::x86_64::_mm_sfence()
        }
    }

    // Lane-wise arithmetic for the cell updates, each one rounding like the scalar operation it stands
    // for (no fused multiply-adds), so that a block computes the same floats on every path.
    /// `x` in every lane.
    ///
    /// # Safety
    /// The CPU has the instruction set (and so for every method below).
    unsafe fn set(x: f32) -> Self::R;
    /// # Safety
    /// As [`Lanes::set`].
    unsafe fn add(a: Self::R, b: Self::R) -> Self::R;
    /// # Safety
    /// As [`Lanes::set`].
    unsafe fn sub(a: Self::R, b: Self::R) -> Self::R;
    /// # Safety
    /// As [`Lanes::set`].
    unsafe fn mul(a: Self::R, b: Self::R) -> Self::R;
    /// # Safety
    /// As [`Lanes::set`].
    unsafe fn div(a: Self::R, b: Self::R) -> Self::R;
    /// `x` clamped to `[lo, hi]`, NaN kept (as `f32::clamp`).
    ///
    /// # Safety
    /// As [`Lanes::set`].
    unsafe fn clamp(x: Self::R, lo: f32, hi: f32) -> Self::R;
    /// # Safety
    /// As [`Lanes::set`].
    unsafe fn floor(x: Self::R) -> Self::R;
    /// The float whose bits are those of `x` shifted left by 23 (see `activation::exp`).
    ///
    /// # Safety
    /// As [`Lanes::set`].
    unsafe fn shl23(x: Self::R) -> Self::R;
}

/// The largest tile of any instruction set, in floats (`MR * 4 * V`), for stack buffers.
pub const MAX_TILE: usize = 6 * 4 * 16;

/// Scalar code on plain arrays, for any CPU (and the reference the vector paths are checked against).
pub struct Portable;

impl Lanes for Portable {
    const V: usize = 8;
    const MR: usize = 2;
    type R = [f32; 8];
    #[inline(always)]
    unsafe fn zero() -> Self::R {
        [0.0; 8]
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self::R {
        // SAFETY: the caller passes a pointer valid for 8 floats.
        unsafe { p.cast::<[f32; 8]>().read_unaligned() }
    }
    #[inline(always)]
    unsafe fn splat(p: *const f32) -> Self::R {
        // SAFETY: valid for one float, as the caller guarantees.
        [unsafe { *p }; 8]
    }
    #[inline(always)]
    unsafe fn fma(a: Self::R, b: Self::R, acc: Self::R) -> Self::R {
        // Not `mul_add`: without hardware FMA it is a library call per element.
        std::array::from_fn(|j| a[j] * b[j] + acc[j])
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: Self::R) {
        // SAFETY: the caller passes a pointer valid for 8 floats.
        unsafe { p.cast::<[f32; 8]>().write_unaligned(v) }
    }
    #[inline(always)]
    unsafe fn stream(p: *mut f32, v: Self::R) {
        // SAFETY: as `store`.
        unsafe { Self::store(p, v) }
    }
    #[inline(always)]
    unsafe fn set(x: f32) -> Self::R {
        [x; 8]
    }
    #[inline(always)]
    unsafe fn add(a: Self::R, b: Self::R) -> Self::R {
        std::array::from_fn(|j| a[j] + b[j])
    }
    #[inline(always)]
    unsafe fn sub(a: Self::R, b: Self::R) -> Self::R {
        std::array::from_fn(|j| a[j] - b[j])
    }
    #[inline(always)]
    unsafe fn mul(a: Self::R, b: Self::R) -> Self::R {
        std::array::from_fn(|j| a[j] * b[j])
    }
    #[inline(always)]
    unsafe fn div(a: Self::R, b: Self::R) -> Self::R {
        std::array::from_fn(|j| a[j] / b[j])
    }
    #[inline(always)]
    unsafe fn clamp(x: Self::R, lo: f32, hi: f32) -> Self::R {
        x.map(|v| v.clamp(lo, hi))
    }
    #[inline(always)]
    unsafe fn floor(x: Self::R) -> Self::R {
        x.map(f32::floor)
    }
    #[inline(always)]
    unsafe fn shl23(x: Self::R) -> Self::R {
        x.map(|v| f32::from_bits(v.to_bits() << 23))
    }
}

#[cfg(target_arch = "x86_64")]
pub use x86::{Avx2, Avx512};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Lanes;
    use std::arch::x86_64::*;

    /// AVX2 with FMA: 8 floats per vector.
    pub struct Avx2;

    // SAFETY (all methods): pointers valid for 8 floats and AVX2 + FMA present, as the trait requires.
    impl Lanes for Avx2 {
        const V: usize = 8;
        // 8 accumulators + 4 vectors of B + 1 broadcast of the 16 registers. Three rows would need 17,
        // and the spills made the forward pass twice as slow (char_lstm_train's geometry, 1 thread).
        const MR: usize = 2;
        type R = __m256;
        #[inline(always)]
        unsafe fn zero() -> __m256 {
            unsafe { _mm256_setzero_ps() }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m256 {
            unsafe { _mm256_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn splat(p: *const f32) -> __m256 {
            unsafe { _mm256_broadcast_ss(&*p) }
        }
        #[inline(always)]
        unsafe fn fma(a: __m256, b: __m256, acc: __m256) -> __m256 {
            unsafe { _mm256_fmadd_ps(a, b, acc) }
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: __m256) {
            unsafe { _mm256_storeu_ps(p, v) }
        }
        #[inline(always)]
        unsafe fn stream(p: *mut f32, v: __m256) {
            unsafe { _mm256_stream_ps(p, v) }
        }
        #[inline(always)]
        unsafe fn set(x: f32) -> __m256 {
            unsafe { _mm256_set1_ps(x) }
        }
        #[inline(always)]
        unsafe fn add(a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_add_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn sub(a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_sub_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn mul(a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_mul_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn div(a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_div_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn clamp(x: __m256, lo: f32, hi: f32) -> __m256 {
            // max/min return their second operand when either is NaN: `x` goes second.
            unsafe { _mm256_min_ps(_mm256_set1_ps(hi), _mm256_max_ps(_mm256_set1_ps(lo), x)) }
        }
        #[inline(always)]
        unsafe fn floor(x: __m256) -> __m256 {
            unsafe { _mm256_floor_ps(x) }
        }
        #[inline(always)]
        unsafe fn shl23(x: __m256) -> __m256 {
            unsafe { _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_castps_si256(x))) }
        }
    }

    /// AVX-512F: 16 floats per vector.
    pub struct Avx512;

    // SAFETY (all methods): pointers valid for 16 floats and AVX-512F present, as the trait requires.
    impl Lanes for Avx512 {
        const V: usize = 16;
        // 24 accumulators + 4 vectors of B + 1 broadcast of the 32 registers.
        const MR: usize = 6;
        type R = __m512;
        #[inline(always)]
        unsafe fn zero() -> __m512 {
            unsafe { _mm512_setzero_ps() }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m512 {
            unsafe { _mm512_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn splat(p: *const f32) -> __m512 {
            unsafe { _mm512_set1_ps(*p) }
        }
        #[inline(always)]
        unsafe fn fma(a: __m512, b: __m512, acc: __m512) -> __m512 {
            unsafe { _mm512_fmadd_ps(a, b, acc) }
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: __m512) {
            unsafe { _mm512_storeu_ps(p, v) }
        }
        #[inline(always)]
        unsafe fn stream(p: *mut f32, v: __m512) {
            unsafe { _mm512_stream_ps(p, v) }
        }
        #[inline(always)]
        unsafe fn set(x: f32) -> __m512 {
            unsafe { _mm512_set1_ps(x) }
        }
        #[inline(always)]
        unsafe fn add(a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_add_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn sub(a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_sub_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn mul(a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_mul_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn div(a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_div_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn clamp(x: __m512, lo: f32, hi: f32) -> __m512 {
            // max/min return their second operand when either is NaN: `x` goes second.
            unsafe { _mm512_min_ps(_mm512_set1_ps(hi), _mm512_max_ps(_mm512_set1_ps(lo), x)) }
        }
        #[inline(always)]
        unsafe fn floor(x: __m512) -> __m512 {
            unsafe { _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(x) }
        }
        #[inline(always)]
        unsafe fn shl23(x: __m512) -> __m512 {
            unsafe { _mm512_castsi512_ps(_mm512_slli_epi32::<23>(_mm512_castps_si512(x))) }
        }
    }
}

/// `out[r][0..4V] = Σ_p a[r * a_rs + p] b[p][0..4V]` for `r < ROWS`, `p < k`: `b` is a packed panel of
/// `k` steps of `4V` floats, `out` has rows of `4V` floats.
///
/// # Safety
/// `a`, `b` and `out` valid for those reads and writes; the CPU has `L`'s instruction set.
#[inline(always)]
unsafe fn tile<L: Lanes, const ROWS: usize>(
    k: usize,
    a: *const f32,
    a_rs: usize,
    b: *const f32,
    out: *mut f32,
) {
    let v = L::V;
    // SAFETY: every pointer stays inside the ranges the caller vouched for.
    unsafe {
        let mut acc = [[L::zero(); 4]; ROWS];
        let mut b = b;
        for p in 0..k {
            let bv = [
                L::load(b),
                L::load(b.add(v)),
                L::load(b.add(2 * v)),
                L::load(b.add(3 * v)),
            ];
            for (r, acc) in acc.iter_mut().enumerate() {
                let ar = L::splat(a.add(r * a_rs + p));
                for (q, acc) in acc.iter_mut().enumerate() {
                    *acc = L::fma(ar, bv[q], *acc);
                }
            }
            b = b.add(4 * v);
        }
        for (r, acc) in acc.iter().enumerate() {
            for (q, acc) in acc.iter().enumerate() {
                L::store(out.add(r * 4 * v + q * v), *acc);
            }
        }
    }
}

/// `tile` for `rows <= L::MR` rows, the count known only at run time (the last block of a batch).
///
/// # Safety
/// As `tile` with `ROWS = rows`.
#[inline(always)]
pub unsafe fn tile_rows<L: Lanes>(
    rows: usize,
    k: usize,
    a: *const f32,
    a_rs: usize,
    b: *const f32,
    out: *mut f32,
) {
    debug_assert!(rows <= L::MR && L::MR * 4 * L::V <= MAX_TILE);
    // SAFETY: forwarded from the caller.
    unsafe {
        match rows {
            1 => tile::<L, 1>(k, a, a_rs, b, out),
            2 => tile::<L, 2>(k, a, a_rs, b, out),
            3 => tile::<L, 3>(k, a, a_rs, b, out),
            4 => tile::<L, 4>(k, a, a_rs, b, out),
            5 => tile::<L, 5>(k, a, a_rs, b, out),
            6 => tile::<L, 6>(k, a, a_rs, b, out),
            _ => unreachable!("tile of {rows} rows"),
        }
    }
}

/// Calls the generic `$f::<L>(args)` with `L` the lanes of `$isa`, compiled for that instruction set:
/// `$f` must be `#[inline(always)]` so that its body (and everything it inlines) lands in the wrapper with
/// the target features.
macro_rules! with_lanes {
    ($isa:expr, $f:ident($($arg:ident: $ty:ty),* $(,)?)) => {{
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f,avx2,fma")]
        unsafe fn avx512($($arg: $ty),*) {
            $f::<$crate::kernels::lstm::lanes::Avx512>($($arg),*)
        }
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2($($arg: $ty),*) {
            $f::<$crate::kernels::lstm::lanes::Avx2>($($arg),*)
        }
        match $isa {
            // SAFETY: an `Isa` other than `Portable` is only used after `Isa::available` listed it.
            #[cfg(target_arch = "x86_64")]
            $crate::kernels::lstm::lanes::Isa::Avx512 => unsafe { avx512($($arg),*) },
            #[cfg(target_arch = "x86_64")]
            $crate::kernels::lstm::lanes::Isa::Avx2 => unsafe { avx2($($arg),*) },
            _ => $f::<$crate::kernels::lstm::lanes::Portable>($($arg),*),
        }
    }};
}
pub(crate) use with_lanes;
