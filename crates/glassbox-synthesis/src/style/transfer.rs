//! The optimization: the image is the only variable, VGG16 stays frozen. L-BFGS (Gatys et al.'s choice,
//! glassbox-core's [`lbfgs`]) or Adam, from the content image or from noise.

use std::cell::RefCell;

use candle_core::{Tensor, Var};
use glassbox_convnet::vgg::Vgg16;
use glassbox_core::optim::lbfgs::{self, LbfgsConfig};
use glassbox_core::optim::{Adam, Optimizer, ParamsAdam};
use glassbox_core::seed::Seed;
use glassbox_tensor::ascent::noise_image;

use super::loss::{Losses, Targets};
use crate::{Error, Result};

/// Which optimizer moves the pixels.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// L-BFGS with these settings.
    Lbfgs(LbfgsConfig),
    /// Adam with this learning rate, in pixel units (`0..=255`) per step.
    Adam {
        /// Learning rate.
        lr: f64,
    },
}

/// Where the image starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Start {
    /// The content photo itself: the result stays recognizable from the first step.
    Content,
    /// Grey noise (`128 ± 64`), seeded: what the style-only reconstructions start from.
    Noise,
}

/// How long and how to optimize.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TransferConfig {
    /// Which optimizer moves the pixels.
    pub optimizer: Method,
    /// Optimizer iterations (for L-BFGS each one evaluates the network once without a line search).
    pub steps: usize,
    /// The content photo or noise.
    pub start: Start,
}

impl Default for TransferConfig {
    /// L-BFGS with a strong-Wolfe line search, 200 steps from the content image. The PyTorch tutorial's
    /// fixed step (`LineSearch::None`) is erratic: the same algorithm in PyTorch and here ends 15% apart
    /// after 200 steps and 60% after 100 on the same pixels, where the line search ends within 1%
    /// (docs/lessons/synthesis.md).
    fn default() -> Self {
        TransferConfig {
            optimizer: Method::Lbfgs(LbfgsConfig {
                line_search: glassbox_core::optim::lbfgs::LineSearch::StrongWolfe,
                ..LbfgsConfig::default()
            }),
            steps: 200,
            start: Start::Content,
        }
    }
}

/// One step, with the losses of the most recent evaluation: for L-BFGS the image the step reached (the
/// last step excepted: PyTorch's algorithm does not evaluate after it), for Adam the image the step
/// started from.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Record {
    /// The step's number.
    pub step: usize,
    /// Network evaluations so far.
    pub evaluations: usize,
    /// The losses.
    pub losses: Losses,
}

/// The result `(1, 3, H, W)` (not clamped: the losses were computed on these values) and the trace.
pub struct Transfer {
    /// The result, `(1, 3, H, W)`, not clamped.
    pub image: Tensor,
    /// The losses at the start image.
    pub first: Losses,
    /// One record per step.
    pub trace: Vec<Record>,
    /// The losses at the returned image.
    pub last: Losses,
    /// Network evaluations in all (the costly part).
    pub evaluations: usize,
}

/// The first image: the content photo or seeded noise of its size.
pub fn start_image(content: &Tensor, start: Start, seed: Seed) -> Result<Tensor> {
    Ok(match start {
        Start::Content => content.clone(),
        Start::Noise => noise_image(
            content.dims4()?,
            128.0,
            64.0,
            &mut seed.stream("style-transfer-noise"),
            content.device(),
        )?,
    })
}

/// Optimizes `start` towards `targets`, calling `on_step(record, image)` after every step (for progress
/// bars and snapshots; an error from it stops the run).
pub fn transfer(
    model: &Vgg16,
    targets: &Targets,
    start: &Tensor,
    config: &TransferConfig,
    mut on_step: impl FnMut(&Record, &Tensor) -> Result<()>,
) -> Result<Transfer> {
    if config.steps == 0 {
        return Err(glassbox_core::Error::invalid("steps", 0, "at least 1").into());
    }
    let shape = start.dims4()?;
    let device = start.device().clone();
    let mut trace = Vec::new();
    let mut first = None;
    let image = match &config.optimizer {
        Method::Lbfgs(lbfgs_config) => {
            // L-BFGS's closures speak glassbox-core's error; ours (a VGG16 failure, a figure that
            // cannot be written) waits here and is returned as it was.
            let failure: RefCell<Option<Error>> = RefCell::new(None);
            let stash = |e: Error| {
                let message = e.to_string();
                *failure.borrow_mut() = Some(e);
                glassbox_core::Error::invalid("style transfer step", "failed", message)
            };
            // Each evaluation's losses, so that every iteration can report the losses it reached.
            let evaluated: RefCell<Option<Losses>> = RefCell::new(None);
            let x0: Vec<f32> = start.flatten_all()?.to_vec1()?;
            let found = lbfgs::minimize(
                x0,
                lbfgs_config,
                config.steps,
                // PyTorch's default (max_iter * 5 / 4) would stop a line search within a few steps.
                config.steps * (lbfgs_config.max_line_search + 1),
                |x| {
                    let image = Tensor::from_slice(x, shape, &device)?;
                    let (losses, gradient) =
                        targets.losses_and_gradient(model, &image).map_err(stash)?;
                    let total = losses.total;
                    first.get_or_insert_with(|| losses.clone());
                    *evaluated.borrow_mut() = Some(losses);
                    Ok((total, gradient.flatten_all()?.to_vec1()?))
                },
                |it, x| {
                    let losses = evaluated
                        .borrow()
                        .clone()
                        .expect("evaluated before stepping");
                    let record = Record {
                        step: it.iteration,
                        evaluations: it.evaluations,
                        losses,
                    };
                    let image = Tensor::from_slice(x, shape, &device)?;
                    on_step(&record, &image).map_err(stash)?;
                    trace.push(record);
                    Ok(())
                },
            );
            if let Some(e) = failure.into_inner() {
                return Err(e);
            }
            Tensor::from_vec(found?.x, shape, &device)?
        }
        Method::Adam { lr } => {
            let var = Var::from_tensor(start)?;
            let mut adam = Adam::new(
                vec![var.clone()],
                ParamsAdam {
                    lr: *lr,
                    ..Default::default()
                },
            )?;
            for step in 1..=config.steps {
                let (losses, gradient) = targets.losses_and_gradient(model, var.as_tensor())?;
                if !losses.total.is_finite() {
                    return Err(glassbox_core::Error::NonFiniteObjective {
                        evaluation: step,
                        value: losses.total,
                    }
                    .into());
                }
                first.get_or_insert_with(|| losses.clone());
                // Adam steps on a GradStore; this surrogate's gradient with respect to the image is
                // exactly the loss's, already computed by the hand-driven backward pass.
                let surrogate = (var.as_tensor() * gradient.detach())?.sum_all()?;
                adam.backward_step(&surrogate)?;
                let record = Record {
                    step,
                    evaluations: step,
                    losses,
                };
                on_step(&record, var.as_tensor())?;
                trace.push(record);
            }
            var.as_tensor().detach()
        }
    };
    let last = targets.losses(model, &image)?;
    let first = first.unwrap_or_else(|| last.clone());
    let evaluations = trace.last().map_or(0, |r| r.evaluations) + 1;
    Ok(Transfer {
        image,
        first,
        trace,
        last,
        evaluations,
    })
}
