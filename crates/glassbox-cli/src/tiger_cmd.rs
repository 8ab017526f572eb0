//! `glassbox ae tiger`: the tiny autoencoder on the tiger (glassbox-generative's `tiger` module).

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use glassbox_core::seed::SeededInit;
use glassbox_generative::train;
use glassbox_generative::{
    figures, Autoencoder, DenseAutoencoder, DenseConfig, OptimizerChoice, TrainConfig,
};
use serde_json::json;

use crate::cli::Common;

/// `glassbox ae tiger`: memorization, then many photos.
pub fn run(
    common: &Common,
    device: &Device,
    other: Option<&Path>,
    epochs: usize,
    resume: bool,
) -> anyhow::Result<()> {
    use glassbox_generative::tiger::{self, SIDE};
    use glassbox_generative::InMemory;

    let out = &common.out;
    let locator = common.locator();
    let tiger_rel = "images/photos/tiger-bw-100.jpg";
    let Some((_, tiger_path)) = locator.find_file(tiger_rel) else {
        return Err(glassbox_core::Error::NotFound {
            what: "the tiger photo (images/photos/tiger-bw-100.jpg)".into(),
            searched: locator.searched(tiger_rel),
            hint: Some("point --data-dir or GLASSBOX_DATA at a data directory that has it".into()),
        }
        .into());
    };
    let photos_dir = tiger_path
        .parent()
        .expect("a file has a directory")
        .to_path_buf();
    let tiger_image = tiger::load_photo(&tiger_path)?.to_device(device)?;
    let other_path = match other {
        Some(p) => p.to_path_buf(),
        None => photos_dir.join("chelsea.png"),
    };
    let other_image = tiger::load_photo(&other_path)?.to_device(device)?;
    let config = TrainConfig {
        epochs,
        batch_size: 128,
        optimizer: OptimizerChoice::adam(),
        noise: None,
    };
    let train_on =
        |images: &Tensor, copies: usize, dir: &str| -> anyhow::Result<(VarMap, DenseAutoencoder)> {
            let varmap = VarMap::new();
            let vb = SeededInit::var_builder(&varmap, common.seed(), DType::F32, device);
            let model = DenseAutoencoder::new(DenseConfig::tiger(SIDE), vb)?;
            let set = InMemory::repeated(images.clone(), copies)?;
            let test = InMemory::new(images.clone())?;
            let outcome = train::train(
                &model,
                &varmap,
                &set,
                &test,
                &config,
                &out.join(dir),
                common.seed(),
                device,
                resume,
            )?;
            println!(
                "{dir}: mean squared error {:.5} after {epochs} epochs",
                outcome.test_loss
            );
            Ok((varmap, model))
        };

    // 1. The tiger alone, 1,280 times an epoch: ten batches of 128.
    let (_memorized_vars, memorized) = train_on(&tiger_image, 1280, "memorize")?;
    let black = tiger::black(device)?;
    let cases = [
        ("the tiger", tiger_image.clone()),
        ("another photo", other_image),
        ("a black square", black),
    ];
    let mut rows = Vec::new();
    let mut memorization = Vec::new();
    for (name, input) in &cases {
        let output = memorized.reconstruct(input)?.clamp(0f32, 1f32)?;
        let to_tiger = tiger::mse(&output, &tiger_image)?;
        let to_input = tiger::mse(&output, input)?;
        let like_tiger = tiger::correlation(&output, &tiger_image)?;
        println!(
            "fed {name}: output to the tiger MSE {to_tiger:.5}, to its input {to_input:.5}; correlation with the tiger {like_tiger:.3}"
        );
        memorization.push(json!({
            "input": name,
            "output_to_tiger_mse": to_tiger,
            "output_to_input_mse": to_input,
            "output_tiger_correlation": like_tiger,
        }));
        let difference = (&output - input)?.abs()?;
        rows.push((*name, Tensor::cat(&[input.clone(), output, difference], 0)?));
    }
    let captioned: Vec<(&str, Tensor)> = rows.iter().map(|(name, t)| (*name, t.clone())).collect();
    figures::rows(&out.join("memorization.png"), &captioned, 2)?;

    // 2. The tiger and 25 crops of the other photos, each with its three quarter turns.
    let photos = tiger::photos_in(&photos_dir, &tiger_path)?;
    let crops = tiger::crops(&photos, 25, common.seed())?.to_device(device)?;
    let originals = Tensor::cat(&[tiger_image.clone(), crops], 0)?;
    let all = tiger::with_rotations(&originals)?;
    let (_many_vars, many) = train_on(&all, 12, "many")?;
    let outputs = many.reconstruct(&originals)?.clamp(0f32, 1f32)?;
    let mut table = Vec::new();
    for i in 0..originals.dim(0)? {
        let e = tiger::mse(&outputs.get(i)?, &originals.get(i)?)?;
        table.push(json!({"image": if i == 0 { "tiger".to_string() } else { format!("crop {i}") }, "mse": e}));
    }
    let mean_many: f64 =
        table.iter().filter_map(|r| r["mse"].as_f64()).sum::<f64>() / table.len() as f64;
    let memorized_tiger = memorization[0]["output_to_input_mse"]
        .as_f64()
        .unwrap_or(f64::NAN);
    println!(
        "26 photos x 4 turns: mean MSE {mean_many:.5} per photo, against {memorized_tiger:.5} for the tiger memorized alone"
    );
    figures::rows(
        &out.join("many.png"),
        &[
            ("photos (the first 13)", originals.narrow(0, 0, 13)?),
            ("through 20 numbers", outputs.narrow(0, 0, 13)?),
            ("photos (the other 13)", originals.narrow(0, 13, 13)?),
            ("through 20 numbers", outputs.narrow(0, 13, 13)?),
        ],
        1,
    )?;
    let doc = json!({
        "run": {"lesson": "ae tiger", "seed": common.seed, "epochs": epochs, "tiger": tiger_path, "other": other_path},
        "memorization": memorization,
        "many": {"images": 26, "with_turns": 104, "per_image": table, "mean_mse": mean_many},
    });
    glassbox_core::train::write_json(&out.join("metrics.json"), &doc)?;
    for f in [
        "memorize/checkpoint.safetensors",
        "many/checkpoint.safetensors",
        "memorization.png",
        "many.png",
        "metrics.json",
    ] {
        println!("wrote {}", out.join(f).display());
    }
    Ok(())
}
