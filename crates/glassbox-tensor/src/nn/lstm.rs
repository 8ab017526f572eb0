use candle_core::{DType, Result, Tensor};
use candle_nn::{Init, VarBuilder};

use crate::ops::lstm::lstm_cell_step;
use crate::ops::{lstm_layer, LayerInput};

/// How an [`Lstm`] is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LstmConfig {
    /// Stacked layers; layer `k + 1` reads the hidden states of layer `k`.
    pub layers: usize,
    /// Whose LSTM: PyTorch's (two biases per layer, everything U(+-1/sqrt(hidden))) or Keras's (one bias).
    pub flavor: LstmFlavor,
}

impl Default for LstmConfig {
    fn default() -> Self {
        LstmConfig {
            layers: 1,
            flavor: LstmFlavor::PyTorch,
        }
    }
}

/// The two conventions an [`Lstm`] can follow. The arithmetic is the same (gate order input, forget,
/// cell, output); the parameters and their start differ.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LstmFlavor {
    /// `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}`, all U(+-1/sqrt(hidden)).
    #[default]
    PyTorch,
    /// Keras's `LSTM` layer, under PyTorch's weight names and layouts: `weight_ih_l{k}` Glorot-uniform,
    /// `weight_hh_l{k}` orthogonal, one `bias_l{k}`, zero but 1 for the forget gate
    /// (`unit_forget_bias`). Its parameter count is the one Keras's `model.summary()` prints.
    Keras,
}

struct LstmLayer {
    w_ih: Tensor,
    w_hh: Tensor,
    /// PyTorch's two biases or Keras's one. Summed at every forward pass, not once here: an optimizer
    /// updates the variables in place, and a sum taken at construction would keep their first values.
    biases: Vec<Tensor>,
}

impl LstmLayer {
    fn bias(&self) -> Result<Tensor> {
        match self.biases.as_slice() {
            [one] => Ok(one.clone()),
            [first, rest @ ..] => rest.iter().try_fold(first.clone(), |sum, b| sum + b),
            [] => candle_core::bail!("lstm: a layer without a bias"),
        }
    }
}

/// A stacked LSTM with PyTorch's parameters and names (`weight_ih_l{k}`, `weight_hh_l{k}`,
/// `bias_ih_l{k}`, `bias_hh_l{k}`, gate order input, forget, cell, output), running from zero state.
pub struct Lstm {
    layers: Vec<LstmLayer>,
    input_size: usize,
    hidden: usize,
}

/// What an [`Lstm`] returns.
#[derive(Clone, Debug)]
pub struct LstmOutput {
    /// The last layer's hidden state at every step, time-major: `(steps, batch, hidden)`.
    pub sequence: Tensor,
    /// The final cell state of each layer, `(batch, hidden)` (no gradient flows through it on the CPU
    /// fast path).
    pub last_cells: Vec<Tensor>,
}

impl LstmOutput {
    /// The last layer's hidden state after the last step, `(batch, hidden)`.
    pub fn last_hidden(&self) -> Result<Tensor> {
        self.sequence.get(self.sequence.dim(0)? - 1)
    }

    /// The hidden states batch-first, `(batch, steps, hidden)`.
    pub fn batch_first(&self) -> Result<Tensor> {
        self.sequence.transpose(0, 1)
    }
}

/// What an [`Lstm`] carries from one step to the next: each layer's hidden and cell state,
/// `(batch, hidden)`, lowest layer first.
#[derive(Clone, Debug)]
pub struct LstmState {
    /// Each layer's hidden state.
    pub hidden: Vec<Tensor>,
    /// Each layer's cell state.
    pub cells: Vec<Tensor>,
}

impl LstmState {
    /// The top layer's hidden state, what a head reads.
    pub fn top(&self) -> &Tensor {
        self.hidden.last().expect("an LSTM has at least one layer")
    }
}

impl Lstm {
    /// Reads (or creates, started as `cfg.flavor` says) the weights under `vb`. A new Keras-flavored
    /// LSTM's recurrent weights are drawn from N(0, 1) here and made orthogonal by
    /// [`keras::start_lstm`](super::keras::start_lstm), which also sets the forget biases: a
    /// `VarBuilder` can only draw element-wise.
    pub fn new(input_size: usize, hidden: usize, cfg: LstmConfig, vb: VarBuilder) -> Result<Self> {
        let bound = 1.0 / (hidden as f64).sqrt();
        let pytorch = Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let layers = (0..cfg.layers.max(1))
            .map(|k| {
                let inputs = if k == 0 { input_size } else { hidden };
                let (input_init, recurrent_init) = match cfg.flavor {
                    LstmFlavor::PyTorch => (pytorch, pytorch),
                    LstmFlavor::Keras => (
                        super::keras::glorot_uniform(inputs, 4 * hidden),
                        Init::Randn {
                            mean: 0.0,
                            stdev: 1.0,
                        },
                    ),
                };
                let w_ih = vb.get_with_hints(
                    (4 * hidden, inputs),
                    &format!("weight_ih_l{k}"),
                    input_init,
                )?;
                let w_hh = vb.get_with_hints(
                    (4 * hidden, hidden),
                    &format!("weight_hh_l{k}"),
                    recurrent_init,
                )?;
                let biases = match cfg.flavor {
                    LstmFlavor::PyTorch => vec![
                        vb.get_with_hints(4 * hidden, &format!("bias_ih_l{k}"), pytorch)?,
                        vb.get_with_hints(4 * hidden, &format!("bias_hh_l{k}"), pytorch)?,
                    ],
                    LstmFlavor::Keras => vec![vb.get_with_hints(
                        4 * hidden,
                        &format!("bias_l{k}"),
                        Init::Const(0.0),
                    )?],
                };
                Ok(LstmLayer { w_ih, w_hh, biases })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Lstm {
            layers,
            input_size,
            hidden,
        })
    }

    /// Cells per layer.
    pub fn hidden_size(&self) -> usize {
        self.hidden
    }

    /// Runs over dense inputs `x: (batch, steps, input_size)`.
    pub fn forward(&self, x: &Tensor) -> Result<LstmOutput> {
        let (batch, steps, features) = x.dims3()?;
        if features != self.input_size {
            candle_core::bail!(
                "lstm: input has {features} features per step, the layer expects {}",
                self.input_size
            );
        }
        let time_major = x
            .transpose(0, 1)?
            .contiguous()?
            .reshape((steps * batch, features))?;
        self.run(LayerInput::Dense(&time_major), steps, batch)
    }

    /// Runs over symbol indices `ids: (batch, steps)` (u32), as if each were a one-hot vector of
    /// `input_size` entries: the input projection is a row lookup instead of a product with mostly zeros.
    pub fn forward_one_hot(&self, ids: &Tensor) -> Result<LstmOutput> {
        let (batch, steps) = ids.dims2()?;
        let ids = ids.to_dtype(DType::U32)?.t()?.contiguous()?.flatten_all()?;
        self.run(LayerInput::Ids(&ids), steps, batch)
    }

    /// The state before the first step: zeros, as [`Lstm::forward`] starts.
    pub fn zero_state(&self, batch: usize, device: &candle_core::Device) -> Result<LstmState> {
        let zeros = Tensor::zeros((batch, self.hidden), DType::F32, device)?;
        Ok(LstmState {
            hidden: vec![zeros.clone(); self.layers.len()],
            cells: vec![zeros; self.layers.len()],
        })
    }

    /// One step over symbol indices `ids: (batch)` read as one-hot vectors, from `state`: the state
    /// after it. Stepping through a sequence gives what [`Lstm::forward_one_hot`] gives for it, one step
    /// at a time, so generation can carry the state instead of rereading its context. It runs on candle's
    /// ops and is meant for inference: the state it returns is detached, so a run of any length neither
    /// keeps its history alive nor builds a graph as deep as the run (whose drop would overflow the stack).
    pub fn step_one_hot(&self, ids: &Tensor, state: &LstmState) -> Result<LstmState> {
        let ids = ids.to_dtype(DType::U32)?;
        let mut below: Option<Tensor> = None;
        let mut next = LstmState {
            hidden: Vec::with_capacity(self.layers.len()),
            cells: Vec::with_capacity(self.layers.len()),
        };
        for (k, layer) in self.layers.iter().enumerate() {
            let projection = match &below {
                None => layer.w_ih.index_select(&ids, 1)?.t()?,
                Some(h) => h.matmul(&layer.w_ih.t()?)?,
            };
            let input = projection.broadcast_add(&layer.bias()?)?;
            let (h, c) = lstm_cell_step(&input, &layer.w_hh, &state.hidden[k], &state.cells[k])?;
            let (h, c) = (h.detach(), c.detach());
            below = Some(h.clone());
            next.hidden.push(h);
            next.cells.push(c);
        }
        Ok(next)
    }

    /// Every layer in turn over the whole sequence, each one op ([`lstm_layer`]).
    fn run(&self, input: LayerInput, steps: usize, batch: usize) -> Result<LstmOutput> {
        let mut last_cells = Vec::with_capacity(self.layers.len());
        let mut sequence: Option<Tensor> = None;
        for layer in &self.layers {
            let below = match &sequence {
                Some(h) => Some(h.contiguous()?),
                None => None,
            };
            let input = below.as_ref().map_or(input, LayerInput::Dense);
            let states = lstm_layer(
                input,
                steps,
                batch,
                &layer.w_ih,
                &layer.w_hh,
                &layer.bias()?,
            )?;
            last_cells.push(states.last_cell);
            sequence = Some(states.hidden);
        }
        Ok(LstmOutput {
            sequence: sequence.expect("at least one layer"),
            last_cells,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::VarMap;

    /// Optimizers change variables in place: the layer must read its biases at every pass, or it keeps
    /// computing with their first values (as an earlier version did with PyTorch's summed pair).
    #[test]
    fn variables_changed_in_place_change_the_output() {
        for flavor in [LstmFlavor::PyTorch, LstmFlavor::Keras] {
            let varmap = VarMap::new();
            let dev = Device::Cpu;
            let cfg = LstmConfig { layers: 2, flavor };
            let lstm = Lstm::new(
                3,
                4,
                cfg,
                VarBuilder::from_varmap(&varmap, DType::F32, &dev),
            )
            .unwrap();
            let x = Tensor::arange(0f32, 30.0, &dev)
                .unwrap()
                .affine(0.05, -0.7)
                .unwrap()
                .reshape((2, 5, 3))
                .unwrap();
            let run = |l: &Lstm| -> Vec<f32> {
                l.forward(&x)
                    .unwrap()
                    .sequence
                    .flatten_all()
                    .unwrap()
                    .to_vec1()
                    .unwrap()
            };
            let before = run(&lstm);
            for (name, var) in varmap.data().lock().unwrap().iter() {
                if name.starts_with("bias") {
                    let shifted = (var.as_tensor() + 0.5).unwrap();
                    var.set(&shifted).unwrap();
                }
            }
            // A layer built now reads the new values; the old one must agree with it.
            let rebuilt = Lstm::new(
                3,
                4,
                cfg,
                VarBuilder::from_varmap(&varmap, DType::F32, &dev),
            )
            .unwrap();
            let after = run(&lstm);
            assert_eq!(after, run(&rebuilt), "{flavor:?}");
            assert_ne!(after, before, "{flavor:?}");
        }
    }

    /// Stepping with a carried state is the fused forward pass, one step at a time.
    #[test]
    fn steps_with_a_carried_state_agree_with_the_whole_sequence() {
        let varmap = VarMap::new();
        let dev = Device::Cpu;
        let cfg = LstmConfig {
            layers: 2,
            flavor: LstmFlavor::PyTorch,
        };
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
        let lstm = Lstm::new(7, 5, cfg, vb).unwrap();
        let ids = Tensor::new(&[[3u32, 0, 6, 6, 1, 2], [5, 4, 4, 0, 2, 3]], &dev).unwrap();
        let whole: Vec<Vec<Vec<f32>>> = lstm
            .forward_one_hot(&ids)
            .unwrap()
            .sequence
            .to_vec3()
            .unwrap();
        let mut state = lstm.zero_state(2, &dev).unwrap();
        for (t, expected) in whole.iter().enumerate() {
            state = lstm
                .step_one_hot(&ids.narrow(1, t, 1).unwrap().squeeze(1).unwrap(), &state)
                .unwrap();
            // Detached: a long run must not chain every step into one graph.
            assert!(!state.top().track_op() && !state.cells[1].track_op());
            let stepped: Vec<Vec<f32>> = state.top().to_vec2().unwrap();
            for (b, row) in stepped.iter().enumerate() {
                for (j, v) in row.iter().enumerate() {
                    assert!(
                        (v - expected[b][j]).abs() < 1e-5,
                        "step {t} row {b}: {v} vs {}",
                        expected[b][j]
                    );
                }
            }
        }
    }
}
