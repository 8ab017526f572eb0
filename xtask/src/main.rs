//! `cargo xtask`: the project's chores, in Rust so they run wherever cargo does.
//!
//! - `fetch-data`: the datasets of `crates/glassbox-assets/datasets.toml`, verified, into `data/`.
//! - `fetch-weights`: the models of `models/models.toml` into the Hugging Face cache, verified.
//! - `build`: the product, for the CPU or CUDA.
//! - `ci`: what `.ci/run` runs: format check, release build, the tests.
//! - `bench kernels`: the fast CPU kernels against PyTorch, side by side.
//! - `bench style`: one L-BFGS step of style transfer against PyTorch, side by side.
//! - `bench render`: the path tracer on the Cornell box against Mitsuba 3, side by side.
//! - `gpu-check`: the checks that need an NVIDIA GPU (CUDA ops, VGG16 parity, MNIST, speed against
//!   PyTorch), built here or carried to a GPU machine as a bundle.
//! - `fuzz`: coverage-guided libFuzzer campaigns on every parser of outside input (cargo-fuzz, nightly).

mod bench;
mod build;
mod ci;
mod cuda_toolkit;
mod download;
mod fetch_data;
mod fetch_weights;
mod fuzz;
mod gpu_check;
mod hub_head;
mod process;
#[cfg(test)]
mod test_server;
mod weights_check;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "glassbox's project chores",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Download the datasets (checked by size and md5) into data/; files already there and valid are kept.
    ///
    /// Offline? Copy the files in by hand, or point GLASSBOX_DATA at a directory holding them.
    FetchData {
        /// Destination directory [default: data/ at the repository root].
        #[arg(long, value_name = "DIR")]
        dest: Option<PathBuf>,
        /// A dataset of datasets.toml (mnist, holmes), or all.
        #[arg(long, default_value = "all")]
        dataset: String,
        /// Download only from this base URL instead of the manifest's mirrors.
        #[arg(long, value_name = "URL")]
        mirror: Option<String>,
    },
    /// Download a hub model into the Hugging Face cache and verify it (size, sha256, parameter count),
    /// or find and verify a local one.
    ///
    /// Honours HF_HOME, HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE=1 (cache only); local models are
    /// looked for in $GLASSBOX_WEIGHTS and ../shared/weights.
    FetchWeights {
        /// A model of models/models.toml (vgg16, vgg16-features-hed).
        #[arg(long, default_value = "vgg16")]
        model: String,
        /// Only check this file against the manifest's entry for --model (no network, nothing deleted).
        #[arg(long, value_name = "PATH")]
        verify: Option<PathBuf>,
    },
    /// Build the workspace (cargo build), for the CPU or with CUDA kernels.
    Build {
        #[command(flatten)]
        backend: Backend,
        /// Release profile (`--release false` for a debug build).
        #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1,
              default_missing_value = "true", value_name = "BOOL")]
        release: bool,
    },
    /// Run CI: cargo fmt --check, cargo build --release, cargo test --workspace --profile ci.
    Ci {
        /// Also build with CUDA (provisioning the toolkit from PyPI when nvcc is absent; no GPU needed).
        #[arg(long)]
        cuda: bool,
    },
    /// The checks that need an NVIDIA GPU, in one run: the GPU and driver, every glassbox-tensor op on the
    /// GPU against the CPU kernels, VGG16 against PyTorch on the GPU, one MNIST epoch on the GPU against the
    /// CPU (test accuracy within 0.3 points), and the MNIST training step and VGG16's input gradient
    /// against PyTorch on the same GPU. Builds with CUDA first (docs/cuda.md).
    ///
    /// A GPU machine without Rust or internet: `--bundle DIR` here builds and packs DIR.tar.xz; there,
    /// `DIR/bin/xtask gpu-check --from DIR` runs the checks.
    GpuCheck {
        /// Show each step and its commands; run nothing.
        #[arg(long)]
        dry_run: bool,
        /// Build here and pack the executables, xtask, fixtures, photos and MNIST into DIR and DIR.tar.xz.
        #[arg(long, value_name = "DIR", conflicts_with = "from")]
        bundle: Option<PathBuf>,
        /// Run with the executables of a bundle (on the GPU machine).
        #[arg(long, value_name = "DIR")]
        from: Option<PathBuf>,
        /// Where report.md, report.json and the runs' outputs go [default: target/gpu-check].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// A Python with PyTorch (CUDA) [default: $GLASSBOX_BENCH_PYTHON, .venv-bench, python3].
        #[arg(long, value_name = "PATH")]
        python: Option<PathBuf>,
        /// CUDA_COMPUTE_CAP for the kernels when no GPU is here to ask (90: H100, H200) [default for
        /// --bundle: 90].
        #[arg(long, value_name = "CAP")]
        compute_cap: Option<String>,
        /// The GPU to check.
        #[arg(long, default_value = "cuda")]
        device: String,
        /// Alternating rounds of the speed comparison.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Benchmarks outside the test suite.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
    /// Coverage-guided fuzzing of every parser of outside input (the targets of fuzz/) with cargo-fuzz and
    /// libFuzzer under AddressSanitizer, one target after the other; prints a table of executions,
    /// coverage and crashes. Needs the nightly toolchain and `cargo install cargo-fuzz`. CI runs the
    /// same targets briefly without them (`cargo test -p glassbox-fuzz`).
    Fuzz {
        /// Targets (idx, mnist, checkpoint, manifest, corpus, tokenizer, image, qtable, pfm, options); default:
        /// all.
        targets: Vec<String>,
        /// Seconds of fuzzing per target (the build comes on top, once).
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
        seconds: u64,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// The fast CPU kernels against PyTorch (eager and torch.compile) on this machine, alternating, same
    /// thread count: MNIST CNN training and inference, the convolutional autoencoder's training step, the
    /// LSTM training step (one-hot input, and ids),
    /// VGG16 convolutions forward (+ input gradient), conv2d 64->64 on 56x56, sgemm 2048^3. Run it on an
    /// otherwise idle machine.
    Kernels {
        #[command(flatten)]
        args: BenchArgs,
        /// Also run candle's own ops (the starting point) as another side.
        #[arg(long)]
        candle: bool,
    },
    /// One L-BFGS step of style transfer on the shared VGG16 at 256x256 and 512x512 against PyTorch (eager
    /// and torch.compile) doing the same work. Needs GLASSBOX_WEIGHTS (the directory with
    /// vgg16_features_hed.safetensors). Run it on an otherwise idle machine.
    Style {
        #[command(flatten)]
        args: BenchArgs,
    },
    /// The path tracer against Mitsuba 3 (scalar_rgb) on Mitsuba's Cornell box: next-event estimation, max
    /// depth 8, 256x256, box filter, the same thread count, alternating; samples per second of render time.
    /// glassbox renders once per process (`glassbox render`), Mitsuba --reps times per process after an
    /// untimed warm-up render. Needs mitsuba and numpy in .venv-bench (--setup installs them). Run it on an
    /// otherwise idle machine.
    Render {
        #[command(flatten)]
        rounds: RoundArgs,
        /// Samples per pixel of each render.
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
        spp: u32,
    },
}

/// What every benchmark suite takes.
#[derive(Args)]
struct RoundArgs {
    /// Rounds; each runs every case once per side, the order of the sides swapped every round.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Timed repetitions per side, case and round.
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Threads for both sides (RAYON_NUM_THREADS, torch.set_num_threads, Mitsuba's thread count).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// A Python with the peer (torch; mitsuba and numpy for `bench render`) [default:
    /// $GLASSBOX_BENCH_PYTHON, else .venv-bench/bin/python].
    #[arg(long, value_name = "PATH")]
    python: Option<PathBuf>,
    /// Create .venv-bench and pip-install the peer into it when it is missing (torch: about 5 GB).
    #[arg(long)]
    setup: bool,
}

/// What the suites against PyTorch take.
#[derive(Args)]
struct BenchArgs {
    /// Only these cases (repeatable); default: all.
    #[arg(long = "case", value_name = "CASE")]
    cases: Vec<String>,
    #[command(flatten)]
    rounds: RoundArgs,
    /// Untimed repetitions first.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Leave out PyTorch with torch.compile (it compiles for about a minute per case and round).
    #[arg(long)]
    no_compile: bool,
}

impl BenchArgs {
    fn options(self, suite: &bench::Suite, candle: bool) -> bench::Options {
        let cases = if self.cases.is_empty() {
            suite.cases.iter().map(|c| c.to_string()).collect()
        } else {
            self.cases
        };
        let r = self.rounds;
        bench::Options {
            cases,
            rounds: r.rounds.max(1),
            reps: r.reps.max(1),
            warmup: self.warmup,
            threads: r.threads.max(1),
            python: r.python,
            setup: r.setup,
            candle,
            no_compile: self.no_compile,
        }
    }
}

impl RoundArgs {
    fn render_options(self, spp: u32) -> bench::render::Options {
        bench::render::Options {
            spp,
            rounds: self.rounds.max(1),
            reps: self.reps.max(1),
            threads: self.threads.max(1),
            python: self.python,
            setup: self.setup,
        }
    }
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct Backend {
    /// Build with CUDA (needs nvcc).
    #[arg(long)]
    cuda: bool,
    /// Build for the CPU only.
    #[arg(long)]
    cpu: bool,
}

/// The workspace root: xtask lives one level below it.
pub fn repo_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or(manifest_dir)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = repo_root();
    let result = match cli.command {
        Command::FetchData {
            dest,
            dataset,
            mirror,
        } => {
            let dest = dest.unwrap_or_else(|| root.join("data"));
            fetch_data::run(&dest, &dataset, mirror.as_deref())
        }
        Command::FetchWeights { model, verify } => {
            fetch_weights::run(&model, verify.as_deref(), &root)
        }
        Command::Build { backend, release } => build::run(backend.cuda, release, &root),
        Command::Ci { cuda } => ci::run(&root, cuda),
        Command::GpuCheck {
            dry_run,
            bundle,
            from,
            out,
            python,
            compute_cap,
            device,
            rounds,
        } => gpu_check::run(
            &root,
            &gpu_check::Options {
                dry_run,
                bundle,
                from,
                out: out.unwrap_or_else(|| root.join("target/gpu-check")),
                python,
                compute_cap,
                device,
                rounds,
            },
        ),
        Command::Bench {
            what: BenchCommand::Kernels { args, candle },
        } => bench::run(
            &root,
            &bench::KERNELS,
            &args.options(&bench::KERNELS, candle),
        ),
        Command::Bench {
            what: BenchCommand::Style { args },
        } => bench::run(&root, &bench::STYLE, &args.options(&bench::STYLE, false)),
        Command::Bench {
            what: BenchCommand::Render { rounds, spp },
        } => bench::render::run(&root, &rounds.render_options(spp)),
        Command::Fuzz { targets, seconds } => fuzz::run(&root, fuzz::Options { targets, seconds }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, like `{:#}` but without repeating a cause that an outer message
/// already quotes (glassbox_assets::Error shows its io::Error *and* returns it as the source), and never with
/// a backtrace, even when RUST_BACKTRACE is set.
fn chain(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&cause);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["xtask", "build", "--cpu"]).unwrap();
        assert!(matches!(cli.command, Command::Build { release: true, .. }));
        let cli = Cli::try_parse_from(["xtask", "build", "--cuda", "--release", "false"]).unwrap();
        assert!(matches!(cli.command, Command::Build { release: false, .. }));
        assert!(Cli::try_parse_from(["xtask", "build"]).is_err());
        assert!(Cli::try_parse_from(["xtask", "build", "--cpu", "--cuda"]).is_err());
        let cli = Cli::try_parse_from(["xtask", "bench", "render", "--spp", "4", "--rounds", "1"]);
        let Ok(Cli {
            command:
                Command::Bench {
                    what: BenchCommand::Render { rounds, spp },
                },
        }) = cli
        else {
            panic!("`bench render` did not parse");
        };
        let opts = rounds.render_options(spp);
        assert_eq!(
            (opts.spp, opts.rounds, opts.reps, opts.threads),
            (4, 1, 5, 2)
        );
        assert!(Cli::try_parse_from(["xtask", "bench", "render", "--spp", "0"]).is_err());
        assert!(Cli::try_parse_from(["xtask", "bench", "render", "--case", "x"]).is_err());
    }

    #[test]
    fn error_chains_do_not_repeat_themselves() {
        let io = std::io::Error::other("disk on fire");
        let err = anyhow::Error::new(glassbox_assets::Error::io("/x", io)).context("checking /x");
        assert_eq!(chain(&err), "checking /x: /x: disk on fire");
    }
}
