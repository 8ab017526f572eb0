//! What every training run does around the epoch loop: continue from the checkpoint in its output
//! directory when there is one (the same model, the same optimizer), and after each epoch write the
//! checkpoint atomically with the optimizer's state, so a killed run loses at most the epoch in progress
//! and a resumed run ends with the weights it would have had.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::Device;
use candle_nn::VarMap;

use crate::checkpoint::{self, Checkpoint, CheckpointMeta};
use crate::optim::OptimizerState;
use crate::seed::Seed;
use crate::{Error, Result};

/// The file a training run keeps in its output directory.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";

/// What a resumed run continues from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resumed {
    /// Epochs completed.
    pub epoch: usize,
    /// The lesson's own entries of the checkpoint's metadata (e.g. dropout calls).
    pub extra: BTreeMap<String, String>,
}

/// Restores `varmap` and `optimizer` from the checkpoint at `path`, if there is one. A checkpoint of
/// another model or optimizer is refused, nothing changed, with a message that says how to go on.
pub fn resume(
    path: &Path,
    model: &str,
    varmap: &VarMap,
    optimizer: &mut dyn OptimizerState,
    device: &Device,
) -> Result<Option<Resumed>> {
    let Some(ck) = Checkpoint::load_if_exists(path, device)? else {
        return Ok(None);
    };
    let way_out = "use another --out, or --fresh to start over";
    if ck.meta.model != model {
        return Err(Error::Resume {
            path: ck.path,
            problem: format!(
                "this checkpoint holds a {:?}, not a {model:?}; {way_out}",
                ck.meta.model
            ),
        });
    }
    let found = ck.meta.optimizer.as_deref().unwrap_or("none");
    if found != optimizer.kind() {
        return Err(Error::Resume {
            path: ck.path,
            problem: format!(
                "this checkpoint was trained with {found}, not {}; pick --optimizer {found}, or {way_out}",
                optimizer.kind()
            ),
        });
    }
    ck.restore(model, varmap)?;
    optimizer.load_state_tensors(&ck.optimizer_state())?;
    Ok(Some(Resumed {
        epoch: ck.meta.epoch,
        extra: ck.meta.extra,
    }))
}

/// Writes the checkpoint after `epoch`: every variable of `varmap`, the optimizer's state, the seed and
/// the lesson's `extra` entries.
pub fn save_epoch(
    path: &Path,
    model: &str,
    epoch: usize,
    seed: Seed,
    varmap: &VarMap,
    optimizer: &dyn OptimizerState,
    extra: BTreeMap<String, String>,
) -> Result<()> {
    let meta = CheckpointMeta {
        model: model.into(),
        epoch,
        optimizer: Some(optimizer.kind().into()),
        seed: Some(seed.0),
        extra,
    };
    checkpoint::save(
        path,
        &meta,
        &checkpoint::varmap_tensors(varmap),
        &optimizer.state_tensors()?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::{Adam, Optimizer, ParamsAdam, ParamsSgd, Sgd};
    use crate::seed::SeededInit;
    use candle_core::DType;

    fn model(seed: u64) -> VarMap {
        let vm = VarMap::new();
        let vb = SeededInit::var_builder(&vm, Seed(seed), DType::F32, &Device::Cpu);
        candle_nn::linear(3, 2, vb.pp("fc")).unwrap();
        vm
    }

    fn adam(vm: &VarMap) -> Adam {
        Adam::new(checkpoint::sorted_vars(vm), ParamsAdam::default()).unwrap()
    }

    #[test]
    fn saves_and_resumes_weights_state_and_extra() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.safetensors");
        let vm = model(1);
        let mut opt = adam(&vm);
        assert_eq!(
            resume(&path, "tiny", &vm, &mut opt, &Device::Cpu).unwrap(),
            None
        );
        let loss = vm.all_vars()[0]
            .as_tensor()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap();
        opt.backward_step(&loss).unwrap();
        let extra = BTreeMap::from([("calls".to_string(), "7".to_string())]);
        save_epoch(&path, "tiny", 3, Seed(1), &vm, &opt, extra.clone()).unwrap();

        let other = model(2);
        let mut fresh = adam(&other);
        let resumed = resume(&path, "tiny", &other, &mut fresh, &Device::Cpu)
            .unwrap()
            .unwrap();
        assert_eq!(resumed, Resumed { epoch: 3, extra });
        assert_eq!(
            checkpoint::varmap_tensors(&vm)
                .iter()
                .map(|(_, t)| t.flatten_all().unwrap().to_vec1::<f32>().unwrap())
                .collect::<Vec<_>>(),
            checkpoint::varmap_tensors(&other)
                .iter()
                .map(|(_, t)| t.flatten_all().unwrap().to_vec1::<f32>().unwrap())
                .collect::<Vec<_>>()
        );
        let step = |o: &Adam| {
            o.state_tensors()
                .unwrap()
                .into_iter()
                .find(|(n, _)| n == "step")
                .unwrap()
                .1
                .to_scalar::<f32>()
                .unwrap()
        };
        assert_eq!(step(&fresh), 1.0);
    }

    #[test]
    fn refuses_another_model_or_optimizer_and_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.safetensors");
        let vm = model(1);
        save_epoch(&path, "tiny", 1, Seed(1), &vm, &adam(&vm), BTreeMap::new()).unwrap();

        let err = resume(&path, "vae", &vm, &mut adam(&vm), &Device::Cpu).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("\"tiny\"") && msg.contains("\"vae\"") && msg.contains("--fresh"),
            "{msg}"
        );
        let mut sgd = Sgd::new(checkpoint::sorted_vars(&vm), ParamsSgd::default()).unwrap();
        let msg = resume(&path, "tiny", &vm, &mut sgd, &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("adam") && msg.contains("--optimizer adam"),
            "{msg}"
        );
        assert!(msg.contains(&path.display().to_string()), "{msg}");
    }
}
