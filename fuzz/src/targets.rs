//! The targets: each hands its bytes to parsers the way a user's file or option reaches them, and panics
//! only when a parser misbehaves (see the crate documentation).

use std::fmt::Display;
use std::path::Path;
use std::str::FromStr;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use glassbox_core::checkpoint::Checkpoint;
use glassbox_core::data::idx::{parse_idx, IMAGES_MAGIC, LABELS_MAGIC};
use glassbox_core::data::text::Corpus;
use glassbox_core::data::{DataSource, Mnist};
use glassbox_core::device::DeviceSpec;
use glassbox_core::imaging::{load_image, LoadOptions, Resize};
use glassbox_core::optim::{ParamsAdadelta, ParamsAdam, ParamsRmsProp, ParamsSgd};
use glassbox_core::train::FitConfig;
use glassbox_rl::agent::{Epsilon, Method, TdConfig};
use glassbox_rl::qtable::QTable;
use glassbox_sequence::words::WordTokenizer;
use glassbox_sequence::CharText;

use crate::scratch;

/// A clear error says which file it is about.
fn assert_names(err: &impl Display, path: &Path) {
    let message = err.to_string();
    let name = path
        .file_name()
        .expect("scratch files have names")
        .to_string_lossy();
    assert!(
        message.contains(&*name),
        "the error does not name the file {name}: {message}"
    );
}

fn assert_finite(values: impl IntoIterator<Item = f64>, what: &str) {
    for v in values {
        assert!(v.is_finite(), "{what} accepted a non-finite value {v}");
    }
}

/// IDX files of images and labels, raw and gzip (by name and by content).
pub fn idx(data: &[u8]) {
    for name in ["fuzz-images.idx", "fuzz-images-idx3-ubyte.gz"] {
        for magic in [IMAGES_MAGIC, LABELS_MAGIC] {
            let path = Path::new(name);
            match parse_idx(path, data, magic) {
                Ok(idx) => {
                    assert_eq!(idx.dims.len(), (magic & 0xff) as usize, "dimensions");
                    assert_eq!(
                        idx.data.len(),
                        idx.dims.iter().product::<usize>(),
                        "data does not fill {:?}",
                        idx.dims
                    );
                }
                Err(e) => assert_names(&e, path),
            }
        }
    }
}

/// A directory of MNIST files: the input split into an images file and a labels file (the first byte
/// says where), written as both the training and the test split.
pub fn mnist(data: &[u8]) {
    let Some((&at, rest)) = data.split_first() else {
        return;
    };
    let split = rest.len() * usize::from(at) / 256;
    let (images, labels) = rest.split_at(split);
    let dir = scratch::dir();
    for prefix in ["train", "t10k"] {
        let write =
            |name: String, bytes: &[u8]| std::fs::write(dir.join(name), bytes).expect("write");
        write(format!("{prefix}-images-idx3-ubyte"), images);
        write(format!("{prefix}-labels-idx1-ubyte"), labels);
    }
    match Mnist::load_dir(&dir, DataSource::Flag(dir.clone())) {
        Ok(mnist) => {
            for split in [&mnist.train, &mnist.test] {
                assert_eq!(split.images.len(), split.count * split.rows * split.cols);
                assert!(split.labels.iter().all(|&l| l < 10), "a label past 9");
                if split.count > 0 {
                    split
                        .images_tensor(&[split.count - 1], &Device::Cpu)
                        .and_then(|_| split.labels_tensor(&[0], &Device::Cpu))
                        .expect("tensors of a split that loaded");
                }
            }
        }
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.contains("-ubyte"),
                "the error names no file: {message}"
            );
        }
    }
}

/// Safetensors checkpoints and weights: the generic loader and restore, VGG16's loader, and the text
/// lessons' loaders that rebuild a model from a checkpoint's metadata.
pub fn checkpoint(data: &[u8]) {
    let path = scratch::file("safetensors", data);
    match Checkpoint::load(&path, &Device::Cpu) {
        Ok(checkpoint) => restore_all_or_nothing(&checkpoint, &path),
        Err(e) => assert_names(&e, &path),
    }
    // VGG16's weights go through the same safetensors reader, then its own naming and shape checks.
    if let Err(e) = glassbox_convnet::vgg::Vgg16::load(&path, &Device::Cpu) {
        assert_names(&e, &path);
    }
    if let Err(e) = glassbox_sequence::char_train::load_trained(&path, &Device::Cpu) {
        assert_names(&e, &path);
    }
    if let Err(e) = glassbox_sequence::word_train::load_trained_words(&path, &Device::Cpu) {
        assert_names(&e, &path);
    }
}

/// Restoring into a small model either fills every variable with finite values or changes none.
fn restore_all_or_nothing(checkpoint: &Checkpoint, path: &Path) {
    let _ = checkpoint.optimizer_state();
    let varmap = VarMap::new();
    let shapes: [(&str, &[usize]); 2] = [("fc.weight", &[4, 3]), ("fc.bias", &[4])];
    for (name, shape) in shapes {
        varmap
            .get(
                shape,
                name,
                candle_nn::Init::Const(0.5),
                DType::F32,
                &Device::Cpu,
            )
            .expect("a variable");
    }
    let values = |varmap: &VarMap| -> Vec<f32> {
        let vars = varmap.data().lock().expect("varmap");
        let mut names: Vec<&String> = vars.keys().collect();
        names.sort();
        names
            .into_iter()
            .flat_map(|n| {
                vars[n]
                    .as_tensor()
                    .flatten_all()
                    .and_then(|t| t.to_vec1::<f32>())
                    .expect("f32 values")
            })
            .collect()
    };
    match checkpoint.restore(&checkpoint.meta.model, &varmap) {
        Ok(()) => {
            let restored = values(&varmap);
            assert_finite(restored.iter().map(|&v| f64::from(v)), "restore");
        }
        Err(e) => {
            assert_names(&e, path);
            assert!(
                values(&varmap).iter().all(|&v| v == 0.5),
                "a failed restore changed the model"
            );
        }
    }
}

/// The model and dataset manifests: what parses is safe to use as paths, URLs and checksums.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(models) = glassbox_assets::manifest::parse_models(text) {
        for (name, entry) in &models {
            assert_plain_path(&entry.file, name);
            if let Some(sha) = &entry.sha256 {
                assert!(is_hex(sha, 64), "{name}: sha256 {sha:?} accepted");
            }
            assert!(entry.input_size > 0, "{name}: input size 0 accepted");
        }
    }
    if let Ok(datasets) = glassbox_assets::manifest::parse_datasets(text) {
        for (name, entry) in &datasets {
            assert_plain_path(&entry.dir, name);
            for file in &entry.files {
                assert_plain_path(&file.name, name);
                assert!(is_hex(&file.md5, 32), "{name}: md5 {:?} accepted", file.md5);
            }
            for mirror in &entry.mirrors {
                assert!(
                    mirror.starts_with("https://") || mirror.starts_with("http://"),
                    "{name}: mirror {mirror:?} accepted"
                );
            }
        }
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A path from a manifest stays below the directory it is joined to.
fn assert_plain_path(path: &str, entry: &str) {
    let p = Path::new(path);
    assert!(
        !path.is_empty()
            && p.components()
                .all(|c| matches!(c, std::path::Component::Normal(_))),
        "{entry}: path {path:?} accepted"
    );
}

/// Text corpora: the core's normalization and the character lesson's checks.
pub fn corpus(data: &[u8]) {
    let path = scratch::file("txt", data);
    match Corpus::load(&path) {
        Ok(corpus) => {
            assert!(!corpus.text.trim().is_empty(), "an empty corpus accepted");
            // The course collapses double spaces in one pass, so "   " stays "  ": only line breaks
            // are sure to be gone.
            assert!(
                !corpus.text.contains(['\n', '\r']),
                "normalization left a line break"
            );
        }
        Err(e) => assert_names(&e, &path),
    }
    match CharText::load(&path, 4) {
        Ok(text) => {
            assert!(text.split > 0 && text.split < text.ids.len(), "split");
            assert!(
                text.ids.iter().all(|&i| (i as usize) < text.vocab.len()),
                "an id outside the vocabulary"
            );
        }
        Err(e) => assert_names(&e, &path),
    }
}

/// The word lesson's tokenizer.json.
pub fn tokenizer(data: &[u8]) {
    let path = scratch::file("json", data);
    match WordTokenizer::load(&path) {
        Ok(tokenizer) => {
            if let Ok(ids) = tokenizer.encode("It is a capital mistake to theorize.") {
                assert!(
                    ids.iter().all(|&i| (i as usize) < tokenizer.len().max(1)),
                    "an id outside the vocabulary"
                );
                let _ = tokenizer.to_prose(&ids);
            }
        }
        Err(e) => assert_names(&e, &path),
    }
}

/// Most pixels an image target decodes: the heap limit of [`crate::Target::heap_limit`] covers this many
/// pixels of the widest kind (RGBA, 16 bits) several times over.
pub const IMAGE_MAX_PIXELS: u64 = 1 << 20;

/// PNG and JPEG (recognised by content, as users' photos are): color and gray, resized and cropped.
pub fn image(data: &[u8]) {
    let path = scratch::file("img", data);
    let options = [
        LoadOptions::rgb().with_max_pixels(IMAGE_MAX_PIXELS),
        LoadOptions::gray()
            .with_max_pixels(IMAGE_MAX_PIXELS)
            .with_resize(Resize::center_crop(8)),
    ];
    for options in options {
        match load_image(&path, &options) {
            Ok(tensor) => check_image(&tensor),
            Err(e) => assert_names(&e, &path),
        }
    }
}

fn check_image(tensor: &Tensor) {
    let (c, h, w) = tensor.dims3().expect("(C, H, W)");
    assert!(c == 1 || c == 3, "{c} channels");
    assert!(h * w > 0 && (h * w) as u64 <= IMAGE_MAX_PIXELS, "{h}x{w}");
    let values = tensor
        .flatten_all()
        .and_then(|t| t.to_vec1::<f32>())
        .expect("f32");
    assert!(
        values.iter().all(|v| (0.0..=255.0).contains(v)),
        "pixel values outside 0..=255"
    );
}

/// The Q tables `glassbox rl` saves and plays from.
pub fn qtable(data: &[u8]) {
    let path = scratch::file("json", data);
    match QTable::load(&path, "fuzz", 16, 4) {
        Ok((table, _)) => {
            assert_eq!((table.states(), table.actions()), (16, 4));
            let values = (0..16).flat_map(|s| table.row(s).to_vec());
            assert_finite(values, "a Q table");
        }
        Err(e) => assert_names(&e, &path),
    }
}

/// The path tracer's reference images (PFM).
pub fn pfm(data: &[u8]) {
    let path = scratch::file("pfm", data);
    match glassbox_synthesis::render::film::Image::load_pfm(&path) {
        Ok(image) => assert_eq!(
            image.pixels.len(),
            image.width as usize * image.height as usize
        ),
        Err(e) => assert_names(&e, &path),
    }
}

/// The command line's options: the string parsers, and the numeric settings every lesson validates
/// before it starts. A setting that validates is one a run can use: finite, in its range.
pub fn options(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(device) = DeviceSpec::from_str(&text) {
        assert_eq!(DeviceSpec::from_str(&device.to_string()).ok(), Some(device));
    }
    if let Ok(mix) = glassbox_synthesis::layers::LayerMix::parse(&text) {
        assert_finite(mix.0.iter().map(|&(_, w)| f64::from(w)), "a layer mix");
    }
    if let Ok(glassbox_rl::tictactoe::Opponent::Mix { perfect }) =
        glassbox_rl::tictactoe::Opponent::parse(&text)
    {
        assert!((0.0..=1.0).contains(&perfect), "opponent mix {perfect}");
    }
    let _ = glassbox_synthesis::render::integrator::Kind::from_str(&text);
    let _ = glassbox_tensor::kernels::cpu::parse_override(Some(&text));

    // Numbers as clap reads them (`--lr 1e400` is infinity), with a raw-bytes fallback for variety.
    let mut numbers: Vec<f64> = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter_map(|t| t.parse::<f64>().ok())
        .collect();
    numbers.extend(
        data.chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))),
    );
    if numbers.is_empty() {
        return;
    }
    let n = |i: usize| numbers[i % numbers.len()];
    let flag = |i: usize| n(i) > 0.5;
    let validated = [
        (
            "Adam",
            ParamsAdam {
                lr: n(0),
                beta1: n(1),
                beta2: n(2),
                eps: n(3),
                weight_decay: n(4),
                amsgrad: flag(5),
            }
            .validate()
            .is_ok(),
            vec![n(0), n(1), n(2), n(3), n(4)],
        ),
        (
            "SGD",
            ParamsSgd {
                lr: n(0),
                momentum: n(1),
                dampening: n(2),
                weight_decay: n(3),
                nesterov: flag(4),
            }
            .validate()
            .is_ok(),
            vec![n(0), n(1), n(2), n(3)],
        ),
        (
            "RMSprop",
            ParamsRmsProp {
                lr: n(0),
                alpha: n(1),
                eps: n(2),
                weight_decay: n(3),
                momentum: n(4),
                centered: flag(5),
            }
            .validate()
            .is_ok(),
            vec![n(0), n(1), n(2), n(3), n(4)],
        ),
        (
            "Adadelta",
            ParamsAdadelta {
                lr: n(0),
                rho: n(1),
                eps: n(2),
                weight_decay: n(3),
            }
            .validate()
            .is_ok(),
            vec![n(0), n(1), n(2), n(3)],
        ),
        (
            "TD update",
            TdConfig {
                method: Method::QLearning,
                alpha: n(0),
                gamma: n(1),
                bootstrap_terminal: flag(2),
            }
            .validate()
            .is_ok(),
            vec![n(0), n(1)],
        ),
        (
            "exploration",
            Epsilon::ExpDecay {
                start: n(0),
                rate: n(1),
                fraction: n(2),
            }
            .validate()
            .is_ok(),
            vec![n(0), n(1), n(2)],
        ),
        (
            "exploration",
            Epsilon::Linear {
                start: n(0),
                end: n(1),
                fraction: n(2),
            }
            .validate()
            .is_ok(),
            vec![n(0), n(1), n(2)],
        ),
    ];
    for (what, ok, values) in validated {
        if ok {
            assert_finite(values, what);
        }
    }
    let (epochs, batch) = (n(0) as usize, n(1) as usize);
    assert_eq!(
        FitConfig::check(epochs, batch).is_ok(),
        epochs > 0 && batch > 0
    );
}
