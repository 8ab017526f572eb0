//! `glassbox tour`: every lesson in a quick configuration (or `--full`, the lessons' defaults) into
//! `<out>/<lesson>/<step>/`, then the page (`<out>/index.html`) that `glassbox report` builds from those
//! directories. The page reads only what the lessons wrote (figures, metrics.json) and the record the
//! tour keeps beside them (`tour-lesson.json`: each step's command, status, seconds, error or reason
//! for skipping), so a report over full runs looks the same as the tour's.

mod capture;
mod html;
pub mod lessons;
mod needs;
mod progress;
mod record;
mod report;
mod run;

use std::path::PathBuf;

use clap::Args;

use crate::cli::Common;

#[derive(Debug, Args)]
pub struct TourArgs {
    /// Only these lessons (comma-separated): conv, mnist, vgg, adversary, autoencoders, vae, denoising,
    /// gan, rl, render, text, dream, style. A lesson that uses the MNIST CNN brings mnist with it.
    #[arg(long, value_delimiter = ',', value_name = "LESSON,...")]
    pub only: Vec<String>,
    /// Run each lesson's full settings (the course's: hours on a CPU) instead of the quick ones.
    #[arg(long)]
    pub full: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Output directories of `glassbox tour` (or laid out the same way: `<DIR>/<lesson>/<step>/`); for a
    /// lesson in several, the last one given wins. The page is written to --out/index.html.
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
}

/// `glassbox tour`.
pub fn tour(common: &Common, args: &TourArgs) -> anyhow::Result<()> {
    let selected = run::select(&args.only)?;
    let summary = run::run(common, &selected, args.full)?;
    let page = report::write(std::slice::from_ref(&common.out), &common.out)?;
    println!(
        "{} lessons: {} ran, {} skipped, {} failed in {:.0} s; wrote {}",
        summary.lessons,
        summary.ok,
        summary.skipped,
        summary.failed.len(),
        summary.seconds,
        page.display()
    );
    if !summary.failed.is_empty() {
        anyhow::bail!(
            "{} failed (see their sections in {} and their log.txt)",
            summary.failed.join(", "),
            page.display()
        );
    }
    Ok(())
}

/// `glassbox report`.
pub fn report(common: &Common, args: &ReportArgs) -> anyhow::Result<()> {
    let page = report::write(&args.dirs, &common.out)?;
    println!("wrote {}", page.display());
    Ok(())
}
