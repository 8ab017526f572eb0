//! The kernels give the same bits with any number of threads: every op that sums (convolution weight and
//! bias gradients, the bias of a dense layer, cross-entropy, Gram matrices, batch normalization) and every
//! product, forward and backward, in rayon pools of 1, 2 and 3 threads. A split that followed the thread
//! count would make a training run's weights depend on `RAYON_NUM_THREADS` or on the machine's cores.

use candle_core::{Device, Tensor, Var};
use glassbox_tensor::ops::{
    add_bias, batch_norm, conv2d, conv2d_relu_pool, conv_transpose2d, cross_entropy, gram,
    gram_backward, linear, ConvParams, ConvTransposeParams,
};
mod common;
use common::random;

fn bits(t: &Tensor) -> Vec<u32> {
    t.flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

/// Runs `f` (which returns named tensors) in pools of 1, 2 and 3 threads and checks the bits agree.
fn same_with_any_thread_count(what: &str, f: impl Fn() -> Vec<(&'static str, Tensor)> + Sync) {
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(&f)
            .into_iter()
            .map(|(name, t)| (name, bits(&t)))
            .collect::<Vec<_>>()
    };
    let one = run(1);
    for threads in [2, 3] {
        for ((name, a), (_, b)) in one.iter().zip(run(threads)) {
            let differ = a.iter().zip(&b).filter(|(x, y)| x != y).count();
            assert!(
                differ == 0 && a.len() == b.len(),
                "{what}: {name} differs in {differ} of {} values between 1 and {threads} threads",
                a.len()
            );
        }
    }
}

/// The forward value and the gradient of `sum(out * r)` for each of `vars`.
fn with_grads(
    out: Tensor,
    vars: &[(&'static str, &Var)],
    seed: u64,
) -> Vec<(&'static str, Tensor)> {
    let r = random(out.dims(), seed);
    let grads = (&out * &r).unwrap().sum_all().unwrap().backward().unwrap();
    let mut named = vec![("forward", out)];
    for (name, var) in vars {
        named.push((name, grads.get(var).expect("a gradient").clone()));
    }
    named
}

#[test]
fn convolutions_forward_and_backward() {
    // (batch, in, size, out, kernel, padding, stride): MNIST's two layers at a small and a full batch
    // (the bands and the weight gradient's parts change with the batch), a strided one, a pointwise one,
    // and VGG-like layers of one photo, a Winograd one and a deep im2col one, whose few bands leave the
    // threads to each band's products.
    for (b, c, hw, m, k, p, s) in [
        (1, 64, 28, 64, 3, 1, 1),
        (1, 128, 14, 128, 3, 1, 1),
        (1, 1, 28, 32, 3, 0, 1),
        (3, 32, 26, 64, 3, 0, 1),
        (40, 1, 28, 8, 3, 0, 1),
        (2, 5, 11, 7, 3, 1, 2),
        (5, 16, 9, 8, 1, 0, 1),
    ] {
        let what = format!("conv b{b} c{c} {hw}x{hw} m{m} k{k} p{p} s{s}");
        let x = Var::from_tensor(&random(&[b, c, hw, hw], 1)).unwrap();
        let w = Var::from_tensor(&(random(&[m, c, k, k], 2) * 0.3).unwrap()).unwrap();
        let bias = Var::from_tensor(&random(&[m], 3)).unwrap();
        let params = ConvParams {
            padding: p,
            stride: s,
            dilation: 1,
        };
        same_with_any_thread_count(&what, || {
            let y = conv2d(&x, &w, Some(bias.as_tensor()), params, true).unwrap();
            with_grads(y, &[("dx", &x), ("dw", &w), ("db", &bias)], 4)
        });
    }
}

#[test]
fn fused_convolution_and_pooling() {
    for b in [1, 6] {
        let x = Var::from_tensor(&random(&[b, 32, 26, 26], 5)).unwrap();
        let w = Var::from_tensor(&(random(&[64, 32, 3, 3], 6) * 0.1).unwrap()).unwrap();
        let bias = Var::from_tensor(&(random(&[64], 7) * 0.1).unwrap()).unwrap();
        same_with_any_thread_count(&format!("conv+relu+pool b{b}"), || {
            let y = conv2d_relu_pool(&x, &w, Some(&bias), ConvParams::default(), 2).unwrap();
            with_grads(y, &[("dx", &x), ("dw", &w), ("db", &bias)], 8)
        });
    }
}

#[test]
fn transposed_convolutions() {
    // A DCGAN generator's upsampling at a small batch (the per-image products may use the pool).
    for b in [2, 20] {
        let x = Var::from_tensor(&random(&[b, 32, 7, 7], 9)).unwrap();
        let w = Var::from_tensor(&(random(&[32, 16, 4, 4], 10) * 0.2).unwrap()).unwrap();
        let params = ConvTransposeParams {
            padding: 1,
            output_padding: 0,
            stride: 2,
            dilation: 1,
        };
        same_with_any_thread_count(&format!("conv_transpose b{b}"), || {
            let y = conv_transpose2d(&x, &w, None, params).unwrap();
            with_grads(y, &[("dx", &x), ("dw", &w)], 11)
        });
    }
}

#[test]
fn dense_layers_losses_gram_and_batch_norm() {
    let x = Var::from_tensor(&random(&[300, 40], 12)).unwrap();
    let w = Var::from_tensor(&(random(&[10, 40], 13) * 0.2).unwrap()).unwrap();
    let b = Var::from_tensor(&random(&[10], 14)).unwrap();
    let targets: Vec<u32> = (0..300).map(|i| (i * 7 % 10) as u32).collect();
    let targets = Tensor::from_vec(targets, 300, &Device::Cpu).unwrap();
    same_with_any_thread_count("linear, bias, cross-entropy", || {
        let logits = linear(x.as_tensor(), &w, None).unwrap();
        let logits = add_bias(&logits, &b).unwrap();
        let loss = cross_entropy(&logits, &targets).unwrap();
        let grads = loss.backward().unwrap();
        vec![
            ("loss", loss),
            ("dx", grads.get(&x).unwrap().clone()),
            ("dw", grads.get(&w).unwrap().clone()),
            ("db", grads.get(&b).unwrap().clone()),
        ]
    });
    // Enough positions that the Gram matrix is summed in several parts.
    let f = random(&[8, 20_000], 15);
    let dg = random(&[8, 8], 16);
    same_with_any_thread_count("gram", || {
        vec![
            ("gram", gram(&f, 1.0 / 20_000.0).unwrap()),
            ("backward", gram_backward(&f, &dg, 1.0 / 20_000.0).unwrap()),
        ]
    });
    // Image planes, and dense features (one value a channel per image), whose channels split by thread.
    for dims in [vec![16, 6, 9, 9], vec![16, 300]] {
        let x = Var::from_tensor(&random(&dims, 17)).unwrap();
        let gamma = Var::from_tensor(&random(&[dims[1]], 18)).unwrap();
        let beta = Var::from_tensor(&random(&[dims[1]], 19)).unwrap();
        same_with_any_thread_count(&format!("batch norm {dims:?}"), || {
            let out = batch_norm(&x, &gamma, &beta, 1e-5).unwrap();
            with_grads(
                out.y,
                &[("dx", &x), ("dgamma", &gamma), ("dbeta", &beta)],
                20,
            )
        });
    }
}
