//! `glassbox adversary ...`: adversarial examples (glassbox-convnet's `adversary`) against the MNIST CNN,
//! VGG16's classification and the HED edge map.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Subcommand, ValueEnum};
use glassbox_convnet::adversary::{attack, correct, Attack, AttackLoss};
use glassbox_convnet::mnist;
use glassbox_core::data::Mnist;
use glassbox_core::imaging::{grid, save_rgb_png, side_by_side};
use glassbox_core::train::{write_json, Progress};
use image::{Rgb, RgbImage};
use serde_json::json;

use crate::cli::Common;

/// Images per attacked batch.
const BATCH: usize = 500;
/// FGSM's budgets in the table (the 0.25 among them).
const FGSM_EPS: [f64; 6] = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3];

/// What PGD climbs against the MNIST CNN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PgdLoss {
    /// Best wrong logit minus the right one (Carlini & Wagner's); its gradient does not vanish on
    /// confident digits.
    Margin,
    /// The mean cross-entropy (what FGSM uses).
    CrossEntropy,
}

impl PgdLoss {
    fn attack_loss(self) -> AttackLoss {
        match self {
            PgdLoss::Margin => AttackLoss::Margin,
            PgdLoss::CrossEntropy => AttackLoss::CrossEntropy,
        }
    }

    fn name(self) -> &'static str {
        match self {
            PgdLoss::Margin => "margin",
            PgdLoss::CrossEntropy => "cross-entropy",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum AdversaryCommand {
    /// FGSM and PGD against the trained MNIST CNN over the test digits, and a figure of examples.
    Mnist {
        /// PGD's budgets (pixels in 0..1), comma-separated; FGSM runs at 0.05 ... 0.3.
        #[arg(long, value_delimiter = ',', default_value = "0.1,0.15,0.2")]
        eps: Vec<f64>,
        /// PGD's steps.
        #[arg(long, default_value_t = 20)]
        steps: usize,
        /// What PGD climbs (FGSM always uses the cross-entropy).
        #[arg(long, value_enum, default_value = "margin")]
        loss: PgdLoss,
        /// Attack only the first N test digits.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Default: checkpoint.safetensors in the output directory (from `glassbox mnist train`).
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
    },
    /// PGD against VGG16's top class of each photo (needs the full VGG16: `cargo xtask fetch-weights`).
    Vgg {
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<PathBuf>,
        /// The budget, pixels in 0..1 (0.004 is one grey level of 255).
        #[arg(long, default_value_t = 0.004)]
        eps: f64,
        #[arg(long, default_value_t = 10)]
        steps: usize,
        #[arg(long, value_name = "FILE")]
        weights: Option<PathBuf>,
    },
    /// PGD against HED: erase the edges inside one box of a photo, keeping the others.
    Edges {
        #[arg(value_name = "IMAGE")]
        image: PathBuf,
        /// x,y,width,height in pixels (default: the middle half of the photo each way).
        #[arg(long, value_parser = crate::adversary_photo_cmd::parse_region)]
        region: Option<glassbox_convnet::adversary::edges::Region>,
        /// How much more keeping HED's edges outside the box counts than erasing those inside (0: erase
        /// at any cost to the rest).
        #[arg(long, value_name = "WEIGHT", default_value_t = glassbox_convnet::adversary::edges::DEFAULT_KEEP_OUTSIDE)]
        keep_outside: f64,
        /// The budget, pixels in 0..1.
        #[arg(long, default_value_t = 0.03)]
        eps: f64,
        #[arg(long, default_value_t = 20)]
        steps: usize,
        /// A safetensors file with HED's tensors (default: the shared vgg16_features_hed.safetensors).
        #[arg(long, value_name = "FILE")]
        weights: Option<PathBuf>,
    },
}

fn check_budget(eps: f64, steps: usize) -> anyhow::Result<()> {
    if !(eps > 0.0 && eps <= 1.0) {
        bail!("invalid --eps {eps}: expected a budget in (0, 1] (pixels are in 0..1)");
    }
    if steps == 0 {
        bail!("invalid --steps 0: at least 1");
    }
    Ok(())
}

pub fn run(common: &Common, cmd: &AdversaryCommand) -> anyhow::Result<()> {
    let out = &common.out;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    match cmd {
        AdversaryCommand::Mnist {
            eps,
            steps,
            loss,
            limit,
            checkpoint,
        } => mnist_attacks(common, eps, *steps, *loss, *limit, checkpoint.as_ref()),
        AdversaryCommand::Vgg {
            images,
            eps,
            steps,
            weights,
        } => {
            check_budget(*eps, *steps)?;
            let metrics = crate::adversary_photo_cmd::vgg_attack(
                common,
                images,
                weights.as_ref(),
                &Attack::pgd(*eps, *steps),
            )?;
            common.finish_lesson("adversary vgg", metrics, &[] as &[&str])
        }
        AdversaryCommand::Edges {
            image,
            region,
            keep_outside,
            eps,
            steps,
            weights,
        } => {
            check_budget(*eps, *steps)?;
            // Checked again with the region once the photo is read; this one comes before the weights.
            glassbox_convnet::adversary::edges::check_keep_outside(*keep_outside)?;
            let metrics = crate::adversary_photo_cmd::edges_attack(
                common,
                image,
                weights.as_ref(),
                *region,
                *keep_outside,
                &Attack::pgd(*eps, *steps),
            )?;
            common.finish_lesson("adversary edges", metrics, &[] as &[&str])
        }
    }
}

fn mnist_attacks(
    common: &Common,
    eps: &[f64],
    steps: usize,
    loss: PgdLoss,
    limit: Option<usize>,
    checkpoint: Option<&PathBuf>,
) -> anyhow::Result<()> {
    if eps.is_empty() {
        bail!("invalid --eps: give at least one budget");
    }
    for e in eps {
        check_budget(*e, steps)?;
    }
    if limit == Some(0) {
        bail!("invalid --limit 0: at least 1");
    }
    let device = common.device.open()?;
    let out = &common.out;
    let path = checkpoint
        .cloned()
        .unwrap_or_else(|| out.join(mnist::CHECKPOINT_FILE));
    let model = mnist::load_trained(&path, &device)?;
    let data = Mnist::load(&common.locator())?;
    let test = match limit {
        Some(n) => data.test.take(n),
        None => data.test.clone(),
    };
    println!(
        "attacking {} test digits from {} with the CNN of {}",
        test.count,
        data.source,
        path.display()
    );
    let classify = |x: &candle_core::Tensor| model.forward_t(x, false);
    let mut attacks: Vec<(String, Attack)> = FGSM_EPS
        .iter()
        .map(|&e| (format!("FGSM eps {e}"), Attack::fgsm(e)))
        .collect();
    // The figure shows the first PGD budget's examples.
    let shown_attack = attacks.len();
    for &e in eps {
        let pgd = Attack {
            loss: loss.attack_loss(),
            ..Attack::pgd(e, steps)
        };
        attacks.push((
            format!("PGD eps {e}, {steps} steps, {} loss", loss.name()),
            pgd,
        ));
    }
    let indices: Vec<usize> = (0..test.count).collect();
    let mut clean = 0;
    let mut right = vec![0usize; attacks.len()];
    let mut shown: Option<(
        candle_core::Tensor,
        candle_core::Tensor,
        candle_core::Tensor,
    )> = None;
    let mut progress = Progress::new("attacks", indices.len().div_ceil(BATCH) as u64, "images")
        .value_name("accuracy under the first PGD so far");
    let mut done = 0;
    for (b, chunk) in indices.chunks(BATCH).enumerate() {
        let x = test.images_tensor(chunk, &device)?;
        let y = test.labels_tensor(chunk, &device)?;
        clean += correct(&classify(&x)?, &y)?;
        for (k, (_, a)) in attacks.iter().enumerate() {
            let adv = attack(classify, &x, &y, a, common.seed())?;
            right[k] += correct(&classify(&adv)?, &y)?;
            if b == 0 && k == shown_attack {
                shown = Some((
                    x.narrow(0, 0, 8.min(chunk.len()))?,
                    adv.narrow(0, 0, 8.min(chunk.len()))?,
                    y.narrow(0, 0, 8.min(chunk.len()))?,
                ));
            }
        }
        done += chunk.len();
        progress.batch(chunk.len(), right[shown_attack] as f64 / done as f64, None);
    }
    progress.finish("done");
    let n = test.count as f64;
    println!("clean accuracy {:.2}%", 100.0 * clean as f64 / n);
    let mut rows = Vec::new();
    for ((name, a), r) in attacks.iter().zip(&right) {
        println!("{name}: accuracy {:.2}%", 100.0 * *r as f64 / n);
        rows.push(json!({"attack": name, "settings": a, "accuracy": *r as f64 / n}));
    }
    if let Some((x, adv, y)) = shown {
        save_rgb_png(
            out.join("adversary.png"),
            &examples_figure(&model, &x, &adv, &y, eps[0])?,
        )?;
        println!("wrote {}", out.join("adversary.png").display());
    }
    let metrics = out.join("metrics-adversary.json");
    write_json(
        &metrics,
        &json!({"run": {"lesson": "adversary mnist", "checkpoint": path, "seed": common.seed, "digits": test.count,
                        "pgd_loss": loss.name()},
                "metrics": {"clean_accuracy": clean as f64 / n, "attacks": rows}}),
    )?;
    println!("wrote {}", metrics.display());
    Ok(())
}

fn to_image(t: &candle_core::Tensor) -> anyhow::Result<RgbImage> {
    let v: Vec<f32> = t.flatten_all()?.to_vec1()?;
    let bytes: Vec<u8> = v
        .iter()
        .map(|p| (p.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect();
    Ok(mnist::figures::digit_rgb(&bytes, 28, 3))
}

/// Rows of original (prediction) / perturbation amplified to the full gray range / adversarial (prediction).
fn examples_figure(
    model: &mnist::MnistCnn,
    x: &candle_core::Tensor,
    adv: &candle_core::Tensor,
    y: &candle_core::Tensor,
    eps: f64,
) -> anyhow::Result<RgbImage> {
    let pred = |t: &candle_core::Tensor| -> anyhow::Result<Vec<u32>> {
        Ok(model.forward_t(t, false)?.argmax(1)?.to_vec1()?)
    };
    let (p0, p1, labels) = (pred(x)?, pred(adv)?, y.to_vec1::<u32>()?);
    let delta = (((adv - x)? / (2.0 * eps))? + 0.5)?;
    let mut rows = Vec::new();
    for i in 0..labels.len() {
        let images = vec![
            to_image(&x.get(i)?)?,
            to_image(&delta.get(i)?)?,
            to_image(&adv.get(i)?)?,
        ];
        let captions = [
            format!("digit {} -> {}", labels[i], p0[i]),
            format!("perturbation (+-{eps})"),
            format!("adversarial -> {}", p1[i]),
        ];
        let captions: Vec<&str> = captions.iter().map(String::as_str).collect();
        rows.push(side_by_side(&images, &captions)?);
    }
    let half = rows.len().div_ceil(2);
    let columns: Vec<RgbImage> = rows
        .chunks(half)
        .map(|c| grid(c, 1, 0, Rgb([255, 255, 255])))
        .collect();
    Ok(grid(&columns, 2, 8, Rgb([255, 255, 255])))
}
