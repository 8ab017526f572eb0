//! Checkpoints: safetensors files with metadata (model, epoch, optimizer), written atomically and checked
//! on load against what the model needs, reporting every problem at once.
//!
//! Model variables keep their own names (so a checkpoint also loads with `VarBuilder::from_mmaped_safetensors`);
//! optimizer state goes under `optimizer.`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;

use crate::assets::atomic::write_bytes_atomic;
use crate::{Error, Result};

/// Prefix of optimizer state tensors inside a checkpoint.
pub const OPTIMIZER_PREFIX: &str = "optimizer.";
const META_PREFIX: &str = "glassbox.";

/// What a checkpoint says about itself, stored in the safetensors metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckpointMeta {
    /// The model's name, e.g. "mnist-cnn"; loading into another model is refused.
    pub model: String,
    /// Epochs completed.
    pub epoch: usize,
    /// The optimizer's kind when its state is stored, e.g. "adam".
    pub optimizer: Option<String>,
    /// The seed of the run that wrote it.
    pub seed: Option<u64>,
    /// Anything else the lesson wants to keep (settings, data source).
    pub extra: BTreeMap<String, String>,
}

impl CheckpointMeta {
    fn to_map(&self) -> HashMap<String, String> {
        let mut m: HashMap<String, String> = self
            .extra
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        m.insert(format!("{META_PREFIX}model"), self.model.clone());
        m.insert(format!("{META_PREFIX}epoch"), self.epoch.to_string());
        if let Some(o) = &self.optimizer {
            m.insert(format!("{META_PREFIX}optimizer"), o.clone());
        }
        if let Some(s) = self.seed {
            m.insert(format!("{META_PREFIX}seed"), s.to_string());
        }
        m
    }

    fn from_map(path: &Path, mut m: HashMap<String, String>) -> Result<Self> {
        let mut take = |k: &str| m.remove(&format!("{META_PREFIX}{k}"));
        let model = take("model").ok_or_else(|| {
            Error::format(
                path,
                "no glassbox.model in the metadata: not a glassbox checkpoint",
            )
        })?;
        let epoch = take("epoch")
            .and_then(|e| e.parse().ok())
            .ok_or_else(|| Error::format(path, "missing or bad glassbox.epoch in the metadata"))?;
        let optimizer = take("optimizer");
        let seed = take("seed").and_then(|s| s.parse().ok());
        Ok(CheckpointMeta {
            model,
            epoch,
            optimizer,
            seed,
            extra: m.into_iter().collect(),
        })
    }
}

/// The expected name, shape and dtype of one tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorSpec {
    /// The tensor's name in the file.
    pub name: String,
    /// Its dimensions.
    pub shape: Vec<usize>,
    /// Its element type.
    pub dtype: DType,
}

/// A loaded checkpoint.
#[derive(Debug)]
pub struct Checkpoint {
    /// The file it was read from.
    pub path: PathBuf,
    /// Its metadata (model, epoch, optimizer, seed, extras).
    pub meta: CheckpointMeta,
    /// Every tensor, by name (the optimizer's under `optimizer.`).
    pub tensors: HashMap<String, Tensor>,
}

/// The variables of a `VarMap`, sorted by name.
pub fn varmap_tensors(varmap: &VarMap) -> Vec<(String, Tensor)> {
    let data = varmap.data().lock().expect("varmap poisoned");
    let mut out: Vec<_> = data
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The variables of a `VarMap` in name order. Build optimizers from this, not from `VarMap::all_vars`
/// (hash order, different in every process): optimizer state is saved by position, so the order must be
/// the same when a run resumes.
pub fn sorted_vars(varmap: &VarMap) -> Vec<candle_core::Var> {
    sorted_vars_where(varmap, |_| true)
}

fn sorted_vars_where(varmap: &VarMap, keep: impl Fn(&str) -> bool) -> Vec<candle_core::Var> {
    let data = varmap.data().lock().expect("varmap poisoned");
    let mut named: Vec<_> = data.iter().filter(|(k, _)| keep(k)).collect();
    named.sort_by(|a, b| a.0.cmp(b.0));
    named.into_iter().map(|(_, v)| v.clone()).collect()
}

/// The last name components of buffers: state a layer keeps in the `VarMap` (so checkpoints carry it) but
/// that no gradient trains, under PyTorch's names (batch normalization's running averages).
pub const BUFFER_NAMES: [&str; 2] = ["running_mean", "running_var"];

/// Whether the variable `name` is a buffer (see [`BUFFER_NAMES`]).
pub fn is_buffer(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    BUFFER_NAMES.contains(&last)
}

/// [`sorted_vars`] without the buffers: what an optimizer should hold.
pub fn trainable_vars(varmap: &VarMap) -> Vec<candle_core::Var> {
    sorted_vars_where(varmap, |name| !is_buffer(name))
}

/// [`trainable_vars`] whose names start with `prefix` (one network of several, e.g. a GAN's generator).
pub fn trainable_vars_under(varmap: &VarMap, prefix: &str) -> Vec<candle_core::Var> {
    sorted_vars_where(varmap, |name| name.starts_with(prefix) && !is_buffer(name))
}

/// Writes a checkpoint atomically: a crash at any point leaves the previous file at `path` intact.
pub fn save(
    path: &Path,
    meta: &CheckpointMeta,
    model: &[(String, Tensor)],
    optimizer: &[(String, Tensor)],
) -> Result<()> {
    let bytes = encode(meta, model, optimizer)?;
    write_bytes_atomic(path, &bytes)?;
    Ok(())
}

fn encode(
    meta: &CheckpointMeta,
    model: &[(String, Tensor)],
    optimizer: &[(String, Tensor)],
) -> Result<Vec<u8>> {
    let mut named: Vec<(String, Tensor)> = model.to_vec();
    named.extend(
        optimizer
            .iter()
            .map(|(k, t)| (format!("{OPTIMIZER_PREFIX}{k}"), t.clone())),
    );
    // safetensors wants contiguous host data.
    let named = named
        .into_iter()
        .map(|(k, t)| Ok((k, t.to_device(&Device::Cpu)?.contiguous()?)))
        .collect::<Result<Vec<_>>>()?;
    let bytes = safetensors::serialize(
        named.iter().map(|(k, t)| (k.as_str(), t)),
        Some(meta.to_map()),
    )
    .map_err(|e| Error::Candle(candle_core::Error::wrap(e)))?;
    Ok(sort_metadata(bytes))
}

/// safetensors writes the metadata in the order of a `HashMap`, which differs from process to process;
/// sorted, the same checkpoint is the same bytes, so runs can be compared (and checksummed) file to file.
/// The header is the same length either way (the same entries, the same escaping), so it is rewritten in
/// place; anything unexpected leaves the bytes as they were.
fn sort_metadata(mut bytes: Vec<u8>) -> Vec<u8> {
    const PREFIX: &[u8] = b"{\"__metadata__\":";
    let Some(header_len) = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .and_then(|n| usize::try_from(n).ok())
    else {
        return bytes;
    };
    let Some(header) = bytes.get(8..8usize.saturating_add(header_len)) else {
        return bytes;
    };
    if !header.starts_with(PREFIX) {
        return bytes;
    }
    let start = 8 + PREFIX.len();
    let mut entries = serde_json::Deserializer::from_slice(&bytes[start..8 + header_len])
        .into_iter::<BTreeMap<String, String>>();
    let Some(Ok(sorted)) = entries.next() else {
        return bytes;
    };
    let end = start + entries.byte_offset();
    match serde_json::to_vec(&sorted) {
        Ok(text) if text.len() == end - start => {
            bytes[start..end].copy_from_slice(&text);
            bytes
        }
        _ => bytes,
    }
}

impl Checkpoint {
    /// Reads a checkpoint onto `device`.
    pub fn load(path: &Path, device: &Device) -> Result<Checkpoint> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| Error::format(path, format!("not a safetensors file: {e}")))?;
        let meta = CheckpointMeta::from_map(path, header.metadata().clone().unwrap_or_default())?;
        let tensors = candle_core::safetensors::load_buffer(&bytes, device)
            .map_err(|e| Error::format(path, format!("unreadable tensors: {e}")))?;
        Ok(Checkpoint {
            path: path.to_path_buf(),
            meta,
            tensors,
        })
    }

    /// Reads the checkpoint if the file exists (for `--resume`).
    pub fn load_if_exists(path: &Path, device: &Device) -> Result<Option<Checkpoint>> {
        if path.exists() {
            Self::load(path, device).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The optimizer state, with the prefix removed.
    pub fn optimizer_state(&self) -> HashMap<String, Tensor> {
        self.tensors
            .iter()
            .filter_map(|(k, t)| {
                k.strip_prefix(OPTIMIZER_PREFIX)
                    .map(|s| (s.to_string(), t.clone()))
            })
            .collect()
    }

    /// Copies the model tensors into `varmap` after checking the model name and every variable's name,
    /// shape and dtype; all problems are reported together and nothing is changed when there are any.
    pub fn restore(&self, model: &str, varmap: &VarMap) -> Result<()> {
        if self.meta.model != model {
            return Err(Error::Tensors {
                path: self.path.clone(),
                problems: vec![format!(
                    "checkpoint is of model {:?}, expected {model:?}",
                    self.meta.model
                )],
            });
        }
        let vars = varmap.data().lock().expect("varmap poisoned");
        let expected: Vec<TensorSpec> = vars
            .iter()
            .map(|(name, v)| TensorSpec {
                name: name.clone(),
                shape: v.dims().to_vec(),
                dtype: v.dtype(),
            })
            .collect();
        let model_tensors: HashMap<String, Tensor> = self
            .tensors
            .iter()
            .filter(|(k, _)| !k.starts_with(OPTIMIZER_PREFIX))
            .map(|(k, t)| (k.clone(), t.clone()))
            .collect();
        check_tensors(&self.path, &model_tensors, &expected, true)?;
        check_finite(&self.path, &model_tensors)?;
        for (name, var) in vars.iter() {
            var.set(&model_tensors[name])?;
        }
        Ok(())
    }
}

/// Refuses NaN and infinity in floating-point tensors: training stops before saving a diverged model, so
/// such a file was damaged or written by something else, and restoring it would poison every output.
fn check_finite(path: &Path, tensors: &HashMap<String, Tensor>) -> Result<()> {
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let mut problems = Vec::new();
    for name in names {
        if !all_finite(&tensors[name])? {
            problems.push(format!("tensor {name} holds NaN or infinity"));
        }
    }
    tensor_problems(path, problems)
}

/// Whether every value of `t` is finite (integer tensors always are).
pub fn all_finite(t: &Tensor) -> Result<bool> {
    if !t.dtype().is_float() {
        return Ok(true);
    }
    // x * 0 is 0 for every finite x and NaN for a NaN or either infinity, so one sum tells, on the
    // tensor's own device and without copying it to the host.
    let probe = t
        .detach()
        .affine(0.0, 0.0)?
        .sum_all()?
        .to_dtype(DType::F64)?
        .to_scalar::<f64>()?;
    Ok(!probe.is_nan())
}

/// `Ok` when there are no problems, else one error naming the file with all of them.
fn tensor_problems(path: &Path, problems: Vec<String>) -> Result<()> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Tensors {
            path: path.to_path_buf(),
            problems,
        })
    }
}

/// Checks found tensors against expectations and reports every missing, mis-shaped, wrong-dtype (and, when
/// `strict`, unexpected) tensor in one error naming the file.
pub fn check_tensors(
    path: &Path,
    found: &HashMap<String, Tensor>,
    expected: &[TensorSpec],
    strict: bool,
) -> Result<()> {
    let mut problems = Vec::new();
    let mut expected_sorted: Vec<&TensorSpec> = expected.iter().collect();
    expected_sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for spec in expected_sorted {
        match found.get(&spec.name) {
            None => problems.push(format!(
                "missing tensor {} (expected shape {:?})",
                spec.name, spec.shape
            )),
            Some(t) => {
                if t.dims() != spec.shape.as_slice() {
                    problems.push(format!(
                        "tensor {} has shape {:?}, expected {:?}",
                        spec.name,
                        t.dims(),
                        spec.shape
                    ));
                }
                if t.dtype() != spec.dtype {
                    problems.push(format!(
                        "tensor {} has dtype {:?}, expected {:?}",
                        spec.name,
                        t.dtype(),
                        spec.dtype
                    ));
                }
            }
        }
    }
    if strict {
        let known: std::collections::HashSet<&str> =
            expected.iter().map(|s| s.name.as_str()).collect();
        let mut extra: Vec<&String> = found
            .keys()
            .filter(|k| !known.contains(k.as_str()))
            .collect();
        extra.sort();
        problems.extend(extra.into_iter().map(|k| format!("unexpected tensor {k}")));
    }
    tensor_problems(path, problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::{Seed, SeededInit};

    fn model(seed: u64) -> VarMap {
        let vm = VarMap::new();
        let vb = SeededInit::var_builder(&vm, Seed(seed), DType::F32, &Device::Cpu);
        candle_nn::linear(3, 2, vb.pp("fc1")).unwrap();
        candle_nn::linear(2, 4, vb.pp("fc2")).unwrap();
        vm
    }

    fn values(vm: &VarMap) -> Vec<Vec<f32>> {
        varmap_tensors(vm)
            .iter()
            .map(|(_, t)| t.flatten_all().unwrap().to_vec1().unwrap())
            .collect()
    }

    fn meta(epoch: usize) -> CheckpointMeta {
        CheckpointMeta {
            model: "tiny".into(),
            epoch,
            optimizer: Some("sgd".into()),
            seed: Some(1),
            ..Default::default()
        }
    }

    #[test]
    fn buffers_are_kept_but_not_trained() {
        let vm = model(1);
        let vb = candle_nn::VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        for name in ["bn.running_mean", "bn.running_var", "bn.weight"] {
            vb.get(2, name).unwrap();
        }
        let all: Vec<String> = varmap_tensors(&vm).into_iter().map(|(n, _)| n).collect();
        assert_eq!(all.len(), 7);
        let trainable = trainable_vars(&vm);
        assert_eq!(trainable.len(), 5);
        assert_eq!(sorted_vars(&vm).len(), 7);
        assert!(is_buffer("gen.bn0.running_var") && is_buffer("running_mean"));
        assert!(!is_buffer("bn.weight") && !is_buffer("running_mean_of_x"));
        // The same order every time: the optimizer state is saved by position.
        let dims: Vec<Vec<usize>> = trainable.iter().map(|v| v.dims().to_vec()).collect();
        assert_eq!(dims, [vec![2], vec![2], vec![2, 3], vec![4], vec![4, 2]]);
        let fc2: Vec<Vec<usize>> = trainable_vars_under(&vm, "fc2.")
            .iter()
            .map(|v| v.dims().to_vec())
            .collect();
        assert_eq!(fc2, [vec![4], vec![4, 2]]);
        assert_eq!(trainable_vars_under(&vm, "bn.").len(), 1);
    }

    #[test]
    fn round_trip_with_metadata_and_optimizer_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckpt.safetensors");
        let vm = model(1);
        let state = vec![(
            "momentum.0".to_string(),
            Tensor::ones((2, 3), DType::F32, &Device::Cpu).unwrap(),
        )];
        save(&path, &meta(3), &varmap_tensors(&vm), &state).unwrap();
        let ck = Checkpoint::load(&path, &Device::Cpu).unwrap();
        assert_eq!(ck.meta, meta(3));
        let other = model(2);
        ck.restore("tiny", &other).unwrap();
        assert_eq!(values(&vm), values(&other));
        assert_eq!(ck.optimizer_state()["momentum.0"].dims(), &[2, 3]);
    }

    #[test]
    fn the_same_checkpoint_is_the_same_bytes() {
        let mut m = meta(4);
        m.extra = (0..12)
            .map(|i| (format!("key{i}"), format!("value \"{i}\"")))
            .collect();
        let tensors = varmap_tensors(&model(1));
        let first = encode(&m, &tensors, &[]).unwrap();
        // A HashMap's order changes with its seed: a few encodings would differ without the sorting.
        for _ in 0..8 {
            assert_eq!(encode(&m, &tensors, &[]).unwrap(), first);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.safetensors");
        std::fs::write(&path, &first).unwrap();
        assert_eq!(Checkpoint::load(&path, &Device::Cpu).unwrap().meta, m);
    }

    #[test]
    fn an_interrupted_write_leaves_the_previous_checkpoint_intact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckpt.safetensors");
        let vm = model(1);
        save(&path, &meta(1), &varmap_tensors(&vm), &[]).unwrap();
        // Epoch 2's write dies half-way, before the rename.
        let bytes = encode(&meta(2), &varmap_tensors(&model(2)), &[]).unwrap();
        let result = crate::assets::atomic::write_atomic(&path, |w: &mut dyn std::io::Write| {
            w.write_all(&bytes[..bytes.len() / 2])?;
            Err(std::io::Error::other("killed"))
        });
        assert!(result.is_err());
        let ck = Checkpoint::load(&path, &Device::Cpu).unwrap();
        assert_eq!(ck.meta.epoch, 1);
        ck.restore("tiny", &model(3)).unwrap();
        // A temporary file left by a process killed outright does not disturb loading either.
        std::fs::write(crate::assets::atomic::temp_path(&path), &bytes[..10]).unwrap();
        assert_eq!(Checkpoint::load(&path, &Device::Cpu).unwrap().meta.epoch, 1);
    }

    #[test]
    fn reports_a_missing_and_a_misshaped_tensor_together() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.safetensors");
        let mut tensors = varmap_tensors(&model(1));
        tensors.retain(|(k, _)| k != "fc1.bias");
        for (k, t) in tensors.iter_mut() {
            if k == "fc2.weight" {
                *t = Tensor::zeros((4, 3), DType::F32, &Device::Cpu).unwrap();
            }
        }
        save(&path, &meta(1), &tensors, &[]).unwrap();
        let target = model(2);
        let before = values(&target);
        let err = Checkpoint::load(&path, &Device::Cpu)
            .unwrap()
            .restore("tiny", &target)
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("bad.safetensors") && msg.contains("2 problem(s)"),
            "{msg}"
        );
        assert!(msg.contains("missing tensor fc1.bias"), "{msg}");
        assert!(
            msg.contains("fc2.weight has shape [4, 3], expected [4, 2]"),
            "{msg}"
        );
        // Nothing was half-restored.
        assert_eq!(before, values(&target));
    }

    #[test]
    fn another_model_or_another_file_type_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.safetensors");
        save(&path, &meta(1), &varmap_tensors(&model(1)), &[]).unwrap();
        let err = Checkpoint::load(&path, &Device::Cpu)
            .unwrap()
            .restore("vgg16", &model(1))
            .unwrap_err();
        assert!(err.to_string().contains("expected \"vgg16\""), "{err}");
        let junk = dir.path().join("junk.safetensors");
        std::fs::write(&junk, b"hello").unwrap();
        let err = Checkpoint::load(&junk, &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("junk.safetensors") && err.contains("not a safetensors file"),
            "{err}"
        );
    }
}
