//! The command line: common flags and the subcommands that work today.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use glassbox_core::data::DataLocator;
use glassbox_core::device::DeviceSpec;
use glassbox_core::seed::{Seed, DEFAULT_SEED};

#[derive(Debug, Parser)]
#[command(
    name = "glassbox",
    version,
    about = "Deep learning you can see into: the course's lessons and figures from real data"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand takes.
#[derive(Debug, Args)]
pub struct Common {
    /// Where figures (PNG) and metrics.json go.
    #[arg(long, global = true, default_value = "out", value_name = "DIR")]
    pub out: PathBuf,
    /// The one seed that drives every random choice.
    #[arg(long, global = true, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// cpu, cuda or cuda:N.
    #[arg(long, global = true, default_value = "cpu", value_parser = parse_device)]
    pub device: DeviceSpec,
    /// Data directory (overrides GLASSBOX_DATA, then data/ in the repository, then the embedded subset).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

impl Common {
    pub fn locator(&self) -> DataLocator {
        DataLocator::new(self.data_dir.clone())
    }

    pub fn seed(&self) -> Seed {
        Seed(self.seed)
    }

    /// Locks the output directory (creating it) for a training command; hold the guard until the command
    /// ends. A second run into the same directory stops at once, saying so, instead of the two
    /// overwriting each other's checkpoint and metrics; an output directory that cannot be written fails
    /// here, before any data is loaded.
    pub fn lock_out(&self) -> anyhow::Result<glassbox_core::train::OutputLock> {
        Ok(glassbox_core::train::OutputLock::acquire(&self.out)?)
    }

    /// Says that training continued from the checkpoint in the output directory, when it did.
    pub fn say_resumed(&self, epochs_before: usize) {
        if epochs_before > 0 {
            println!(
                "resumed after epoch {epochs_before} from {}",
                self.out
                    .join(glassbox_core::train::run::CHECKPOINT_FILE)
                    .display()
            );
        }
    }

    /// MNIST from the data directory (or the embedded subset), cut to the first `train_limit` training
    /// and `test_limit` test digits when given; says where it came from.
    pub fn load_mnist(
        &self,
        train_limit: Option<usize>,
        test_limit: Option<usize>,
    ) -> anyhow::Result<glassbox_core::data::Mnist> {
        let mut data = glassbox_core::data::Mnist::load(&self.locator())?;
        println!(
            "MNIST from {}: {} training and {} test digits",
            data.source, data.train.count, data.test.count
        );
        for (limit, what) in [(train_limit, "--train-limit"), (test_limit, "--test-limit")] {
            if limit == Some(0) {
                anyhow::bail!("invalid {what} 0: expected at least 1 digit");
            }
        }
        if let Some(n) = train_limit {
            data.train = data.train.take(n);
        }
        if let Some(n) = test_limit {
            data.test = data.test.take(n);
        }
        Ok(data)
    }

    /// Ends a lesson command: `metrics.json` (`{"run": {lesson, seed}, "metrics": ...}`) in the output
    /// directory, then a `wrote` line for each file the lesson wrote and for the metrics.
    pub fn finish_lesson(
        &self,
        lesson: &str,
        metrics: serde_json::Value,
        written: &[impl AsRef<std::path::Path>],
    ) -> anyhow::Result<()> {
        let doc = serde_json::json!({
            "run": {"lesson": lesson, "seed": self.seed},
            "metrics": metrics,
        });
        let path = self.out.join("metrics.json");
        glassbox_core::train::write_json(&path, &doc)?;
        for f in written {
            println!("wrote {}", self.out.join(f.as_ref()).display());
        }
        println!("wrote {}", path.display());
        Ok(())
    }
}

fn parse_device(s: &str) -> Result<DeviceSpec, String> {
    s.parse().map_err(|e: glassbox_core::Error| e.to_string())
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every lesson in a quick configuration (or --full) on the data that is here, then
    /// `<out>/index.html`: each lesson's figures and numbers beside the course's.
    Tour(crate::tour::TourArgs),
    /// Builds the tour's page (--out/index.html) from existing tour output directories.
    Report(crate::tour::ReportArgs),
    /// Data and weights: what is found, where, and whether it checks out.
    #[command(subcommand)]
    Data(DataCommand),
    /// Convolution by hand: the yellow detector, 3x3 filters, output sizes, the face detector.
    #[command(subcommand)]
    Conv(ConvCommand),
    /// The MNIST CNN: train (with checkpoints), eval, predict digits from image files.
    #[command(subcommand)]
    Mnist(crate::mnist_cmd::MnistCommand),
    /// Adversarial examples: FGSM and PGD against the trained MNIST CNN.
    #[command(subcommand)]
    Adversary(crate::adversary_cmd::AdversaryCommand),
    /// VGG16: classify photos, a layer's filter responses, HED edges.
    #[command(subcommand)]
    Vgg(crate::vgg_cmd::VggCommand),
    /// Reinforcement learning: Flippers and tic-tac-toe with tabular Q-learning.
    #[command(subcommand)]
    Rl(crate::rl_cmd::RlCommand),
    /// Autoencoders on MNIST: dense, deep with a 2-D code, convolutional, denoising.
    #[command(subcommand)]
    Ae(crate::ae_cmd::AeCommand),
    /// The variational autoencoder on MNIST: test ELBO, samples, the 2-D code plane.
    #[command(subcommand)]
    Vae(crate::vae_cmd::VaeCommand),
    /// GANs on MNIST: the course's setup and a stable DCGAN.
    #[command(subcommand)]
    Gan(crate::gan_cmd::GanCommand),
    /// Judges generated digits from a safetensors file with the trained MNIST CNN (class balance,
    /// confidence, FID), as `--judge-with` does for glassbox's own samples.
    Judge(crate::judge_cmd::JudgeFileArgs),
    /// Character and word LSTMs on the Sherlock Holmes corpus: train, then generate text.
    #[command(subcommand)]
    Text(crate::text_cmd::TextCommand),
    /// Deep dreaming on VGG16: a photo (a preset or any layer mix), or noise, pushed towards what
    /// some layers respond to.
    Dream(crate::dream_cmd::DreamArgs),
    /// Style transfer (Gatys et al.) on VGG16: a photo painted in a painting's manner, and the course's
    /// figures (`style reconstruct`, `style gallery`).
    Style(Box<crate::style_cmd::StyleCommand>),
    /// Path tracing guided by Q-learning (Dahm & Keller) and sky importance sampling: render a scene, or
    /// `render compare` integrators against a reference.
    Render(crate::render_cmd::RenderCommand),
}

#[derive(Debug, Subcommand)]
pub enum ConvCommand {
    /// The 1x1 yellow detector (R + G - B) on a photo, with and without a ReLU.
    Yellow {
        /// A photo in images/photos/ of the data directory, or a path.
        #[arg(long, default_value = "astronaut.png")]
        photo: String,
    },
    /// 3x3 filters (blur, edges, stripe, diagonal) on a 20x20 random binary image and on a photo.
    Filters {
        /// A photo in images/photos/ of the data directory, or a path.
        #[arg(long, default_value = "coffee.png")]
        photo: String,
    },
    /// Output sizes: valid, same, full, strided and transposed convolutions, checked against candle.
    Sizes,
    /// The three-layer face detector on 12x12 masks, with every intermediate map.
    Faces,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Which data and weights are found, where, with counts and checksums.
    Info {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}
