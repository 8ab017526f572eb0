//! One LSTM layer's recurrence on candle tensors: the fused CPU kernel with backpropagation through time,
//! candle's ops step by step elsewhere.

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor, D};

use super::conv2d::uses_fast_path;
use crate::kernels::lstm::{lstm_backward, lstm_forward, LstmGeometry, C, H, PACKED};
use crate::kernels::storage::f32_slice;

/// The hidden states of every step and the final cell state of one layer.
#[derive(Clone, Debug)]
pub struct LstmStates {
    /// `(steps, batch, hidden)`.
    pub hidden: Tensor,
    /// `(batch, hidden)`.
    pub last_cell: Tensor,
}

/// Runs the recurrence of one layer from zero state. `xw: (steps, batch, 4 hidden)` holds the input
/// projections with both biases added (gate order input, forget, cell, output, as in PyTorch);
/// `w_hh: (4 hidden, hidden)`.
pub fn lstm_recurrence(xw: &Tensor, w_hh: &Tensor) -> Result<LstmStates> {
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
    if !(uses_fast_path(xw) && uses_fast_path(w_hh)) {
        return reference_lstm_recurrence(xw, w_hh);
    }
    let geometry = LstmGeometry {
        steps,
        batch,
        hidden,
    };
    let packed = xw
        .contiguous()?
        .apply_op2(&w_hh.contiguous()?, LstmOp { geometry })?;
    Ok(LstmStates {
        hidden: packed.narrow(D::Minus1, H * hidden, hidden)?,
        last_cell: packed
            .get(steps - 1)?
            .narrow(D::Minus1, C * hidden, hidden)?,
    })
}

/// The same recurrence in candle's own ops, one step at a time (the reference of the tests, and the
/// path on CUDA).
pub fn reference_lstm_recurrence(xw: &Tensor, w_hh: &Tensor) -> Result<LstmStates> {
    let (steps, batch, four_h) = xw.dims3()?;
    let hidden = four_h / 4;
    let w_t = w_hh.t()?;
    let mut h = Tensor::zeros((batch, hidden), xw.dtype(), xw.device())?;
    let mut c = h.clone();
    let mut all = Vec::with_capacity(steps);
    for t in 0..steps {
        let z = xw.get(t)?.add(&h.matmul(&w_t)?)?;
        let i = candle_nn::ops::sigmoid(&z.narrow(1, 0, hidden)?)?;
        let f = candle_nn::ops::sigmoid(&z.narrow(1, hidden, hidden)?)?;
        let g = z.narrow(1, 2 * hidden, hidden)?.tanh()?;
        let o = candle_nn::ops::sigmoid(&z.narrow(1, 3 * hidden, hidden)?)?;
        c = f.mul(&c)?.add(&i.mul(&g)?)?;
        h = o.mul(&c.tanh()?)?;
        all.push(h.clone());
    }
    Ok(LstmStates {
        hidden: Tensor::stack(&all, 0)?,
        last_cell: c,
    })
}

struct LstmOp {
    geometry: LstmGeometry,
}

impl CustomOp2 for LstmOp {
    fn name(&self) -> &'static str {
        "glassbox-lstm"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = &self.geometry;
        let packed = lstm_forward(
            f32_slice("lstm projections", xs, xl)?,
            f32_slice("lstm weight_hh", ws, wl)?,
            g,
        );
        Ok((
            CpuStorage::F32(packed),
            Shape::from((g.steps, g.batch, PACKED * g.hidden)),
        ))
    }

    fn bwd(
        &self,
        xw: &Tensor,
        w_hh: &Tensor,
        packed: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let both = packed.apply_op2_no_bwd(
            &grad.contiguous()?,
            &LstmBackward {
                geometry: self.geometry,
                w_hh: w_hh.clone(),
            },
        )?;
        let g = &self.geometry;
        let dxw_len = g.steps * g.batch * 4 * g.hidden;
        let dxw = xw
            .track_op()
            .then(|| both.narrow(0, 0, dxw_len)?.reshape(xw.shape()))
            .transpose()?;
        let dw = w_hh
            .track_op()
            .then(|| {
                both.narrow(0, dxw_len, 4 * g.hidden * g.hidden)?
                    .reshape(w_hh.shape())
            })
            .transpose()?;
        Ok((dxw, dw))
    }
}

/// Takes the packed result and its gradient; returns the gradients of the projections and of `w_hh`,
/// concatenated.
struct LstmBackward {
    geometry: LstmGeometry,
    w_hh: Tensor,
}

impl CustomOp2 for LstmBackward {
    fn name(&self) -> &'static str {
        "glassbox-lstm-backward"
    }

    fn cpu_fwd(
        &self,
        ps: &CpuStorage,
        pl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (storage, layout) = self.w_hh.storage_and_layout();
        let w = match &*storage {
            candle_core::Storage::Cpu(cpu) => f32_slice("lstm weight_hh", cpu, layout)?,
            _ => candle_core::bail!("lstm: weight_hh is not on the CPU"),
        };
        let (mut dxw, dw) = lstm_backward(
            f32_slice("lstm packed", ps, pl)?,
            f32_slice("lstm grad", gs, gl)?,
            w,
            &self.geometry,
        );
        dxw.extend_from_slice(&dw);
        let len = dxw.len();
        Ok((CpuStorage::F32(dxw), Shape::from(len)))
    }
}
