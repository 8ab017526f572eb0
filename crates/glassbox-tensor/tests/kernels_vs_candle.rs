//! The fast CPU kernels against candle's own ops (the reference path of `glassbox_tensor::ops`), forward
//! and every gradient, over awkward shapes.

use candle_core::{DType, Device, Tensor, Var};
use glassbox_tensor::ops::{
    batch_norm, batch_norm_leaky_relu, conv2d, conv_transpose2d, leaky_relu, lstm_recurrence,
    max_pool2d, reference_batch_norm, reference_conv2d, reference_conv_transpose2d,
    reference_lstm_recurrence, upsample_nearest2d, BatchNormOutput, ConvParams,
    ConvTransposeParams,
};
mod common;
use common::{assert_close, assert_within, random, relative_error};

#[test]
fn a_nan_anywhere_is_an_error_not_a_match() {
    let reference = random(&[4, 5], 1);
    let mut values: Vec<f32> = reference.flatten_all().unwrap().to_vec1().unwrap();
    for at in [0, 7, 19] {
        let saved = values[at];
        values[at] = f32::NAN;
        let broken = Tensor::from_vec(values.clone(), (4, 5), &Device::Cpu).unwrap();
        assert!(relative_error(&broken, &reference).is_nan(), "NaN at {at}");
        assert!(relative_error(&reference, &broken).is_nan(), "NaN at {at}");
        let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert_close("nan", &broken, &reference)
        }));
        assert!(failed.is_err(), "a NaN at {at} passed");
        values[at] = saved;
    }
    assert_eq!(relative_error(&reference, &reference), 0.0);
}

#[allow(clippy::too_many_arguments)]
fn check_conv(
    b: usize,
    c: usize,
    h: usize,
    w: usize,
    m: usize,
    k: usize,
    p: usize,
    s: usize,
    d: usize,
    seed: u64,
) {
    check_conv_within(1e-4, b, c, h, w, m, k, p, s, d, seed)
}

/// [`check_conv`] with the forward pass held to `forward_tolerance`.
#[allow(clippy::too_many_arguments)]
fn check_conv_within(
    forward_tolerance: f32,
    b: usize,
    c: usize,
    h: usize,
    w: usize,
    m: usize,
    k: usize,
    p: usize,
    s: usize,
    d: usize,
    seed: u64,
) {
    let params = ConvParams {
        padding: p,
        stride: s,
        dilation: d,
    };
    let what = format!("conv b{b} c{c} {h}x{w} m{m} k{k} p{p} s{s} d{d}");
    for (bias, relu) in [(false, false), (true, false), (true, true)] {
        let x = Var::from_tensor(&random(&[b, c, h, w], seed)).unwrap();
        let wt = Var::from_tensor(&(random(&[m, c, k, k], seed + 1) * 0.5).unwrap()).unwrap();
        let bs = Var::from_tensor(&random(&[m], seed + 2)).unwrap();
        let fast = conv2d(&x, &wt, bias.then_some(bs.as_tensor()), params, relu).unwrap();
        let reference =
            reference_conv2d(&x, &wt, bias.then_some(bs.as_tensor()), params, relu).unwrap();
        assert_within(
            forward_tolerance,
            &format!("{what} bias={bias} relu={relu}: forward"),
            &fast,
            &reference,
        );
        let r = random(fast.dims(), seed + 3);
        let g_fast = (fast * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let g_ref = (reference * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert_close(
            &format!("{what}: dx"),
            g_fast.get(&x).unwrap(),
            g_ref.get(&x).unwrap(),
        );
        assert_close(
            &format!("{what}: dw"),
            g_fast.get(&wt).unwrap(),
            g_ref.get(&wt).unwrap(),
        );
        if bias {
            assert_close(
                &format!("{what}: db"),
                g_fast.get(&bs).unwrap(),
                g_ref.get(&bs).unwrap(),
            );
        } else {
            assert!(g_fast.get(&bs).is_none());
        }
    }
}

// candle's own conv2d backward returns an input gradient of the wrong shape when a stride-2 convolution
// leaves input rows or columns unused (e.g. 11x8, k3, p0, s2 gives 11x7), so the shapes compared with
// candle have strides that divide exactly; the PyTorch fixtures (tests/kernels_pytorch.rs) cover the rest.
#[test]
fn conv2d_matches_candle_forward_and_gradients_on_awkward_shapes() {
    check_conv(1, 3, 9, 7, 5, 3, 1, 1, 1, 10);
    check_conv(2, 5, 11, 9, 7, 3, 0, 2, 1, 20);
    check_conv(3, 13, 10, 10, 6, 3, 2, 1, 1, 30);
    check_conv(1, 7, 12, 9, 3, 3, 2, 1, 2, 40);
    check_conv(2, 6, 8, 8, 11, 1, 0, 1, 1, 50);
    check_conv(1, 4, 13, 11, 5, 5, 2, 2, 1, 60);
    check_conv(2, 3, 7, 7, 4, 3, 1, 2, 1, 70);
    check_conv(1, 2, 7, 5, 3, 1, 1, 2, 1, 80);
    // Batches large enough for several small images a work item, strided and not.
    check_conv(9, 16, 8, 8, 6, 4, 1, 2, 1, 90);
    check_conv(10, 32, 6, 7, 5, 3, 1, 1, 1, 95);
}

#[test]
fn conv2d_at_the_mnist_and_vgg_shapes() {
    check_conv(4, 1, 28, 28, 32, 3, 0, 1, 1, 100);
    check_conv(2, 32, 26, 26, 64, 3, 0, 1, 1, 110);
    check_conv(1, 64, 30, 30, 64, 3, 1, 1, 1, 120);
    // Batches that take the tiled Winograd paths (`kernels::conv2d::{batched3x3, parity}`: 256 tiles
    // a call): the MNIST layer, and the DCGAN discriminator's 4x4 stride-2 layer with fewer channels.
    check_conv(8, 32, 26, 26, 64, 3, 0, 1, 1, 130);
    // A 7x7 output map: F(7x7, 2x2), whose rounding is about 3.5 times F(4x4, 2x2)'s (1.03e-4 here
    // with the ReLU).
    check_conv_within(3e-4, 64, 16, 14, 14, 32, 4, 1, 2, 1, 140);
}

/// The convolution with a leaky ReLU in the same op against candle's convolution and candle-nn's leaky
/// ReLU, forward and the three gradients: the DCGAN discriminator's first layer (1 channel, 4x4, stride
/// 2) and a stride-1 3x3 one, a leaky slope and a plain ReLU's.
#[test]
fn conv2d_with_a_leaky_relu_matches_candle() {
    use glassbox_tensor::ops::conv2d_leaky_relu;
    for (b, c, h, m, k, p, s, slope, seed) in [
        (4, 1, 28, 8, 4, 1, 2, 0.2, 200),
        (2, 5, 9, 6, 3, 1, 1, 0.0, 210),
    ] {
        let params = ConvParams {
            padding: p,
            stride: s,
            dilation: 1,
        };
        let x = Var::from_tensor(&random(&[b, c, h, h], seed)).unwrap();
        let w = Var::from_tensor(&random(&[m, c, k, k], seed + 1)).unwrap();
        let bias = Var::from_tensor(&random(&[m], seed + 2)).unwrap();
        let (xt, wt, bt) = (x.as_tensor(), w.as_tensor(), bias.as_tensor());
        let fast = conv2d_leaky_relu(xt, wt, Some(bt), params, slope).unwrap();
        let reference = candle_nn::ops::leaky_relu(
            &reference_conv2d(xt, wt, Some(bt), params, false).unwrap(),
            slope,
        )
        .unwrap();
        let what = format!("conv b{b} c{c} {h}x{h} m{m} k{k} s{s}, leaky {slope}");
        assert_close(&format!("{what}: forward"), &fast, &reference);
        let r = random(fast.dims(), seed + 3);
        let grads = |y: &Tensor| (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let (g_fast, g_ref) = (grads(&fast), grads(&reference));
        for (name, v) in [("dx", &x), ("dw", &w), ("db", &bias)] {
            assert_close(
                &format!("{what}: {name}"),
                g_fast.get(v.as_tensor()).unwrap(),
                g_ref.get(v.as_tensor()).unwrap(),
            );
        }
    }
    let x = random(&[1, 1, 6, 6], 1);
    let w = random(&[2, 1, 3, 3], 2);
    let err = conv2d_leaky_relu(&x, &w, None, ConvParams::default(), -0.5)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("slope must be a number >= 0"), "{err}");
}

/// A frozen network asked for the gradient of its input (VGG in style transfer): no weight gradient, and
/// the input gradient through the fused ReLU (mask applied inside the kernel) equals candle's.
#[test]
fn an_untracked_weight_gets_no_gradient_but_the_input_does() {
    // A small layer (im2col + col2im) and a wide one (Winograd).
    for (c, hw, m) in [(3, 8, 4), (64, 30, 64)] {
        let x = Var::from_tensor(&random(&[1, c, hw, hw], 1)).unwrap();
        let w = (random(&[m, c, 3, 3], 2) * 0.2).unwrap();
        let b = random(&[m], 3);
        let params = ConvParams {
            padding: 1,
            ..Default::default()
        };
        let y = conv2d(&x, &w, Some(&b), params, true).unwrap();
        let reference = reference_conv2d(&x, &w, Some(&b), params, true).unwrap();
        let r = random(y.dims(), 4);
        let grads = (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let ref_grads = (reference * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert!(grads.get(&w).is_none() && grads.get(&b).is_none());
        assert_close(
            &format!("frozen c{c} {hw}x{hw}: dx"),
            grads.get(&x).unwrap(),
            ref_grads.get(&x).unwrap(),
        );
    }
}

// candle's max-pool gradient (0.11) multiplies the routed gradient by the share of maxima in the window
// (1/k^2 for a unique maximum) where it should divide by their count; PyTorch routes it whole to the
// first maximum, as the fast kernel does. Without ties, candle's gradient times k^2 is the right one.
// candle supports the gradient only for kernel == stride.
#[test]
fn max_pool_matches_candle() {
    for (dims, k, s) in [
        ([2, 3, 8, 8], 2, 2),
        ([1, 5, 10, 6], 2, 2),
        ([2, 2, 7, 9], 3, 2),
        ([1, 3, 6, 6], 3, 3),
    ] {
        let x = Var::from_tensor(&random(&dims, 7)).unwrap();
        let fast = max_pool2d(&x, k, s).unwrap();
        let reference = x.max_pool2d_with_stride(k, s).unwrap();
        assert_close("pool forward", &fast, &reference);
        if k != s {
            continue;
        }
        let r = random(fast.dims(), 8);
        let g_fast = (fast * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let g_ref = (reference * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g_ref = (g_ref.get(&x).unwrap() * (k * k) as f64).unwrap();
        assert_close(
            &format!("pool {dims:?} k{k} s{s}: dx"),
            g_fast.get(&x).unwrap(),
            &g_ref,
        );
    }
}

#[test]
fn lstm_recurrence_matches_candle_step_by_step() {
    for (steps, batch, hidden) in [(1, 1, 3), (5, 3, 7), (12, 4, 16), (6, 9, 33)] {
        let xw = Var::from_tensor(&random(&[steps, batch, 4 * hidden], 11)).unwrap();
        let w_hh = Var::from_tensor(&(random(&[4 * hidden, hidden], 12) * 0.4).unwrap()).unwrap();
        let bias = Var::from_tensor(&random(&[4 * hidden], 15)).unwrap();
        let fast = lstm_recurrence(&xw, &w_hh, Some(&bias)).unwrap();
        let reference = reference_lstm_recurrence(&xw, &w_hh, Some(&bias)).unwrap();
        let what = format!("lstm T{steps} B{batch} H{hidden}");
        assert_close(&format!("{what}: hidden"), &fast.hidden, &reference.hidden);
        assert_close(
            &format!("{what}: cell"),
            &fast.last_cell,
            &reference.last_cell,
        );
        // A loss that reads every hidden state (the fast path's final cell state carries no gradient).
        let rh = random(fast.hidden.dims(), 13);
        let loss =
            |s: &glassbox_tensor::ops::LstmStates| (&s.hidden * &rh).unwrap().sum_all().unwrap();
        let g_fast = loss(&fast).backward().unwrap();
        let g_ref = loss(&reference).backward().unwrap();
        assert_close(
            &format!("{what}: dxw"),
            g_fast.get(&xw).unwrap(),
            g_ref.get(&xw).unwrap(),
        );
        assert_close(
            &format!("{what}: dw_hh"),
            g_fast.get(&w_hh).unwrap(),
            g_ref.get(&w_hh).unwrap(),
        );
        assert_close(
            &format!("{what}: dbias"),
            g_fast.get(&bias).unwrap(),
            g_ref.get(&bias).unwrap(),
        );
    }
}

#[test]
fn the_lstm_layer_reads_one_hot_ids_like_dense_one_hot_vectors() {
    use candle_nn::{VarBuilder, VarMap};
    use glassbox_tensor::nn::{Lstm, LstmConfig};
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let lstm = Lstm::new(
        11,
        8,
        LstmConfig {
            layers: 2,
            ..Default::default()
        },
        vb,
    )
    .unwrap();
    let ids: Vec<u32> = (0..15).map(|i| (i * 7 % 11) as u32).collect();
    let ids = Tensor::from_vec(ids, (3, 5), &Device::Cpu).unwrap();
    let dense = candle_nn::encoding::one_hot(ids.clone(), 11, 1f32, 0f32).unwrap();
    let a = lstm.forward_one_hot(&ids).unwrap();
    let b = lstm.forward(&dense).unwrap();
    assert_eq!(a.sequence.dims(), [5, 3, 8]);
    assert_close("one-hot vs dense", &a.sequence, &b.sequence);
    assert_eq!(a.last_cells.len(), 2);
}

/// The fused convolution + ReLU + pooling against the separate fast ops (each checked against candle
/// and PyTorch above and in tests/kernels_pytorch.rs), forward and every gradient, including outputs
/// whose last row or column no pooling window covers.
#[test]
fn fused_conv_relu_pool_matches_the_separate_ops() {
    use glassbox_tensor::ops::conv2d_relu_pool;
    for (dims, m, k, p, s, pool, seed) in [
        ([2, 3, 10, 9], 5, 3, 1, 1, 2, 1),
        ([4, 1, 28, 28], 32, 3, 0, 1, 2, 2),
        ([1, 7, 13, 11], 6, 3, 0, 1, 2, 3),
        ([2, 4, 12, 12], 3, 3, 1, 2, 3, 4),
        ([1, 64, 20, 20], 64, 3, 1, 1, 2, 5),
        ([9, 32, 8, 8], 4, 3, 1, 1, 2, 6),
    ] {
        let params = ConvParams {
            padding: p,
            stride: s,
            dilation: 1,
        };
        let x = Var::from_tensor(&random(&dims, seed)).unwrap();
        let w = Var::from_tensor(&(random(&[m, dims[1], k, k], seed + 1) * 0.5).unwrap()).unwrap();
        let b = Var::from_tensor(&(random(&[m], seed + 2) * 0.2).unwrap()).unwrap();
        let fused = conv2d_relu_pool(&x, &w, Some(&b), params, pool).unwrap();
        let separate =
            max_pool2d(&conv2d(&x, &w, Some(&b), params, true).unwrap(), pool, pool).unwrap();
        let what = format!("conv+relu+pool {dims:?} m{m} k{k} p{p} s{s} pool{pool}");
        assert_close(&format!("{what}: forward"), &fused, &separate);
        let candle = reference_conv2d(&x, &w, Some(&b), params, true)
            .unwrap()
            .max_pool2d(pool)
            .unwrap();
        assert_close(&format!("{what}: forward vs candle"), &fused, &candle);
        let r = random(fused.dims(), seed + 3);
        let g_fused = (fused * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let g_sep = (separate * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for (name, var) in [("dx", &x), ("dw", &w), ("db", &b)] {
            assert_close(
                &format!("{what}: {name}"),
                g_fused.get(var).unwrap(),
                g_sep.get(var).unwrap(),
            );
        }
    }
}

/// The transposed convolution forward against candle's, and its gradients against the adjoint identity
/// `<conv_transpose(x; w), r> = <x, conv2d(r; w)>` evaluated with candle's conv2d (so dx = conv2d(r; w)
/// and dw is candle's conv2d weight gradient).
#[test]
fn conv_transpose2d_matches_candle_and_the_adjoint_convolution() {
    // (batch, in, h, w, out, k, padding, output_padding, stride, dilation)
    for (i, &(b, c, h, w, m, k, p, op, s, d)) in [
        (1, 3, 5, 4, 2, 3, 0, 0, 1, 1),
        (2, 5, 4, 6, 7, 3, 1, 1, 2, 1),
        (1, 4, 7, 7, 3, 4, 1, 0, 2, 1),
        (2, 6, 3, 5, 5, 3, 2, 0, 1, 2),
        (1, 64, 14, 14, 64, 3, 1, 0, 1, 1),
        (3, 2, 7, 7, 1, 3, 1, 1, 2, 1),
        (10, 6, 4, 4, 16, 4, 1, 0, 2, 1),
        // The DCGAN generator's upsampling (`kernels::conv2d::parity`: 64 images), fewer channels.
        (64, 32, 7, 7, 16, 4, 1, 0, 2, 1),
    ]
    .iter()
    .enumerate()
    {
        let params = ConvTransposeParams {
            padding: p,
            output_padding: op,
            stride: s,
            dilation: d,
        };
        let what = format!("conv_transpose b{b} c{c} {h}x{w} m{m} k{k} p{p} op{op} s{s} d{d}");
        let seed = 100 + 10 * i as u64;
        let x = Var::from_tensor(&random(&[b, c, h, w], seed)).unwrap();
        let wt = Var::from_tensor(&(random(&[c, m, k, k], seed + 1) * 0.5).unwrap()).unwrap();
        let bias = Var::from_tensor(&random(&[m], seed + 2)).unwrap();
        let fast = conv_transpose2d(&x, &wt, Some(&bias), params).unwrap();
        let reference = reference_conv_transpose2d(&x, &wt, Some(&bias), params).unwrap();
        assert_close(&format!("{what}: forward"), &fast, &reference);
        let unbiased = conv_transpose2d(&x, &wt, None, params).unwrap();
        let reference = reference_conv_transpose2d(&x, &wt, None, params).unwrap();
        assert_close(
            &format!("{what}: forward without bias"),
            &unbiased,
            &reference,
        );

        let r = random(fast.dims(), seed + 3);
        let grads = (&fast * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let conv = ConvParams {
            padding: p,
            stride: s,
            dilation: d,
        };
        let wv = Var::from_tensor(wt.as_tensor()).unwrap();
        let adjoint = reference_conv2d(&r, &wv, None, conv, false).unwrap();
        assert_close(&format!("{what}: dx"), grads.get(&x).unwrap(), &adjoint);
        // The bias gradient: the output gradient summed over images and pixels.
        let db = r.sum((0, 2, 3)).unwrap();
        assert_close(&format!("{what}: db"), grads.get(&bias).unwrap(), &db);
        let dw_ref = (adjoint * x.as_tensor())
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert_close(
            &format!("{what}: dw"),
            grads.get(&wt).unwrap(),
            dw_ref.get(&wv).unwrap(),
        );
    }
}

#[test]
fn conv_transpose2d_refuses_impossible_settings() {
    let x = random(&[1, 2, 4, 4], 1);
    let w = random(&[2, 3, 3, 3], 2);
    let bad = |padding, output_padding, stride| {
        let p = ConvTransposeParams {
            padding,
            output_padding,
            stride,
            dilation: 1,
        };
        conv_transpose2d(&x, &w, None, p).unwrap_err().to_string()
    };
    assert!(bad(0, 2, 2).contains("output_padding"));
    assert!(bad(0, 0, 0).contains("stride"));
    assert!(bad(9, 0, 1).contains("padding"));
    let wrong = conv_transpose2d(&x, &random(&[3, 3, 3, 3], 3), None, Default::default());
    assert!(wrong.unwrap_err().to_string().contains("channels"));
}

#[test]
fn nearest_upsampling_matches_candle_and_sums_gradients_over_blocks() {
    for (dims, scale) in [([2, 3, 4, 5], 2), ([1, 2, 3, 3], 3), ([1, 1, 2, 2], 1)] {
        let x = Var::from_tensor(&random(&dims, 9)).unwrap();
        let fast = upsample_nearest2d(&x, scale).unwrap();
        let reference = x
            .upsample_nearest2d(dims[2] * scale, dims[3] * scale)
            .unwrap();
        assert_close("upsample forward", &fast, &reference);
        let r = random(fast.dims(), 10);
        let grads = (fast * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let block_sums = (r.avg_pool2d(scale).unwrap() * (scale * scale) as f64).unwrap();
        assert_close("upsample dx", grads.get(&x).unwrap(), &block_sums);
    }
}

/// The fused batch normalization against its candle composition (what runs off the CPU), forward, batch
/// statistics and all three gradients, on image and dense shapes, alone and followed by a ReLU or a
/// leaky ReLU in the same op (against candle's own after the reference); then LeakyReLU against
/// candle-nn's.
#[test]
fn batch_norm_and_leaky_relu_match_candle() {
    for slope in [1.0, 0.0, 0.2] {
        check_batch_norm(slope);
    }
    let x = Var::from_tensor(&random(&[3, 4, 5], 5)).unwrap();
    let r = random(&[3, 4, 5], 6);
    let run = |y: Tensor| {
        let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
        (y, grads.get(x.as_tensor()).unwrap().clone())
    };
    let fast = run(leaky_relu(x.as_tensor(), 0.2).unwrap());
    let reference = run(candle_nn::ops::leaky_relu(x.as_tensor(), 0.2).unwrap());
    assert_close("leaky_relu y", &fast.0, &reference.0);
    assert_close("leaky_relu dx", &fast.1, &reference.1);
    // A batch of one value per channel has no variance to normalize by.
    let one = random(&[1, 3], 7);
    let err = batch_norm(&one, &random(&[3], 8), &random(&[3], 9), 1e-5)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("at least 2 values"), "{err}");
    let two = random(&[2, 3], 7);
    let err = batch_norm_leaky_relu(&two, &random(&[3], 8), &random(&[3], 9), 1e-5, -0.1)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("slope must be a number >= 0"), "{err}");
}

/// [`batch_norm_leaky_relu`] of `slope` (1: none) against the reference, then candle's ReLU or leaky
/// ReLU.
fn check_batch_norm(slope: f64) {
    for (k, dims) in [
        vec![4, 3, 5, 6],
        vec![9, 7],
        vec![1, 2, 8, 3],
        vec![6, 37],
        vec![3, 2, 7, 7],
    ]
    .into_iter()
    .enumerate()
    {
        let c = dims[1];
        let x = Var::from_tensor(&((random(&dims, 60 + k as u64) * 3.0).unwrap() + 0.5).unwrap())
            .unwrap();
        let gamma = Var::from_tensor(&random(&[c], 70 + k as u64)).unwrap();
        let beta = Var::from_tensor(&random(&[c], 80 + k as u64)).unwrap();
        let r = random(&dims, 90 + k as u64);
        let run = |fast: bool| {
            let (xt, gt, bt) = (x.as_tensor(), gamma.as_tensor(), beta.as_tensor());
            let out = if fast {
                batch_norm_leaky_relu(xt, gt, bt, 1e-5, slope).unwrap()
            } else {
                let out = reference_batch_norm(xt, gt, bt, 1e-5).unwrap();
                let y = match slope {
                    1.0 => out.y.clone(),
                    0.0 => out.y.relu().unwrap(),
                    _ => candle_nn::ops::leaky_relu(&out.y, slope).unwrap(),
                };
                BatchNormOutput { y, ..out }
            };
            let grads = (&out.y * &r)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let g = |v: &Var| grads.get(v.as_tensor()).unwrap().clone();
            (out.y, out.mean, out.var, g(&x), g(&gamma), g(&beta))
        };
        let (fast, reference) = (run(true), run(false));
        let what = format!("batch_norm {dims:?} then slope {slope}");
        assert_close(&format!("{what}: y"), &fast.0, &reference.0);
        assert_close(&format!("{what}: mean"), &fast.1, &reference.1);
        assert_close(&format!("{what}: var"), &fast.2, &reference.2);
        assert_close(&format!("{what}: dx"), &fast.3, &reference.3);
        assert_close(&format!("{what}: dgamma"), &fast.4, &reference.4);
        assert_close(&format!("{what}: dbeta"), &fast.5, &reference.5);
    }
}

/// Every test in this file again on each instruction-set tier below this CPU's (`GLASSBOX_CPU=avx2`, then
/// `portable`), in child processes: on an AVX-512 machine this runs the AVX2 kernels too, so both paths are
/// checked against candle wherever both exist.
#[test]
fn every_test_here_passes_on_every_lower_cpu_tier() {
    use glassbox_tensor::kernels::cpu::{self, Tier, OVERRIDE_VAR};
    if std::env::var_os(OVERRIDE_VAR).is_some() {
        return; // a child, or a run already pinned to one tier
    }
    let me = std::env::current_exe().unwrap();
    for tier in [Tier::Avx2, Tier::Portable]
        .into_iter()
        .filter(|&t| t < cpu::detected())
    {
        let out = std::process::Command::new(&me)
            .env(OVERRIDE_VAR, tier.name())
            .args(["--skip", "every_test_here_passes_on_every_lower_cpu_tier"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{OVERRIDE_VAR}={tier}: {text}");
        assert!(
            text.contains("test result: ok"),
            "{OVERRIDE_VAR}={tier}: {text}"
        );
    }
}

/// The override lowers what the kernels use, and the product with the AVX2 kernel's shape agrees across tiers.
#[test]
fn the_cpu_tier_follows_the_override() {
    use glassbox_tensor::kernels::cpu::{self, parse_override, OVERRIDE_VAR};
    // A bad value is ignored (with a warning), like no value.
    let requested = parse_override(std::env::var(OVERRIDE_VAR).ok().as_deref()).unwrap_or(None);
    let expected = requested.map_or(cpu::detected(), |r| r.min(cpu::detected()));
    assert_eq!(cpu::tier(), expected);
    assert_eq!(
        glassbox_tensor::kernels::activation::has_avx512f(),
        expected >= cpu::Tier::Avx512
    );
    // 960 x 256 x 256 on two threads is a shape the AVX2 kernel takes when it is the tier in use.
    let (m, n, k) = (960, 256, 256);
    let a = random(&[m, k], 31);
    let b = random(&[k, n], 32);
    let (av, bv): (Vec<f32>, Vec<f32>) = (
        a.flatten_all().unwrap().to_vec1().unwrap(),
        b.flatten_all().unwrap().to_vec1().unwrap(),
    );
    let mut out = vec![0.0f32; m * n];
    use glassbox_tensor::kernels::gemm::{sgemm, Mat, MatMut, Threads};
    sgemm(
        MatMut::rows(&mut out, m, n),
        false,
        Mat::rows(&av, m, k),
        Mat::rows(&bv, k, n),
        Threads::Pool(2),
    );
    let fast = Tensor::from_vec(out, (m, n), &Device::Cpu).unwrap();
    assert_close("sgemm", &fast, &a.matmul(&b).unwrap());
}
