use candle_core::{DType, Device, Module, Result, Tensor, Var};
use candle_nn::{Optimizer, ParamsAdamW, VarBuilder, VarMap};
use glassbox_core::optim::AdamW;
use glassbox_tensor::ops::{self, ConvParams};
use std::time::Instant;

fn t<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let s = Instant::now();
    let r = f()?;
    eprintln!("{name:>14}: {:7.2} ms", s.elapsed().as_secs_f64() * 1e3);
    Ok(r)
}

fn main() -> Result<()> {
    let dev = Device::Cpu;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
    let c1 = glassbox_tensor::nn::Conv2d::new(1, 32, 3, Default::default(), vb.pp("c1"))?;
    let c2 = glassbox_tensor::nn::Conv2d::new(32, 64, 3, Default::default(), vb.pp("c2"))?;
    let fc1 = candle_nn::linear(9216, 128, vb.pp("fc1"))?;
    let fc2 = candle_nn::linear(128, 10, vb.pp("fc2"))?;
    let x = Tensor::rand(0f32, 1f32, (128, 1, 28, 28), &dev)?;
    let y = Tensor::from_vec((0..128u32).map(|i| i % 10).collect::<Vec<_>>(), 128, &dev)?;
    let mut opt = AdamW::new(varmap.all_vars(), ParamsAdamW::default())?;
    let p = ConvParams::default();
    for round in 0..3u64 {
        eprintln!("round {round}");
        let total = Instant::now();
        let a = t("conv1", || ops::conv2d(&x, c1.weight(), c1.bias(), p, true))?;
        let b = t("conv2", || ops::conv2d(&a, c2.weight(), c2.bias(), p, true))?;
        let c = t("pool", || ops::max_pool2d(&b, 2, 2))?;
        let c = t("dropout", || ops::dropout(&c, 0.25, round))?;
        let c = t("flatten", || c.flatten_from(1))?;
        let d = t("fc1", || fc1.forward(&c)?.relu())?;
        let d = t("dropout2", || ops::dropout(&d, 0.5, round + 100))?;
        let e = t("fc2", || fc2.forward(&d))?;
        let loss = t("loss", || candle_nn::loss::cross_entropy(&e, &y))?;
        let g = t("backward", || loss.backward())?;
        t("adamw", || opt.step(&g))?;
        eprintln!(
            "{:>14}: {:7.2} ms",
            "total",
            total.elapsed().as_secs_f64() * 1e3
        );
    }
    {
        use glassbox_tensor::kernels::lstm::*;
        let g = LstmGeometry {
            steps: 40,
            batch: 128,
            hidden: 128,
        };
        let xw: Vec<f32> = (0..40 * 128 * 512)
            .map(|i| (i as f32 * 0.1).sin())
            .collect();
        let w: Vec<f32> = (0..512 * 128)
            .map(|i| (i as f32 * 0.3).sin() * 0.1)
            .collect();
        for _ in 0..3 {
            let p = t("lstm fwd", || {
                Ok(lstm_forward(&xw, &w, &vec![0.1; 512], &g))
            })?;
            t("lstm bwd", || Ok(lstm_backward(&p, &p, &w, &g)))?;
        }
        {
            let xwt = Var::from_tensor(&Tensor::from_vec(xw.clone(), (40, 128, 512), &dev)?)?;
            let wt = Var::from_tensor(&Tensor::from_vec(w.clone(), (512, 128), &dev)?)?;
            let bt = Var::from_tensor(&Tensor::zeros(512, DType::F32, &dev)?)?;
            for _ in 0..3 {
                let st = t("op fwd", || ops::lstm_recurrence(&xwt, &wt, Some(&bt)))?;
                let l = st.hidden.get(39)?.sum_all()?;
                t("op bwd (last)", || l.backward())?;
                let l = st.hidden.sum_all()?;
                t("op bwd (all)", || l.backward())?;
                let l = st
                    .hidden
                    .contiguous()?
                    .reshape((40 * 128, 128))?
                    .sum_all()?;
                t("op bwd (contig)", || l.backward())?;
            }
        }
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
        let lstm = glassbox_tensor::nn::Lstm::new(
            99,
            128,
            glassbox_tensor::nn::LstmConfig { layers: 2 },
            vb.pp("lstm"),
        )?;
        let head = candle_nn::linear(128, 99, vb.pp("head"))?;
        let ids = Tensor::from_vec(
            (0..128 * 40)
                .map(|i| (i * 7 % 99) as u32)
                .collect::<Vec<_>>(),
            (128, 40),
            &dev,
        )?;
        let y = Tensor::from_vec((0..128u32).map(|i| i % 99).collect::<Vec<_>>(), 128, &dev)?;
        let mut opt = AdamW::new(varmap.all_vars(), ParamsAdamW::default())?;
        for _ in 0..3 {
            let out = t("lstm layer fwd", || lstm.forward_one_hot(&ids))?;
            let loss = t("head+loss", || {
                candle_nn::loss::cross_entropy(&head.forward(&out.last_hidden()?)?, &y)
            })?;
            let g = t("lstm backward", || loss.backward())?;
            t("adamw", || opt.step(&g))?;
        }
    }
    {
        use glassbox_tensor::kernels::conv2d::*;
        let g = ConvGeometry {
            batch: 128,
            in_channels: 32,
            height: 26,
            width: 26,
            out_channels: 64,
            kernel_h: 3,
            kernel_w: 3,
            padding: 0,
            stride: 1,
            dilation: 1,
        };
        let x: Vec<f32> = (0..g.input_len()).map(|i| (i as f32 * 0.1).sin()).collect();
        let w: Vec<f32> = (0..g.weight_len())
            .map(|i| (i as f32 * 0.3).sin())
            .collect();
        let gy: Vec<f32> = (0..g.output_len())
            .map(|i| (i as f32 * 0.7).sin())
            .collect();
        for _ in 0..3 {
            t("k fwd", || {
                Ok(conv2d_forward(&x, &w, &[], &g, Epilogue::None))
            })?;
            t("k relu_mask", || Ok(relu_mask(&gy, &gy)))?;
            t("k bwd input", || Ok(conv2d_backward_input(&gy, &w, &g)))?;
            t("k bwd weight", || Ok(conv2d_backward_weight(&x, &gy, &g)))?;
        }
    }
    // Isolated backward pieces for conv2.
    let a = Var::from_tensor(&Tensor::rand(0f32, 1f32, (128, 32, 26, 26), &dev)?)?;
    for _ in 0..2 {
        let b = ops::conv2d(&a, c2.weight(), c2.bias(), p, true)?;
        let g = t("conv2 bwd", || b.sum_all()?.backward())?;
        drop(g);
    }
    Ok(())
}
