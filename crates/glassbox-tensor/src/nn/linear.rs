use candle_core::{Result, Tensor};
use candle_nn::Module;

use crate::ops::linear::linear;

/// A fully connected layer whose bias and its gradient run on the CPU kernel ([`crate::ops::linear()`]);
/// built from candle-nn's `Linear` (so it keeps that layer's names, `weight` and `bias`, and its start or
/// Keras's, [`super::keras::dense`]). Inputs of rank above 2 are rows in their leading shape (a sequence's
/// `(steps, batch, inputs)` gives `(steps, batch, outputs)`); vectors go through candle-nn's layer.
#[derive(Clone, Debug)]
pub struct Linear {
    inner: candle_nn::Linear,
}

impl From<candle_nn::Linear> for Linear {
    fn from(inner: candle_nn::Linear) -> Self {
        Linear { inner }
    }
}

impl Linear {
    /// The weights, `(out, in)`.
    pub fn weight(&self) -> &Tensor {
        self.inner.weight()
    }

    /// The bias, if it has one.
    pub fn bias(&self) -> Option<&Tensor> {
        self.inner.bias()
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if x.rank() < 2 {
            return self.inner.forward(x);
        }
        linear(x, self.inner.weight(), self.inner.bias())
    }
}
