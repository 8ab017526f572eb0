//! Times the fused LSTM kernel alone (`kernels::lstm`, no candle): forward and backward through time of
//! one layer on random projections, medians of 10 passes, three times.
//!
//! `RAYON_NUM_THREADS=2 cargo run --release -p glassbox-tensor --example lstm_kernel -- 100 32 256`
//! (steps, batch, hidden: the character lesson's layer; `40 128 128` is the course's).
//!
//! `-- --tile` times the recurrence's micro-kernel alone on one thread instead (a 6-row tile of the
//! widest instruction set over a 256-deep panel, everything in cache): the most the recurrent product can
//! reach on this core.
//!
//! `-- --products` times instead the character lesson's step's products outside the recurrence, as
//! `kernels::gemm::sgemm` runs them (the gemm crate on AVX-512), on one thread and on rayon's pool: the
//! second layer's input projection, its input and weight gradients, and the head's three products (100
//! steps of 32 windows, 256 cells, 89 symbols).

use glassbox_tensor::kernels::gemm::{sgemm, Mat, MatMut, Threads};
use glassbox_tensor::kernels::lstm::{lstm_backward, lstm_forward, LstmGeometry, Projections};
use glassbox_tensor::kernels::parallel::threads;
use std::time::Instant;

/// GFLOP/s of `reps` 6-row tiles over a `k`-deep panel, on AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn avx512_tiles(k: usize, reps: usize, a: &[f32], b: &[f32], out: &mut [f32]) -> f64 {
    use glassbox_tensor::kernels::lstm::lanes::{tile_rows, Avx512};
    let t = Instant::now();
    for _ in 0..reps {
        // SAFETY: `a` holds 6 rows of k floats, `b` k steps of 64, `out` 6 rows of 64; AVX-512 checked.
        unsafe { tile_rows::<Avx512>(6, k, a.as_ptr(), k, b.as_ptr(), out.as_mut_ptr()) };
        std::hint::black_box(&mut *out);
    }
    reps as f64 * 2.0 * (6 * k * 64) as f64 / t.elapsed().as_secs_f64() / 1e9
}

fn tile_only() {
    #[cfg(target_arch = "x86_64")]
    if glassbox_tensor::kernels::lstm::Isa::best() == glassbox_tensor::kernels::lstm::Isa::Avx512 {
        let k = 256;
        let a: Vec<f32> = (0..6 * k).map(|i| (i % 7) as f32 * 0.01).collect();
        let b: Vec<f32> = (0..k * 64).map(|i| (i % 5) as f32 * 0.01).collect();
        let mut out = vec![0.0f32; 6 * 64];
        for _ in 0..3 {
            // SAFETY: the CPU has AVX-512 (checked above).
            let rate = unsafe { avx512_tiles(k, 20_000, &a, &b, &mut out) };
            println!("micro-kernel (AVX-512, 6 x 64 tile, k = {k}, 1 thread): {rate:.1} GFLOP/s");
        }
        return;
    }
    println!("--tile times the AVX-512 micro-kernel; this CPU has no AVX-512");
}

/// Medians of 15 runs of each of the step's products, in ms and GFLOP/s, on 1 thread and on the pool.
fn products() {
    let (rows, hidden, gates, symbols) = (3200, 256, 1024, 89);
    let a: Vec<f32> = (0..rows * gates).map(|i| (i % 7) as f32 * 0.01).collect();
    let b: Vec<f32> = (0..rows * gates).map(|i| (i % 5) as f32 * 0.01).collect();
    let mut out = vec![0.0f32; rows * gates];
    // (what, m, n, k, a stored transposed, b stored transposed), dst (m x n) = a (m x k) b (k x n).
    let cases = [
        ("layer 2 input projection", rows, gates, hidden, false, true),
        ("layer 2 input gradient", rows, hidden, gates, false, false),
        ("layer 2 W_ih gradient", gates, hidden, rows, true, false),
        ("head", rows, symbols, hidden, false, true),
        ("head input gradient", rows, hidden, symbols, false, false),
        ("head weight gradient", symbols, hidden, rows, true, false),
    ];
    for (what, m, n, k, a_t, b_t) in cases {
        let mut pools = vec![1, threads()];
        pools.dedup();
        for pool in pools {
            let mut ms = Vec::new();
            for _ in 0..15 {
                let a = if a_t {
                    Mat::rows(&a[..k * m], k, m).t()
                } else {
                    Mat::rows(&a[..m * k], m, k)
                };
                let b = if b_t {
                    Mat::rows(&b[..n * k], n, k).t()
                } else {
                    Mat::rows(&b[..k * n], k, n)
                };
                let t = Instant::now();
                sgemm(
                    MatMut::rows(&mut out[..m * n], m, n),
                    false,
                    a,
                    b,
                    Threads::Pool(pool),
                );
                ms.push(t.elapsed().as_secs_f64() * 1e3);
            }
            ms.sort_by(|a, b| a.total_cmp(b));
            let median = ms[ms.len() / 2];
            let rate = 2.0 * (m * n * k) as f64 / median / 1e6;
            println!("{what:26} {m:>5} x {n:<5} k {k:<5} {pool} thread(s): {median:6.2} ms {rate:5.0} GFLOP/s");
        }
    }
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("--tile") => return tile_only(),
        Some("--products") => return products(),
        _ => {}
    }
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("steps batch hidden, as numbers"))
        .collect();
    let [steps, batch, hidden] = args[..] else {
        eprintln!("usage: lstm_kernel STEPS BATCH HIDDEN");
        std::process::exit(2);
    };
    let g = LstmGeometry {
        steps,
        batch,
        hidden,
    };
    let mut state = 1u32;
    let mut random = |n: usize, scale: f32| -> Vec<f32> {
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((state >> 8) as f32 / 16_777_216.0 - 0.5) * scale
            })
            .collect()
    };
    let xw = random(steps * batch * 4 * hidden, 1.0);
    let w_hh = random(4 * hidden * hidden, 0.2);
    let bias = random(4 * hidden, 0.1);
    let grad_h = random(steps * batch * hidden, 0.1);
    // Multiply-adds of the recurrent product; backward does it twice (carried gradient, weight gradient).
    let flops = 2.0 * (steps * batch * 4 * hidden * hidden) as f64;
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    for _ in 0..3 {
        let (mut forward, mut backward) = (Vec::new(), Vec::new());
        for _ in 0..10 {
            let t = Instant::now();
            let w = Mat::rows(&w_hh, 4 * hidden, hidden);
            let pass = lstm_forward(Projections::Rows(&xw), w, &bias, &g);
            forward.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            std::hint::black_box(lstm_backward(&pass.packed, &grad_h, w, None, &g));
            backward.push(t.elapsed().as_secs_f64());
        }
        let (f, b) = (median(forward), median(backward));
        println!(
            "forward {:.2} ms ({:.0} GFLOP/s), backward {:.2} ms ({:.0} GFLOP/s)",
            f * 1e3,
            flops / f / 1e9,
            b * 1e3,
            2.0 * flops / b / 1e9
        );
    }
}
