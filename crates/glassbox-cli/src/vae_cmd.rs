//! `glassbox vae mnist`: the variational autoencoder (glassbox-generative), its ELBO, samples and code plane.

use std::path::Path;

use anyhow::Context;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use clap::Subcommand;
use glassbox_core::data::MnistSplit;
use glassbox_core::seed::SeededInit;
use glassbox_generative::{
    figures, Autoencoder, ImageSet, OptimizerChoice, TrainConfig, Vae, VaeConfig,
};
use serde_json::json;

use crate::ae_cmd::{code_figures, finish, train_and_report, OptimizerArg, Recipe};
use crate::cli::Common;
use crate::judge_cmd::{judge_samples, JudgeArgs};

#[derive(Debug, Subcommand)]
pub enum VaeCommand {
    /// Trains the variational autoencoder (784-512-256-L) on MNIST: test ELBO, one digit decoded from
    /// several samples of its code, digits from random codes, and for L = 2 the code plane.
    Mnist {
        /// The code's size: 2 for the plots, 50 for the best samples.
        #[arg(long, default_value_t = 2)]
        latent: usize,
        #[arg(long, default_value_t = 50)]
        epochs: usize,
        #[arg(long, default_value_t = 128)]
        batch_size: usize,
        /// Adam's learning rate.
        #[arg(long, default_value_t = 1e-3)]
        lr: f64,
        /// Train on the first N training digits only.
        #[arg(long, value_name = "N")]
        train_limit: Option<usize>,
        /// Evaluate on the first N test digits only.
        #[arg(long, value_name = "N")]
        test_limit: Option<usize>,
        /// Start over even if the output directory holds a checkpoint.
        #[arg(long)]
        fresh: bool,
        #[command(flatten)]
        judge: JudgeArgs,
    },
}

pub fn run(common: &Common, cmd: &VaeCommand) -> anyhow::Result<()> {
    let device = common.device.open()?;
    let out = &common.out;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let VaeCommand::Mnist {
        latent,
        epochs,
        batch_size,
        lr,
        train_limit,
        test_limit,
        fresh,
        judge,
    } = cmd;
    if *latent == 0 {
        anyhow::bail!("invalid --latent 0: the code needs at least 1 number");
    }
    let _lock = common.lock_out()?;
    let recipe = Recipe {
        epochs: *epochs,
        batch_size: *batch_size,
        optimizer: OptimizerArg::Adam,
        noise: None,
        course: None,
    };
    let config = TrainConfig {
        epochs: *epochs,
        batch_size: *batch_size,
        optimizer: OptimizerChoice::Adam { lr: *lr },
        noise: None,
    };
    let data = common.load_mnist(*train_limit, *test_limit)?;
    let varmap = VarMap::new();
    let vb = SeededInit::var_builder(&varmap, common.seed(), DType::F32, &device);
    let vae = Vae::new(VaeConfig::mnist(*latent), vb)?;
    let (mut metrics, mut written) = train_and_report(
        common, &device, &vae, &varmap, &config, &recipe, &data, !fresh,
    )?;
    written.extend(vae_figures(out, &vae, &data.test, common, &device)?);
    if *latent == 2 {
        // The prior's N(0, I): the course's grid over [-2, 2]^2.
        written.extend(code_figures(
            out,
            &vae,
            &data.test,
            Some((-2.0, 2.0)),
            &device,
        )?);
    }
    let test_loss = metrics.summary("test_loss");
    println!(
        "test ELBO {:.2} nats per image (the loss is its negative)",
        -test_loss
    );
    metrics.add("test_elbo_nats", json!(-test_loss));
    let draw = |n: usize| -> anyhow::Result<Tensor> {
        use rand::Rng;
        let seed = common.seed().stream("vae judge samples").random();
        Ok(vae.decode(&vae.sample_codes(n, seed, &device)?)?)
    };
    if let Some(verdict) = judge_samples(judge, &data, &device, draw)? {
        metrics.log.set("judge", verdict)?;
    }
    finish(out, &mut metrics, written)
}

/// The VAE's own figures: one test digit decoded from eight samples of its code, and 80 digits decoded
/// from random codes.
fn vae_figures(
    out: &Path,
    vae: &Vae,
    test: &MnistSplit,
    common: &Common,
    device: &Device,
) -> anyhow::Result<Vec<String>> {
    use rand::Rng;
    let mut rng = common.seed().stream("vae figures");
    let digit = test.batch(&[0], device)?;
    let (mean, log_var) = vae.posterior(&digit)?;
    let samples = (0..8)
        .map(|_| vae.reparameterize(&mean, &log_var, rng.random()))
        .collect::<candle_core::Result<Vec<_>>>()?;
    let decoded = vae.decode(&Tensor::cat(&samples, 0)?)?;
    figures::rows(
        &out.join("samples-of-one-code.png"),
        &[
            ("a test digit", digit),
            ("decoded from 8 samples of its code", decoded),
        ],
        3,
    )?;
    let random = vae.decode(&vae.sample_codes(80, rng.random(), device)?)?;
    glassbox_core::imaging::save_rgb_png(
        out.join("random-digits.png"),
        &glassbox_core::imaging::grid(
            &figures::to_images(&random, 2)?,
            10,
            2,
            image::Rgb([255, 255, 255]),
        ),
    )?;
    Ok(vec![
        "samples-of-one-code.png".into(),
        "random-digits.png".into(),
    ])
}
