//! Valid inputs for every target, made by the project's own writers so they follow the formats as the
//! code writes them today. Mutation starts from these; `cargo run -p glassbox-fuzz --example write_seeds`
//! writes them out as a libFuzzer corpus.

use std::collections::BTreeMap;
use std::io::Write;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use flate2::write::GzEncoder;
use glassbox_core::checkpoint::{self, CheckpointMeta};
use glassbox_core::data::idx::{encode_idx, IMAGES_MAGIC, LABELS_MAGIC};
use glassbox_rl::qtable::QTable;
use glassbox_sequence::char_model::{CharModel, CharModelConfig};
use glassbox_sequence::words::WordTokenizer;
use image::{ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

/// Writes a file with `write` into a scratch directory and returns its bytes.
fn written(write: impl FnOnce(&std::path::Path)) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let path = dir.path().join("seed");
    write(&path);
    std::fs::read(&path).expect("the seed was written")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip in memory");
    encoder.finish().expect("gzip in memory")
}

pub fn idx() -> Vec<Vec<u8>> {
    let pixels: Vec<u8> = (0..2 * 4 * 4).map(|i| (i * 8) as u8).collect();
    let images = encode_idx(IMAGES_MAGIC, &[2, 4, 4], &pixels);
    let labels = encode_idx(LABELS_MAGIC, &[3], &[7, 2, 1]);
    vec![gzip(&images), gzip(&labels), images, labels]
}

/// Two images and their labels, with the split byte the mnist target reads first.
pub fn mnist() -> Vec<Vec<u8>> {
    let pixels: Vec<u8> = (0..2 * 4 * 4).map(|i| (i * 8) as u8).collect();
    let images = encode_idx(IMAGES_MAGIC, &[2, 4, 4], &pixels);
    let labels = encode_idx(LABELS_MAGIC, &[2], &[3, 9]);
    let mut input = Vec::new();
    // The byte that puts the split after the images: split = len * byte / 256.
    let len = images.len() + labels.len();
    input.push((images.len() * 256).div_ceil(len) as u8);
    input.extend(&images);
    input.extend(&labels);
    vec![input]
}

pub fn checkpoint() -> Vec<Vec<u8>> {
    let small = written(|path| {
        let meta = CheckpointMeta {
            model: "fuzz".into(),
            epoch: 2,
            optimizer: Some("adam".into()),
            seed: Some(7),
            extra: BTreeMap::from([("note".to_string(), "a seed".to_string())]),
        };
        let weight = Tensor::arange(0f32, 12., &Device::Cpu)
            .and_then(|t| t.reshape((4, 3)))
            .expect("a tensor");
        let bias = Tensor::ones(4, DType::F32, &Device::Cpu).expect("a tensor");
        let model = vec![
            ("fc.weight".to_string(), weight.clone()),
            ("fc.bias".to_string(), bias),
        ];
        let optimizer = vec![("fc.weight.m".to_string(), weight)];
        checkpoint::save(path, &meta, &model, &optimizer).expect("a checkpoint");
    });
    // A character model as `glassbox text train` saves it, small enough to mutate.
    let chars = written(|path| {
        let config = CharModelConfig {
            hidden: 2,
            layers: 1,
            ..CharModelConfig::every_step(3)
        };
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        CharModel::new(config, vb).expect("a model");
        let meta = CheckpointMeta {
            model: config.name(),
            epoch: 1,
            optimizer: None,
            seed: Some(1),
            extra: BTreeMap::from([
                ("vocabulary".to_string(), "abc".to_string()),
                ("window".to_string(), "4".to_string()),
            ]),
        };
        checkpoint::save(path, &meta, &checkpoint::varmap_tensors(&varmap), &[])
            .expect("a checkpoint");
    });
    vec![small, chars]
}

pub fn manifest() -> Vec<Vec<u8>> {
    vec![
        include_bytes!("../../models/models.toml").to_vec(),
        include_bytes!("../../crates/glassbox-assets/datasets.toml").to_vec(),
    ]
}

const PASSAGE: &str = "\"It is a capital mistake to theorize before one has data.\"\nInsensibly one \
                       begins to twist facts to suit theories,  instead of theories to suit facts.\n\n";

pub fn corpus() -> Vec<Vec<u8>> {
    vec![
        PASSAGE.as_bytes().to_vec(),
        "Ünïcödé — “quotes” and tabs\tand\u{c}form feeds, twice. Ünïcödé — “quotes”."
            .as_bytes()
            .to_vec(),
    ]
}

pub fn tokenizer() -> Vec<Vec<u8>> {
    vec![written(|path| {
        WordTokenizer::train(PASSAGE, 20, path)
            .and_then(|t| t.save(path))
            .expect("a tokenizer");
    })]
}

fn encoded(image: image::DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, format).expect("encode");
    bytes.into_inner()
}

pub fn image() -> Vec<Vec<u8>> {
    let rgb = RgbImage::from_fn(6, 5, |x, y| Rgb([(x * 40) as u8, (y * 50) as u8, 128]));
    let rgba = RgbaImage::from_fn(4, 4, |x, y| Rgba([200, (x * 60) as u8, 0, (y * 80) as u8]));
    let gray16 = image::ImageBuffer::<image::Luma<u16>, _>::from_fn(3, 3, |x, y| {
        image::Luma([(x * 20_000 + y * 1000) as u16])
    });
    vec![
        encoded(rgb.clone().into(), ImageFormat::Png),
        encoded(rgba.into(), ImageFormat::Png),
        encoded(gray16.into(), ImageFormat::Png),
        encoded(rgb.into(), ImageFormat::Jpeg),
    ]
}

pub fn qtable() -> Vec<Vec<u8>> {
    vec![written(|path| {
        let mut table = QTable::new(16, 4);
        table.set(3, 1, 0.5);
        table.set(15, 3, -1.25);
        table
            .save(path, "fuzz", serde_json::json!({"games": 10}))
            .expect("a Q table");
    })]
}

pub fn pfm() -> Vec<Vec<u8>> {
    vec![written(|path| {
        let mut image = glassbox_synthesis::render::film::Image::new(3, 2);
        for (i, p) in image.pixels.iter_mut().enumerate() {
            p.x = i as f32 * 0.25;
            p.y = 1.0;
            p.z = -0.5;
        }
        image.save_pfm(path).expect("a PFM");
    })]
}

pub fn options() -> Vec<Vec<u8>> {
    [
        "0.001 0.9 0.999 1e-8 0 1",
        "cuda:1",
        "block4_conv3=1.0,block5_conv1=0.5",
        "mix:0.25",
        "guided",
        "avx2",
        "1e400 nan -0 inf 18446744073709551616",
        "0.5, 0.05, 0.8",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}
