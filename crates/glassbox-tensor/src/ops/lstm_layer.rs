//! One whole LSTM layer as a single candle op: the input projection (a product with `W_ih`, or for symbol
//! ids a lookup of its columns) and the fused recurrence of [`crate::kernels::lstm`].
//!
//! Why one op rather than a matmul feeding [`super::lstm_recurrence`]: candle adds every gradient that
//! reaches a tensor of the graph into a zeroed buffer (`GradStore::or_insert`), and computes both operands'
//! gradients of a matmul. Built from two ops, a layer paid per training step a zeroed `(steps, batch,
//! 4 hidden)` buffer and a pass adding the projections' gradient into it, and the first layer also the
//! gradient of its constant one-hot input (a product as large as the projection itself). Inside one op
//! the projections never enter the graph, and only the gradients that some variable needs are computed.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Storage, Tensor};

use super::conv2d::uses_fast_path;
use super::lstm::{keep_for_backward, last_cells, lstm_recurrence, LstmStates};
use crate::kernels::aligned::AlignedBuf;
use crate::kernels::gemm::{sgemm_new_in_blocks, transpose_into, Mat};
use crate::kernels::lstm::{
    lstm_backward, lstm_forward, BackwardLayout, ForwardPass, IdRows, LstmGeometry, Projections,
};
use crate::kernels::storage::f32_slice;

/// What a layer reads at each step, time-major (row `t * batch + b` is step `t` of sequence `b`).
#[derive(Clone, Copy, Debug)]
pub enum LayerInput<'a> {
    /// `(steps * batch, features)` or `(steps, batch, features)` vectors (the hidden states of a layer
    /// below, as they come: a reshape between layers would cost a zeroed gradient and an addition in
    /// candle's backward pass).
    Dense(&'a Tensor),
    /// `(steps * batch)` symbol ids, standing for one-hot vectors: the projection of id `k` is column `k`
    /// of `W_ih`.
    Ids(&'a Tensor),
}

/// Runs one layer from zero state over `steps` steps of `batch` sequences: `w_ih: (4 hidden, features)`,
/// `w_hh: (4 hidden, hidden)`, `bias: (4 hidden)` (PyTorch's two biases summed), gates in PyTorch's order.
/// On the CPU in f32 one op; elsewhere the projection in candle's ops and [`lstm_recurrence`].
pub fn lstm_layer(
    input: LayerInput,
    steps: usize,
    batch: usize,
    w_ih: &Tensor,
    w_hh: &Tensor,
    bias: &Tensor,
) -> Result<LstmStates> {
    let (four_h, features) = w_ih.dims2()?;
    let hidden = four_h / 4;
    if four_h % 4 != 0 || w_hh.dims() != [four_h, hidden] || bias.dims() != [four_h] {
        candle_core::bail!(
            "lstm layer: weight_ih {:?}, weight_hh {:?} and bias {:?} disagree (expected (4H, F), (4H, H), (4H))",
            w_ih.dims(),
            w_hh.dims(),
            bias.dims()
        );
    }
    if steps == 0 || batch == 0 {
        candle_core::bail!("lstm layer: {steps} steps of {batch} sequences: nothing to run");
    }
    let (x, fast_input) = match input {
        LayerInput::Dense(x) => {
            if x.dims() != [steps * batch, features] && x.dims() != [steps, batch, features] {
                candle_core::bail!(
                    "lstm layer: input {:?}, expected ({steps} x {batch}, {features}) or ({steps}, {batch}, {features})",
                    x.dims()
                );
            }
            (x, uses_fast_path(x))
        }
        LayerInput::Ids(ids) => {
            if ids.dims() != [steps * batch] {
                candle_core::bail!(
                    "lstm layer: ids {:?}, expected ({steps} x {batch})",
                    ids.dims()
                );
            }
            (ids, ids.device().is_cpu() && ids.dtype() == DType::U32)
        }
    };
    if !(fast_input && uses_fast_path(w_ih) && uses_fast_path(w_hh) && uses_fast_path(bias)) {
        let xw = match input {
            LayerInput::Dense(x) => x.reshape((steps * batch, features))?.matmul(&w_ih.t()?)?,
            LayerInput::Ids(ids) => w_ih.t()?.contiguous()?.embedding(ids)?,
        };
        return lstm_recurrence(&xw.reshape((steps, batch, four_h))?, w_hh, Some(bias));
    }
    let geometry = LstmGeometry {
        steps,
        batch,
        hidden,
    };
    // The recurrent weights and the bias travel as one `(4 hidden, hidden + 1)` operand: candle's custom
    // ops take at most three.
    let recurrent = Tensor::cat(&[w_hh, &bias.unsqueeze(1)?], 1)?;
    let packed = Arc::new(Mutex::new(AlignedBuf::default()));
    let op = LstmLayerOp {
        geometry,
        features,
        packed: packed.clone(),
    };
    let hidden_seq =
        x.contiguous()?
            .apply_op3_arc(&w_ih.contiguous()?, &recurrent, Arc::new(Box::new(op)))?;
    let last_cell = last_cells(
        &packed.lock().expect("lstm state lock"),
        &geometry,
        x.device(),
    )?;
    Ok(LstmStates {
        hidden: hidden_seq,
        last_cell,
    })
}

/// Blocks of rows the layer's large products are cut into, one product each on a team thread (see
/// `sgemm_new_in_blocks`); a constant, so that results do not depend on the thread count.
const PRODUCT_BLOCKS: usize = 4;

struct LstmLayerOp {
    geometry: LstmGeometry,
    features: usize,
    /// The packed `(steps, batch, 7 hidden)` result of the forward pass.
    packed: Arc<Mutex<AlignedBuf>>,
}

/// The input of the layer as the kernels read it.
enum Rows<'a> {
    Dense(&'a [f32]),
    Ids(&'a [u32]),
}

fn rows<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<Rows<'a>> {
    match storage {
        CpuStorage::U32(ids) => match layout.contiguous_offsets() {
            Some((start, end)) => Ok(Rows::Ids(&ids[start..end])),
            None => candle_core::bail!("lstm layer: the ids must be contiguous"),
        },
        other => Ok(Rows::Dense(f32_slice("lstm layer input", other, layout)?)),
    }
}

/// The recurrent operand `(4 hidden, hidden + 1)` as the kernels read it: `W_hh` in place, its rows
/// `hidden + 1` floats apart (a copy of it was made on one thread in the forward and the backward pass of
/// each layer), and the bias, its last column.
fn recurrent_parts(recurrent: &[f32], hidden: usize) -> (Mat<'_>, Vec<f32>) {
    let w_hh = Mat {
        data: recurrent,
        rows: 4 * hidden,
        cols: hidden,
        rs: hidden + 1,
        cs: 1,
    };
    let bias = recurrent[hidden..]
        .iter()
        .step_by(hidden + 1)
        .copied()
        .collect();
    (w_hh, bias)
}

impl LstmLayerOp {
    /// Runs the recurrence over the projections of the input by `w_ih (4 hidden, features)`: a product
    /// for dense input; for ids, the rows of `W_ih`'s transpose, read in place by the kernel.
    fn forward(&self, x: &Rows, w_ih: &[f32], w_hh: Mat<'_>, bias: &[f32]) -> Result<ForwardPass> {
        let (n, four_h, f) = (self.rows(), 4 * self.geometry.hidden, self.features);
        let g = &self.geometry;
        Ok(match x {
            Rows::Dense(x) => {
                let xw = sgemm_new_in_blocks(
                    Mat::rows(x, n, f),
                    Mat::rows(w_ih, four_h, f).t(),
                    PRODUCT_BLOCKS,
                );
                lstm_forward(Projections::Rows(&xw), w_hh, bias, g)
            }
            Rows::Ids(ids) => {
                self.check_ids(ids)?;
                let mut table = vec![0.0f32; f * four_h];
                for (q, w) in w_ih.chunks_exact(f).enumerate() {
                    for (id, w) in w.iter().enumerate() {
                        table[id * four_h + q] = *w;
                    }
                }
                let ids = *ids;
                lstm_forward(Projections::Lookup { table: &table, ids }, w_hh, bias, g)
            }
        })
    }

    fn rows(&self) -> usize {
        self.geometry.steps * self.geometry.batch
    }

    /// Refuses an id past the layer's inputs.
    fn check_ids(&self, ids: &[u32]) -> Result<()> {
        match ids.iter().find(|&&id| id as usize >= self.features) {
            Some(id) => candle_core::bail!(
                "lstm layer: symbol id {id} out of range for {} inputs",
                self.features
            ),
            None => Ok(()),
        }
    }
}

impl CustomOp3 for LstmLayerOp {
    fn name(&self) -> &'static str {
        "glassbox-lstm-layer"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        rs: &CpuStorage,
        rl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = &self.geometry;
        let w_ih = f32_slice("lstm weight_ih", ws, wl)?;
        let (w_hh, bias) = recurrent_parts(f32_slice("lstm weight_hh", rs, rl)?, g.hidden);
        let pass = self.forward(&rows(xs, xl)?, w_ih, w_hh, &bias)?;
        Ok(keep_for_backward(pass, g, &self.packed))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w_ih: &Tensor,
        recurrent: &Tensor,
        _hidden: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = &self.geometry;
        let (n, hd, f) = (self.rows(), g.hidden, self.features);
        let four_h = 4 * hd;
        let grad = grad.contiguous()?;
        let (gs, gl) = grad.storage_and_layout();
        let (xs, xl) = x.storage_and_layout();
        let (ws, wl) = w_ih.storage_and_layout();
        let (rs, rl) = recurrent.storage_and_layout();
        let (Storage::Cpu(gs), Storage::Cpu(xs), Storage::Cpu(ws), Storage::Cpu(rs)) =
            (&*gs, &*xs, &*ws, &*rs)
        else {
            candle_core::bail!("lstm layer: the fast path runs on the CPU only");
        };
        let (w_hh, _) = recurrent_parts(f32_slice("lstm weight_hh", rs, rl)?, hd);
        let x_rows = rows(xs, xl)?;
        // The kernel sums the table's gradient only where `W_ih` needs one.
        let ids = match x_rows {
            Rows::Ids(ids) if w_ih.track_op() => {
                self.check_ids(ids)?;
                Some(IdRows { ids, symbols: f })
            }
            _ => None,
        };
        let mut all = lstm_backward(
            &self.packed.lock().expect("lstm state lock"),
            f32_slice("lstm grad", gs, gl)?,
            w_hh,
            ids,
            g,
        );
        let layout = BackwardLayout::new(g, hd + 1, ids.map_or(0, |i| i.symbols));
        let [dxw, _, db, table] = layout.split(&all);
        let db = db.to_vec();
        let d_w_ih = w_ih
            .track_op()
            .then(|| {
                let d = match x_rows {
                    Rows::Dense(x) => sgemm_new_in_blocks(
                        Mat::rows(dxw, n, four_h).t(),
                        Mat::rows(x, n, f),
                        PRODUCT_BLOCKS,
                    ),
                    // Column `id` of W_ih is row `id` of the table the kernel summed.
                    Rows::Ids(_) => {
                        let mut d = vec![0.0f32; four_h * f];
                        transpose_into(Mat::rows(table, f, four_h).t(), &mut d, f);
                        d
                    }
                };
                Tensor::from_vec(d, (four_h, f), x.device())
            })
            .transpose()?;
        let d_x = match x_rows {
            Rows::Dense(_) if x.track_op() => {
                let d = sgemm_new_in_blocks(
                    Mat::rows(dxw, n, four_h),
                    Mat::rows(f32_slice("lstm weight_ih", ws, wl)?, four_h, f),
                    PRODUCT_BLOCKS,
                );
                Some(Tensor::from_vec(d, x.shape(), x.device())?)
            }
            _ => None,
        };
        // The recurrent operand's gradient is the kernel's weight gradient, in the operand's layout,
        // with the bias gradient written into its last column: a view of the kernel's buffer.
        let d_recurrent = recurrent
            .track_op()
            .then(|| {
                let weights = &mut all[layout.gates..][..layout.weights];
                for (row, b) in weights.chunks_exact_mut(hd + 1).zip(db) {
                    row[hd] = b;
                }
                let total = all.len();
                Tensor::from_vec(std::mem::take(&mut all), total, x.device())?
                    .narrow(0, layout.gates, layout.weights)?
                    .reshape((four_h, hd + 1))
            })
            .transpose()?;
        Ok((d_x, d_w_ih, d_recurrent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// The fused layer against the projection in candle's ops followed by [`lstm_recurrence`]: outputs
    /// and every gradient, dense and by ids, over a shape whose hidden size is not a whole number of
    /// vectors.
    #[test]
    fn matches_the_projection_then_the_recurrence() {
        let dev = Device::Cpu;
        let (steps, batch, features, hidden) = (5, 3, 7, 10);
        let var = |shape: (usize, usize), seed: f64| {
            let n = shape.0 * shape.1;
            let t = Tensor::arange(0f32, n as f32, &dev)
                .unwrap()
                .affine(0.37, seed)
                .unwrap()
                .sin()
                .unwrap()
                .affine(0.4, 0.0)
                .unwrap()
                .reshape(shape)
                .unwrap();
            Var::from_tensor(&t).unwrap()
        };
        let w_ih = var((4 * hidden, features), 0.1);
        let w_hh = var((4 * hidden, hidden), 0.7);
        let bias = var((1, 4 * hidden), 1.3);
        let bias_t = bias.as_tensor().flatten_all().unwrap();
        let ids: Vec<u32> = (0..steps * batch)
            .map(|i| (i * 5 % features) as u32)
            .collect();
        let ids = Tensor::from_vec(ids, steps * batch, &dev).unwrap();
        let dense = var((steps * batch, features), 2.1);
        let out_grad = Tensor::arange(0f32, (steps * batch * hidden) as f32, &dev)
            .unwrap()
            .affine(0.11, 0.0)
            .unwrap()
            .cos()
            .unwrap()
            .reshape((steps, batch, hidden))
            .unwrap();
        for by_ids in [false, true] {
            let input = match by_ids {
                true => LayerInput::Ids(&ids),
                false => LayerInput::Dense(dense.as_tensor()),
            };
            let fused = lstm_layer(input, steps, batch, &w_ih, &w_hh, &bias_t).unwrap();
            let xw = match by_ids {
                true => w_ih.t().unwrap().contiguous().unwrap().embedding(&ids),
                false => dense.as_tensor().matmul(&w_ih.t().unwrap()),
            }
            .unwrap()
            .reshape((steps, batch, 4 * hidden))
            .unwrap();
            let split = lstm_recurrence(&xw, &w_hh, Some(&bias_t)).unwrap();
            let loss = |s: &LstmStates| s.hidden.mul(&out_grad).unwrap().sum_all().unwrap();
            let (gf, gs) = (
                loss(&fused).backward().unwrap(),
                loss(&split).backward().unwrap(),
            );
            let mut checked = vec![
                ("hidden", fused.hidden.clone(), split.hidden.clone()),
                (
                    "last cell",
                    fused.last_cell.clone(),
                    split.last_cell.clone(),
                ),
            ];
            for (name, v) in [("w_ih", &w_ih), ("w_hh", &w_hh), ("bias", &bias)] {
                checked.push((name, gf.get(v).unwrap().clone(), gs.get(v).unwrap().clone()));
            }
            match by_ids {
                true => assert!(gf.get(dense.as_tensor()).is_none()),
                false => checked.push((
                    "input",
                    gf.get(dense.as_tensor()).unwrap().clone(),
                    gs.get(dense.as_tensor()).unwrap().clone(),
                )),
            }
            for (name, a, b) in checked {
                let (a, b) = (
                    a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                    b.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                );
                assert_eq!(a.len(), b.len(), "{name}");
                let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
                assert!(scale > 1e-3, "{name}: a gradient this small checks nothing");
                for (x, y) in a.iter().zip(&b) {
                    assert!(
                        (x - y).abs() <= 1e-5 * scale,
                        "{name} (ids: {by_ids}): {x} vs {y}"
                    );
                }
            }
        }
    }

    /// Dense input as `(steps, batch, features)` (a layer below's hidden states, unreshaped) gives what
    /// the flat rows give, and its gradient comes back in its own shape.
    #[test]
    fn takes_time_major_input_unflattened() {
        let dev = Device::Cpu;
        let (steps, batch, features, hidden) = (4, 3, 5, 6);
        let values = |n: usize, a: f64| {
            Tensor::arange(0f32, n as f32, &dev)
                .unwrap()
                .affine(a, 0.2)
                .unwrap()
                .sin()
                .unwrap()
        };
        let x = Var::from_tensor(
            &values(steps * batch * features, 0.7)
                .reshape((steps, batch, features))
                .unwrap(),
        )
        .unwrap();
        let w_ih = values(4 * hidden * features, 0.3)
            .reshape((4 * hidden, features))
            .unwrap();
        let w_hh = values(4 * hidden * hidden, 0.9)
            .reshape((4 * hidden, hidden))
            .unwrap();
        let bias = values(4 * hidden, 1.1);
        let flat = x.as_tensor().reshape((steps * batch, features)).unwrap();
        let run = |input: &Tensor| {
            lstm_layer(LayerInput::Dense(input), steps, batch, &w_ih, &w_hh, &bias).unwrap()
        };
        let (a, b) = (run(x.as_tensor()), run(&flat));
        let (a, b) = (
            a.hidden.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            b.hidden.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        );
        assert_eq!(a, b);
        assert!(a.iter().any(|v| v.abs() > 0.05));
        let grads = run(x.as_tensor())
            .hidden
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert_eq!(
            grads.get(x.as_tensor()).unwrap().dims(),
            [steps, batch, features]
        );
        let wrong = x.as_tensor().reshape((batch, steps, features)).unwrap();
        let err = lstm_layer(LayerInput::Dense(&wrong), steps, batch, &w_ih, &w_hh, &bias);
        assert!(err.unwrap_err().to_string().contains("expected"));
    }

    #[test]
    fn refuses_ids_out_of_range_and_mismatched_shapes() {
        let dev = Device::Cpu;
        let w_ih = Tensor::zeros((8, 3), DType::F32, &dev).unwrap();
        let w_hh = Tensor::zeros((8, 2), DType::F32, &dev).unwrap();
        let bias = Tensor::zeros(8, DType::F32, &dev).unwrap();
        let ids = Tensor::new(&[0u32, 3], &dev).unwrap();
        let err = lstm_layer(LayerInput::Ids(&ids), 1, 2, &w_ih, &w_hh, &bias).unwrap_err();
        assert!(err.to_string().contains("symbol id 3"), "{err}");
        let err = lstm_layer(LayerInput::Ids(&ids), 2, 2, &w_ih, &w_hh, &bias).unwrap_err();
        assert!(err.to_string().contains("expected (2 x 2)"), "{err}");
        let short = Tensor::zeros((8, 1), DType::F32, &dev).unwrap();
        assert!(lstm_layer(LayerInput::Ids(&ids), 1, 2, &w_ih, &short, &bias).is_err());
    }
}
