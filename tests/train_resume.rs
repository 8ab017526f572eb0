//! The foundation's pieces working together as a lesson will use them: seeded initialisation, the embedded
//! MNIST subset, the training loop, Adam, metrics.json and checkpoints. A run stopped part-way and resumed
//! from its checkpoint ends with exactly (bit for bit) the checkpoint of a run that never stopped: an MLP
//! through the bare training loop, and the MNIST CNN (dropout on) through `glassbox_convnet::mnist::train`.

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{Linear, Optimizer, VarMap};
use glassbox_convnet::mnist::{self, OptimizerKind, TrainConfig};
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

/// Trains epochs `start+1..=epochs` (or up to `stop_after`), checkpointing after each; returns the test
/// accuracy.
fn train(dir: &Path, data: &Mnist, epochs: usize, stop_after: Option<usize>) -> f64 {
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
    accuracy(&model, &data.test)
}

/// Every tensor of two checkpoints (model and optimizer state) and their metadata, bit for bit: the same
/// names, shapes and f32 bits. A NaN or infinity fails even where both runs have it (equal bits would
/// pass). Returns the number of values compared.
fn assert_identical_checkpoints(a: &Path, b: &Path) -> usize {
    let (ca, cb) = (
        Checkpoint::load(a, &Device::Cpu).unwrap(),
        Checkpoint::load(b, &Device::Cpu).unwrap(),
    );
    let names = |c: &Checkpoint| {
        let mut n: Vec<String> = c.tensors.keys().cloned().collect();
        n.sort();
        n
    };
    assert_eq!(names(&ca), names(&cb), "tensor names");
    let mut values = 0;
    for name in names(&ca) {
        let (ta, tb) = (&ca.tensors[&name], &cb.tensors[&name]);
        assert_eq!(ta.dims(), tb.dims(), "{name}: shapes");
        assert_eq!(ta.dtype(), DType::F32, "{name}");
        let va: Vec<f32> = ta.flatten_all().unwrap().to_vec1().unwrap();
        let vb: Vec<f32> = tb.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(va.len(), vb.len(), "{name}: lengths");
        for (i, (x, y)) in va.iter().zip(&vb).enumerate() {
            assert!(x.is_finite() && y.is_finite(), "{name}[{i}]: {x} and {y}");
            assert_eq!(x.to_bits(), y.to_bits(), "{name}[{i}]: {x} and {y}");
        }
        values += va.len();
    }
    assert_eq!(ca.meta, cb.meta, "metadata of {a:?} and {b:?}");
    values
}

#[test]
fn a_resumed_run_matches_an_uninterrupted_one() {
    let mut data = Mnist::embedded().unwrap();
    data.train = data.train.take(2000);
    let straight = tempfile::tempdir().unwrap();
    let acc = train(straight.path(), &data, 3, None);
    let resumed = tempfile::tempdir().unwrap();
    train(resumed.path(), &data, 3, Some(1));
    train(resumed.path(), &data, 3, None);
    let values = assert_identical_checkpoints(
        &straight.path().join("checkpoint.safetensors"),
        &resumed.path().join("checkpoint.safetensors"),
    );
    eprintln!("MLP: 1 + 2 epochs against 3 straight, {values} checkpoint values identical");
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

/// The MNIST CNN with dropout on: 2 epochs, then the same directory resumed to 4, ends with the checkpoint
/// (weights, Adam's moments, the dropout count) of 4 epochs straight. The dropout count is what makes the
/// resumed run draw the masks the straight run drew; without it the weights differ.
#[test]
fn the_cnn_resumed_matches_an_uninterrupted_run() {
    let mut data = Mnist::embedded().unwrap();
    data.train = data.train.take(256);
    data.test = data.test.take(100);
    let config = |epochs| TrainConfig {
        epochs,
        batch_size: 128,
        optimizer: OptimizerKind::Adam,
        learning_rate: None,
    };
    let (seed, cpu) = (Seed(5), Device::Cpu);
    let straight = tempfile::tempdir().unwrap();
    let s = mnist::train(&data, &config(4), straight.path(), seed, &cpu, true).unwrap();
    assert_eq!((s.resumed_from, s.reports.len()), (0, 4));
    let resumed = tempfile::tempdir().unwrap();
    let first = mnist::train(&data, &config(2), resumed.path(), seed, &cpu, true).unwrap();
    assert_eq!(first.reports.len(), 2);
    let r = mnist::train(&data, &config(4), resumed.path(), seed, &cpu, true).unwrap();
    assert_eq!((r.resumed_from, r.reports.len()), (2, 2));
    let (a, b) = (
        straight.path().join(mnist::CHECKPOINT_FILE),
        resumed.path().join(mnist::CHECKPOINT_FILE),
    );
    let values = assert_identical_checkpoints(&a, &b);
    let ck = Checkpoint::load(&a, &cpu).unwrap();
    // 2 batches of 128 an epoch, one dropout call each; 0 would mean the count is not saved at all.
    assert_eq!(ck.meta.epoch, 4);
    assert_eq!(
        ck.meta.extra.get("dropout_calls").map(String::as_str),
        Some("8")
    );
    assert!(
        ck.tensors
            .keys()
            .any(|k| k.starts_with(checkpoint::OPTIMIZER_PREFIX)),
        "no optimizer state in {a:?}"
    );
    eprintln!(
        "CNN: 2 + 2 epochs against 4 straight, {values} checkpoint values identical; test accuracy {:.3}",
        r.test.accuracy
    );
    assert_eq!(s.test.accuracy.to_bits(), r.test.accuracy.to_bits());
}
