//! One LSTM layer's recurrence on candle tensors: the fused CPU kernel with backpropagation through time,
//! candle's ops step by step elsewhere.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

use super::conv2d::uses_fast_path;
use crate::kernels::aligned::AlignedBuf;
use crate::kernels::gemm::Mat;
use crate::kernels::lstm::{
    lstm_backward, lstm_forward, ForwardPass, LstmGeometry, Projections, C, PACKED,
};
use crate::kernels::storage::f32_slice;

/// The hidden states of every step and the final cell state of one layer.
#[derive(Clone, Debug)]
pub struct LstmStates {
    /// `(steps, batch, hidden)`.
    pub hidden: Tensor,
    /// `(batch, hidden)`. On the fast path it carries no gradient (train through `hidden`).
    pub last_cell: Tensor,
}

/// Runs the recurrence of one layer from zero state. `xw: (steps, batch, 4 hidden)` holds the input
/// projections (gate order input, forget, cell, output, as in PyTorch), `w_hh: (4 hidden, hidden)`,
/// `bias: (4 hidden)` (PyTorch's two biases summed), added inside the kernel so that its gradient costs
/// no extra pass over the projections.
pub fn lstm_recurrence(xw: &Tensor, w_hh: &Tensor, bias: Option<&Tensor>) -> Result<LstmStates> {
    let (steps, batch, four_h) = xw.dims3()?;
    let hidden = four_h / 4;
    if four_h % 4 != 0 || w_hh.dims() != [four_h, hidden] {
        candle_core::bail!(
            "lstm: input projections {:?} and recurrent weights {:?} disagree (expected (T, B, 4H) and (4H, H))",
            xw.dims(),
            w_hh.dims()
        );
    }
    if steps == 0 {
        candle_core::bail!("lstm: a sequence needs at least one step");
    }
    if let Some(b) = bias {
        if b.dims() != [four_h] {
            candle_core::bail!("lstm: bias shape {:?}, expected [{four_h}]", b.dims());
        }
    }
    if !(uses_fast_path(xw) && uses_fast_path(w_hh) && bias.is_none_or(uses_fast_path)) {
        return reference_lstm_recurrence(xw, w_hh, bias);
    }
    let geometry = LstmGeometry {
        steps,
        batch,
        hidden,
    };
    let bias = match bias {
        Some(b) => b.contiguous()?,
        None => Tensor::zeros(four_h, xw.dtype(), xw.device())?,
    };
    let packed = Arc::new(Mutex::new(AlignedBuf::default()));
    let op = LstmOp {
        geometry,
        packed: packed.clone(),
    };
    let hidden_seq =
        xw.contiguous()?
            .apply_op3_arc(&w_hh.contiguous()?, &bias, Arc::new(Box::new(op)))?;
    let last_cell = last_cells(
        &packed.lock().expect("lstm state lock"),
        &geometry,
        xw.device(),
    )?;
    Ok(LstmStates {
        hidden: hidden_seq,
        last_cell,
    })
}

/// The hidden states `(steps, batch, hidden)` of a forward pass as an op's output, its packed result kept
/// in `keep` for the backward pass.
pub(crate) fn keep_for_backward(
    pass: ForwardPass,
    g: &LstmGeometry,
    keep: &Mutex<AlignedBuf>,
) -> (CpuStorage, Shape) {
    let ForwardPass { packed, hidden } = pass;
    *keep.lock().expect("lstm state lock") = packed;
    (
        CpuStorage::F32(hidden),
        Shape::from((g.steps, g.batch, g.hidden)),
    )
}

/// The cell states after the last step `(batch, hidden)`, out of the packed result of a forward pass.
pub(crate) fn last_cells(
    packed: &[f32],
    g: &LstmGeometry,
    device: &candle_core::Device,
) -> Result<Tensor> {
    let row = PACKED * g.hidden;
    let last = &packed[(g.steps - 1) * g.batch * row..];
    let cells: Vec<f32> = last
        .chunks_exact(row)
        .flat_map(|r| r[C * g.hidden..(C + 1) * g.hidden].iter().copied())
        .collect();
    Tensor::from_vec(cells, (g.batch, g.hidden), device)
}

/// The same recurrence in candle's own ops, one step at a time (the reference of the tests, and the
/// path on CUDA).
pub fn reference_lstm_recurrence(
    xw: &Tensor,
    w_hh: &Tensor,
    bias: Option<&Tensor>,
) -> Result<LstmStates> {
    let (steps, batch, four_h) = xw.dims3()?;
    let xw = match bias {
        Some(b) => xw.broadcast_add(b)?,
        None => xw.clone(),
    };
    let hidden = four_h / 4;
    let mut h = Tensor::zeros((batch, hidden), xw.dtype(), xw.device())?;
    let mut c = h.clone();
    let mut all = Vec::with_capacity(steps);
    for t in 0..steps {
        (h, c) = lstm_cell_step(&xw.get(t)?, w_hh, &h, &c)?;
        all.push(h.clone());
    }
    Ok(LstmStates {
        hidden: Tensor::stack(&all, 0)?,
        last_cell: c,
    })
}

/// One step of one layer in candle's ops: `input: (batch, 4 hidden)` is the step's input projection with
/// the bias added, `h` and `c` the state before it, `(batch, hidden)`; returns the state after it.
pub fn lstm_cell_step(
    input: &Tensor,
    w_hh: &Tensor,
    h: &Tensor,
    c: &Tensor,
) -> Result<(Tensor, Tensor)> {
    let hidden = h.dim(1)?;
    let z = input.add(&h.matmul(&w_hh.t()?)?)?;
    let i = candle_nn::ops::sigmoid(&z.narrow(1, 0, hidden)?)?;
    let f = candle_nn::ops::sigmoid(&z.narrow(1, hidden, hidden)?)?;
    let g = z.narrow(1, 2 * hidden, hidden)?.tanh()?;
    let o = candle_nn::ops::sigmoid(&z.narrow(1, 3 * hidden, hidden)?)?;
    let c = f.mul(c)?.add(&i.mul(&g)?)?;
    let h = o.mul(&c.tanh()?)?;
    Ok((h, c))
}

/// The recurrence keeps everything backward needs (cell states, gate activations) in the op itself, so
/// the graph only sees the hidden states: no slicing of a packed tensor, whose gradient candle would
/// assemble from zeros and concatenations.
struct LstmOp {
    geometry: LstmGeometry,
    /// The packed `(steps, batch, 7 hidden)` result of the forward pass.
    packed: Arc<Mutex<AlignedBuf>>,
}

impl CustomOp3 for LstmOp {
    fn name(&self) -> &'static str {
        "glassbox-lstm"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = &self.geometry;
        let pass = lstm_forward(
            Projections::Rows(f32_slice("lstm projections", xs, xl)?),
            Mat::rows(f32_slice("lstm weight_hh", ws, wl)?, 4 * g.hidden, g.hidden),
            f32_slice("lstm bias", bs, bl)?,
            g,
        );
        Ok(keep_for_backward(pass, g, &self.packed))
    }

    fn bwd(
        &self,
        xw: &Tensor,
        w_hh: &Tensor,
        bias: &Tensor,
        _hidden: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = &self.geometry;
        let grad = grad.contiguous()?;
        let all = {
            let (gs, gl) = grad.storage_and_layout();
            let (ws, wl) = w_hh.storage_and_layout();
            let (candle_core::Storage::Cpu(gs), candle_core::Storage::Cpu(ws)) = (&*gs, &*ws)
            else {
                candle_core::bail!("lstm: the fast path runs on the CPU only");
            };
            let packed = self.packed.lock().expect("lstm state lock");
            lstm_backward(
                &packed,
                f32_slice("lstm grad", gs, gl)?,
                Mat::rows(f32_slice("lstm weight_hh", ws, wl)?, 4 * g.hidden, g.hidden),
                None,
                g,
            )
        };
        let (dxw_len, dw_len) = (g.steps * g.batch * 4 * g.hidden, 4 * g.hidden * g.hidden);
        let len = all.len();
        let all = Tensor::from_vec(all, len, xw.device())?;
        let dxw = xw
            .track_op()
            .then(|| all.narrow(0, 0, dxw_len)?.reshape(xw.shape()))
            .transpose()?;
        let dw = w_hh
            .track_op()
            .then(|| all.narrow(0, dxw_len, dw_len)?.reshape(w_hh.shape()))
            .transpose()?;
        let db = bias
            .track_op()
            .then(|| all.narrow(0, dxw_len + dw_len, 4 * g.hidden))
            .transpose()?;
        Ok((dxw, dw, db))
    }
}
