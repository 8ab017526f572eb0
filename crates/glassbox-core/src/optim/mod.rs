//! Optimizers that candle-nn lacks, step for step as PyTorch computes them.
//!
//! | here | PyTorch | state slots |
//! |------|---------|-------------|
//! | [`Sgd`] / [`ParamsSgd`] | `torch.optim.SGD` | `momentum_buffer` (when momentum ≠ 0) |
//! | [`Adam`] / [`ParamsAdam`] | `torch.optim.Adam` | `exp_avg`, `exp_avg_sq`, `max_exp_avg_sq` (amsgrad) |
//! | [`RmsProp`] / [`ParamsRmsProp`] | `torch.optim.RMSprop` | `square_avg`, `momentum_buffer` (momentum > 0), `grad_avg` (centered) |
//! | [`Adadelta`] / [`ParamsAdadelta`] | `torch.optim.Adadelta` | `square_avg`, `acc_delta` |
//! | [`AdamW`] / [`ParamsAdamW`] | `torch.optim.AdamW` | `exp_avg`, `exp_avg_sq` (candle-nn's params struct; the optimizer is ours, checkpointable) |
//!
//! [`lbfgs`] is the odd one out: it minimizes through a closure (loss and gradient at any point, as
//! its line search needs) rather than stepping on a `GradStore`, so it lives in its own module.
//!
//! Each follows PyTorch's single-tensor algorithm (`foreach=False`), and each `Params*` struct's
//! `Default` is PyTorch's default. All of them implement [`candle_nn::Optimizer`] (re-exported here as
//! [`Optimizer`]): `new(vars, params)`, `step(&grads)` or `backward_step(&loss)`, `learning_rate`,
//! `set_learning_rate`. As in candle-nn, vars that are not floating point are dropped at construction,
//! and vars without a gradient in the `GradStore` are left untouched by a step (their state too, as
//! in PyTorch, where a parameter whose `.grad` is `None` is skipped).
//!
//! The arithmetic happens in each var's own dtype, on its device, with candle tensor ops (Adam and
//! AdamW on CPU vars: one fused pass with the same arithmetic); only per-step scalars (bias
//! corrections) are computed on the host, in f64.
//!
//! `tests/optim_pytorch.rs` checks all of them (and AdamW) against PyTorch over 5 steps: in f64
//! they agree to ~1e-14 relative; in f32 to f32 rounding (bit-exact for Adadelta and AdamW).
//!
//! ## Optimizer state for checkpoints
//!
//! [`OptimizerState`] lists an optimizer's state as named tensors and restores it. The names are
//! `"<slot>.<index>"`, where `<index>` is the var's position among the (floating-point) vars given
//! to `new`. Positions must mean the same vars when a run resumes, so build optimizers from
//! [`crate::checkpoint::sorted_vars`] (name order), never from `VarMap::all_vars` (hash order). Plus:
//! - `"step"`: how many times `step` was called, a scalar f32 tensor;
//! - `"step.<index>"`: how many of those steps var `<index>` had a gradient, a scalar f32 tensor.
//!   This is PyTorch's per-parameter `state["step"]`: Adam's bias correction uses it, and it tells
//!   SGD and RMSprop-with-momentum which step is a var's first. f32 counts are exact up to 2^24 steps.
//!
//! Every name is always present (state starts as zeros, as in PyTorch), so loading can insist on all
//! of them and report every missing, mis-shaped or unexpected name at once.

/// `OptimizerState` for an optimizer with `steps: usize` and `vars: Vec<impl VarState>`: all four here.
macro_rules! optimizer_state {
    ($optimizer:ty, $kind:literal) => {
        impl $crate::optim::OptimizerState for $optimizer {
            fn kind(&self) -> &'static str {
                $kind
            }

            fn state_tensors(&self) -> $crate::Result<Vec<(String, candle_core::Tensor)>> {
                $crate::optim::save_state(self.steps, &self.vars)
            }

            fn load_state_tensors(
                &mut self,
                saved: &std::collections::HashMap<String, candle_core::Tensor>,
            ) -> $crate::Result<()> {
                $crate::optim::load_state($kind, saved, &mut self.steps, &mut self.vars)
            }
        }
    };
}

/// The `VarState` accessors of a per-var state struct with fields `var` and `step`.
macro_rules! var_state_fields {
    () => {
        fn var(&self) -> &candle_core::Var {
            &self.var
        }

        fn step(&self) -> usize {
            self.step
        }

        fn step_mut(&mut self) -> &mut usize {
            &mut self.step
        }
    };
}

mod adadelta;
mod adam;
mod any;
mod clip;
mod fused;
pub mod lbfgs;
mod rmsprop;
mod sgd;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};

pub use adadelta::{Adadelta, ParamsAdadelta};
pub use adam::{Adam, AdamW, ParamsAdam, ParamsAdamW};
pub use any::AnyOptimizer;
pub use candle_nn::Optimizer;
pub use clip::clip_grad_norm;
pub use rmsprop::{ParamsRmsProp, RmsProp};
pub use sgd::{ParamsSgd, Sgd};

use crate::{Error, Result};

/// An optimizer whose state can be saved into a checkpoint and restored from it.
///
/// Implemented by [`Sgd`], [`Adam`], [`AdamW`], [`RmsProp`] and [`Adadelta`].
///
/// Besides `"step"`, the implementations here also save `"step.<index>"`, each var's own step count
/// (see the [module documentation](self)), so every name follows `"<slot>.<index>"` or is `"step"`.
pub trait OptimizerState {
    /// Short name stored in checkpoint metadata, e.g. "adam".
    fn kind(&self) -> &'static str;
    /// Every state tensor, named `"<slot>.<index>"` (e.g. "exp_avg.3"), plus "step" as a scalar f32 tensor where the algorithm has a step count.
    fn state_tensors(&self) -> crate::Result<Vec<(String, candle_core::Tensor)>>;
    /// Restores state saved by state_tensors; reports every missing or mis-shaped name at once (Error::Tensors { path: PathBuf::new() or a given path, problems }).
    fn load_state_tensors(
        &mut self,
        tensors: &std::collections::HashMap<String, candle_core::Tensor>,
    ) -> crate::Result<()>;
}

/// The name of a per-var state tensor: `"<slot>.<index>"`.
fn slot(slot: &str, index: usize) -> String {
    format!("{slot}.{index}")
}

/// A step count as a scalar f32 tensor, the form [`OptimizerState`] saves it in.
fn count_tensor(count: usize, device: &Device) -> Result<Tensor> {
    Ok(Tensor::new(count as f32, device)?)
}

/// The device of an optimizer's first var, where its global `"step"` tensor lives.
fn first_device<'a>(mut vars: impl Iterator<Item = &'a candle_core::Var>) -> Device {
    vars.next()
        .map(|v| v.device().clone())
        .unwrap_or(Device::Cpu)
}

/// Fails with [`Error::InvalidOption`] unless `ok` and `value` is finite. Used by the `validate` methods
/// of the `Params*` structs, which reject what PyTorch's constructors reject, and also NaN and infinity,
/// which PyTorch lets through (`--lr inf` passes `lr >= 0`, then turns every weight into NaN).
fn require(ok: bool, option: &str, value: f64, expected: &str) -> Result<()> {
    if !value.is_finite() {
        Err(Error::invalid(
            option,
            value,
            format!("a finite number: {expected}"),
        ))
    } else if ok {
        Ok(())
    } else {
        Err(Error::invalid(option, value, expected))
    }
}

/// [`candle_nn::Optimizer::new`] must return a candle error; this wraps ours, keeping its message.
fn to_candle(err: Error) -> candle_core::Error {
    candle_core::Error::wrap(err)
}

/// Reads a saved state map for [`OptimizerState::load_state_tensors`], collecting every problem
/// instead of stopping at the first, so a wrong checkpoint is explained in one error.
struct StateReader<'a> {
    saved: &'a HashMap<String, Tensor>,
    /// The names read so far; whatever else is in `saved` is unexpected.
    expected: HashSet<String>,
    problems: Vec<String>,
}

impl<'a> StateReader<'a> {
    fn new(saved: &'a HashMap<String, Tensor>) -> Self {
        Self {
            saved,
            expected: HashSet::new(),
            problems: Vec::new(),
        }
    }

    /// The saved tensor `name`, converted to the dtype and device of `like`, whose shape it must have.
    /// `None` (and a recorded problem) when it is missing, mis-shaped or cannot be converted.
    fn tensor(&mut self, name: &str, like: &Tensor) -> Option<Tensor> {
        let saved = self.get(name)?;
        if saved.dims() != like.dims() {
            self.problems.push(format!(
                "{name}: shape {:?}, expected {:?}",
                saved.dims(),
                like.dims()
            ));
            return None;
        }
        match saved
            .to_dtype(like.dtype())
            .and_then(|t| t.to_device(like.device()))
        {
            Ok(t) => Some(t),
            Err(e) => {
                self.problems.push(format!("{name}: {e}"));
                None
            }
        }
    }

    /// A step count saved by [`count_tensor`]: one element holding a non-negative whole number.
    fn count(&mut self, name: &str) -> Option<usize> {
        let saved = self.get(name)?;
        if saved.elem_count() != 1 {
            self.problems.push(format!(
                "{name}: shape {:?}, expected a scalar step count",
                saved.dims()
            ));
            return None;
        }
        let value = saved
            .flatten_all()
            .and_then(|t| t.to_dtype(DType::F64))
            .and_then(|t| t.get(0))
            .and_then(|t| t.to_scalar::<f64>());
        match value {
            Ok(v) if v >= 0.0 && v.fract() == 0.0 && v <= u32::MAX as f64 => Some(v as usize),
            Ok(v) => {
                self.problems
                    .push(format!("{name}: {v} is not a step count"));
                None
            }
            Err(e) => {
                self.problems.push(format!("{name}: {e}"));
                None
            }
        }
    }

    fn get(&mut self, name: &str) -> Option<&'a Tensor> {
        self.expected.insert(name.to_string());
        let saved = self.saved.get(name);
        if saved.is_none() {
            self.problems.push(format!("missing {name}"));
        }
        saved
    }

    /// `restored` if every read succeeded and nothing unexpected was saved; otherwise
    /// [`Error::Tensors`] listing every problem (unexpected names sorted, after the others).
    fn finish<T>(mut self, kind: &str, restored: Option<T>) -> Result<T> {
        let mut unexpected: Vec<_> = self
            .saved
            .keys()
            .filter(|name| !self.expected.contains(*name))
            .collect();
        unexpected.sort();
        for name in unexpected {
            self.problems.push(format!(
                "unexpected {name} (not part of this {kind} optimizer's state)"
            ));
        }
        match restored {
            Some(restored) if self.problems.is_empty() => Ok(restored),
            _ => Err(Error::Tensors {
                path: PathBuf::new(),
                problems: self.problems,
            }),
        }
    }
}

/// A var's value and its gradient with PyTorch's L2 weight decay added (g ← g + λ·p), both detached so
/// the new values keep no graph back to earlier steps; `None` when the var got no gradient (it is skipped).
fn param_and_grad(
    var: &candle_core::Var,
    grads: &candle_core::backprop::GradStore,
    weight_decay: f64,
) -> candle_core::Result<Option<(Tensor, Tensor)>> {
    let Some(grad) = grads.get(var.as_tensor()) else {
        return Ok(None);
    };
    let param = var.as_tensor().detach();
    let mut g = grad.detach();
    if weight_decay != 0.0 {
        g = (g + (&param * weight_decay)?)?;
    }
    Ok(Some((param, g)))
}

/// One var's state as every optimizer here keeps it: its own step count and its named slots (only the
/// slots its settings use, in a fixed order). [`save_state`] and [`load_state`] do the rest.
trait VarState {
    fn var(&self) -> &candle_core::Var;
    fn step(&self) -> usize;
    fn step_mut(&mut self) -> &mut usize;
    fn slots(&self) -> Vec<(&'static str, &Tensor)>;
    fn slots_mut(&mut self) -> Vec<(&'static str, &mut Tensor)>;
}

// Checkpoint state: `"step"`, then per var `"step.<i>"` and each slot as `"<slot>.<i>"`.
fn save_state<V: VarState>(steps: usize, vars: &[V]) -> Result<Vec<(String, Tensor)>> {
    let mut out = vec![(
        "step".to_string(),
        count_tensor(steps, &first_device(vars.iter().map(V::var)))?,
    )];
    for (i, state) in vars.iter().enumerate() {
        out.push((
            slot("step", i),
            count_tensor(state.step(), state.var().device())?,
        ));
        out.extend(
            state
                .slots()
                .into_iter()
                .map(|(name, t)| (slot(name, i), t.clone())),
        );
    }
    Ok(out)
}

/// Restores what [`save_state`] wrote, all or nothing: every missing, mis-shaped or unexpected name is
/// reported in one error and no state changes unless all of it reads.
fn load_state<V: VarState>(
    kind: &str,
    saved: &HashMap<String, Tensor>,
    steps: &mut usize,
    vars: &mut [V],
) -> Result<()> {
    let mut reader = StateReader::new(saved);
    let new_steps = reader.count("step");
    let per_var: Vec<Option<(usize, Vec<Tensor>)>> = vars
        .iter()
        .enumerate()
        .map(|(i, state)| {
            let step = reader.count(&slot("step", i));
            let like = state.var().as_tensor();
            let tensors: Vec<Option<Tensor>> = state
                .slots()
                .iter()
                .map(|(name, _)| reader.tensor(&slot(name, i), like))
                .collect();
            Some((step?, tensors.into_iter().collect::<Option<Vec<_>>>()?))
        })
        .collect();
    let restored = new_steps.zip(per_var.into_iter().collect::<Option<Vec<_>>>());
    let (new_steps, per_var) = reader.finish(kind, restored)?;
    *steps = new_steps;
    for (state, (step, tensors)) in vars.iter_mut().zip(per_var) {
        *state.step_mut() = step;
        for ((_, slot), t) in state.slots_mut().into_iter().zip(tensors) {
            *slot = t;
        }
    }
    Ok(())
}

/// Scalar helpers shared by the unit tests of the optimizers.
#[cfg(test)]
mod test_util {
    use candle_core::{backprop::GradStore, Device, Tensor, Var};

    /// A one-element f64 var.
    pub fn scalar_var(value: f64) -> Var {
        Var::new(&[value], &Device::Cpu).unwrap()
    }

    /// The gradients of `sum(var * g)`, i.e. exactly `g` for `var`.
    pub fn grads(var: &Var, g: f64) -> GradStore {
        let g = Tensor::new(&[g], &Device::Cpu).unwrap();
        var.as_tensor()
            .mul(&g)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap()
    }

    pub fn value(var: &Var) -> f64 {
        var.as_tensor().to_vec1::<f64>().unwrap()[0]
    }

    pub fn assert_close(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() <= 1e-12 * expected.abs().max(1.0),
            "{actual} != {expected}"
        );
    }
}
