//! Our AVX2 sgemm (`kernels::sgemm_avx2`) against the `gemm` crate, called the way `kernels::gemm::sgemm`
//! calls it, in one process, alternating within each repetition (docs/benchmarks.md, "The matrix
//! product"):
//!
//!     cargo run --release -p glassbox-tensor --example sgemm_compare -- [--reps N] [--warmup N]
//!
//! Prints two markdown tables of medians over `--reps` (default 6) after `--warmup` (default 2):
//! 1. the 2048³ product in GFLOP/s with rayon's pool size (`RAYON_NUM_THREADS`) and with 1 thread;
//! 2. single-threaded, the products one band of the MNIST CNN's convolutions runs (batch 128, one band
//!    per image: see `kernels::conv2d`), in µs per product, and their sum over a training step's 128
//!    images. These stay on the `gemm` crate; the table shows what sending them to ours would cost.
//!
//! Each row also gives the largest difference between the two results (relative to the largest entry)
//! and which of the two `kernels::gemm::sgemm` picks for that product and thread count.

mod common;

use common::{median, sci};
use std::time::Instant;

use glassbox_tensor::kernels::activation::has_avx2_fma;
use glassbox_tensor::kernels::gemm::{Mat, MatMut};
use glassbox_tensor::kernels::parallel::threads;
use rand::{rngs::StdRng, Rng, SeedableRng};

/// `dst (m x n) (=|+=) a (m x k) * b (k x n)`; a transposed operand is stored as the transpose, row-major.
struct Product {
    name: &'static str,
    m: usize,
    n: usize,
    k: usize,
    a_t: bool,
    b_t: bool,
    accumulate: bool,
}

impl Product {
    fn operands<'a>(&self, a: &'a [f32], b: &'a [f32]) -> (Mat<'a>, Mat<'a>) {
        let (m, n, k) = (self.m, self.n, self.k);
        let a = if self.a_t {
            Mat::rows(a, k, m).t()
        } else {
            Mat::rows(a, m, k)
        };
        let b = if self.b_t {
            Mat::rows(b, n, k).t()
        } else {
            Mat::rows(b, k, n)
        };
        (a, b)
    }

    fn ours(&self, dst: &mut [f32], a: &[f32], b: &[f32]) {
        let (a, b) = self.operands(a, b);
        let dst = MatMut::rows(dst, self.m, self.n);
        #[cfg(target_arch = "x86_64")]
        glassbox_tensor::kernels::sgemm_avx2::sgemm(
            dst,
            self.accumulate,
            a,
            b,
            glassbox_tensor::kernels::gemm::Threads::Pool(threads()),
        );
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!(
            "main checks for x86-64 first ({}, {}, {})",
            dst.rows, a.rows, b.rows
        );
    }

    /// The `gemm` crate, with the arguments `kernels::gemm::sgemm` passes it.
    fn gemm_crate(&self, dst: &mut [f32], a: &[f32], b: &[f32], threads: usize) {
        let (a, b) = self.operands(a, b);
        assert!(dst.len() >= self.m * self.n && a.data.len() >= self.m * self.k);
        let par = match threads {
            0 | 1 => gemm::Parallelism::None,
            t => gemm::Parallelism::Rayon(t),
        };
        // SAFETY: the operands are dense (possibly transposed) views inside their slices, checked above
        // and by `Mat::rows`; `dst` is a separate mutable borrow.
        unsafe {
            gemm::gemm(
                self.m,
                self.n,
                self.k,
                dst.as_mut_ptr(),
                1,
                self.n as isize,
                self.accumulate,
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
                par,
            )
        }
    }

    /// Seconds per product, ours and the `gemm` crate's (medians), each repetition timing `calls`
    /// products of one then of the other; and `max |ours - theirs| / max |theirs|` of one product.
    fn measure(&self, threads: usize, reps: usize, warmup: usize, calls: usize) -> (f64, f64, f64) {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a rayon pool");
        let mut rng = StdRng::seed_from_u64(0);
        let mut random =
            |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-1.0..1.0)).collect() };
        let (a, b) = (random(self.m * self.k), random(self.k * self.n));
        let (mut c1, mut c2) = (vec![0.0f32; self.m * self.n], vec![0.0f32; self.m * self.n]);
        pool.install(|| {
            self.ours(&mut c1, &a, &b);
            self.gemm_crate(&mut c2, &a, &b, threads);
            let scale = c2.iter().fold(0.0f32, |s, v| s.max(v.abs()));
            let diff = c1
                .iter()
                .zip(&c2)
                .fold(0.0f32, |s, (x, y)| s.max((x - y).abs()));
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            for rep in 0..warmup + reps {
                let t = Instant::now();
                (0..calls).for_each(|_| self.ours(&mut c1, &a, &b));
                let t_ours = t.elapsed().as_secs_f64() / calls as f64;
                let t = Instant::now();
                (0..calls).for_each(|_| self.gemm_crate(&mut c2, &a, &b, threads));
                let t_theirs = t.elapsed().as_secs_f64() / calls as f64;
                if rep >= warmup {
                    ours.push(t_ours);
                    theirs.push(t_theirs);
                }
            }
            (median(ours), median(theirs), (diff / scale) as f64)
        })
    }

    /// Which of the two `kernels::gemm::sgemm` runs for this product with `Threads::Pool(threads)`
    /// (`Threads::One` inside convolution bands is the 1-thread case).
    fn dispatch(&self, threads: usize) -> &'static str {
        #[cfg(target_arch = "x86_64")]
        if threads > 1
            && glassbox_tensor::kernels::sgemm_avx2::suits(self.m, self.n, self.k)
            && !glassbox_tensor::kernels::activation::has_avx512f()
        {
            return "ours";
        }
        let _ = threads;
        "gemm crate"
    }
}

/// The products of one band (one whole image) of MNIST's convolutions at batch 128, from
/// `kernels::conv2d`: conv1 1->32 28x28 -> 26x26 (patch 9), conv2 32->64 26x26 -> 24x24 (patch 288).
/// conv1's input gradient is never needed (the images are not tracked).
const MNIST_BANDS: [Product; 5] = [
    Product {
        name: "conv1 forward: W (32x9) * im2col (9x676)",
        m: 32,
        n: 676,
        k: 9,
        a_t: false,
        b_t: false,
        accumulate: false,
    },
    Product {
        name: "conv1 weight grad: dW (32x9) += dY (32x676) * im2colᵀ (676x9)",
        m: 32,
        n: 9,
        k: 676,
        a_t: false,
        b_t: true,
        accumulate: true,
    },
    Product {
        name: "conv2 forward: W (64x288) * im2col (288x576)",
        m: 64,
        n: 576,
        k: 288,
        a_t: false,
        b_t: false,
        accumulate: false,
    },
    Product {
        name: "conv2 weight grad: dW (64x288) += dY (64x576) * im2colᵀ (576x288)",
        m: 64,
        n: 288,
        k: 576,
        a_t: false,
        b_t: true,
        accumulate: true,
    },
    Product {
        name: "conv2 input grad: col (288x576) = Wᵀ (288x64) * dY (64x576), then col2im",
        m: 288,
        n: 576,
        k: 64,
        a_t: true,
        b_t: false,
        accumulate: false,
    },
];

fn main() {
    glassbox_tensor::kernels::process::tune_process();
    let (mut reps, mut warmup) = (6usize, 2usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let value = args.next().and_then(|v| v.parse::<usize>().ok());
        match (a.as_str(), value) {
            ("--reps", Some(v)) => reps = v.max(1),
            ("--warmup", Some(v)) => warmup = v,
            _ => panic!("usage: sgemm_compare [--reps N] [--warmup N]"),
        }
    }
    if !cfg!(target_arch = "x86_64") || !has_avx2_fma() {
        eprintln!("our sgemm needs x86-64 with AVX2 and FMA");
        return;
    }

    println!(
        "2048³ f32 product, GFLOP/s, medians of {reps} (after {warmup} warm-up), alternating\n"
    );
    println!("| threads | ours (`sgemm_avx2`) | `gemm` crate | ours / crate | `kernels::gemm::sgemm` takes | max diff |");
    println!("|---:|---:|---:|---:|---|---:|");
    let big = Product {
        name: "2048x2048x2048",
        m: 2048,
        n: 2048,
        k: 2048,
        a_t: false,
        b_t: false,
        accumulate: false,
    };
    let mut counts = vec![threads(), 1];
    counts.dedup();
    for t in counts {
        let (ours, theirs, diff) = big.measure(t, reps, warmup, 1);
        let flops = 2.0 * (big.m * big.n * big.k) as f64 / 1e9;
        println!(
            "| {t} | {:.1} | {:.1} | {:.2}x | {} | {} |",
            flops / ours,
            flops / theirs,
            theirs / ours,
            big.dispatch(t),
            sci(diff)
        );
    }

    let calls = 128;
    println!(
        "\nMNIST CNN band products (batch 128: one band per image), 1 thread, µs per product, \
         medians of {reps} x {calls} products\n"
    );
    println!("| product | ours | `gemm` crate | ours slower by | `kernels::gemm::sgemm` takes | max diff |");
    println!("|---|---:|---:|---:|---|---:|");
    let (mut sum_ours, mut sum_theirs) = (0.0, 0.0);
    for p in &MNIST_BANDS {
        let (ours, theirs, diff) = p.measure(1, reps, warmup, calls);
        sum_ours += ours;
        sum_theirs += theirs;
        println!(
            "| {} | {:.1} | {:.1} | {:+.0}% | {} | {} |",
            p.name,
            ours * 1e6,
            theirs * 1e6,
            (ours / theirs - 1.0) * 100.0,
            p.dispatch(1),
            sci(diff)
        );
    }
    println!(
        "| all of one training step (x{calls} images), ms | {:.1} | {:.1} | {:+.0}% | | |",
        sum_ours * calls as f64 * 1e3,
        sum_theirs * calls as f64 * 1e3,
        (sum_ours / sum_theirs - 1.0) * 100.0
    );
}
