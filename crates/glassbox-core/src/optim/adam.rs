//! Adam, with the optional AMSGrad variant and L2 weight decay, as PyTorch's `torch.optim.Adam`
//! computes it (the single-tensor algorithm, `foreach=False`, not capturable).
//!
//! For each parameter p with gradient g, at that parameter's step t = 1, 2, … (PyTorch docs, `Adam`
//! algorithm; γ = lr, λ = weight_decay, β₁, β₂ = betas, ε = eps; m, v, v̂max start at 0):
//!
//! ```text
//! g ← g + λ·p                               if λ ≠ 0 (L2, coupled: this is not AdamW)
//! m ← β₁·m + (1 − β₁)·g                     exp_avg     (PyTorch: m.lerp_(g, 1 − β₁))
//! v ← β₂·v + (1 − β₂)·g²                    exp_avg_sq
//! v̂max ← max(v̂max, v)                       max_exp_avg_sq, amsgrad only; then used for v below
//! denom ← √v / √(1 − β₂ᵗ) + ε
//! p ← p − γ / (1 − β₁ᵗ) · m / denom
//! ```
//!
//! The bias corrections are host scalars in f64, as in PyTorch. [`AdamW`] is the same update with
//! decoupled weight decay. CPU vars in f32/f64 update in one fused pass ([`super::fused`]), with the same
//! arithmetic as the tensor-op path used elsewhere.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::Optimizer;

use super::{fused, param_and_grad, require, to_candle, VarState};
use crate::Result;

/// Settings of [`Adam`]; `Default` is PyTorch's: lr 1e-3, betas (0.9, 0.999), eps 1e-8, no weight
/// decay, no AMSGrad.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamsAdam {
    /// Learning rate.
    pub lr: f64,
    /// Decay of the first moment (the running mean of the gradient).
    pub beta1: f64,
    /// Decay of the second moment (the running mean of its square).
    pub beta2: f64,
    /// Added to the second moment's root for numerical stability.
    pub eps: f64,
    /// L2 penalty, added to the gradient: g ← g + weight_decay·p.
    pub weight_decay: f64,
    /// Normalize by the largest second moment seen so far (AMSGrad).
    pub amsgrad: bool,
}

impl Default for ParamsAdam {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
        }
    }
}

impl ParamsAdam {
    /// Rejects what `torch.optim.Adam` rejects (and NaN), with [`crate::Error::InvalidOption`].
    /// [`Adam::new`] calls it too, but has to return the error wrapped in a candle error.
    pub fn validate(&self) -> Result<()> {
        require(self.lr >= 0.0, "Adam lr", self.lr, "a learning rate >= 0")?;
        require(self.eps >= 0.0, "Adam eps", self.eps, "an epsilon >= 0")?;
        require(
            (0.0..1.0).contains(&self.beta1),
            "Adam beta1",
            self.beta1,
            "0 <= beta1 < 1",
        )?;
        require(
            (0.0..1.0).contains(&self.beta2),
            "Adam beta2",
            self.beta2,
            "0 <= beta2 < 1",
        )?;
        require(
            self.weight_decay >= 0.0,
            "Adam weight_decay",
            self.weight_decay,
            "a weight decay >= 0",
        )
    }
}

/// One var and its state.
#[derive(Debug)]
struct AdamVar {
    var: Var,
    /// Steps this var had a gradient: the t of the bias corrections.
    step: usize,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    /// `Some` exactly when amsgrad is on.
    max_exp_avg_sq: Option<Tensor>,
    /// The moments side by side as the fused update last wrote them (see `fused::adam_update`).
    stacked: Option<Tensor>,
}

/// Adam as `torch.optim.Adam`; see the module documentation for the update.
#[derive(Debug)]
pub struct Adam {
    vars: Vec<AdamVar>,
    params: ParamsAdam,
    /// Calls to `step`.
    steps: usize,
}

impl Adam {
    /// The settings.
    pub fn params(&self) -> &ParamsAdam {
        &self.params
    }
}

impl Optimizer for Adam {
    type Config = ParamsAdam;

    fn new(vars: Vec<Var>, params: ParamsAdam) -> candle_core::Result<Self> {
        params.validate().map_err(to_candle)?;
        let vars = new_vars(vars, params.amsgrad)?;
        Ok(Self {
            vars,
            params,
            steps: 0,
        })
    }

    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        self.steps += 1;
        adam_step(&mut self.vars, &self.params, false, grads, true)
    }

    fn learning_rate(&self) -> f64 {
        self.params.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr;
    }
}

/// One step of Adam (`decoupled == false`, L2 on the gradient) or AdamW (`decoupled == true`, the
/// parameter decays by `lr * weight_decay` first, as `torch.optim.AdamW` does) over every var with a
/// gradient. CPU vars in f32/f64 take the fused single-pass kernel when `fused` allows it.
fn adam_step(
    vars: &mut [AdamVar],
    params: &ParamsAdam,
    decoupled: bool,
    grads: &GradStore,
    fused: bool,
) -> candle_core::Result<()> {
    let ParamsAdam {
        lr,
        beta1,
        beta2,
        eps,
        weight_decay,
        amsgrad,
    } = *params;
    for state in vars {
        let l2 = if decoupled { 0.0 } else { weight_decay };
        let Some(grad) = grads.get(state.var.as_tensor()) else {
            continue;
        };
        state.step += 1;
        // Bias corrections for this var's step t, on the host in f64.
        let t = state.step as i32;
        let bias_correction1 = 1.0 - beta1.powi(t);
        let bias_correction2_sqrt = (1.0 - beta2.powi(t)).sqrt();
        let step_size = lr / bias_correction1;
        if fused && fused::applies(state.var.as_tensor()) {
            let step = fused::AdamStep {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
                decoupled,
                amsgrad,
                step_size,
                bias_correction2_sqrt,
            };
            let mut moments = vec![&state.exp_avg, &state.exp_avg_sq];
            moments.extend(state.max_exp_avg_sq.as_ref());
            let (updated, stacked) = fused::adam_update(
                &state.var.as_tensor().detach(),
                &grad.detach(),
                &moments,
                state.stacked.as_ref(),
                step,
            )?;
            state.stacked = Some(stacked);
            let mut updated = updated.into_iter();
            state.var.set(&updated.next().expect("parameter"))?;
            state.exp_avg = updated.next().expect("exp_avg");
            state.exp_avg_sq = updated.next().expect("exp_avg_sq");
            if let Some(max) = &mut state.max_exp_avg_sq {
                *max = updated.next().expect("max_exp_avg_sq");
            }
            continue;
        }
        // g ← g + λ·p (Adam)
        let Some((mut param, g)) = param_and_grad(&state.var, grads, l2)? else {
            continue;
        };
        // p ← p·(1 − γλ) (AdamW)
        if decoupled && weight_decay != 0.0 {
            param = (param * (1.0 - lr * weight_decay))?;
        }
        // m ← β₁·m + (1 − β₁)·g
        state.exp_avg = ((&state.exp_avg * beta1)? + (&g * (1.0 - beta1))?)?;
        // v ← β₂·v + (1 − β₂)·g²
        state.exp_avg_sq = ((&state.exp_avg_sq * beta2)? + (g.sqr()? * (1.0 - beta2))?)?;
        // v̂max ← max(v̂max, v), which then stands in for v
        let second_moment = match &mut state.max_exp_avg_sq {
            Some(max) => {
                *max = max.maximum(&state.exp_avg_sq)?;
                &*max
            }
            None => &state.exp_avg_sq,
        };
        // denom ← √v / √(1 − β₂ᵗ) + ε
        let denom = ((second_moment.sqrt()? / bias_correction2_sqrt)? + eps)?;
        // p ← p − γ / (1 − β₁ᵗ) · m / denom
        let update = (state.exp_avg.div(&denom)? * step_size)?;
        state.var.set(&(param - update)?)?;
    }
    Ok(())
}

fn new_vars(vars: Vec<Var>, amsgrad: bool) -> candle_core::Result<Vec<AdamVar>> {
    vars.into_iter()
        .filter(|var| var.dtype().is_float())
        .map(|var| {
            let zeros = var.as_tensor().zeros_like()?;
            Ok(AdamVar {
                var,
                step: 0,
                exp_avg: zeros.clone(),
                exp_avg_sq: zeros.clone(),
                max_exp_avg_sq: amsgrad.then_some(zeros),
                stacked: None,
            })
        })
        .collect()
}

/// Settings of [`AdamW`] (candle-nn's struct, so code written for candle-nn's AdamW keeps working);
/// `Default` is candle-nn's and PyTorch's: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0.01.
pub use candle_nn::ParamsAdamW;

/// AdamW as `torch.optim.AdamW` (decoupled weight decay, no AMSGrad): the Adam update above after
/// `p ← p·(1 − lr·weight_decay)`. Unlike candle-nn's AdamW, its state can be checkpointed, and CPU
/// vars update in one fused pass.
#[derive(Debug)]
pub struct AdamW {
    vars: Vec<AdamVar>,
    params: ParamsAdam,
    steps: usize,
}

impl AdamW {
    /// The settings, in candle-nn's struct.
    pub fn params(&self) -> ParamsAdamW {
        let p = &self.params;
        ParamsAdamW {
            lr: p.lr,
            beta1: p.beta1,
            beta2: p.beta2,
            eps: p.eps,
            weight_decay: p.weight_decay,
        }
    }
}

impl Optimizer for AdamW {
    type Config = ParamsAdamW;

    fn new(vars: Vec<Var>, p: ParamsAdamW) -> candle_core::Result<Self> {
        let params = ParamsAdam {
            lr: p.lr,
            beta1: p.beta1,
            beta2: p.beta2,
            eps: p.eps,
            weight_decay: p.weight_decay,
            amsgrad: false,
        };
        params.validate().map_err(to_candle)?;
        Ok(Self {
            vars: new_vars(vars, false)?,
            params,
            steps: 0,
        })
    }

    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        self.steps += 1;
        adam_step(&mut self.vars, &self.params, true, grads, true)
    }

    fn learning_rate(&self) -> f64 {
        self.params.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr;
    }
}

optimizer_state!(AdamW, "adamw");

// Checkpoint state: `"step"`, then per var `"step.<i>"`, `"exp_avg.<i>"`, `"exp_avg_sq.<i>"` and, with amsgrad,
// `"max_exp_avg_sq.<i>"`.
optimizer_state!(Adam, "adam");

impl VarState for AdamVar {
    var_state_fields!();

    fn slots(&self) -> Vec<(&'static str, &Tensor)> {
        let mut out = vec![("exp_avg", &self.exp_avg), ("exp_avg_sq", &self.exp_avg_sq)];
        out.extend(self.max_exp_avg_sq.iter().map(|t| ("max_exp_avg_sq", t)));
        out
    }

    fn slots_mut(&mut self) -> Vec<(&'static str, &mut Tensor)> {
        let mut out = vec![
            ("exp_avg", &mut self.exp_avg),
            ("exp_avg_sq", &mut self.exp_avg_sq),
        ];
        out.extend(
            self.max_exp_avg_sq
                .iter_mut()
                .map(|t| ("max_exp_avg_sq", t)),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::test_util::{assert_close, grads, scalar_var, value};
    use crate::optim::OptimizerState;

    fn adam(var: &Var, params: ParamsAdam) -> Adam {
        Adam::new(vec![var.clone()], params).unwrap()
    }

    #[test]
    fn first_step_moves_by_lr_whatever_the_gradient_scale() {
        // t = 1: m = 0.1·g, v = 0.001·g², so m/(1 − 0.9) = g and √v/√0.001 = |g|: a step of lr·g/(|g| + ε).
        for g in [3.0, -0.02] {
            let w = scalar_var(1.0);
            let mut opt = adam(
                &w,
                ParamsAdam {
                    lr: 0.1,
                    ..Default::default()
                },
            );
            opt.step(&grads(&w, g)).unwrap();
            assert_close(value(&w), 1.0 - 0.1 * g / (g.abs() + 1e-8));
        }
    }

    #[test]
    fn second_step_by_hand() {
        let w = scalar_var(1.0);
        let mut opt = adam(
            &w,
            ParamsAdam {
                lr: 0.1,
                ..Default::default()
            },
        );
        opt.step(&grads(&w, 1.0)).unwrap(); // w = 1 − 0.1/(1 + 1e-8)
        opt.step(&grads(&w, 0.5)).unwrap();
        // m = 0.9·0.1 + 0.1·0.5 = 0.14;   v = 0.999·0.001 + 0.001·0.25 = 0.001249
        // step size = 0.1/(1 − 0.81) = 0.1/0.19;   denom = √0.001249/√(1 − 0.998001) + 1e-8
        let denom = 0.001249f64.sqrt() / 0.001999f64.sqrt() + 1e-8;
        assert_close(
            value(&w),
            1.0 - 0.1 / (1.0 + 1e-8) - 0.1 / 0.19 * 0.14 / denom,
        );
    }

    #[test]
    fn amsgrad_keeps_the_largest_second_moment() {
        let w = scalar_var(1.0);
        let mut opt = adam(
            &w,
            ParamsAdam {
                lr: 0.1,
                amsgrad: true,
                ..Default::default()
            },
        );
        opt.step(&grads(&w, 1.0)).unwrap(); // v = v̂max = 0.001
        let after_first = value(&w);
        opt.step(&grads(&w, 0.0)).unwrap();
        // m = 0.09;   v = 0.000999 < v̂max = 0.001, so the max is used
        let denom = 0.001f64.sqrt() / 0.001999f64.sqrt() + 1e-8;
        assert_close(value(&w), after_first - 0.1 / 0.19 * 0.09 / denom);
        let state: std::collections::HashMap<_, _> =
            opt.state_tensors().unwrap().into_iter().collect();
        assert_close(
            state["max_exp_avg_sq.0"].to_vec1::<f64>().unwrap()[0],
            0.001,
        );
        assert_close(state["exp_avg_sq.0"].to_vec1::<f64>().unwrap()[0], 0.000999);
    }

    #[test]
    fn weight_decay_is_l2_on_the_gradient() {
        // g = 0 + 0.5·2 = 1: the first step is lr·1/(1 + ε) towards zero.
        let w = scalar_var(2.0);
        let mut opt = adam(
            &w,
            ParamsAdam {
                lr: 0.1,
                weight_decay: 0.5,
                ..Default::default()
            },
        );
        opt.step(&grads(&w, 0.0)).unwrap();
        assert_close(value(&w), 2.0 - 0.1 / (1.0 + 1e-8));
    }

    #[test]
    fn bias_correction_counts_only_steps_with_a_gradient() {
        // A var first trained at the optimizer's third step still gets a first-step update, as in PyTorch.
        let late = scalar_var(1.0);
        let other = scalar_var(0.0);
        let mut opt = Adam::new(
            vec![other.clone(), late.clone()],
            ParamsAdam {
                lr: 0.1,
                ..Default::default()
            },
        )
        .unwrap();
        opt.step(&grads(&other, 1.0)).unwrap();
        opt.step(&grads(&other, 1.0)).unwrap();
        opt.step(&grads(&late, 4.0)).unwrap();
        assert_close(value(&late), 1.0 - 0.1 * 4.0 / (4.0 + 1e-8));
    }

    #[test]
    fn the_fused_cpu_step_equals_the_tensor_op_step() {
        use candle_core::{DType, Device};
        // Lengths past the fused kernel's piece (32,768) run on the pool in pieces, the last one short.
        for (decoupled, amsgrad, dtype, len) in [
            (false, false, DType::F32, 257),
            (false, true, DType::F32, 100_003),
            (true, false, DType::F32, 257),
            (true, false, DType::F64, 70_001),
        ] {
            let init: Vec<f64> = (0..len).map(|i| ((i as f64) * 0.37).sin()).collect();
            let params = ParamsAdam {
                lr: 0.01,
                weight_decay: 0.1,
                amsgrad,
                ..Default::default()
            };
            let run = |fused: bool| {
                let var = Var::from_tensor(
                    &Tensor::new(init.as_slice(), &Device::Cpu)
                        .unwrap()
                        .to_dtype(dtype)
                        .unwrap(),
                )
                .unwrap();
                let mut vars = new_vars(vec![var.clone()], amsgrad).unwrap();
                for step in 0..4 {
                    let loss = (var.as_tensor().sqr().unwrap() * (step as f64 + 1.0))
                        .unwrap()
                        .sum_all()
                        .unwrap();
                    let grads = loss.backward().unwrap();
                    adam_step(&mut vars, &params, decoupled, &grads, fused).unwrap();
                }
                if fused {
                    // The steps after the first read the moments in place (their last result), and a
                    // moment replaced by another tensor (as a checkpoint's state is) is not taken for it.
                    let state = &mut vars[0];
                    let mut moments = vec![&state.exp_avg, &state.exp_avg_sq];
                    moments.extend(state.max_exp_avg_sq.as_ref());
                    let stacked = state
                        .stacked
                        .as_ref()
                        .expect("the fused step keeps its moments");
                    assert!(fused::stacks(stacked, &moments));
                    let copy = state.exp_avg.copy().unwrap();
                    state.exp_avg = copy;
                    let mut moments = vec![&state.exp_avg, &state.exp_avg_sq];
                    moments.extend(state.max_exp_avg_sq.as_ref());
                    assert!(!fused::stacks(state.stacked.as_ref().unwrap(), &moments));
                }
                var.as_tensor()
                    .to_dtype(DType::F64)
                    .unwrap()
                    .to_vec1::<f64>()
                    .unwrap()
            };
            let (fused, reference) = (run(true), run(false));
            // candle's tensor-by-scalar division multiplies by the reciprocal; the fused kernel divides,
            // as PyTorch does: the two differ by f32 rounding.
            let tolerance = if dtype == DType::F32 { 1e-5 } else { 1e-12 };
            for (a, b) in fused.iter().zip(&reference) {
                assert!(
                    (a - b).abs() <= tolerance * b.abs().max(1e-3),
                    "decoupled {decoupled} amsgrad {amsgrad} {dtype:?}: {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn rejects_betas_outside_zero_one() {
        for params in [
            ParamsAdam {
                beta1: 1.0,
                ..Default::default()
            },
            ParamsAdam {
                beta2: -0.1,
                ..Default::default()
            },
        ] {
            assert!(matches!(
                params.validate(),
                Err(crate::Error::InvalidOption { .. })
            ));
            assert!(Adam::new(vec![], params).is_err());
        }
    }
}
