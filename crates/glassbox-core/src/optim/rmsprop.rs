//! RMSprop, with the optional centered variant, momentum and L2 weight decay, as PyTorch's
//! `torch.optim.RMSprop` computes it (the single-tensor algorithm, `foreach=False`).
//!
//! For each parameter p with gradient g (PyTorch docs, `RMSprop` algorithm; γ = lr, α = alpha,
//! λ = weight_decay, μ = momentum, ε = eps; v, ḡ, b start at 0):
//!
//! ```text
//! g ← g + λ·p                          if λ ≠ 0
//! v ← α·v + (1 − α)·g²                 square_avg
//! ḡ ← α·ḡ + (1 − α)·g                  grad_avg, centered only (PyTorch: ḡ.lerp_(g, 1 − α))
//! avg ← √(v − ḡ²) + ε   (centered)   or   avg ← √v + ε
//! b ← μ·b + g / avg;   p ← p − γ·b     if μ > 0 (momentum_buffer)
//! p ← p − γ·g / avg                    otherwise
//! ```
//!
//! As in PyTorch, `eps` is added outside the square root, and nothing guards `v − ḡ²` against
//! rounding below zero.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::Optimizer;

use super::{param_and_grad, require, to_candle, VarState};
use crate::Result;

/// Settings of [`RmsProp`]; `Default` is PyTorch's: lr 1e-2, alpha 0.99, eps 1e-8, no weight decay,
/// no momentum, not centered.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamsRmsProp {
    /// Learning rate.
    pub lr: f64,
    /// Smoothing constant of the running averages.
    pub alpha: f64,
    /// Added to the root of the running average for numerical stability.
    pub eps: f64,
    /// L2 penalty, added to the gradient: g ← g + weight_decay·p.
    pub weight_decay: f64,
    /// Momentum of the step (0 for none).
    pub momentum: f64,
    /// Normalize by an estimate of the gradient's variance instead of its second moment.
    pub centered: bool,
}

impl Default for ParamsRmsProp {
    fn default() -> Self {
        Self {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
        }
    }
}

impl ParamsRmsProp {
    /// Rejects what `torch.optim.RMSprop` rejects (and NaN), with [`crate::Error::InvalidOption`].
    /// [`RmsProp::new`] calls it too, but has to return the error wrapped in a candle error.
    pub fn validate(&self) -> Result<()> {
        require(
            self.lr >= 0.0,
            "RMSprop lr",
            self.lr,
            "a learning rate >= 0",
        )?;
        require(self.eps >= 0.0, "RMSprop eps", self.eps, "an epsilon >= 0")?;
        require(
            self.momentum >= 0.0,
            "RMSprop momentum",
            self.momentum,
            "a momentum >= 0",
        )?;
        require(
            self.weight_decay >= 0.0,
            "RMSprop weight_decay",
            self.weight_decay,
            "a weight decay >= 0",
        )?;
        require(
            self.alpha >= 0.0,
            "RMSprop alpha",
            self.alpha,
            "an alpha >= 0",
        )
    }
}

/// One var and its state.
#[derive(Debug)]
struct RmsPropVar {
    var: Var,
    /// Steps this var had a gradient (PyTorch counts them too, though the update does not use it).
    step: usize,
    square_avg: Tensor,
    /// `Some` exactly when momentum > 0.
    momentum_buffer: Option<Tensor>,
    /// `Some` exactly when centered.
    grad_avg: Option<Tensor>,
}

/// RMSprop as `torch.optim.RMSprop`; see the module documentation for the update.
#[derive(Debug)]
pub struct RmsProp {
    vars: Vec<RmsPropVar>,
    params: ParamsRmsProp,
    /// Calls to `step`.
    steps: usize,
}

impl RmsProp {
    /// The settings.
    pub fn params(&self) -> &ParamsRmsProp {
        &self.params
    }
}

impl Optimizer for RmsProp {
    type Config = ParamsRmsProp;

    fn new(vars: Vec<Var>, params: ParamsRmsProp) -> candle_core::Result<Self> {
        params.validate().map_err(to_candle)?;
        let vars = vars
            .into_iter()
            .filter(|var| var.dtype().is_float())
            .map(|var| {
                let zeros = var.as_tensor().zeros_like()?;
                Ok(RmsPropVar {
                    var,
                    step: 0,
                    square_avg: zeros.clone(),
                    momentum_buffer: (params.momentum > 0.0).then(|| zeros.clone()),
                    grad_avg: params.centered.then_some(zeros),
                })
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(Self {
            vars,
            params,
            steps: 0,
        })
    }

    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        let ParamsRmsProp {
            lr,
            alpha,
            eps,
            weight_decay,
            ..
        } = self.params;
        self.steps += 1;
        for state in &mut self.vars {
            // g ← g + λ·p
            let Some((param, g)) = param_and_grad(&state.var, grads, weight_decay)? else {
                continue;
            };
            state.step += 1;
            // v ← α·v + (1 − α)·g²
            state.square_avg = ((&state.square_avg * alpha)? + (g.sqr()? * (1.0 - alpha))?)?;
            // avg ← √(v − ḡ²) + ε with ḡ ← α·ḡ + (1 − α)·g (centered), or avg ← √v + ε
            let avg = match &mut state.grad_avg {
                Some(grad_avg) => {
                    *grad_avg = ((&*grad_avg * alpha)? + (&g * (1.0 - alpha))?)?;
                    (state.square_avg.sub(&grad_avg.sqr()?)?.sqrt()? + eps)?
                }
                None => (state.square_avg.sqrt()? + eps)?,
            };
            let update = match &mut state.momentum_buffer {
                // b ← μ·b + g / avg;  p ← p − γ·b
                Some(buf) => {
                    *buf = ((&*buf * self.params.momentum)? + g.div(&avg)?)?;
                    (&*buf * lr)?
                }
                // p ← p − γ·g / avg
                None => (g.div(&avg)? * lr)?,
            };
            state.var.set(&(param - update)?)?;
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.params.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr;
    }
}

// Checkpoint state: `"step"`, then per var `"step.<i>"`, `"square_avg.<i>"`, with momentum `"momentum_buffer.<i>"`
// and when centered `"grad_avg.<i>"`.
optimizer_state!(RmsProp, "rmsprop");

impl VarState for RmsPropVar {
    var_state_fields!();

    fn slots(&self) -> Vec<(&'static str, &Tensor)> {
        let mut out = vec![("square_avg", &self.square_avg)];
        out.extend(self.momentum_buffer.iter().map(|t| ("momentum_buffer", t)));
        out.extend(self.grad_avg.iter().map(|t| ("grad_avg", t)));
        out
    }

    fn slots_mut(&mut self) -> Vec<(&'static str, &mut Tensor)> {
        let mut out = vec![("square_avg", &mut self.square_avg)];
        out.extend(
            self.momentum_buffer
                .iter_mut()
                .map(|t| ("momentum_buffer", t)),
        );
        out.extend(self.grad_avg.iter_mut().map(|t| ("grad_avg", t)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::test_util::{assert_close, grads, scalar_var, value};
    use crate::optim::OptimizerState;

    fn rmsprop(var: &Var, params: ParamsRmsProp) -> RmsProp {
        RmsProp::new(vec![var.clone()], params).unwrap()
    }

    #[test]
    fn plain_two_steps_by_hand() {
        let w = scalar_var(1.0);
        let mut opt = rmsprop(
            &w,
            ParamsRmsProp {
                lr: 0.1,
                alpha: 0.5,
                ..Default::default()
            },
        );
        opt.step(&grads(&w, 2.0)).unwrap(); // v = 0.5·4 = 2;  w = 1 − 0.1·2/(√2 + ε)
        let w1 = 1.0 - 0.2 / (2f64.sqrt() + 1e-8);
        assert_close(value(&w), w1);
        opt.step(&grads(&w, 1.0)).unwrap(); // v = 1 + 0.5 = 1.5;  w −= 0.1·1/(√1.5 + ε)
        assert_close(value(&w), w1 - 0.1 / (1.5f64.sqrt() + 1e-8));
    }

    #[test]
    fn centered_with_momentum_by_hand() {
        let w = scalar_var(1.0);
        let params = ParamsRmsProp {
            lr: 0.1,
            alpha: 0.5,
            momentum: 0.9,
            centered: true,
            ..Default::default()
        };
        let mut opt = rmsprop(&w, params);
        opt.step(&grads(&w, 2.0)).unwrap();
        // v = 2, ḡ = 1, avg = √(2 − 1) + ε;  b = 2/avg;  w = 1 − 0.1·b
        let b1 = 2.0 / (1.0 + 1e-8);
        assert_close(value(&w), 1.0 - 0.1 * b1);
        opt.step(&grads(&w, -1.0)).unwrap();
        // v = 1 + 0.5 = 1.5, ḡ = 0.5 − 0.5 = 0, avg = √1.5 + ε;  b = 0.9·b1 − 1/avg
        let b2 = 0.9 * b1 - 1.0 / (1.5f64.sqrt() + 1e-8);
        assert_close(value(&w), 1.0 - 0.1 * b1 - 0.1 * b2);
    }

    #[test]
    fn weight_decay_adds_to_the_gradient() {
        let w = scalar_var(2.0);
        let params = ParamsRmsProp {
            lr: 0.1,
            alpha: 0.0,
            weight_decay: 0.5,
            ..Default::default()
        };
        let mut opt = rmsprop(&w, params);
        opt.step(&grads(&w, 0.0)).unwrap(); // g = 1, v = 1: w = 2 − 0.1/(1 + ε)
        assert_close(value(&w), 2.0 - 0.1 / (1.0 + 1e-8));
    }

    #[test]
    fn state_slots_follow_the_settings() {
        let w = scalar_var(1.0);
        let names = |params| {
            let mut names: Vec<_> = rmsprop(&w, params)
                .state_tensors()
                .unwrap()
                .into_iter()
                .map(|(n, _)| n)
                .collect();
            names.sort();
            names
        };
        assert_eq!(
            names(ParamsRmsProp::default()),
            ["square_avg.0", "step", "step.0"]
        );
        let all = ParamsRmsProp {
            momentum: 0.5,
            centered: true,
            ..Default::default()
        };
        assert_eq!(
            names(all),
            [
                "grad_avg.0",
                "momentum_buffer.0",
                "square_avg.0",
                "step",
                "step.0"
            ]
        );
    }
}
