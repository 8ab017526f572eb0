//! The foundation's pieces working together as a lesson will use them: seeded initialisation, the embedded
//! MNIST subset, the training loop, Adam, metrics.json and checkpoints. A run stopped after epoch 1 and
//! resumed from its checkpoint ends with exactly the weights of a run that never stopped.

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{Linear, Optimizer, VarMap};
use glassbox_core::checkpoint::{self, Checkpoint, CheckpointMeta};
use glassbox_core::data::{Mnist, MnistSplit};
use glassbox_core::optim::{Adam, OptimizerState, ParamsAdam};
use glassbox_core::seed::{Seed, SeededInit};
use glassbox_core::train::{fit, FitConfig, MetricsLog, StepOutput};
use serde_json::json;

struct Mlp {
    fc1: Linear,
    fc2: Linear,
}

impl Mlp {
    fn new(varmap: &VarMap, seed: Seed) -> Mlp {
        let vb = SeededInit::var_builder(varmap, seed, DType::F32, &Device::Cpu);
        Mlp {
            fc1: candle_nn::linear(784, 64, vb.pp("fc1")).unwrap(),
            fc2: candle_nn::linear(64, 10, vb.pp("fc2")).unwrap(),
        }
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let x = x.flatten_from(1)?;
        self.fc2.forward(&self.fc1.forward(&x)?.relu()?)
    }
}

fn accuracy(model: &Mlp, split: &MnistSplit) -> f64 {
    let idx: Vec<usize> = (0..split.count).collect();
    let x = split.images_tensor(&idx, &Device::Cpu).unwrap();
    let y = split.labels_tensor(&idx, &Device::Cpu).unwrap();
    let pred = model.forward(&x).unwrap().argmax(D::Minus1).unwrap();
    let correct = pred
        .eq(&y)
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap()
        .sum_all()
        .unwrap();
    correct.to_scalar::<f32>().unwrap() as f64 / split.count as f64
}

/// Trains epochs `start+1..=epochs`, checkpointing after each; returns the final flattened weights.
fn train(dir: &Path, data: &Mnist, epochs: usize, stop_after: Option<usize>) -> (Vec<f32>, f64) {
    let seed = Seed(11);
    let ckpt_path = dir.join("checkpoint.safetensors");
    let varmap = VarMap::new();
    let model = Mlp::new(&varmap, seed);
    let mut opt = Adam::new(
        checkpoint::sorted_vars(&varmap),
        ParamsAdam {
            lr: 2e-3,
            ..Default::default()
        },
    )
    .unwrap();
    let mut start_epoch = 0;
    if let Some(ck) = Checkpoint::load_if_exists(&ckpt_path, &Device::Cpu).unwrap() {
        ck.restore("mlp", &varmap).unwrap();
        opt.load_state_tensors(&ck.optimizer_state()).unwrap();
        start_epoch = ck.meta.epoch;
    }
    let mut metrics = MetricsLog::resume(
        dir.join("metrics.json"),
        json!({"lesson": "mlp"}),
        start_epoch,
    )
    .unwrap();
    let config = FitConfig {
        epochs: stop_after.unwrap_or(epochs),
        batch_size: 100,
        seed,
        start_epoch,
        unit: "images",
        ..Default::default()
    };
    let train = &data.train;
    let opt = std::cell::RefCell::new(opt);
    fit(
        &config,
        train.count,
        |batch| {
            let x = train.images_tensor(batch.indices, &Device::Cpu)?;
            let y = train.labels_tensor(batch.indices, &Device::Cpu)?;
            let logits = model.forward(&x)?;
            let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
            opt.borrow_mut().backward_step(&loss)?;
            Ok(StepOutput {
                loss: loss.to_scalar::<f32>()? as f64,
                correct: None,
            })
        },
        |_| Ok(json!({"test_accuracy": accuracy(&model, &data.test)})),
        |report| {
            metrics.push_epoch(serde_json::to_value(report).unwrap())?;
            let meta = CheckpointMeta {
                model: "mlp".into(),
                epoch: report.epoch,
                optimizer: Some("adam".into()),
                seed: Some(11),
                ..Default::default()
            };
            checkpoint::save(
                &ckpt_path,
                &meta,
                &checkpoint::varmap_tensors(&varmap),
                &opt.borrow().state_tensors()?,
            )
        },
    )
    .unwrap();
    let weights = checkpoint::varmap_tensors(&varmap)
        .iter()
        .flat_map(|(_, t)| t.flatten_all().unwrap().to_vec1::<f32>().unwrap())
        .collect();
    (weights, accuracy(&model, &data.test))
}

#[test]
fn a_resumed_run_matches_an_uninterrupted_one() {
    let mut data = Mnist::embedded().unwrap();
    data.train = data.train.take(2000);
    let straight = tempfile::tempdir().unwrap();
    let (w_straight, acc) = train(straight.path(), &data, 3, None);
    let resumed = tempfile::tempdir().unwrap();
    train(resumed.path(), &data, 3, Some(1));
    let (w_resumed, _) = train(resumed.path(), &data, 3, None);
    let max_diff = w_straight
        .iter()
        .zip(&w_resumed)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(max_diff <= 1e-6, "weights differ by {max_diff}");
    // A real model learns: 3 epochs on 2,000 digits is well above chance on the 1,000 test digits.
    assert!(acc > 0.8, "test accuracy {acc}");
    let metrics: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(resumed.path().join("metrics.json")).unwrap(),
    )
    .unwrap();
    let epochs: Vec<u64> = metrics["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["epoch"].as_u64().unwrap())
        .collect();
    assert_eq!(epochs, vec![1, 2, 3]);
}
