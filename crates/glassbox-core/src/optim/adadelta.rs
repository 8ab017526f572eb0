//! Adadelta with L2 weight decay, as PyTorch's `torch.optim.Adadelta` computes it (the single-tensor
//! algorithm, `foreach=False`).
//!
//! For each parameter p with gradient g (PyTorch docs, `Adadelta` algorithm; γ = lr, ρ = rho,
//! λ = weight_decay, ε = eps; v and u start at 0):
//!
//! ```text
//! g ← g + λ·p                          if λ ≠ 0
//! v ← ρ·v + (1 − ρ)·g²                 square_avg
//! Δ ← √(u + ε) / √(v + ε) · g
//! u ← ρ·u + (1 − ρ)·Δ²                 acc_delta
//! p ← p − γ·Δ
//! ```
//!
//! Adadelta's step is already in the units of p, which is why PyTorch's default lr is 1.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::Optimizer;

use super::{param_and_grad, require, to_candle, VarState};
use crate::Result;

/// Settings of [`Adadelta`]; `Default` is PyTorch's: lr 1.0, rho 0.9, eps 1e-6, no weight decay.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamsAdadelta {
    /// A scale on the step, which Adadelta sizes by itself.
    pub lr: f64,
    /// Decay of the running averages.
    pub rho: f64,
    /// Added to the running averages for numerical stability.
    pub eps: f64,
    /// L2 penalty, added to the gradient: g ← g + weight_decay·p.
    pub weight_decay: f64,
}

impl Default for ParamsAdadelta {
    fn default() -> Self {
        Self {
            lr: 1.0,
            rho: 0.9,
            eps: 1e-6,
            weight_decay: 0.0,
        }
    }
}

impl ParamsAdadelta {
    /// Rejects what `torch.optim.Adadelta` rejects (and NaN), with [`crate::Error::InvalidOption`].
    /// [`Adadelta::new`] calls it too, but has to return the error wrapped in a candle error.
    pub fn validate(&self) -> Result<()> {
        require(
            self.lr >= 0.0,
            "Adadelta lr",
            self.lr,
            "a learning rate >= 0",
        )?;
        require(
            (0.0..=1.0).contains(&self.rho),
            "Adadelta rho",
            self.rho,
            "0 <= rho <= 1",
        )?;
        require(self.eps >= 0.0, "Adadelta eps", self.eps, "an epsilon >= 0")?;
        require(
            self.weight_decay >= 0.0,
            "Adadelta weight_decay",
            self.weight_decay,
            "a weight decay >= 0",
        )
    }
}

/// One var and its state.
#[derive(Debug)]
struct AdadeltaVar {
    var: Var,
    /// Steps this var had a gradient (PyTorch counts them too, though the update does not use it).
    step: usize,
    square_avg: Tensor,
    acc_delta: Tensor,
}

/// Adadelta as `torch.optim.Adadelta`; see the module documentation for the update.
#[derive(Debug)]
pub struct Adadelta {
    vars: Vec<AdadeltaVar>,
    params: ParamsAdadelta,
    /// Calls to `step`.
    steps: usize,
}

impl Adadelta {
    /// The settings.
    pub fn params(&self) -> &ParamsAdadelta {
        &self.params
    }
}

impl Optimizer for Adadelta {
    type Config = ParamsAdadelta;

    fn new(vars: Vec<Var>, params: ParamsAdadelta) -> candle_core::Result<Self> {
        params.validate().map_err(to_candle)?;
        let vars = vars
            .into_iter()
            .filter(|var| var.dtype().is_float())
            .map(|var| {
                let zeros = var.as_tensor().zeros_like()?;
                Ok(AdadeltaVar {
                    var,
                    step: 0,
                    square_avg: zeros.clone(),
                    acc_delta: zeros,
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
        let ParamsAdadelta {
            lr,
            rho,
            eps,
            weight_decay,
        } = self.params;
        self.steps += 1;
        for state in &mut self.vars {
            // g ← g + λ·p
            let Some((param, g)) = param_and_grad(&state.var, grads, weight_decay)? else {
                continue;
            };
            state.step += 1;
            // v ← ρ·v + (1 − ρ)·g²
            state.square_avg = ((&state.square_avg * rho)? + (g.sqr()? * (1.0 - rho))?)?;
            // Δ ← √(u + ε) / √(v + ε) · g
            let std = (&state.square_avg + eps)?.sqrt()?;
            let delta = (&state.acc_delta + eps)?.sqrt()?.div(&std)?.mul(&g)?;
            // u ← ρ·u + (1 − ρ)·Δ²
            state.acc_delta = ((&state.acc_delta * rho)? + (delta.sqr()? * (1.0 - rho))?)?;
            // p ← p − γ·Δ
            state.var.set(&(param - (delta * lr)?)?)?;
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

// Checkpoint state: `"step"`, then per var `"step.<i>"`, `"square_avg.<i>"` and `"acc_delta.<i>"`.
optimizer_state!(Adadelta, "adadelta");

impl VarState for AdadeltaVar {
    var_state_fields!();

    fn slots(&self) -> Vec<(&'static str, &Tensor)> {
        vec![
            ("square_avg", &self.square_avg),
            ("acc_delta", &self.acc_delta),
        ]
    }

    fn slots_mut(&mut self) -> Vec<(&'static str, &mut Tensor)> {
        vec![
            ("square_avg", &mut self.square_avg),
            ("acc_delta", &mut self.acc_delta),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::test_util::{assert_close, grads, scalar_var, value};

    #[test]
    fn two_steps_by_hand() {
        let w = scalar_var(1.0);
        let params = ParamsAdadelta {
            rho: 0.5,
            eps: 0.01,
            ..Default::default()
        };
        let mut opt = Adadelta::new(vec![w.clone()], params).unwrap();
        opt.step(&grads(&w, 2.0)).unwrap();
        // v = 0.5·4 = 2;  Δ = √0.01/√2.01 · 2;  u = 0.5·Δ²
        let d1 = 0.1 / 2.01f64.sqrt() * 2.0;
        assert_close(value(&w), 1.0 - d1);
        opt.step(&grads(&w, 1.0)).unwrap();
        // v = 1 + 0.5 = 1.5;  Δ = √(0.5·Δ₁² + 0.01)/√1.51 · 1
        let d2 = (0.5 * d1 * d1 + 0.01f64).sqrt() / 1.51f64.sqrt();
        assert_close(value(&w), 1.0 - d1 - d2);
    }

    #[test]
    fn lr_and_weight_decay() {
        let w = scalar_var(2.0);
        let params = ParamsAdadelta {
            lr: 0.5,
            rho: 0.0,
            eps: 0.25,
            weight_decay: 0.5,
        };
        let mut opt = Adadelta::new(vec![w.clone()], params).unwrap();
        opt.step(&grads(&w, 0.0)).unwrap();
        // g = 0.5·2 = 1;  v = 1;  Δ = √0.25/√1.25 · 1;  w = 2 − 0.5·Δ
        assert_close(value(&w), 2.0 - 0.5 * 0.5 / 1.25f64.sqrt());
    }

    #[test]
    fn rejects_rho_above_one() {
        let params = ParamsAdadelta {
            rho: 1.5,
            ..Default::default()
        };
        assert!(matches!(
            params.validate(),
            Err(crate::Error::InvalidOption { .. })
        ));
    }
}
