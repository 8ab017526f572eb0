//! Every glassbox-tensor op on an accelerator against the same op on the CPU: forward values and every
//! gradient. The op is chosen by where its tensors live, never by the caller, so on the CPU this runs our
//! fast kernels and on CUDA candle's own ops (or a kernel of ours): the comparison checks that the same
//! layer means the same thing on both.
//!
//! The device comes from `GLASSBOX_TEST_DEVICE` (`cuda`, `cuda:N`), which `cargo xtask gpu-check` sets on
//! a GPU machine, with a build that has the `cuda` feature. Unset, every test here prints why it skips:
//! a CPU-only machine has nothing to compare with.

use candle_core::{DType, Device, Result, Tensor, Var};
use glassbox_core::testdata;
use glassbox_tensor::ops::{
    add_bias, batch_norm, bce_with_logits, conv2d, conv2d_relu_frozen, conv2d_relu_input_gradient,
    conv2d_relu_pool, conv_transpose2d, cross_entropy, dropout, gram, leaky_relu, linear,
    lstm_layer, lstm_recurrence, max_pool2d, resize_bilinear, upsample_nearest2d, ConvParams,
    ConvTransposeParams, LayerInput,
};

mod common;
use common::{random, relative_error};

/// Largest relative error allowed between the devices. Both sides compute in f32 (candle leaves cuBLAS's
/// reduced-precision modes off), so only the order of the sums differs.
const BOUND: f32 = 1e-4;

/// Named tensors one case returns: its outputs and the gradients of a loss that reads all of them.
type Named = Vec<(String, Tensor)>;

/// Runs `case` on the CPU and on the test device and compares every tensor it returns.
fn on_both(what: &str, case: impl Fn(&Device) -> Result<Named>) {
    let Some(device) = testdata::test_device() else {
        return;
    };
    let reference = case(&Device::Cpu).unwrap_or_else(|e| panic!("{what} on the CPU: {e}"));
    let there = case(&device).unwrap_or_else(|e| panic!("{what} on {device:?}: {e}"));
    assert_eq!(
        reference.len(),
        there.len(),
        "{what}: outputs differ in number"
    );
    for ((name, ours), (_, cpu)) in there.iter().zip(&reference) {
        assert!(
            ours.device().same_device(&device),
            "{what}: {name} came back on {:?}, not on the device under test",
            ours.device()
        );
        let err = relative_error(ours, cpu);
        assert!(
            err < BOUND,
            "{what}: {name} differs from the CPU by {err:.2e} (relative)"
        );
    }
}

/// A seeded input on `dev`, scaled.
fn input(dev: &Device, shape: &[usize], seed: u64, scale: f64) -> Result<Tensor> {
    (random(shape, seed) * scale)?.to_device(dev)
}

fn var(dev: &Device, shape: &[usize], seed: u64, scale: f64) -> Result<Var> {
    Var::from_tensor(&input(dev, shape, seed, scale)?)
}

/// The output and the gradients of `sum(output * r)` for a seeded `r`, named.
fn with_gradients(out: Tensor, vars: &[(&str, &Var)], seed: u64) -> Result<Named> {
    let r = input(out.device(), out.dims(), seed, 1.0)?;
    let grads = (&out * r)?.sum_all()?.backward()?;
    let mut named = vec![("forward".to_string(), out)];
    for (name, v) in vars {
        let g = grads
            .get(v)
            .ok_or_else(|| candle_core::Error::Msg(format!("no gradient for {name}")))?;
        named.push((format!("d{name}"), g.clone()));
    }
    Ok(named)
}

#[test]
fn conv2d_forward_and_gradients() {
    // (batch, in, h, w, out, k, padding, stride, dilation)
    for (i, (b, c, h, w, m, k, p, s, d)) in [
        (2, 3, 9, 7, 5, 3, 1, 1, 1),
        (2, 5, 11, 9, 7, 3, 0, 2, 1),
        (1, 4, 12, 10, 6, 3, 2, 1, 2),
        (4, 1, 28, 28, 32, 3, 0, 1, 1),
    ]
    .into_iter()
    .enumerate()
    {
        let seed = 10 * i as u64;
        on_both(&format!("conv2d case {i}"), |dev| {
            let x = var(dev, &[b, c, h, w], seed, 1.0)?;
            let wt = var(dev, &[m, c, k, k], seed + 1, 0.5)?;
            let bias = var(dev, &[m], seed + 2, 1.0)?;
            let params = ConvParams {
                padding: p,
                stride: s,
                dilation: d,
            };
            let y = conv2d(&x, &wt, Some(&bias), params, true)?;
            with_gradients(y, &[("x", &x), ("w", &wt), ("b", &bias)], seed + 3)
        });
    }
}

#[test]
fn fused_convolution_relu_and_pooling() {
    on_both("conv2d_relu_pool", |dev| {
        let x = var(dev, &[2, 4, 10, 9], 1, 1.0)?;
        let w = var(dev, &[6, 4, 3, 3], 2, 0.5)?;
        let b = var(dev, &[6], 3, 0.2)?;
        let params = ConvParams {
            padding: 1,
            ..Default::default()
        };
        let y = conv2d_relu_pool(&x, &w, Some(&b), params, 2)?;
        with_gradients(y, &[("x", &x), ("w", &w), ("b", &b)], 4)
    });
}

/// The frozen network's path (VGG16 in filter visualization, deep dream, style transfer): the forward
/// pass without a graph and the input gradient driven by hand.
#[test]
fn frozen_convolution_and_its_input_gradient() {
    on_both("conv2d_relu_frozen + input gradient", |dev| {
        let x = input(dev, &[1, 8, 12, 12], 5, 1.0)?;
        let w = input(dev, &[16, 8, 3, 3], 6, 0.3)?;
        let b = input(dev, &[16], 7, 0.1)?;
        let params = ConvParams {
            padding: 1,
            ..Default::default()
        };
        let y = conv2d_relu_frozen(&x, &w, &b, params, None)?;
        let g = input(dev, y.dims(), 8, 1.0)?;
        let dx = conv2d_relu_input_gradient(&g, &y, &w, x.dims4()?, params, None)?;
        Ok(vec![("forward".into(), y), ("dx".into(), dx)])
    });
}

#[test]
fn max_pooling_forward_and_backward() {
    for (kernel, stride) in [(2, 2), (3, 2)] {
        on_both(&format!("max_pool2d k{kernel} s{stride}"), |dev| {
            let x = var(dev, &[2, 3, 9, 8], 20, 1.0)?;
            let y = max_pool2d(&x, kernel, stride)?;
            with_gradients(y, &[("x", &x)], 21)
        });
    }
}

#[test]
fn transposed_convolution_forward_and_gradients() {
    on_both("conv_transpose2d", |dev| {
        let x = var(dev, &[2, 5, 4, 6], 30, 1.0)?;
        let w = var(dev, &[5, 7, 3, 3], 31, 0.5)?;
        let b = var(dev, &[7], 32, 1.0)?;
        let params = ConvTransposeParams {
            padding: 1,
            output_padding: 1,
            stride: 2,
            dilation: 1,
        };
        let y = conv_transpose2d(&x, &w, Some(&b), params)?;
        with_gradients(y, &[("x", &x), ("w", &w), ("b", &b)], 33)
    });
}

#[test]
fn upsampling_and_bilinear_resizing() {
    on_both("upsample_nearest2d", |dev| {
        let x = var(dev, &[2, 3, 4, 5], 40, 1.0)?;
        with_gradients(upsample_nearest2d(&x, 2)?, &[("x", &x)], 41)
    });
    on_both("resize_bilinear", |dev| {
        let x = var(dev, &[1, 3, 7, 5], 42, 1.0)?;
        with_gradients(resize_bilinear(&x, 11, 9)?, &[("x", &x)], 43)
    });
}

#[test]
fn batch_normalization_and_leaky_relu() {
    on_both("batch_norm", |dev| {
        let x = Var::from_tensor(&(input(dev, &[4, 3, 5, 6], 50, 3.0)? + 0.5)?)?;
        let gamma = var(dev, &[3], 51, 1.0)?;
        let beta = var(dev, &[3], 52, 1.0)?;
        let out = batch_norm(&x, &gamma, &beta, 1e-5)?;
        let mut named =
            with_gradients(out.y, &[("x", &x), ("gamma", &gamma), ("beta", &beta)], 53)?;
        named.push(("batch mean".into(), out.mean));
        named.push(("batch variance".into(), out.var));
        Ok(named)
    });
    on_both("leaky_relu", |dev| {
        let x = var(dev, &[3, 17], 54, 1.0)?;
        with_gradients(leaky_relu(&x, 0.2)?, &[("x", &x)], 55)
    });
}

#[test]
fn dense_layers_and_losses() {
    on_both("linear + add_bias", |dev| {
        let x = var(dev, &[6, 9], 60, 1.0)?;
        let w = var(dev, &[4, 9], 61, 0.5)?;
        let b = var(dev, &[4], 62, 1.0)?;
        let y = add_bias(&linear(&x, &w, None)?, &b)?;
        with_gradients(y, &[("x", &x), ("w", &w), ("b", &b)], 63)
    });
    on_both("cross_entropy", |dev| {
        let logits = var(dev, &[7, 10], 64, 3.0)?;
        let targets = Tensor::from_vec((0..7u32).map(|i| i * 3 % 10).collect(), 7, dev)?;
        with_gradients(
            cross_entropy(&logits, &targets)?,
            &[("logits", &logits)],
            65,
        )
    });
    on_both("bce_with_logits", |dev| {
        let z = var(dev, &[5, 6], 66, 4.0)?;
        let t = (input(dev, &[5, 6], 67, 0.5)? + 0.5)?;
        with_gradients(bce_with_logits(&z, &t)?, &[("logits", &z)], 68)
    });
    on_both("gram", |dev| {
        let f = var(dev, &[6, 40], 69, 1.0)?;
        with_gradients(gram(&f, 1.0 / 240.0)?, &[("features", &f)], 70)
    });
}

#[test]
fn lstm_layers_dense_and_from_ids() {
    let (steps, batch, features, hidden) = (6, 3, 11, 8);
    on_both("lstm_recurrence", |dev| {
        let xw = var(dev, &[steps, batch, 4 * hidden], 80, 1.0)?;
        let w_hh = var(dev, &[4 * hidden, hidden], 81, 0.4)?;
        let bias = var(dev, &[4 * hidden], 82, 1.0)?;
        let states = lstm_recurrence(&xw, &w_hh, Some(&bias))?;
        let mut named = with_gradients(
            states.hidden,
            &[("xw", &xw), ("w_hh", &w_hh), ("bias", &bias)],
            83,
        )?;
        named.push(("last cell".into(), states.last_cell));
        Ok(named)
    });
    for from_ids in [false, true] {
        on_both(&format!("lstm_layer (ids: {from_ids})"), |dev| {
            let w_ih = var(dev, &[4 * hidden, features], 84, 0.5)?;
            let w_hh = var(dev, &[4 * hidden, hidden], 85, 0.4)?;
            let bias = var(dev, &[4 * hidden], 86, 1.0)?;
            let ids: Vec<u32> = (0..steps * batch)
                .map(|i| (i * 7 % features) as u32)
                .collect();
            let ids = Tensor::from_vec(ids, steps * batch, dev)?;
            let dense = candle_nn::encoding::one_hot(ids.clone(), features, 1f32, 0f32)?;
            let layer_input = if from_ids {
                LayerInput::Ids(&ids)
            } else {
                LayerInput::Dense(&dense)
            };
            let states = lstm_layer(layer_input, steps, batch, &w_ih, &w_hh, &bias)?;
            let mut named = with_gradients(
                states.hidden,
                &[("w_ih", &w_ih), ("w_hh", &w_hh), ("bias", &bias)],
                87,
            )?;
            named.push(("last cell".into(), states.last_cell));
            Ok(named)
        });
    }
}

/// Dropout's mask is drawn differently on each device (candle's own, unseeded, off the CPU), so the
/// device's output is checked for what dropout means: each value kept and scaled by 1 / (1 - p), or 0,
/// and about 1 - p of them kept.
#[test]
fn dropout_keeps_and_scales_on_the_device() {
    let Some(dev) = testdata::test_device() else {
        return;
    };
    let p = 0.25f32;
    let x = (random(&[64, 256], 90).abs().unwrap() + 0.5).unwrap();
    let y = dropout(&x.to_device(&dev).unwrap(), p, 7).unwrap();
    assert!(y.device().same_device(&dev));
    assert_eq!(y.dtype(), DType::F32);
    let xs: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
    let ys: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
    let mut kept = 0usize;
    for (a, b) in xs.iter().zip(&ys) {
        if *b != 0.0 {
            kept += 1;
            assert!(
                (b - a / (1.0 - p)).abs() <= 1e-5 * b.abs(),
                "{a} became {b}"
            );
        }
    }
    let share = kept as f32 / xs.len() as f32;
    assert!(
        (share - (1.0 - p)).abs() < 0.02,
        "kept {share:.3}, expected {}",
        1.0 - p
    );
}
