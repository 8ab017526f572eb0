//! An optimizer chosen at run time (a lesson's `--optimizer`), stepped and checkpointed through one type.

use candle_core::backprop::GradStore;
use candle_core::Tensor;

use super::{Adadelta, Adam, AdamW, Optimizer, OptimizerState, RmsProp, Sgd};

/// One of this module's optimizers.
pub enum AnyOptimizer {
    /// Stochastic gradient descent, with momentum or Nesterov.
    Sgd(Sgd),
    /// Adam.
    Adam(Adam),
    /// Adam with decoupled weight decay.
    AdamW(AdamW),
    /// RMSprop.
    RmsProp(RmsProp),
    /// Adadelta.
    Adadelta(Adadelta),
}

/// Runs `$body` with `$o` bound to the optimizer inside `$self`.
macro_rules! each {
    ($self:expr, $o:ident => $body:expr) => {
        match $self {
            AnyOptimizer::Sgd($o) => $body,
            AnyOptimizer::Adam($o) => $body,
            AnyOptimizer::AdamW($o) => $body,
            AnyOptimizer::RmsProp($o) => $body,
            AnyOptimizer::Adadelta($o) => $body,
        }
    };
}

impl AnyOptimizer {
    /// The checkpoint metadata's name of the optimizer ("adam", "sgd", ...).
    pub fn kind(&self) -> &'static str {
        each!(self, o => o.kind())
    }

    /// The state to save in checkpoints and restore from them.
    pub fn state(&mut self) -> &mut dyn OptimizerState {
        each!(self, o => o)
    }

    /// The state, read-only.
    pub fn state_ref(&self) -> &dyn OptimizerState {
        each!(self, o => o)
    }

    /// Computes the gradients of `loss` and takes one step.
    pub fn backward_step(&mut self, loss: &Tensor) -> candle_core::Result<()> {
        each!(self, o => o.backward_step(loss))
    }

    /// One step with gradients computed elsewhere (e.g. a GAN's two players from one backward pass).
    pub fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        each!(self, o => o.step(grads))
    }

    /// The learning rate in use.
    pub fn learning_rate(&self) -> f64 {
        each!(self, o => o.learning_rate())
    }

    /// Changes the learning rate (schedules).
    pub fn set_learning_rate(&mut self, lr: f64) {
        each!(self, o => o.set_learning_rate(lr))
    }
}

macro_rules! from_each {
    ($($variant:ident),*) => {
        $(impl From<$variant> for AnyOptimizer {
            fn from(o: $variant) -> Self {
                AnyOptimizer::$variant(o)
            }
        })*
    };
}
from_each!(Sgd, Adam, AdamW, RmsProp, Adadelta);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::test_util::{grads, scalar_var, value};
    use crate::optim::{ParamsAdadelta, ParamsAdam, ParamsSgd};

    /// Each variant steps as the optimizer inside it would.
    #[test]
    fn dispatches_to_the_optimizer_inside() {
        let sgd_var = scalar_var(1.0);
        let mut sgd: AnyOptimizer = Sgd::new(
            vec![sgd_var.clone()],
            ParamsSgd {
                lr: 0.5,
                ..Default::default()
            },
        )
        .unwrap()
        .into();
        sgd.step(&grads(&sgd_var, 2.0)).unwrap();
        assert_eq!(value(&sgd_var), 0.0);
        assert_eq!(sgd.kind(), "sgd");

        let adam_var = scalar_var(1.0);
        let mut adam: AnyOptimizer = Adam::new(vec![adam_var.clone()], ParamsAdam::default())
            .unwrap()
            .into();
        adam.step(&grads(&adam_var, 3.0)).unwrap();
        // Adam's first step moves by lr whatever the gradient's size.
        assert!((value(&adam_var) - (1.0 - 1e-3)).abs() < 1e-6);
        assert_eq!(adam.kind(), "adam");
        adam.set_learning_rate(0.25);
        assert_eq!(adam.learning_rate(), 0.25);
        assert!(adam
            .state()
            .state_tensors()
            .unwrap()
            .iter()
            .any(|(n, _)| n == "exp_avg.0"));

        let ada: AnyOptimizer = Adadelta::new(vec![scalar_var(1.0)], ParamsAdadelta::default())
            .unwrap()
            .into();
        assert_eq!(ada.kind(), "adadelta");
    }
}
