//! VGG16 (Simonyan & Zisserman 2014, configuration D) from a safetensors file with torchvision or timm
//! tensor names, batched, every layer's output available by its Keras name.
//!
//! ```text
//! block1_conv1 64, block1_conv2 64, block1_pool         224 -> 112      features.0, features.2
//! block2_conv1 128, block2_conv2 128, block2_pool       112 -> 56       features.5, features.7
//! block3_conv1..3 256, block3_pool                      56 -> 28        features.10, .12, .14
//! block4_conv1..3 512, block4_pool                      28 -> 14        features.17, .19, .21
//! block5_conv1..3 512, block5_pool                      14 -> 7         features.24, .26, .28
//! fc6 4096 (ReLU), fc7 4096 (ReLU), logits 1000 (no activation)
//! ```
//!
//! Convolutions are 3x3, padding 1, each followed by a ReLU (fused into the convolution); a convolution
//! followed by a pool runs as one fused kernel unless its own output is asked for. The classifier is
//! torchvision's `classifier.{0,3,6}` or timm's `pre_logits.fc1` (a 7x7 convolution, the same numbers as
//! torchvision's first dense layer), `pre_logits.fc2` (1x1) and `head.fc`. The logits get no activation
//! (candle's example applies a ReLU to them: a bug not copied). How images are normalized comes from the
//! file's metadata or the model manifest, never from the caller.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::Linear;
use glassbox_core::assets::manifest::{self, Preprocessing};
use glassbox_core::imaging::Normalization;
use glassbox_tensor::nn::{Conv2d, Conv2dConfig};
use glassbox_tensor::ops::{conv2d, conv2d_relu_pool, max_pool2d, ConvParams, PrepackedFilters};

use crate::{Error, Result};

/// One convolution of the feature stack.
#[derive(Clone, Copy, Debug)]
pub struct ConvSpec {
    /// Its layer name (`block1_conv1`, ...).
    pub name: &'static str,
    /// Its index in torchvision's `features` (and timm's).
    pub index: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels (filters).
    pub out_channels: usize,
    /// The block's pool follows it.
    pub pool_after: Option<&'static str>,
}

const fn conv(
    name: &'static str,
    index: usize,
    in_channels: usize,
    out_channels: usize,
    pool_after: Option<&'static str>,
) -> ConvSpec {
    ConvSpec {
        name,
        index,
        in_channels,
        out_channels,
        pool_after,
    }
}

/// VGG16's thirteen convolutions.
pub const CONVS: [ConvSpec; 13] = [
    conv("block1_conv1", 0, 3, 64, None),
    conv("block1_conv2", 2, 64, 64, Some("block1_pool")),
    conv("block2_conv1", 5, 64, 128, None),
    conv("block2_conv2", 7, 128, 128, Some("block2_pool")),
    conv("block3_conv1", 10, 128, 256, None),
    conv("block3_conv2", 12, 256, 256, None),
    conv("block3_conv3", 14, 256, 256, Some("block3_pool")),
    conv("block4_conv1", 17, 256, 512, None),
    conv("block4_conv2", 19, 512, 512, None),
    conv("block4_conv3", 21, 512, 512, Some("block4_pool")),
    conv("block5_conv1", 24, 512, 512, None),
    conv("block5_conv2", 26, 512, 512, None),
    conv("block5_conv3", 28, 512, 512, Some("block5_pool")),
];

/// The classifier's layers, after the feature stack.
pub const CLASSIFIER_LAYERS: [&str; 3] = ["fc6", "fc7", "logits"];

/// Every layer name, in order.
pub fn layer_names() -> Vec<&'static str> {
    CONVS
        .iter()
        .flat_map(|c| std::iter::once(c.name).chain(c.pool_after))
        .chain(CLASSIFIER_LAYERS)
        .collect()
}

struct Classifier {
    fc6: Linear,
    fc7: Linear,
    logits: Linear,
}

/// VGG16 loaded from one safetensors file.
pub struct Vgg16 {
    convs: Vec<Conv2d>,
    /// Each convolution's Winograd filters, transformed on first use by the hand-driven passes
    /// (`gradient.rs`), which run the same frozen weights hundreds of times.
    prepacked: Vec<OnceLock<Option<PrepackedFilters>>>,
    classifier: Option<Classifier>,
    /// Why there is no classifier: the tensor names the file lacks.
    missing_classifier: Vec<String>,
    normalization: Normalization,
    path: PathBuf,
    /// Every tensor of the file (the HED side outputs and anything else beside VGG16's own).
    tensors: HashMap<String, Tensor>,
}

impl Vgg16 {
    /// Loads `path`: the 13 convolutions must be there with the right shapes (every problem is listed);
    /// the classifier is loaded when present.
    pub fn load(path: &Path, device: &Device) -> Result<Vgg16> {
        let bytes = std::fs::read(path).map_err(|e| glassbox_core::Error::io(path, e))?;
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| {
            glassbox_core::Error::format(path, format!("not a safetensors file: {e}"))
        })?;
        let metadata = header.metadata().clone().unwrap_or_default();
        let tensors = candle_core::safetensors::load_buffer(&bytes, device)
            .map_err(|e| glassbox_core::Error::format(path, format!("unreadable tensors: {e}")))?;
        let tensors: HashMap<String, Tensor> = tensors
            .into_iter()
            .map(|(k, t)| Ok((k, t.to_dtype(DType::F32)?)))
            .collect::<Result<_>>()?;
        let normalization = normalization(path, &metadata)?;
        Self::from_tensors(tensors, normalization, path)
    }

    /// The network over already-loaded tensors (`path` only names them in errors).
    pub fn from_tensors(
        tensors: HashMap<String, Tensor>,
        normalization: Normalization,
        path: &Path,
    ) -> Result<Vgg16> {
        let mut problems = Vec::new();
        let mut get = |name: String, shape: &[usize]| -> Option<Tensor> {
            match tensors.get(&name) {
                None => {
                    problems.push(format!("missing {name} {shape:?}"));
                    None
                }
                Some(t) if t.dims() != shape => {
                    problems.push(format!("{name} is {:?}, expected {shape:?}", t.dims()));
                    None
                }
                Some(t) => Some(t.clone()),
            }
        };
        let relu = Conv2dConfig {
            padding: 1,
            relu: true,
            ..Default::default()
        };
        let mut convs = Vec::new();
        for c in CONVS {
            let w = get(
                format!("features.{}.weight", c.index),
                &[c.out_channels, c.in_channels, 3, 3],
            );
            let b = get(format!("features.{}.bias", c.index), &[c.out_channels]);
            if let (Some(w), Some(b)) = (w, b) {
                convs.push(Conv2d::from_tensors(w, Some(b), relu));
            }
        }
        if !problems.is_empty() {
            return Err(glassbox_core::Error::Tensors {
                path: path.to_path_buf(),
                problems: std::iter::once(
                    "not VGG16's 13 convolutions (features.N.weight/bias, torchvision or timm names)"
                        .to_string(),
                )
                .chain(problems)
                .collect(),
            }
            .into());
        }
        let (classifier, missing_classifier) = classifier(&tensors, path)?;
        Ok(Vgg16 {
            prepacked: convs.iter().map(|_| OnceLock::new()).collect(),
            convs,
            classifier,
            missing_classifier,
            normalization,
            path: path.to_path_buf(),
            tensors,
        })
    }

    /// The thirteen convolutions, in order (for the hand-driven backward pass in `gradient.rs`).
    pub(super) fn convs(&self) -> &[Conv2d] {
        &self.convs
    }

    /// Convolution `k`'s prepacked Winograd filters (`None` where it has none to prepack), made on first
    /// use: 16/9 of its weights' memory for each of the two directions.
    pub(super) fn prepacked(&self, k: usize) -> Result<Option<&PrepackedFilters>> {
        if self.prepacked[k].get().is_none() {
            let made = PrepackedFilters::new(self.convs[k].weight())?;
            // Another thread may have made the same filters meanwhile; either copy serves.
            let _ = self.prepacked[k].set(made);
        }
        Ok(self.prepacked[k].get().and_then(Option::as_ref))
    }

    /// How images become inputs (from the file's metadata or the manifest).
    pub fn normalization(&self) -> Normalization {
        self.normalization
    }

    /// Where the weights live.
    pub fn device(&self) -> &Device {
        self.convs[0].weight().device()
    }

    /// Whether the file held the classifier, so [`Vgg16::logits`] works.
    pub fn has_classifier(&self) -> bool {
        self.classifier.is_some()
    }

    /// A tensor of the file by name (for heads that ride on the features, such as HED's).
    pub fn tensor(&self, name: &str) -> Option<&Tensor> {
        self.tensors.get(name)
    }

    /// The file the weights came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `(N, 3, H, W)` RGB images in `0..=255` to the network's input.
    pub fn preprocess(&self, images: &Tensor) -> Result<Tensor> {
        Ok(self.normalization.normalize(images)?)
    }

    /// Runs preprocessed inputs `(N, 3, H, W)` up to the last of `wanted` (layer names, see
    /// [`layer_names`]) and returns their outputs in the order asked.
    pub fn layers(&self, x: &Tensor, wanted: &[&str]) -> Result<Vec<Tensor>> {
        self.run(x, wanted, false)
    }

    /// A convolution's output before its ReLU, `(N, C, H, W)`: what filter visualization climbs, since
    /// a filter silent on the starting noise has no gradient after the ReLU (Lucid's `_pre_relu` layers).
    pub fn pre_activation(&self, x: &Tensor, layer: &str) -> Result<Tensor> {
        let Some(k) = CONVS.iter().position(|c| c.name == layer) else {
            let names: Vec<&str> = CONVS.iter().map(|c| c.name).collect();
            return Err(glassbox_core::Error::invalid(
                "VGG16 convolution",
                layer,
                format!("one of {}", names.join(", ")),
            )
            .into());
        };
        let input = match k {
            0 => x.clone(),
            _ => {
                let before = CONVS[k - 1].pool_after.unwrap_or(CONVS[k - 1].name);
                self.layers(x, &[before])?.remove(0)
            }
        };
        let conv = &self.convs[k];
        Ok(conv2d(
            &input,
            conv.weight(),
            conv.bias(),
            ConvParams {
                padding: 1,
                ..Default::default()
            },
            false,
        )?)
    }

    /// [`layers`](Self::layers) with pools that round odd sizes up (Keras's `padding='same'`, as HED's
    /// pools do) instead of down (torchvision's).
    pub fn layers_ceil_pools(&self, x: &Tensor, wanted: &[&str]) -> Result<Vec<Tensor>> {
        self.run(x, wanted, true)
    }

    fn run(&self, x: &Tensor, wanted: &[&str], ceil_pools: bool) -> Result<Vec<Tensor>> {
        let all = layer_names();
        for w in wanted {
            if !all.contains(w) {
                return Err(glassbox_core::Error::invalid(
                    "VGG16 layer",
                    w,
                    format!("one of {}", all.join(", ")),
                )
                .into());
            }
        }
        let last = wanted
            .iter()
            .map(|w| all.iter().position(|a| a == w).expect("checked"))
            .max();
        let Some(last) = last else {
            return Ok(Vec::new());
        };
        let mut found: HashMap<&str, Tensor> = HashMap::new();
        let mut h = x.clone();
        let mut position = 0;
        for (spec, conv) in CONVS.iter().zip(&self.convs) {
            if position > last {
                break;
            }
            let (_, _, hh, ww) = h.dims4()?;
            let even = hh % 2 == 0 && ww % 2 == 0;
            match spec.pool_after {
                Some(pool) if !wanted.contains(&spec.name) && (even || !ceil_pools) => {
                    h = conv2d_relu_pool(
                        &h,
                        conv.weight(),
                        conv.bias(),
                        ConvParams {
                            padding: 1,
                            ..Default::default()
                        },
                        2,
                    )?;
                    position += 2;
                    found.insert(pool, h.clone());
                }
                pool => {
                    h = conv.forward(&h)?;
                    position += 1;
                    found.insert(spec.name, h.clone());
                    if let Some(pool) = pool {
                        if position <= last {
                            if ceil_pools && !even {
                                // After a ReLU every value is >= 0, so zeros on the right and bottom
                                // make the last, partial windows pool as Keras's 'same' does.
                                h = h
                                    .pad_with_zeros(2, 0, hh % 2)?
                                    .pad_with_zeros(3, 0, ww % 2)?;
                            }
                            h = max_pool2d(&h, 2, 2)?;
                            position += 1;
                            found.insert(pool, h.clone());
                        }
                    }
                }
            }
        }
        if position <= last {
            let c = self.classifier_or_error()?;
            let (_, ch, hh, ww) = h.dims4()?;
            if (ch, hh, ww) != (512, 7, 7) {
                return Err(glassbox_core::Error::invalid(
                    "VGG16 classifier input",
                    format!("{ch}x{hh}x{ww}"),
                    "512x7x7, from 224x224 images",
                )
                .into());
            }
            let flat = h.flatten_from(1)?;
            let fc6 = c.fc6.forward(&flat)?.relu()?;
            found.insert("fc6", fc6.clone());
            if position < last {
                let fc7 = c.fc7.forward(&fc6)?.relu()?;
                found.insert("fc7", fc7.clone());
                if position + 2 <= last {
                    found.insert("logits", c.logits.forward(&fc7)?);
                }
            }
        }
        Ok(wanted
            .iter()
            .map(|w| {
                found
                    .remove(w)
                    .or_else(|| None)
                    .expect("computed up to the last wanted layer")
            })
            .collect())
    }

    /// Logits `(N, 1000)` (no softmax) for preprocessed 224x224 inputs.
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.layers(x, &["logits"])?.remove(0))
    }

    /// An error naming the missing classifier tensors and how to get them, unless the file can classify.
    pub fn require_classifier(&self) -> Result<()> {
        self.classifier_or_error().map(|_| ())
    }

    fn classifier_or_error(&self) -> Result<&Classifier> {
        self.classifier.as_ref().ok_or_else(|| {
            glassbox_core::Error::Tensors {
                path: self.path.clone(),
                problems: std::iter::once(
                    "this file holds VGG16's convolutions but no classifier, so it cannot classify; get the full VGG16 with `cargo xtask fetch-weights`"
                        .to_string(),
                )
                .chain(self.missing_classifier.iter().map(|m| format!("missing {m}")))
                .collect(),
            }
            .into()
        })
    }
}

/// The classifier in torchvision or timm names; `None` with the missing names when the file has neither.
fn classifier(
    tensors: &HashMap<String, Tensor>,
    path: &Path,
) -> Result<(Option<Classifier>, Vec<String>)> {
    let linear = |w: &str, b: &str, shape: (usize, usize)| -> Result<Option<Linear>> {
        let (Some(wt), Some(bt)) = (tensors.get(w), tensors.get(b)) else {
            return Ok(None);
        };
        // timm stores fc1 as a 7x7 and fc2 as a 1x1 convolution: the same numbers in the same order.
        if wt.dim(0)? != shape.0 || wt.elem_count() != shape.0 * shape.1 {
            return Err(glassbox_core::Error::Tensors {
                path: path.to_path_buf(),
                problems: vec![format!(
                    "{w} is {:?}, expected {} x {} values",
                    wt.dims(),
                    shape.0,
                    shape.1
                )],
            }
            .into());
        }
        let wt = wt.reshape(shape)?;
        if bt.dims() != [shape.0] {
            return Err(glassbox_core::Error::Tensors {
                path: path.to_path_buf(),
                problems: vec![format!("{b} is {:?}, expected [{}]", bt.dims(), shape.0)],
            }
            .into());
        }
        Ok(Some(Linear::new(wt, Some(bt.clone()))))
    };
    let names = [
        ("classifier.0", "pre_logits.fc1", (4096, 25088)),
        ("classifier.3", "pre_logits.fc2", (4096, 4096)),
        ("classifier.6", "head.fc", (1000, 4096)),
    ];
    let mut layers = Vec::new();
    let mut missing = Vec::new();
    for (tv, timm, shape) in names {
        let found = match linear(&format!("{tv}.weight"), &format!("{tv}.bias"), shape)? {
            Some(l) => Some(l),
            None => linear(&format!("{timm}.weight"), &format!("{timm}.bias"), shape)?,
        };
        match found {
            Some(l) => layers.push(l),
            None => missing.push(format!("{tv}.weight/bias (timm: {timm}.weight/bias)")),
        }
    }
    if layers.len() == 3 {
        let logits = layers.pop().expect("3");
        let fc7 = layers.pop().expect("2");
        let fc6 = layers.pop().expect("1");
        Ok((Some(Classifier { fc6, fc7, logits }), Vec::new()))
    } else {
        Ok((None, missing))
    }
}

/// The file's own word on preprocessing (`preprocessing` = torchvision|caffe, or `mean_rgb` [+ `std_rgb`,
/// `scale`]), else the manifest entry with the same file name.
fn normalization(path: &Path, metadata: &HashMap<String, String>) -> Result<Normalization> {
    let bad = |problem: String| -> Error { glassbox_core::Error::format(path, problem).into() };
    let triple = |key: &str| -> Result<Option<[f32; 3]>> {
        let Some(text) = metadata.get(key) else {
            return Ok(None);
        };
        let v: Vec<f32> = text
            .split(',')
            .map(|s| s.trim().parse::<f32>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| bad(format!("metadata {key} = {text:?} is not three numbers")))?;
        <[f32; 3]>::try_from(v)
            .map(Some)
            .map_err(|_| bad(format!("metadata {key} = {text:?} is not three numbers")))
    };
    match metadata.get("preprocessing").map(String::as_str) {
        Some("torchvision") => return Ok(Normalization::of(Preprocessing::Torchvision)),
        Some("caffe") => return Ok(Normalization::of(Preprocessing::Caffe)),
        Some(other) => {
            return Err(bad(format!(
                "metadata preprocessing = {other:?}; expected torchvision or caffe"
            )))
        }
        None => {}
    }
    if let Some(mean) = triple("mean_rgb")? {
        // A mean in 0..255 means inputs stay in 0..255 (Caffe's convention) unless `scale` says otherwise.
        let std = triple("std_rgb")?.unwrap_or([1.0; 3]);
        let scale = if mean.iter().any(|&m| m > 1.0) {
            1.0
        } else {
            255.0
        };
        return Ok(Normalization { scale, mean, std });
    }
    let file = path.file_name().map(|f| f.to_string_lossy().into_owned());
    let entry = manifest::models()
        .values()
        .find(|e| Some(&e.file) == file.as_ref());
    match entry {
        Some(e) => Ok(Normalization::of(e.preprocessing)),
        None => Err(bad(
            "no preprocessing in the file's metadata (preprocessing = torchvision|caffe, or mean_rgb) and no model in models/models.toml with this file name, so how images must be normalized is unknown".into(),
        )),
    }
}
