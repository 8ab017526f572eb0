//! Branch-free `exp`, sigmoid and tanh that the compiler vectorizes, and run-time dispatch to an AVX2 + FMA
//! build of the loops that use them (portable fallback elsewhere).
//!
//! `exp` is Cephes' single-precision polynomial (about 1 ulp on the clamped range); sigmoid and tanh are
//! built from it, with an absolute error near 1e-7.

pub(crate) const LOG2E: f32 = std::f32::consts::LOG2_E;
pub(crate) const LN2_HI: f32 = 0.693_359_4;
pub(crate) const LN2_LO: f32 = -2.121_944_4e-4;
/// Cephes' polynomial coefficients, written as published, highest degree first.
#[allow(clippy::excessive_precision)]
pub(crate) const EXP_POLY: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    5.000_000_1e-1,
];
/// Where `exp`'s argument is clamped: its result stays a finite normal float.
pub(crate) const EXP_RANGE: (f32, f32) = (-87.0, 88.0);

/// `e^x` by Cephes' range reduction and polynomial, written to vectorize; the argument is clamped to
/// `EXP_RANGE` so the result stays a finite normal float.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(EXP_RANGE.0, EXP_RANGE.1);
    let n = (x * LOG2E + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = EXP_POLY[0];
    for c in &EXP_POLY[1..] {
        p = p * r + c;
    }
    let p = p * r * r + r + 1.0;
    // 2^n from the bits: adding 2^23 puts the integer n + 127 in the low mantissa bits, and the shift
    // moves it into the exponent field (a float-to-int cast would not vectorize as well).
    p * f32::from_bits((n + (127.0 + 8_388_608.0)).to_bits() << 23)
}

/// The logistic function `1 / (1 + e^-x)` through [`exp`].
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `tanh x = 2 sigmoid(2x) - 1` through [`exp`].
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    2.0 / (1.0 + exp(-2.0 * x)) - 1.0
}

/// Where Cephes' single-precision tanh switches from its odd polynomial to the exponential form.
const TANH_POLY_BELOW: f32 = 0.625;
/// Cephes' `tanhf` polynomial in `x²` (highest degree first): `tanh x = x + x³ P(x²)` below
/// [`TANH_POLY_BELOW`].
#[allow(clippy::excessive_precision)]
const TANH_POLY: [f32; 5] = [
    -5.704_988_727_45e-3,
    2.063_908_879_54e-2,
    -5.373_971_555_31e-2,
    1.333_144_220_36e-1,
    -3.333_328_194_22e-1,
];

/// Cephes' single-precision `tanhf`, written to vectorize (both forms computed, one selected): near
/// zero its odd polynomial keeps the relative error of `x` itself, where [`tanh`]'s `2 sigmoid(2x) - 1`
/// cancels (about 6e-4 relative at 1e-4); above, `1 - 2 / (e^{2|x|} + 1)` with the sign of `x`. What
/// the element-wise tanh op computes (`crate::ops::tanh`).
#[inline(always)]
pub fn cephes_tanh(x: f32) -> f32 {
    let z = x * x;
    let mut p = TANH_POLY[0];
    for c in &TANH_POLY[1..] {
        p = p * z + c;
    }
    let near_zero = p * z * x + x;
    let a = x.abs();
    let far = (1.0 - 2.0 / (exp(2.0 * a) + 1.0)).copysign(x);
    if a < TANH_POLY_BELOW {
        near_zero
    } else {
        far
    }
}

/// One value's LeakyReLU: `v` where `v > 0`, `slope v` elsewhere (a select, not a branch: half the
/// values of a layer's output are negative, and a branch on each mispredicted often enough to cost the
/// DCGAN's step 9%).
#[inline(always)]
pub fn leaky(v: f32, slope: f32) -> f32 {
    if v > 0.0 {
        v
    } else {
        v * slope
    }
}

/// One value's LeakyReLU gradient: `g` where `v > 0`, `slope g` elsewhere (PyTorch's choice at 0). `v`
/// is the input, or the output where `slope >= 0` (positive where the input was).
#[inline(always)]
pub fn leaky_grad(g: f32, v: f32, slope: f32) -> f32 {
    if v > 0.0 {
        g
    } else {
        g * slope
    }
}

/// LeakyReLU: `x` where `x > 0`, `slope x` elsewhere.
pub fn leaky_relu(x: &[f32], slope: f32) -> Vec<f32> {
    super::parallel::elementwise(x.len(), |range, out| leaky_relu_into(&x[range], slope, out))
}

/// [`leaky_relu`] in place.
pub fn leaky_relu_in_place(x: &mut [f32], slope: f32) {
    for v in x.iter_mut() {
        *v = leaky(*v, slope);
    }
}

/// LeakyReLU's input gradient: `dy` where `x > 0`, `slope dy` elsewhere (PyTorch's choice at 0).
pub fn leaky_relu_backward(x: &[f32], dy: &[f32], slope: f32) -> Vec<f32> {
    assert_eq!(
        x.len(),
        dy.len(),
        "leaky_relu: input and gradient lengths differ"
    );
    super::parallel::elementwise(x.len(), |range, out| {
        leaky_relu_backward_into(&x[range.clone()], &dy[range], slope, out)
    })
}

/// [`cephes_tanh`] of each of `x`, in parallel pieces.
pub fn tanh_forward(x: &[f32]) -> Vec<f32> {
    super::parallel::elementwise(x.len(), |range, out| tanh_into(&x[range], out))
}

/// Tanh's input gradient `dy (1 - y²)` from its output `y`, in parallel pieces.
pub fn tanh_backward(y: &[f32], dy: &[f32]) -> Vec<f32> {
    assert_eq!(
        y.len(),
        dy.len(),
        "tanh: output and gradient lengths differ"
    );
    super::parallel::elementwise(y.len(), |range, out| {
        tanh_backward_into(&y[range.clone()], &dy[range], out)
    })
}

/// Whether the AVX2 + FMA builds may run: the CPU has them and `GLASSBOX_CPU` does not ask for less
/// (`kernels::cpu`).
pub fn has_avx2_fma() -> bool {
    super::cpu::tier() >= super::cpu::Tier::Avx2
}

/// Whether the AVX-512F builds may run (as above).
pub fn has_avx512f() -> bool {
    super::cpu::tier() >= super::cpu::Tier::Avx512
}

/// Defines `fn $name(args)` that runs `$body` compiled for AVX2 + FMA when the CPU has them and
/// compiled portably otherwise.
macro_rules! dispatch_avx2 {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn generic($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) {
                    generic($($arg),*)
                }
                if $crate::kernels::activation::has_avx2_fma() {
                    // SAFETY: the CPU supports the features this build was compiled for.
                    return unsafe { avx2($($arg),*) };
                }
            }
            generic($($arg),*)
        }
    };
}
pub(crate) use dispatch_avx2;

/// [`dispatch_avx2`] with one more tier: the same body compiled for AVX-512 when the CPU has AVX-512F.
/// For loops the compiler vectorizes on its own (Winograd's transforms): sixteen lanes instead of eight,
/// and the same results, since nothing is reassociated.
macro_rules! dispatch_avx512 {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn generic($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn avx512($($arg: $ty),*) {
                    generic($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) {
                    generic($($arg),*)
                }
                if $crate::kernels::activation::has_avx512f() && $crate::kernels::activation::has_avx2_fma() {
                    // SAFETY: the CPU supports the features this build was compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if $crate::kernels::activation::has_avx2_fma() {
                    // SAFETY: as above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            generic($($arg),*)
        }
    };
}
pub(crate) use dispatch_avx512;

dispatch_avx512! {
    /// [`leaky`] of each of `x` into `out`: as its own compiled loop, which vectorizes (the select
    /// stays a select; as a branch, half the values mispredict).
    fn leaky_relu_into(x: &[f32], slope: f32, out: &mut [f32]) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = leaky(v, slope);
        }
    }
}

dispatch_avx512! {
    /// [`leaky_grad`] of each of `dy` into `out`, by the input (or output) `x`.
    fn leaky_relu_backward_into(x: &[f32], dy: &[f32], slope: f32, out: &mut [f32]) {
        for ((o, &v), &g) in out.iter_mut().zip(x).zip(dy) {
            *o = leaky_grad(g, v, slope);
        }
    }
}

dispatch_avx512! {
    /// [`cephes_tanh`] of each of `x` into `out`.
    pub fn tanh_into(x: &[f32], out: &mut [f32]) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = cephes_tanh(v);
        }
    }
}

dispatch_avx512! {
    /// Tanh's input gradient from its output `y`: `dy (1 - y²)` into `out`, PyTorch's formula.
    pub fn tanh_backward_into(y: &[f32], dy: &[f32], out: &mut [f32]) {
        for ((o, &y), &g) in out.iter_mut().zip(y).zip(dy) {
            *o = g * (1.0 - y * y);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_the_standard_library() {
        let mut worst = (0.0f32, 0.0f32, 0.0f32);
        for i in -4000..=4000 {
            let x = i as f32 * 0.02;
            let e = (exp(x) - x.exp()).abs() / x.exp();
            worst.0 = worst.0.max(e);
            worst.1 = worst.1.max((sigmoid(x) - 1.0 / (1.0 + (-x).exp())).abs());
            worst.2 = worst.2.max((tanh(x) - x.tanh()).abs());
        }
        assert!(worst.0 < 3e-7, "exp relative error {}", worst.0);
        assert!(worst.1 < 2e-7, "sigmoid error {}", worst.1);
        assert!(worst.2 < 5e-7, "tanh error {}", worst.2);
        assert_eq!(exp(-200.0).min(1e-30), exp(-200.0));
        assert!(exp(200.0).is_finite());
        assert_eq!(sigmoid(-200.0), sigmoid(-200.0).max(0.0));
        assert_eq!(tanh(100.0), 1.0);
        assert_eq!(tanh(-100.0), -1.0);
    }

    #[test]
    fn leaky_relu_by_hand() {
        let x = [-2.0, -0.5, 0.0, 0.5, 3.0];
        assert_eq!(leaky_relu(&x, 0.2), vec![-0.4, -0.1, 0.0, 0.5, 3.0]);
        let dy = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(
            leaky_relu_backward(&x, &dy, 0.2),
            vec![0.2, 0.4, 3.0 * 0.2, 4.0, 5.0]
        );
    }
}
