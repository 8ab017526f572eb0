//! The glassbox side of `cargo xtask bench kernels`: runs one case and prints one JSON line
//! `{"case", "unit", "samples", "peer"}`, like xtask/bench/torch_kernels.py does for PyTorch. The models,
//! shapes, input distributions, losses and optimizers must stay identical to that script: inputs, labels
//! and weights are drawn from the same distributions on both sides (uniform, with the same bounds), and
//! inference runs on constant weights, so no autograd graph is recorded (PyTorch's side runs under
//! `torch.inference_mode()`).
//!
//! `--impl candle` runs the same case on candle's own ops (the starting point of issue 3). `--device cuda`
//! runs it on a GPU (a build with `--features cuda`; `cargo xtask gpu-check` does), where every op is
//! candle's CUDA op and each timed step is waited for.
//!
//!     cargo run --release -p glassbox-tensor --example kernels_bench -- --case mnist_train

use std::time::Instant;

use candle_core::{DType, Device, Module, Result, Tensor, Var};
use candle_nn::{Linear, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use glassbox_tensor::kernels::gemm::{sgemm, Mat, MatMut, Threads};
use glassbox_tensor::kernels::parallel::threads;
use glassbox_tensor::ops::{self, ConvParams};
use rand::{rngs::StdRng, Rng, SeedableRng};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Impl {
    Fast,
    Candle,
}

fn conv(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    padding: usize,
    relu: bool,
    imp: Impl,
) -> Result<Tensor> {
    let p = ConvParams {
        padding,
        ..Default::default()
    };
    match imp {
        Impl::Fast => ops::conv2d(x, w, b, p, relu),
        Impl::Candle => ops::reference_conv2d(x, w, b, p, relu),
    }
}

/// Convolution, bias, ReLU and 2x2 max pooling: one fused op on the fast path.
fn conv_pool(x: &Tensor, w: &Tensor, b: &Tensor, padding: usize, imp: Impl) -> Result<Tensor> {
    match imp {
        Impl::Fast => ops::conv2d_relu_pool(
            x,
            w,
            Some(b),
            ConvParams {
                padding,
                ..Default::default()
            },
            2,
        ),
        Impl::Candle => pool(&conv(x, w, Some(b), padding, true, imp)?, imp),
    }
}

fn pool(x: &Tensor, imp: Impl) -> Result<Tensor> {
    match imp {
        Impl::Fast => ops::max_pool2d(x, 2, 2),
        Impl::Candle => x.max_pool2d(2),
    }
}

/// The character LSTM's vocabulary: the course's Holmes corpus has 89 symbols.
const SYMBOLS: usize = 89;

/// Uniform in `(-scale, scale)`.
fn random(shape: &[usize], scale: f32, rng: &mut StdRng, dev: &Device) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|_| rng.random_range(-scale..scale)).collect();
    Tensor::from_vec(data, shape, dev)
}

/// The course's MNIST CNN (Keras mnist_cnn): conv32-conv64-maxpool-dropout-dense128-dropout-dense10.
struct MnistCnn {
    w1: Tensor,
    b1: Tensor,
    w2: Tensor,
    b2: Tensor,
    fc1: Linear,
    fc2: Linear,
    imp: Impl,
}

impl MnistCnn {
    fn new(vb: VarBuilder, imp: Impl) -> Result<Self> {
        let c1 = glassbox_tensor::nn::Conv2d::new(1, 32, 3, Default::default(), vb.pp("conv1"))?;
        let c2 = glassbox_tensor::nn::Conv2d::new(32, 64, 3, Default::default(), vb.pp("conv2"))?;
        Ok(MnistCnn {
            w1: c1.weight().clone(),
            b1: c1.bias().unwrap().clone(),
            w2: c2.weight().clone(),
            b2: c2.bias().unwrap().clone(),
            fc1: candle_nn::linear(9216, 128, vb.pp("fc1"))?,
            fc2: candle_nn::linear(128, 10, vb.pp("fc2"))?,
            imp,
        })
    }

    fn forward(&self, x: &Tensor, train: bool, step: u64) -> Result<Tensor> {
        let drop = |t: Tensor, p: f32| match (train, self.imp) {
            (false, _) => Ok(t),
            (true, Impl::Fast) => ops::dropout(&t, p, step),
            (true, Impl::Candle) => candle_nn::ops::dropout(&t, p),
        };
        let x = conv(x, &self.w1, Some(&self.b1), 0, true, self.imp)?;
        let x = conv_pool(&x, &self.w2, &self.b2, 0, self.imp)?;
        let x = drop(x, 0.25)?.flatten_from(1)?;
        let x = drop(self.dense(&self.fc1, &x)?.relu()?, 0.5)?;
        self.dense(&self.fc2, &x)
    }

    /// A dense layer as glassbox's model runs it (`glassbox_tensor::nn::Linear`) or as candle-nn does.
    fn dense(&self, layer: &Linear, x: &Tensor) -> Result<Tensor> {
        match self.imp {
            Impl::Fast => glassbox_tensor::nn::Linear::from(layer.clone()).forward(x),
            Impl::Candle => layer.forward(x),
        }
    }
}

/// The course's convolutional autoencoder (glassbox-generative's `ConvAutoencoder::course`, 7x7x3 code),
/// rebuilt from the same layers so this example needs only glassbox-tensor; logits out.
struct ConvAutoencoder {
    convs: Vec<(Tensor, Tensor)>,
    imp: Impl,
}

impl ConvAutoencoder {
    fn new(vb: VarBuilder, imp: Impl) -> Result<Self> {
        let same = glassbox_tensor::nn::Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        let convs = [(1, 16), (16, 8), (8, 3), (3, 16), (16, 1)]
            .iter()
            .enumerate()
            .map(|(k, &(i, o))| {
                let c = glassbox_tensor::nn::Conv2d::new(i, o, 3, same, vb.pp(format!("conv{k}")))?;
                Ok((c.weight().clone(), c.bias().unwrap().clone()))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ConvAutoencoder { convs, imp })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let c = |k: usize| (&self.convs[k].0, &self.convs[k].1);
        let up = |t: &Tensor| match self.imp {
            Impl::Fast => ops::upsample_nearest2d(t, 2),
            Impl::Candle => t.upsample_nearest2d(t.dim(2)? * 2, t.dim(3)? * 2),
        };
        let h = conv_pool(x, c(0).0, c(0).1, 1, self.imp)?;
        let h = conv_pool(&h, c(1).0, c(1).1, 1, self.imp)?;
        let h = conv(&h, c(2).0, Some(c(2).1), 1, true, self.imp)?;
        let h = conv(&up(&h)?, c(3).0, Some(c(3).1), 1, true, self.imp)?;
        conv(&up(&h)?, c(4).0, Some(c(4).1), 1, false, self.imp)
    }
}

/// glassbox-generative's DCGAN pair (gan.rs), rebuilt from glassbox-tensor's layers: the generator
/// 100 -> 128x7x7 -> 64x14x14 -> 1x28x28 (batch norm, ReLU, strided transposed convolutions, tanh), the
/// discriminator back down (strided convolutions, LeakyReLU 0.2, batch norm) to one logit.
struct Dcgan {
    g_dense: Tensor,
    g_bn0: glassbox_tensor::nn::BatchNorm,
    g_up: [(Tensor, Tensor); 2],
    g_bn1: glassbox_tensor::nn::BatchNorm,
    d_conv: [(Tensor, Tensor); 2],
    d_bn: glassbox_tensor::nn::BatchNorm,
    d_dense: (Tensor, Tensor),
    imp: Impl,
}

impl Dcgan {
    fn new(vb: VarBuilder, imp: Impl) -> Result<Self> {
        use glassbox_tensor::nn::BatchNorm;
        let normal = candle_nn::Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        };
        let zero = candle_nn::Init::Const(0.0);
        let pair = |shape: (usize, usize, usize, usize), bias: usize, name: &str| -> Result<_> {
            Ok((
                vb.pp(name).get_with_hints(shape, "weight", normal)?,
                vb.pp(name).get_with_hints(bias, "bias", zero)?,
            ))
        };
        Ok(Dcgan {
            g_dense: vb.get_with_hints((128 * 49, 100), "g_dense", normal)?,
            g_bn0: BatchNorm::new(128 * 49, Default::default(), vb.pp("g_bn0"))?,
            g_up: [
                pair((128, 64, 4, 4), 64, "g_up0")?,
                pair((64, 1, 4, 4), 1, "g_up1")?,
            ],
            g_bn1: BatchNorm::new(64, Default::default(), vb.pp("g_bn1"))?,
            d_conv: [
                pair((64, 1, 4, 4), 64, "d_conv0")?,
                pair((128, 64, 4, 4), 128, "d_conv1")?,
            ],
            d_bn: BatchNorm::new(128, Default::default(), vb.pp("d_bn"))?,
            d_dense: (
                vb.get_with_hints((1, 128 * 49), "d_dense.weight", normal)?,
                vb.get_with_hints(1, "d_dense.bias", zero)?,
            ),
            imp,
        })
    }

    /// Batch norm, then a leaky ReLU of `slope` (0: ReLU): one op on the fast side.
    fn batch_norm(
        &self,
        bn: &glassbox_tensor::nn::BatchNorm,
        x: &Tensor,
        slope: f64,
    ) -> Result<Tensor> {
        match self.imp {
            Impl::Fast => bn.forward_t_leaky_relu(x, true, slope),
            Impl::Candle => {
                let (w, b) = (bn.weight(), bn.bias());
                let y = ops::reference_batch_norm(x, w, b, 1e-5)?.y;
                if slope == 0.0 {
                    y.relu()
                } else {
                    candle_nn::ops::leaky_relu(&y, slope)
                }
            }
        }
    }

    fn generate(&self, z: &Tensor) -> Result<Tensor> {
        let p = ops::ConvTransposeParams {
            padding: 1,
            stride: 2,
            ..Default::default()
        };
        let up = |x: &Tensor, (w, b): &(Tensor, Tensor)| match self.imp {
            Impl::Fast => ops::conv_transpose2d(x, w, Some(b), p),
            Impl::Candle => ops::reference_conv_transpose2d(x, w, Some(b), p),
        };
        let dense = match self.imp {
            Impl::Fast => ops::linear(z, &self.g_dense, None)?,
            Impl::Candle => z.matmul(&self.g_dense.t()?)?,
        };
        let h = self.batch_norm(&self.g_bn0, &dense, 0.0)?;
        let h = h.reshape((z.dim(0)?, 128, 7, 7))?;
        let h = self.batch_norm(&self.g_bn1, &up(&h, &self.g_up[0])?, 0.0)?;
        let y = up(&h, &self.g_up[1])?;
        match self.imp {
            Impl::Fast => ops::tanh(&y),
            Impl::Candle => y.tanh(),
        }
    }

    /// `frozen`: the weights as constants (the generator's step needs gradients to the images only).
    fn discriminate(&self, x: &Tensor, frozen: bool) -> Result<Tensor> {
        let p = ConvParams {
            padding: 1,
            stride: 2,
            ..Default::default()
        };
        let w = |t: &Tensor| if frozen { t.detach() } else { t.clone() };
        let conv = |x: &Tensor, (cw, cb): &(Tensor, Tensor)| match self.imp {
            Impl::Fast => ops::conv2d(x, &w(cw), Some(&w(cb)), p, false),
            Impl::Candle => ops::reference_conv2d(x, &w(cw), Some(&w(cb)), p, false),
        };
        let bn = if frozen {
            self.d_bn.detached()
        } else {
            self.d_bn.clone()
        };
        let (cw, cb) = &self.d_conv[0];
        let h = match self.imp {
            Impl::Fast => ops::conv2d_leaky_relu(x, &w(cw), Some(&w(cb)), p, 0.2)?,
            Impl::Candle => candle_nn::ops::leaky_relu(&conv(x, &self.d_conv[0])?, 0.2)?,
        };
        let h = self.batch_norm(&bn, &conv(&h, &self.d_conv[1])?, 0.2)?;
        let (dw, db) = &self.d_dense;
        match self.imp {
            Impl::Fast => ops::flatten_linear(&h, &w(dw), Some(&w(db))),
            Impl::Candle => h
                .flatten_from(1)?
                .matmul(&w(dw).t()?)?
                .broadcast_add(&w(db)),
        }
    }
}

const VGG16: [(usize, usize, bool); 13] = [
    (3, 64, false),
    (64, 64, true),
    (64, 128, false),
    (128, 128, true),
    (128, 256, false),
    (256, 256, false),
    (256, 256, true),
    (256, 512, false),
    (512, 512, false),
    (512, 512, true),
    (512, 512, false),
    (512, 512, false),
    (512, 512, false),
];

fn vgg_features(x: &Tensor, layers: &[(Tensor, Tensor, bool)], imp: Impl) -> Result<Tensor> {
    let mut x = x.clone();
    for (w, b, pool_after) in layers {
        x = if *pool_after {
            conv_pool(&x, w, b, 1, imp)?
        } else {
            conv(&x, w, Some(b), 1, true, imp)?
        };
    }
    Ok(x)
}

/// Seconds per step. On a GPU each step is waited for: its kernels are only queued when the call returns.
fn timed(
    dev: &Device,
    reps: usize,
    warmup: usize,
    mut step: impl FnMut() -> Result<()>,
) -> Result<Vec<f64>> {
    for _ in 0..warmup {
        step()?;
    }
    dev.synchronize()?;
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            step()?;
            dev.synchronize()?;
            Ok(t.elapsed().as_secs_f64())
        })
        .collect()
}

fn run(
    case: &str,
    reps: usize,
    warmup: usize,
    imp: Impl,
    dev: Device,
) -> Result<(&'static str, Vec<f64>)> {
    let mut rng = StdRng::seed_from_u64(0);
    match case {
        "mnist_train" | "mnist_infer" => {
            let varmap = VarMap::new();
            let model = MnistCnn::new(VarBuilder::from_varmap(&varmap, DType::F32, &dev), imp)?;
            // Pixels uniform in (0, 1), as torch.rand draws them.
            let x = random(&[128, 1, 28, 28], 1.0, &mut rng, &dev)?.affine(0.5, 0.5)?;
            let y = Tensor::from_vec(
                (0..128u32).map(|i| i * 7 % 10).collect::<Vec<_>>(),
                128,
                &dev,
            )?;
            if case == "mnist_train" {
                let mut opt = AnyAdamW::new(varmap.all_vars(), imp)?;
                let mut step = 0;
                let s = timed(&dev, reps, warmup, || {
                    step += 1;
                    let loss = candle_nn::loss::cross_entropy(&model.forward(&x, true, step)?, &y)?;
                    opt.backward_step(&loss)
                })?;
                Ok(("images/s", s.iter().map(|t| 128.0 / t).collect()))
            } else {
                // The same weights as constants: candle records a graph for every op on a Var.
                let constants = varmap
                    .data()
                    .lock()
                    .expect("not poisoned")
                    .iter()
                    .map(|(name, var)| (name.clone(), var.as_tensor().detach()))
                    .collect();
                let model =
                    MnistCnn::new(VarBuilder::from_tensors(constants, DType::F32, &dev), imp)?;
                let s = timed(&dev, reps, warmup, || {
                    model.forward(&x, false, 0).map(|_| ())
                })?;
                Ok(("images/s", s.iter().map(|t| 128.0 / t).collect()))
            }
        }
        "conv_ae_train" => {
            let varmap = VarMap::new();
            let model =
                ConvAutoencoder::new(VarBuilder::from_varmap(&varmap, DType::F32, &dev), imp)?;
            // Pixels uniform in (0, 1), as torch.rand draws them; the target is the input.
            let x = random(&[128, 1, 28, 28], 1.0, &mut rng, &dev)?.affine(0.5, 0.5)?;
            let mut opt = AnyAdamW::new(varmap.all_vars(), imp)?;
            let s = timed(&dev, reps, warmup, || {
                opt.backward_step(&ops::bce_with_logits(&model.forward(&x)?, &x)?)
            })?;
            Ok(("images/s", s.iter().map(|t| 128.0 / t).collect()))
        }
        "dcgan_train" => {
            let varmap = VarMap::new();
            let gan = Dcgan::new(VarBuilder::from_varmap(&varmap, DType::F32, &dev), imp)?;
            let real = random(&[128, 1, 28, 28], 1.0, &mut rng, &dev)?;
            let (ones, zeros) = (
                Tensor::ones((128, 1), DType::F32, &dev)?,
                Tensor::zeros((128, 1), DType::F32, &dev)?,
            );
            let trainable = |prefix: &str| -> Vec<Var> {
                let data = varmap.data().lock().expect("not poisoned");
                data.iter()
                    .filter(|(n, _)| n.starts_with(prefix) && !n.contains("running"))
                    .map(|(_, v)| v.clone())
                    .collect()
            };
            let adam = |vars| AnyAdamW::with(vars, imp, 2e-4, 0.5, 0.0);
            let mut opt_g = adam(trainable("g_"))?;
            let mut opt_d = adam(trainable("d_"))?;
            let s = timed(&dev, reps, warmup, || {
                let fake = gan
                    .generate(&Tensor::randn(0f32, 1.0, (128, 100), &dev)?)?
                    .detach();
                let d_loss = ((ops::bce_with_logits(&gan.discriminate(&real, false)?, &ones)?
                    + ops::bce_with_logits(&gan.discriminate(&fake, false)?, &zeros)?)?
                    * 0.5)?;
                opt_d.backward_step(&d_loss)?;
                let z = Tensor::randn(0f32, 1.0, (128, 100), &dev)?;
                let g_loss =
                    ops::bce_with_logits(&gan.discriminate(&gan.generate(&z)?, true)?, &ones)?;
                opt_g.backward_step(&g_loss)
            })?;
            Ok(("images/s", s.iter().map(|t| 128.0 / t).collect()))
        }
        "lstm_train" | "lstm_train_ids" => {
            let varmap = VarMap::new();
            let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
            let lstm = glassbox_tensor::nn::Lstm::new(
                SYMBOLS,
                128,
                glassbox_tensor::nn::LstmConfig {
                    layers: 2,
                    ..Default::default()
                },
                vb.pp("lstm"),
            )?;
            let head = candle_nn::linear(128, SYMBOLS, vb.pp("head"))?;
            let ids: Vec<u32> = (0..128 * 40)
                .map(|_| rng.random_range(0..SYMBOLS as u32))
                .collect();
            let ids = Tensor::from_vec(ids, (128, 40), &dev)?;
            let dense = candle_nn::encoding::one_hot(ids.clone(), SYMBOLS, 1f32, 0f32)?;
            let y = Tensor::from_vec(
                (0..128u32)
                    .map(|i| i * 13 % SYMBOLS as u32)
                    .collect::<Vec<_>>(),
                128,
                &dev,
            )?;
            let mut opt = AnyAdamW::new(varmap.all_vars(), imp)?;
            let s = timed(&dev, reps, warmup, || {
                let out = match (imp, case) {
                    // The course's model: one-hot vectors in, the input product paid in full.
                    (Impl::Fast, "lstm_train") => lstm.forward(&dense)?.last_hidden()?,
                    // The same arithmetic with the one-hot product done as a row lookup.
                    (Impl::Fast, _) => lstm.forward_one_hot(&ids)?.last_hidden()?,
                    // candle-nn's own LSTM, one step at a time; it has no lookup path, so dense in both.
                    (Impl::Candle, _) => {
                        candle_lstm(&dense, &varmap, 128)?.pop().expect("40 steps")
                    }
                };
                let loss = candle_nn::loss::cross_entropy(&head.forward(&out)?, &y)?;
                opt.backward_step(&loss)
            })?;
            Ok(("sequences/s", s.iter().map(|t| 128.0 / t).collect()))
        }
        "char_lstm_train" => {
            // The character lesson's default step (glassbox-sequence's every-step model and recipe): two
            // LSTM(256) over 100 symbols of 32 windows, a head at every step, the global gradient norm
            // clipped at 1, Adam.
            let (batch, steps, hidden) = (32, 100, 256);
            let varmap = VarMap::new();
            let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
            let lstm = glassbox_tensor::nn::Lstm::new(
                SYMBOLS,
                hidden,
                glassbox_tensor::nn::LstmConfig {
                    layers: 2,
                    ..Default::default()
                },
                vb.pp("lstm"),
            )?;
            let candle_head = candle_nn::linear(hidden, SYMBOLS, vb.pp("head"))?;
            // The lesson's head: the same layer with its bias on our kernel.
            let head = glassbox_tensor::nn::Linear::from(candle_head.clone());
            let symbols = |n: usize, rng: &mut StdRng| -> Vec<u32> {
                (0..n)
                    .map(|_| rng.random_range(0..SYMBOLS as u32))
                    .collect()
            };
            let ids = Tensor::from_vec(symbols(batch * steps, &mut rng), (batch, steps), &dev)?;
            let dense = candle_nn::encoding::one_hot(ids.clone(), SYMBOLS, 1f32, 0f32)?;
            // Time-major targets, as the head's rows come.
            let y = Tensor::from_vec(symbols(batch * steps, &mut rng), batch * steps, &dev)?;
            let vars = varmap.all_vars();
            let params = glassbox_core::optim::ParamsAdam {
                lr: 2e-3,
                ..Default::default()
            };
            let mut opt = glassbox_core::optim::Adam::new(vars.clone(), params)?;
            let mut candle_opt = candle_nn::AdamW::new(
                vars.clone(),
                ParamsAdamW {
                    lr: 2e-3,
                    weight_decay: 0.0,
                    ..Default::default()
                },
            )?;
            let s = timed(&dev, reps, warmup, || {
                let sequence = match imp {
                    Impl::Fast => lstm.forward_one_hot(&ids)?.sequence,
                    Impl::Candle => Tensor::stack(&candle_lstm(&dense, &varmap, hidden)?, 0)?,
                };
                // As the lesson's model and PyTorch's side do: the head over the states as they come,
                // its logits flattened.
                let loss = match imp {
                    Impl::Fast => glassbox_tensor::ops::cross_entropy(
                        &head.forward(&sequence)?.reshape((steps * batch, SYMBOLS))?,
                        &y,
                    )?,
                    Impl::Candle => {
                        let rows = sequence.reshape((steps * batch, hidden))?;
                        candle_nn::loss::cross_entropy(&candle_head.forward(&rows)?, &y)?
                    }
                };
                let mut grads = loss.backward()?;
                glassbox_core::optim::clip_grad_norm(&mut grads, &vars, 1.0)?;
                match imp {
                    Impl::Fast => opt.step(&grads),
                    Impl::Candle => candle_opt.step(&grads),
                }
            })?;
            Ok(("sequences/s", s.iter().map(|t| batch as f64 / t).collect()))
        }
        "vgg_input_grad" | "vgg_forward" => {
            let layers = VGG16
                .iter()
                .map(|&(i, o, p)| {
                    let w = random(&[o, i, 3, 3], (2.0 / (9 * i) as f32).sqrt(), &mut rng, &dev)?;
                    Ok((w, random(&[o], 0.01, &mut rng, &dev)?, p))
                })
                .collect::<Result<Vec<_>>>()?;
            let img = random(&[1, 3, 224, 224], 1.0, &mut rng, &dev)?;
            let s = if case == "vgg_forward" {
                timed(&dev, reps, warmup, || {
                    vgg_features(&img, &layers, imp).map(|_| ())
                })?
            } else {
                timed(&dev, reps, warmup, || {
                    let x = Var::from_tensor(&img)?;
                    let grads = vgg_features(&x, &layers, imp)?
                        .sqr()?
                        .mean_all()?
                        .backward()?;
                    grads
                        .get(&x)
                        .map(|_| ())
                        .ok_or_else(|| candle_core::Error::Msg("no input gradient".into()))
                })?
            };
            Ok(("ms", s.iter().map(|t| t * 1e3).collect()))
        }
        "conv64_forward" | "conv64_backward" => {
            let w = Var::from_tensor(&random(&[64, 64, 3, 3], 0.06, &mut rng, &dev)?)?;
            let b = Var::from_tensor(&random(&[64], 0.06, &mut rng, &dev)?)?;
            let x = Var::from_tensor(&random(&[8, 64, 56, 56], 1.0, &mut rng, &dev)?)?;
            let s = if case == "conv64_forward" {
                let (w, b, x) = (
                    w.as_tensor().detach(),
                    b.as_tensor().detach(),
                    x.as_tensor().detach(),
                );
                timed(&dev, reps, warmup, || {
                    conv(&x, &w, Some(&b), 1, false, imp).map(|_| ())
                })?
            } else {
                timed(&dev, reps, warmup, || {
                    conv(&x, &w, Some(&b), 1, false, imp)?
                        .sum_all()?
                        .backward()
                        .map(|_| ())
                })?
            };
            Ok(("ms", s.iter().map(|t| t * 1e3).collect()))
        }
        "conv_transpose_train" => {
            // The project's transposed convolutions: the DCGAN generator's two (gan.rs), 128 -> 64 channels
            // at 7x7 -> 14x14 and 64 -> 1 at 14x14 -> 28x28, 4x4 kernels, stride 2, padding 1, batch 128,
            // forward and backward to the input, weights and biases (the course's autoencoders upsample and
            // convolve instead).
            let x = Var::from_tensor(&random(&[128, 128, 7, 7], 1.0, &mut rng, &dev)?)?;
            let w0 = Var::from_tensor(&random(&[128, 64, 4, 4], 0.05, &mut rng, &dev)?)?;
            let b0 = Var::from_tensor(&random(&[64], 0.05, &mut rng, &dev)?)?;
            let w1 = Var::from_tensor(&random(&[64, 1, 4, 4], 0.05, &mut rng, &dev)?)?;
            let b1 = Var::from_tensor(&random(&[1], 0.05, &mut rng, &dev)?)?;
            let p = ops::ConvTransposeParams {
                padding: 1,
                stride: 2,
                ..Default::default()
            };
            let up = |x: &Tensor, w: &Tensor, b: &Tensor| match imp {
                Impl::Fast => ops::conv_transpose2d(x, w, Some(b), p),
                Impl::Candle => ops::reference_conv_transpose2d(x, w, Some(b), p),
            };
            let s = timed(&dev, reps, warmup, || {
                up(&up(&x, &w0, &b0)?, &w1, &b1)?
                    .sum_all()?
                    .backward()
                    .map(|_| ())
            })?;
            Ok(("ms", s.iter().map(|t| t * 1e3).collect()))
        }
        "sgemm2048" => {
            let n = 2048;
            let a = random(&[n, n], 1.0, &mut rng, &dev)?;
            let b = random(&[n, n], 1.0, &mut rng, &dev)?;
            let s = match imp {
                Impl::Fast if !dev.is_cpu() => {
                    candle_core::bail!("sgemm2048 times the CPU kernel; on a GPU use --impl candle")
                }
                Impl::Fast => {
                    let (a, b): (Vec<f32>, Vec<f32>) =
                        (a.flatten_all()?.to_vec1()?, b.flatten_all()?.to_vec1()?);
                    let mut c = vec![0.0f32; n * n];
                    timed(&dev, reps, warmup, || {
                        sgemm(
                            MatMut::rows(&mut c, n, n),
                            false,
                            Mat::rows(&a, n, n),
                            Mat::rows(&b, n, n),
                            Threads::Pool(threads()),
                        );
                        Ok(())
                    })?
                }
                Impl::Candle => timed(&dev, reps, warmup, || a.matmul(&b).map(|_| ()))?,
            };
            Ok((
                "GFLOP/s",
                s.iter()
                    .map(|t| 2.0 * (n as f64).powi(3) / t / 1e9)
                    .collect(),
            ))
        }
        other => candle_core::bail!("unknown case {other}"),
    }
}

/// glassbox's AdamW (fused on the CPU, checkpointable) or candle-nn's.
enum AnyAdamW {
    Glassbox(glassbox_core::optim::AdamW),
    Candle(candle_nn::AdamW),
}

impl AnyAdamW {
    fn new(vars: Vec<Var>, imp: Impl) -> Result<Self> {
        Self::with(vars, imp, 1e-3, 0.9, 0.01)
    }

    fn with(vars: Vec<Var>, imp: Impl, lr: f64, beta1: f64, weight_decay: f64) -> Result<Self> {
        let params = ParamsAdamW {
            lr,
            beta1,
            weight_decay,
            ..Default::default()
        };
        Ok(match imp {
            Impl::Fast => AnyAdamW::Glassbox(glassbox_core::optim::AdamW::new(vars, params)?),
            Impl::Candle => AnyAdamW::Candle(candle_nn::AdamW::new(vars, params)?),
        })
    }

    fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        match self {
            AnyAdamW::Glassbox(o) => o.backward_step(loss),
            AnyAdamW::Candle(o) => o.backward_step(loss),
        }
    }
}

/// candle-nn's LSTM (two layers of `hidden`, batch-first input) over `x`, returning the upper layer's hidden
/// state at every step; it reads the glassbox layer's weights from the same VarMap so both see the same
/// model.
fn candle_lstm(x: &Tensor, varmap: &VarMap, hidden: usize) -> Result<Vec<Tensor>> {
    use candle_nn::rnn::{LSTMConfig, RNN};
    let vb = VarBuilder::from_varmap(varmap, DType::F32, x.device()).pp("lstm");
    let layer = |inputs, k| {
        candle_nn::lstm(
            inputs,
            hidden,
            LSTMConfig {
                layer_idx: k,
                ..Default::default()
            },
            vb.clone(),
        )
    };
    let (l0, l1) = (layer(SYMBOLS, 0)?, layer(hidden, 1)?);
    let s0 = l0.seq(x)?;
    let h0 = l0.states_to_tensor(&s0)?;
    Ok(l1.seq(&h0)?.into_iter().map(|s| s.h().clone()).collect())
}

fn main() -> Result<()> {
    // As the glassbox binary does at start-up.
    glassbox_tensor::kernels::process::tune_process();
    let mut case = None;
    let (mut reps, mut warmup, mut imp) = (10, 3, Impl::Fast);
    let mut device = glassbox_core::device::DeviceSpec::Cpu;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| candle_core::Error::Msg(format!("{a} needs a value")))
        };
        match a.as_str() {
            "--case" => case = Some(value()?),
            "--reps" => {
                reps = value()?
                    .parse()
                    .map_err(|e| candle_core::Error::Msg(format!("--reps: {e}")))?
            }
            "--warmup" => {
                warmup = value()?
                    .parse()
                    .map_err(|e| candle_core::Error::Msg(format!("--warmup: {e}")))?
            }
            "--allocator-env" => {
                // What xtask gives the PyTorch processes, so both sides run with the same malloc settings.
                println!("{}", glassbox_tensor::kernels::allocator::glibc_tunables());
                return Ok(());
            }
            "--device" => {
                device = value()?
                    .parse()
                    .map_err(|e| candle_core::Error::Msg(format!("--device: {e}")))?
            }
            "--impl" => {
                imp = match value()?.as_str() {
                    "fast" => Impl::Fast,
                    "candle" => Impl::Candle,
                    other => candle_core::bail!("--impl: expected fast or candle, got {other}"),
                }
            }
            other => candle_core::bail!("unknown argument {other}"),
        }
    }
    let case = case.ok_or_else(|| candle_core::Error::Msg("--case is required".into()))?;
    let dev = device
        .open()
        .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    let (unit, samples) = run(&case, reps, warmup, imp, dev)?;
    let peer = match (imp, device) {
        (Impl::Fast, glassbox_core::device::DeviceSpec::Cpu) => {
            format!("glassbox ({} threads)", threads())
        }
        (Impl::Fast, gpu) => format!("glassbox on {gpu}"),
        (Impl::Candle, _) => format!("candle 0.11 ops ({} threads)", threads()),
    };
    let samples: Vec<String> = samples.iter().map(|s| format!("{s:.4}")).collect();
    // The process's peak, this case's alone (one case a process): the bench compares it with PyTorch's.
    let rss = glassbox_core::device::peak_rss_bytes().map_or(f64::NAN, |b| b as f64 / 1048576.0);
    println!(
        r#"{{"case": "{case}", "unit": "{unit}", "samples": [{}], "peer": "{peer}", "peak_rss_mb": {rss:.1}}}"#,
        samples.join(", ")
    );
    Ok(())
}
