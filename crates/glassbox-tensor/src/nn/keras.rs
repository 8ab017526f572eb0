//! Layers started as Keras starts them (the course's models are Keras models): Glorot-uniform kernels and
//! zero biases, under PyTorch's tensor names and layouts.

use candle_core::{DType, Result, Tensor};
use candle_nn::{Init, Linear, VarBuilder, VarMap};

use super::{Conv2d, Conv2dConfig};

/// Glorot (Xavier) uniform: U(-b, b) with b = sqrt(6 / (fan_in + fan_out)), Keras's default kernel init.
pub fn glorot_uniform(fan_in: usize, fan_out: usize) -> Init {
    let b = (6.0 / (fan_in + fan_out) as f64).sqrt();
    Init::Uniform { lo: -b, up: b }
}

/// Keras's `Dense(outputs)` on `inputs` features: `weight: (outputs, inputs)` Glorot-uniform, `bias`
/// zero (activation not included).
pub fn dense(inputs: usize, outputs: usize, vb: VarBuilder) -> Result<Linear> {
    let w = vb.get_with_hints((outputs, inputs), "weight", glorot_uniform(inputs, outputs))?;
    let b = vb.get_with_hints(outputs, "bias", Init::Const(0.0))?;
    Ok(Linear::new(w, Some(b)))
}

/// Keras's `Conv2D(out_channels, kernel)`: OIHW weights Glorot-uniform with Keras's fans (channels times
/// the kernel's area), bias zero.
pub fn conv2d(
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    cfg: Conv2dConfig,
    vb: VarBuilder,
) -> Result<Conv2d> {
    let area = kernel * kernel;
    let w = vb.get_with_hints(
        (out_channels, in_channels, kernel, kernel),
        "weight",
        glorot_uniform(in_channels * area, out_channels * area),
    )?;
    let b = if cfg.bias {
        Some(vb.get_with_hints(out_channels, "bias", Init::Const(0.0))?)
    } else {
        None
    };
    Ok(Conv2d::from_tensors(w, b, cfg))
}

/// Finishes Keras's start of a new [`LstmFlavor::Keras`](super::LstmFlavor::Keras) LSTM of `layers`
/// layers made under `prefix` of `varmap`: each recurrent weight orthogonal (Keras's `Orthogonal`: the
/// N(0, 1) draw made orthonormal column by column, which is its QR with the signs of R's diagonal made
/// positive), each forget-gate bias 1 (`unit_forget_bias`). For fresh weights only: a checkpoint
/// restored afterwards replaces them.
pub fn start_lstm(varmap: &VarMap, prefix: &str, layers: usize) -> Result<()> {
    let vars = varmap.data().lock().expect("var map poisoned");
    let find = |name: String| {
        let full = match prefix {
            "" => name,
            p => format!("{p}.{name}"),
        };
        vars.get(&full).ok_or_else(|| {
            candle_core::Error::Msg(format!("keras::start_lstm: no variable {full}"))
        })
    };
    for k in 0..layers {
        let w_hh = find(format!("weight_hh_l{k}"))?;
        let (four_h, hidden) = w_hh.dims2()?;
        // Columns contiguous: each becomes one orthonormal vector of length 4H.
        let mut columns: Vec<f64> = w_hh
            .as_tensor()
            .to_dtype(DType::F64)?
            .t()?
            .flatten_all()?
            .to_vec1()?;
        orthonormalize(&mut columns, four_h);
        let q = Tensor::from_vec(columns, (hidden, four_h), w_hh.device())?
            .t()?
            .to_dtype(w_hh.dtype())?;
        w_hh.set(&q)?;
        let bias = find(format!("bias_l{k}"))?;
        let forget_one: Vec<f32> = (0..4 * hidden)
            .map(|i| {
                if (hidden..2 * hidden).contains(&i) {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        bias.set(&Tensor::new(forget_one, bias.device())?.to_dtype(bias.dtype())?)?;
    }
    Ok(())
}

/// Modified Gram-Schmidt on the vectors of length `len` stored one after another in `v`.
fn orthonormalize(v: &mut [f64], len: usize) {
    for j in 0..v.len() / len {
        let (done, rest) = v.split_at_mut(j * len);
        let col = &mut rest[..len];
        for prev in done.chunks_exact(len) {
            let dot: f64 = prev.iter().zip(col.iter()).map(|(a, b)| a * b).sum();
            col.iter_mut().zip(prev).for_each(|(c, p)| *c -= dot * p);
        }
        let norm = col.iter().map(|c| c * c).sum::<f64>().sqrt();
        col.iter_mut().for_each(|c| *c /= norm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{Lstm, LstmConfig, LstmFlavor};
    use candle_core::Device;

    #[test]
    fn a_keras_lstm_has_one_bias_orthogonal_recurrence_and_open_forget_gates() {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let cfg = LstmConfig {
            layers: 2,
            flavor: LstmFlavor::Keras,
        };
        // The course's two LSTM(128) on 89 symbols: Keras counts 111,616 + 131,584 parameters.
        Lstm::new(89, 128, cfg, vb.pp("lstm")).unwrap();
        let count: usize = varmap.all_vars().iter().map(|v| v.elem_count()).sum();
        assert_eq!(count, 243_200);
        start_lstm(&varmap, "lstm", 2).unwrap();
        let vars = varmap.data().lock().unwrap();
        for k in 0..2 {
            let w = vars[&format!("lstm.weight_hh_l{k}")].as_tensor().clone();
            let gram = w.t().unwrap().matmul(&w).unwrap();
            let eye = Tensor::eye(128, DType::F32, &Device::Cpu).unwrap();
            let off = (gram - eye).unwrap().abs().unwrap().max_all().unwrap();
            assert!(off.to_scalar::<f32>().unwrap() < 1e-5);
            let b: Vec<f32> = vars[&format!("lstm.bias_l{k}")]
                .as_tensor()
                .to_vec1()
                .unwrap();
            assert_eq!(b.iter().sum::<f32>(), 128.0);
            assert!(b[128..256].iter().all(|&x| x == 1.0));
        }
    }
}
