//! `glassbox`: the course's lessons and figures from real data.

mod adversary_cmd;
mod adversary_photo_cmd;
mod ae_cmd;
mod cli;
mod conv_cmd;
mod data_cmd;
mod dream_cmd;
mod gan_cmd;
mod judge_cmd;
mod mnist_cmd;
mod render_cmd;
mod rl_cmd;
mod style_cmd;
mod style_figures;
mod text_cmd;
mod text_inspect;
mod text_words;
mod tiger_cmd;
mod tour;
mod vae_cmd;
mod vgg_cmd;
mod visualize_cmd;

use clap::Parser;

fn main() {
    // Rust ignores SIGPIPE, so printing into a closed pipe panics; restore the default (quiet exit).
    #[cfg(unix)]
    // SAFETY: called first, before any thread exists; SIG_DFL is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    glassbox_tensor::kernels::process::tune_process();
    let args = cli::Cli::parse();
    if let Err(err) = run(args) {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}

fn run(args: cli::Cli) -> anyhow::Result<()> {
    match &args.command {
        cli::Command::Data(cmd) => data_cmd::run(&args.common, cmd),
        cli::Command::Conv(cmd) => conv_cmd::run(&args.common, cmd),
        cli::Command::Mnist(cmd) => mnist_cmd::run(&args.common, cmd),
        cli::Command::Adversary(cmd) => adversary_cmd::run(&args.common, cmd),
        cli::Command::Vgg(cmd) => vgg_cmd::run(&args.common, cmd),
        cli::Command::Rl(cmd) => rl_cmd::run(&args.common, cmd),
        cli::Command::Ae(cmd) => ae_cmd::run(&args.common, cmd),
        cli::Command::Vae(cmd) => vae_cmd::run(&args.common, cmd),
        cli::Command::Gan(cmd) => gan_cmd::run(&args.common, cmd),
        cli::Command::Judge(args_) => judge_cmd::run(&args.common, args_),
        cli::Command::Text(cmd) => text_cmd::run(&args.common, cmd),
        cli::Command::Dream(a) => dream_cmd::run(&args.common, a),
        cli::Command::Style(cmd) => style_cmd::run(&args.common, cmd),
        cli::Command::Render(cmd) => render_cmd::run(&args.common, cmd),
        cli::Command::Tour(a) => tour::tour(&args.common, a),
        cli::Command::Report(a) => tour::report(&args.common, a),
    }
}
