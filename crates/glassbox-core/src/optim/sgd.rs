//! Stochastic gradient descent with momentum, dampening, weight decay and Nesterov momentum, as
//! PyTorch's `torch.optim.SGD` computes it (the single-tensor algorithm, `foreach=False`).
//!
//! For each parameter p with gradient g (PyTorch docs, `SGD` algorithm; γ = lr, λ = weight_decay,
//! μ = momentum, τ = dampening):
//!
//! ```text
//! g ← g + λ·p                          if λ ≠ 0
//! b ← g                                if μ ≠ 0, on p's first step (no dampening yet)
//! b ← μ·b + (1 − τ)·g                  if μ ≠ 0, on later steps
//! g ← g + μ·b  (nesterov)   or   g ← b if μ ≠ 0
//! p ← p − γ·g
//! ```
//!
//! Unlike candle-nn's `SGD`, this one has momentum; with the defaults it is the same plain SGD.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::Optimizer;

use super::{param_and_grad, require, to_candle, VarState};
use crate::Result;

/// Settings of [`Sgd`]; `Default` is PyTorch's: lr 1e-3, everything else off.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamsSgd {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor (0 for plain SGD).
    pub momentum: f64,
    /// Dampening of the gradient's share in the momentum buffer.
    pub dampening: f64,
    /// L2 penalty, added to the gradient: g ← g + weight_decay·p.
    pub weight_decay: f64,
    /// Nesterov momentum; needs momentum > 0 and dampening = 0.
    pub nesterov: bool,
}

impl Default for ParamsSgd {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }
}

impl ParamsSgd {
    /// Rejects what `torch.optim.SGD` rejects (and NaN), with [`crate::Error::InvalidOption`].
    /// [`Sgd::new`] calls it too, but has to return the error wrapped in a candle error.
    pub fn validate(&self) -> Result<()> {
        require(self.lr >= 0.0, "SGD lr", self.lr, "a learning rate >= 0")?;
        require(
            self.momentum >= 0.0,
            "SGD momentum",
            self.momentum,
            "a momentum >= 0",
        )?;
        require(
            !self.dampening.is_nan(),
            "SGD dampening",
            self.dampening,
            "a number",
        )?;
        require(
            self.weight_decay >= 0.0,
            "SGD weight_decay",
            self.weight_decay,
            "a weight decay >= 0",
        )?;
        if self.nesterov {
            require(
                self.momentum > 0.0,
                "SGD momentum",
                self.momentum,
                "momentum > 0 with nesterov = true",
            )?;
            require(
                self.dampening == 0.0,
                "SGD dampening",
                self.dampening,
                "dampening = 0 with nesterov = true",
            )?;
        }
        Ok(())
    }
}

/// One var and its state.
#[derive(Debug)]
struct SgdVar {
    var: Var,
    /// Steps this var had a gradient; 0 means the next one is its first.
    step: usize,
    /// PyTorch's `momentum_buffer`: `Some` exactly when momentum ≠ 0.
    momentum_buffer: Option<Tensor>,
}

/// SGD as `torch.optim.SGD`; see the module documentation for the update.
#[derive(Debug)]
pub struct Sgd {
    vars: Vec<SgdVar>,
    params: ParamsSgd,
    /// Calls to `step`.
    steps: usize,
}

impl Sgd {
    /// The settings.
    pub fn params(&self) -> &ParamsSgd {
        &self.params
    }
}

impl Optimizer for Sgd {
    type Config = ParamsSgd;

    fn new(vars: Vec<Var>, params: ParamsSgd) -> candle_core::Result<Self> {
        params.validate().map_err(to_candle)?;
        let vars = vars
            .into_iter()
            .filter(|var| var.dtype().is_float())
            .map(|var| {
                let momentum_buffer = match params.momentum != 0.0 {
                    true => Some(var.as_tensor().zeros_like()?),
                    false => None,
                };
                Ok(SgdVar {
                    var,
                    step: 0,
                    momentum_buffer,
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
        let ParamsSgd {
            lr,
            momentum,
            dampening,
            weight_decay,
            nesterov,
        } = self.params;
        self.steps += 1;
        for state in &mut self.vars {
            // g ← g + λ·p
            let Some((param, mut g)) = param_and_grad(&state.var, grads, weight_decay)? else {
                continue;
            };
            if let Some(buf) = &mut state.momentum_buffer {
                *buf = if state.step == 0 {
                    // b ← g (a copy: a gradient may share storage with something that changes)
                    g.copy()?
                } else {
                    // b ← μ·b + (1 − τ)·g
                    ((&*buf * momentum)? + (&g * (1.0 - dampening))?)?
                };
                // g ← g + μ·b (Nesterov), or g ← b
                g = match nesterov {
                    true => (g + (&*buf * momentum)?)?,
                    false => buf.clone(),
                };
            }
            // p ← p − γ·g
            state.var.set(&(param - (g * lr)?)?)?;
            state.step += 1;
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

// Checkpoint state: `"step"`, then per var `"step.<i>"` and, when momentum ≠ 0, `"momentum_buffer.<i>"`.
optimizer_state!(Sgd, "sgd");

impl VarState for SgdVar {
    var_state_fields!();

    fn slots(&self) -> Vec<(&'static str, &Tensor)> {
        self.momentum_buffer
            .iter()
            .map(|t| ("momentum_buffer", t))
            .collect()
    }

    fn slots_mut(&mut self) -> Vec<(&'static str, &mut Tensor)> {
        self.momentum_buffer
            .iter_mut()
            .map(|t| ("momentum_buffer", t))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::test_util::{assert_close, grads, scalar_var, value};
    use crate::optim::OptimizerState;

    fn sgd(var: &Var, params: ParamsSgd) -> Sgd {
        Sgd::new(vec![var.clone()], params).unwrap()
    }

    #[test]
    fn plain_sgd_steps_against_the_gradient() {
        let w = scalar_var(1.0);
        let mut opt = sgd(
            &w,
            ParamsSgd {
                lr: 0.1,
                ..Default::default()
            },
        );
        opt.step(&grads(&w, 2.0)).unwrap(); // 1 − 0.1·2
        assert_close(value(&w), 0.8);
        opt.step(&grads(&w, -1.0)).unwrap(); // 0.8 + 0.1
        assert_close(value(&w), 0.9);
    }

    #[test]
    fn weight_decay_adds_to_the_gradient() {
        let w = scalar_var(2.0);
        let params = ParamsSgd {
            lr: 0.1,
            weight_decay: 0.5,
            ..Default::default()
        };
        let mut opt = sgd(&w, params);
        opt.step(&grads(&w, 1.0)).unwrap(); // g = 1 + 0.5·2 = 2; 2 − 0.2
        assert_close(value(&w), 1.8);
    }

    #[test]
    fn momentum_starts_undampened_then_dampens() {
        let w = scalar_var(1.0);
        let params = ParamsSgd {
            lr: 0.1,
            momentum: 0.9,
            dampening: 0.5,
            ..Default::default()
        };
        let mut opt = sgd(&w, params);
        opt.step(&grads(&w, 1.0)).unwrap(); // b = 1; w = 1 − 0.1
        assert_close(value(&w), 0.9);
        opt.step(&grads(&w, 2.0)).unwrap(); // b = 0.9·1 + 0.5·2 = 1.9; w = 0.9 − 0.19
        assert_close(value(&w), 0.71);
    }

    #[test]
    fn nesterov_looks_ahead() {
        let w = scalar_var(1.0);
        let params = ParamsSgd {
            lr: 0.1,
            momentum: 0.9,
            nesterov: true,
            ..Default::default()
        };
        let mut opt = sgd(&w, params);
        opt.step(&grads(&w, 1.0)).unwrap(); // b = 1; g = 1 + 0.9 = 1.9; w = 1 − 0.19
        assert_close(value(&w), 0.81);
        opt.step(&grads(&w, 2.0)).unwrap(); // b = 0.9 + 2 = 2.9; g = 2 + 2.61 = 4.61; w = 0.81 − 0.461
        assert_close(value(&w), 0.349);
    }

    #[test]
    fn vars_without_gradient_are_skipped() {
        let w = scalar_var(1.0);
        let other = scalar_var(5.0);
        let params = ParamsSgd {
            lr: 0.1,
            momentum: 0.9,
            ..Default::default()
        };
        let mut opt = Sgd::new(vec![other.clone(), w.clone()], params).unwrap();
        opt.step(&grads(&w, 1.0)).unwrap();
        assert_close(value(&other), 5.0);
        assert_close(value(&w), 0.9);
        let state: std::collections::HashMap<_, _> =
            opt.state_tensors().unwrap().into_iter().collect();
        assert_eq!(state["step"].to_scalar::<f32>().unwrap(), 1.0);
        assert_eq!(state["step.0"].to_scalar::<f32>().unwrap(), 0.0);
        assert_eq!(state["step.1"].to_scalar::<f32>().unwrap(), 1.0);
    }

    #[test]
    fn nesterov_needs_momentum_and_no_dampening() {
        let bad = [
            ParamsSgd {
                nesterov: true,
                ..Default::default()
            },
            ParamsSgd {
                nesterov: true,
                momentum: 0.9,
                dampening: 0.1,
                ..Default::default()
            },
            ParamsSgd {
                lr: -1.0,
                ..Default::default()
            },
        ];
        for params in bad {
            assert!(
                matches!(params.validate(), Err(crate::Error::InvalidOption { .. })),
                "{params:?}"
            );
            let err = Sgd::new(vec![scalar_var(1.0)], params)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("invalid SGD"), "{err}");
        }
    }

    #[test]
    fn state_round_trip_and_every_problem_reported() {
        let w = scalar_var(1.0);
        let params = ParamsSgd {
            lr: 0.1,
            momentum: 0.9,
            dampening: 0.5,
            ..Default::default()
        };
        let mut opt = sgd(&w, params.clone());
        opt.step(&grads(&w, 1.0)).unwrap();
        let saved: std::collections::HashMap<_, _> =
            opt.state_tensors().unwrap().into_iter().collect();

        let w2 = scalar_var(0.9);
        let mut fresh = sgd(&w2, params.clone());
        fresh.load_state_tensors(&saved).unwrap();
        opt.step(&grads(&w, 2.0)).unwrap();
        fresh.step(&grads(&w2, 2.0)).unwrap(); // dampened, as a second step must be
        assert_close(value(&w2), value(&w));

        let mut broken = saved.clone();
        broken.remove("step.0");
        broken.insert(
            "momentum_buffer.0".into(),
            Tensor::zeros(3, candle_core::DType::F64, &candle_core::Device::Cpu).unwrap(),
        );
        broken.insert(
            "exp_avg.0".into(),
            Tensor::new(0f32, &candle_core::Device::Cpu).unwrap(),
        );
        let err = fresh.load_state_tensors(&broken).unwrap_err();
        let crate::Error::Tensors { problems, .. } = err else {
            panic!("{err}")
        };
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("missing step.0"));
        assert!(problems[1].contains("momentum_buffer.0: shape [3]"));
        assert!(problems[2].contains("unexpected exp_avg.0"));
    }
}
