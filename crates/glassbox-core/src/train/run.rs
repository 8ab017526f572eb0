//! What every training run does around the epoch loop: lock its output directory against a second run,
//! continue from the checkpoint there when there is one (the same model, the same optimizer), and after
//! each epoch write the checkpoint atomically with the optimizer's state, never one holding NaN or
//! infinity, so a killed or diverged run loses at most the epoch in progress and a resumed run ends with
//! the weights it would have had.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use candle_nn::VarMap;

use crate::checkpoint::{self, Checkpoint, CheckpointMeta};
use crate::optim::OptimizerState;
use crate::seed::Seed;
use crate::{Error, Result};

/// The file a training run keeps in its output directory.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";

/// The file a training run locks in its output directory (see [`OutputLock`]).
pub const LOCK_FILE: &str = ".glassbox.lock";

/// An exclusive lock on a training run's output directory, held until it is dropped. It is an advisory
/// lock on an open file (`flock`), which the kernel releases when the process ends however it ends, so a
/// killed run never leaves a stale lock behind; the file itself stays, empty of meaning.
#[derive(Debug)]
pub struct OutputLock {
    _file: File,
    path: PathBuf,
}

impl OutputLock {
    /// Creates `dir` if needed and locks it for one training run. A second run into the same directory
    /// fails at once with [`Error::OutputBusy`] (two runs would overwrite each other's checkpoint and
    /// metrics epoch by epoch). This is also the run's first write, so an output directory that cannot be
    /// written fails here, before any data is loaded. Once locked, it removes the temporary files that
    /// killed runs left behind (a half checkpoint is as large as a whole one).
    pub fn acquire(dir: &Path) -> Result<OutputLock> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|pid| pid.trim().parse().ok());
                return Err(Error::OutputBusy {
                    dir: dir.to_path_buf(),
                    lock: path,
                    holder,
                });
            }
            // A file system without locks (some network ones): train unguarded rather than not at all.
            Err(TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => {}
            Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
        // Who holds it, for the message a second run gives.
        file.set_len(0)
            .and_then(|()| write!(file, "{}", std::process::id()))
            .map_err(|e| Error::io(&path, e))?;
        crate::assets::atomic::remove_stale_temps(dir)?;
        Ok(OutputLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

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
/// the lesson's `extra` entries. A NaN or an infinity anywhere in them stops training with
/// [`Error::NonFiniteWeights`] instead, leaving the previous epoch's checkpoint in place: a diverged model
/// is worth nothing, and one that was saved would be resumed from.
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
    let model = checkpoint::varmap_tensors(varmap);
    let state = optimizer.state_tensors()?;
    if let Some(tensor) = first_non_finite(model.iter().chain(&state))? {
        return Err(Error::NonFiniteWeights {
            path: path.to_path_buf(),
            epoch,
            tensor,
        });
    }
    checkpoint::save(path, &meta, &model, &state)
}

/// The name of the first floating-point tensor holding a NaN or an infinity.
fn first_non_finite<'a>(
    named: impl IntoIterator<Item = &'a (String, Tensor)>,
) -> Result<Option<String>> {
    for (name, t) in named {
        if !checkpoint::all_finite(t)? {
            return Ok(Some(name.clone()));
        }
    }
    Ok(None)
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
    fn a_non_finite_weight_or_state_is_not_saved_and_the_previous_checkpoint_stays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.safetensors");
        let vm = model(1);
        let opt = adam(&vm);
        save_epoch(&path, "tiny", 1, Seed(1), &vm, &opt, BTreeMap::new()).unwrap();
        let good = std::fs::read(&path).unwrap();
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let var = &checkpoint::sorted_vars(&vm)[1];
            let mut values = var
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            values[3] = bad;
            let saved = var.as_tensor().copy().unwrap();
            var.set(&Tensor::from_vec(values, var.dims(), &Device::Cpu).unwrap())
                .unwrap();
            let err =
                save_epoch(&path, "tiny", 2, Seed(1), &vm, &opt, BTreeMap::new()).unwrap_err();
            let msg = err.to_string();
            assert!(
                matches!(err, Error::NonFiniteWeights { epoch: 2, .. }),
                "{bad}: {msg}"
            );
            assert!(
                msg.contains("fc.weight") && msg.contains("checkpoint.safetensors"),
                "{msg}"
            );
            assert_eq!(std::fs::read(&path).unwrap(), good, "{bad}: overwritten");
            var.set(&saved).unwrap();
        }
        save_epoch(&path, "tiny", 2, Seed(1), &vm, &opt, BTreeMap::new()).unwrap();
        assert_ne!(std::fs::read(&path).unwrap(), good);
    }

    #[test]
    fn a_second_lock_on_the_directory_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        // A temporary checkpoint of a run killed mid-write: the next run removes it.
        std::fs::create_dir_all(&out).unwrap();
        let stale = out.join(".checkpoint.safetensors.999999999.tmp");
        std::fs::write(&stale, b"half").unwrap();
        let first = OutputLock::acquire(&out).unwrap();
        assert!(!stale.exists());
        assert_eq!(
            std::fs::read_to_string(first.path()).unwrap(),
            std::process::id().to_string()
        );
        let err = OutputLock::acquire(&out).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::OutputBusy { .. }), "{msg}");
        assert!(
            msg.contains(&out.display().to_string())
                && msg.contains(&format!("process {}", std::process::id()))
                && msg.contains("another --out"),
            "{msg}"
        );
        drop(first);
        OutputLock::acquire(&out).unwrap();
        // A regular file where the directory should be.
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let msg = OutputLock::acquire(&file).unwrap_err().to_string();
        assert!(msg.contains(&file.display().to_string()), "{msg}");
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
