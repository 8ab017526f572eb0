//! `glassbox render`: the path tracer on one scene with one integrator, and `glassbox render compare`, the
//! lesson's figure and table: integrators side by side at equal samples, close-ups, relMSE and efficiency
//! against a high-sample reference (rendered by the same tracer, seeded, cached in the out dir).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use glassbox_core::imaging::{save_rgb_png, side_by_side, upscale};
use glassbox_core::train::metrics::write_json;
use glassbox_synthesis::render::film::Image;
use glassbox_synthesis::render::guiding::QTableConfig;
use glassbox_synthesis::render::integrator::Kind;
use glassbox_synthesis::render::scene::Scene;
use glassbox_synthesis::render::{render, scenes, RenderSettings, Rendered};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::cli::Common;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RenderCommand {
    #[command(subcommand)]
    pub compare: Option<RenderSub>,
    #[command(flatten)]
    pub one: RenderArgs,
}

#[derive(Debug, Subcommand)]
pub enum RenderSub {
    /// Integrators side by side at equal samples per pixel, with close-ups, relMSE and efficiency against a
    /// high-sample reference.
    Compare(CompareArgs),
}

/// Settings every render takes.
#[derive(Debug, Args, Clone)]
pub struct SceneArgs {
    /// cornell (Mitsuba's Cornell box), door (light through a door) or sky (boxes under sun and sky).
    #[arg(long, default_value = "cornell")]
    pub scene: String,
    /// Image size as WxH (default: the scene's, 256x256).
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    pub size: Option<(u32, u32)>,
    /// Worker threads (default: every core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Multiplies radiance before the sRGB curve in the PNGs.
    #[arg(long, default_value_t = 1.0)]
    pub exposure: f32,
    /// Start Russian roulette at this depth instead of the scene's (cornell and sky: 5, Mitsuba's; door:
    /// never, i.e. its max depth 12).
    #[arg(long, value_name = "DEPTH")]
    pub rr_depth: Option<u32>,
    /// guided and learned: Q-table voxels along the scene's longest side.
    #[arg(long, default_value_t = QTableConfig::default().resolution)]
    pub q_resolution: u32,
    /// guided, learned and sky-is: the share of directions drawn from the guide rather than the BSDF (0..1).
    #[arg(long, default_value_t = QTableConfig::default().guide_probability)]
    pub guide_probability: f32,
}

impl SceneArgs {
    /// What clap cannot see: `--exposure nan` parses as a float.
    fn check(&self) -> anyhow::Result<()> {
        if !(self.exposure > 0.0 && self.exposure.is_finite()) {
            return Err(glassbox_core::Error::invalid(
                "--exposure",
                self.exposure,
                "a finite number > 0",
            )
            .into());
        }
        Ok(())
    }

    fn guiding(&self) -> QTableConfig {
        QTableConfig {
            resolution: self.q_resolution,
            guide_probability: self.guide_probability,
            recursive: true,
        }
    }
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub scene: SceneArgs,
    /// plain, nee (Mitsuba's path integrator), guided (Q-learning), sky-is or learned.
    #[arg(long, default_value = "nee")]
    pub integrator: String,
    /// Samples (paths) per pixel.
    #[arg(long, default_value_t = 64)]
    pub spp: u32,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub scene: SceneArgs,
    /// The integrators to compare, e.g. plain,guided.
    #[arg(long, value_delimiter = ',', default_value = "plain,guided")]
    pub integrators: Vec<String>,
    /// Samples per pixel of each compared render.
    #[arg(long, default_value_t = 64)]
    pub spp: u32,
    /// Seeds to average relMSE and time over.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    pub seeds: Vec<u64>,
    /// The reference: an integrator and its samples per pixel (rendered once with seed 1000 and cached).
    #[arg(long, default_value = "nee")]
    pub reference_integrator: String,
    #[arg(long, default_value_t = 4096)]
    pub reference_spp: u32,
    /// Use this linear PFM as the reference instead (e.g. Mitsuba's render of the same scene).
    #[arg(long, value_name = "FILE.pfm", conflicts_with_all = ["reference_integrator", "reference_spp"])]
    pub reference_pfm: Option<PathBuf>,
    /// The close-up: x,y,w,h in pixels (default: the scene's detail).
    #[arg(long, value_name = "X,Y,W,H", value_delimiter = ',', num_args = 4)]
    pub crop: Vec<u32>,
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("expected WxH with sides 8..=4096, e.g. 256x256; got {s:?}");
    let (w, h) = s.split_once('x').ok_or_else(bad)?;
    let (w, h): (u32, u32) = (w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?);
    if !(8..=4096).contains(&w) || !(8..=4096).contains(&h) {
        return Err(bad());
    }
    Ok((w, h))
}

pub fn run(common: &Common, cmd: &RenderCommand) -> anyhow::Result<()> {
    match &cmd.compare {
        Some(RenderSub::Compare(a)) => a.scene.check()?,
        None => cmd.one.scene.check()?,
    }
    match &cmd.compare {
        Some(RenderSub::Compare(a)) => with_threads(a.scene.threads, || compare(common, a)),
        None => with_threads(cmd.one.scene.threads, || render_one(common, &cmd.one)),
    }
}

fn with_threads<T>(
    threads: Option<usize>,
    f: impl FnOnce() -> anyhow::Result<T> + Send,
) -> anyhow::Result<T>
where
    T: Send,
{
    match threads {
        Some(0) => anyhow::bail!("invalid --threads 0: expected at least 1"),
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .context("starting the thread pool")?
            .install(f),
        None => f(),
    }
}

fn load_scene(a: &SceneArgs) -> anyhow::Result<Scene> {
    let mut scene = scenes::by_name(&a.scene)?;
    if let Some((w, h)) = a.size {
        scene.resize(w, h);
    }
    if let Some(depth) = a.rr_depth {
        if depth == 0 {
            anyhow::bail!("invalid --rr-depth 0: expected 1 or more (the depth at which Russian roulette starts)");
        }
        scene.rr_depth = depth;
    }
    Ok(scene)
}

fn check_spp(spp: u32, option: &str) -> anyhow::Result<()> {
    if !(1..=1 << 20).contains(&spp) {
        anyhow::bail!("invalid {option} {spp}: expected 1..=1048576 samples per pixel");
    }
    Ok(())
}

/// Renders with a progress bar on a terminal (plain lines otherwise).
fn render_with_progress(
    scene: &Scene,
    kind: Kind,
    guiding: QTableConfig,
    spp: u32,
    seed: u64,
    label: &str,
) -> anyhow::Result<Rendered> {
    let mut integrator = kind.build_with(scene, guiding)?;
    let total = scene.camera.width as u64 * scene.camera.height as u64 * spp as u64;
    let bar = if std::io::stdout().is_terminal() {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stdout());
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {percent}% {per_sec} ETA {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        bar
    } else {
        ProgressBar::hidden()
    };
    let progress = |done: u64| bar.set_position(done);
    let out = render(
        scene,
        integrator.as_mut(),
        RenderSettings { spp, seed },
        &progress,
    );
    bar.finish_and_clear();
    if out.record.invalid > 0 {
        eprintln!(
            "warning: {} of {} samples were NaN or infinite and were dropped",
            out.record.invalid, out.record.paths
        );
    }
    Ok(out)
}

fn render_one(common: &Common, a: &RenderArgs) -> anyhow::Result<()> {
    check_spp(a.spp, "--spp")?;
    let kind: Kind = a.integrator.parse()?;
    let scene = load_scene(&a.scene)?;
    let label = format!("{} {} {} spp", scene.name, kind.name(), a.spp);
    let out = render_with_progress(&scene, kind, a.scene.guiding(), a.spp, common.seed, &label)?;
    let stem = format!("render_{}_{}_{}spp", scene.name, kind.name(), a.spp);
    let png = common.out.join(format!("{stem}.png"));
    let pfm = common.out.join(format!("{stem}.pfm"));
    out.image.save_png(&png, a.scene.exposure)?;
    out.image.save_pfm(&pfm)?;
    let mean = out.image.mean();
    println!(
        "{label}: {:.2} s, {:.3} M samples/s, mean radiance {:.5} {:.5} {:.5}, zero-radiance paths {:.1}%, mean path length {:.2}{}",
        out.seconds,
        out.samples_per_second() / 1e6,
        mean[0],
        mean[1],
        mean[2],
        100.0 * out.zero_share(),
        out.mean_path_length(),
        table_note(&out)
    );
    println!("wrote {} and {}", png.display(), pfm.display());
    write_json(
        &common.out.join("metrics.json"),
        &json!({
            "lesson": "render",
            "scene": scene.name,
            "integrator": kind.name(),
            "width": scene.camera.width,
            "height": scene.camera.height,
            "spp": a.spp,
            "seed": common.seed,
            "threads": rayon::current_num_threads(),
            "seconds": out.seconds,
            "samples_per_second": out.samples_per_second(),
            "mean_radiance": mean,
            "zero_radiance_share": out.zero_share(),
            "mean_path_length": out.mean_path_length(),
            "q_table_cells": out.table_cells,
            "q_table_bytes": out.table_bytes,
            "image": png.file_name().map(|n| n.to_string_lossy().to_string()),
            "linear": pfm.file_name().map(|n| n.to_string_lossy().to_string()),
        }),
    )?;
    Ok(())
}

fn table_note(out: &Rendered) -> String {
    if out.table_cells == 0 {
        return String::new();
    }
    format!(
        ", Q table {} cells, {:.1} MB",
        out.table_cells,
        out.table_bytes as f64 / 1e6
    )
}

/// Where each scene's detail is (the course shows close-ups of the hardest part): fractions of the image.
fn default_crop(scene: &str, w: u32, h: u32) -> (u32, u32, u32, u32) {
    let (fx, fy) = match scene {
        "door" => (0.30, 0.45),
        "sky" => (0.20, 0.45),
        _ => (0.55, 0.62),
    };
    let side = (w.min(h) / 4).max(4);
    (
        ((w as f32 * fx) as u32).min(w - side),
        ((h as f32 * fy) as u32).min(h - side),
        side,
        side,
    )
}

fn compare(common: &Common, a: &CompareArgs) -> anyhow::Result<()> {
    check_spp(a.spp, "--spp")?;
    check_spp(a.reference_spp, "--reference-spp")?;
    if a.seeds.is_empty() {
        anyhow::bail!("invalid --seeds: expected at least one seed");
    }
    let kinds: Vec<Kind> = a
        .integrators
        .iter()
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    let scene = load_scene(&a.scene)?;
    let (w, h) = (scene.camera.width, scene.camera.height);
    std::fs::create_dir_all(&common.out)
        .with_context(|| format!("creating {}", common.out.display()))?;
    let reference = reference_image(common, a, &scene)?;
    let ref_mean = reference.mean();
    let mut rows = Vec::new();
    let mut images = vec![reference.to_rgb8(a.scene.exposure)];
    let mut captions = vec!["reference".to_string()];
    let mut shown = vec![reference.clone()];
    for &kind in &kinds {
        let (mut relmse, mut seconds, mut zero, mut length, mut efficiency) =
            (Vec::new(), Vec::new(), 0.0, 0.0, Vec::new());
        let mut means = Vec::new();
        let mut last = None;
        for &seed in &a.seeds {
            let label = format!("{} {} {} spp seed {seed}", scene.name, kind.name(), a.spp);
            let out = render_with_progress(&scene, kind, a.scene.guiding(), a.spp, seed, &label)?;
            let e = out.image.relmse(&reference);
            println!(
                "{label}: relMSE {e:.5}, {:.2} s, efficiency {:.3}",
                out.seconds,
                1.0 / (e * out.seconds)
            );
            relmse.push(e);
            seconds.push(out.seconds);
            efficiency.push(1.0 / (e * out.seconds));
            zero += out.zero_share() / a.seeds.len() as f64;
            length += out.mean_path_length() / a.seeds.len() as f64;
            means.push(out.image.mean());
            last = Some(out);
        }
        let last = last.expect("at least one seed");
        let stem = format!("compare_{}_{}_{}spp", scene.name, kind.name(), a.spp);
        last.image
            .save_pfm(&common.out.join(format!("{stem}.pfm")))?;
        let avg = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let mean_rgb =
            [0, 1, 2].map(|c| means.iter().map(|m| m[c]).sum::<f64>() / means.len() as f64);
        let bias = [0, 1, 2].map(|c| mean_rgb[c] / ref_mean[c] - 1.0);
        captions.push(format!("{}\nrelMSE {:.4}", kind.name(), avg(&relmse)));
        images.push(last.image.to_rgb8(a.scene.exposure));
        shown.push(last.image.clone());
        rows.push(json!({
            "integrator": kind.name(),
            "relmse": relmse, "relmse_mean": avg(&relmse),
            "seconds": seconds, "seconds_mean": avg(&seconds),
            "efficiency": efficiency, "efficiency_mean": avg(&efficiency),
            "mean_radiance": mean_rgb, "mean_vs_reference": bias,
            "zero_radiance_share": zero, "mean_path_length": length,
            "q_table_cells": last.table_cells, "q_table_bytes": last.table_bytes,
        }));
    }
    // The figure: full images side by side, then the close-ups enlarged.
    let caption_refs: Vec<&str> = captions.iter().map(String::as_str).collect();
    let figure = common
        .out
        .join(format!("compare_{}_{}spp.png", scene.name, a.spp));
    save_rgb_png(&figure, &side_by_side(&images, &caption_refs)?)?;
    let (cx, cy, cw, ch) = match a.crop.as_slice() {
        [x, y, cw, ch] if x + cw <= w && y + ch <= h && *cw > 0 && *ch > 0 => (*x, *y, *cw, *ch),
        [] => default_crop(&scene.name, w, h),
        other => {
            anyhow::bail!("invalid --crop {other:?}: expected x,y,w,h inside the {w}x{h} image")
        }
    };
    let factor = (256 / cw.max(ch)).max(1);
    let crops: Vec<_> = shown
        .iter()
        .map(|img| upscale(&img.crop(cx, cy, cw, ch).to_rgb8(a.scene.exposure), factor))
        .collect();
    let crops_path = common
        .out
        .join(format!("compare_{}_{}spp_closeup.png", scene.name, a.spp));
    save_rgb_png(&crops_path, &side_by_side(&crops, &caption_refs)?)?;
    // The table, as the lesson prints it.
    let mut table = format!(
        "| integrator ({} spp, {}x{}, seeds {:?}) | relMSE | seconds | efficiency | mean vs reference (R, G, B) | zero-radiance paths | mean path length |\n|---|---:|---:|---:|---:|---:|---:|\n",
        a.spp, w, h, a.seeds
    );
    for r in &rows {
        let b = r["mean_vs_reference"].as_array().expect("array");
        table += &format!(
            "| {} | {:.5} | {:.2} | {:.3} | {:+.2}% {:+.2}% {:+.2}% | {:.1}% | {:.2} |\n",
            r["integrator"].as_str().unwrap_or(""),
            r["relmse_mean"].as_f64().unwrap_or(f64::NAN),
            r["seconds_mean"].as_f64().unwrap_or(f64::NAN),
            r["efficiency_mean"].as_f64().unwrap_or(f64::NAN),
            100.0 * b[0].as_f64().unwrap_or(f64::NAN),
            100.0 * b[1].as_f64().unwrap_or(f64::NAN),
            100.0 * b[2].as_f64().unwrap_or(f64::NAN),
            100.0 * r["zero_radiance_share"].as_f64().unwrap_or(f64::NAN),
            r["mean_path_length"].as_f64().unwrap_or(f64::NAN),
        );
    }
    print!("{table}");
    let table_path = common
        .out
        .join(format!("compare_{}_{}spp.md", scene.name, a.spp));
    glassbox_core::assets::atomic::write_bytes_atomic(&table_path, table.as_bytes())
        .map_err(glassbox_core::Error::from)?;
    println!(
        "wrote {}, {} and {}",
        figure.display(),
        crops_path.display(),
        table_path.display()
    );
    write_json(
        &common.out.join("metrics.json"),
        &json!({
            "lesson": "render compare",
            "scene": scene.name, "width": w, "height": h, "spp": a.spp, "seeds": a.seeds,
            "threads": rayon::current_num_threads(),
            "reference": match &a.reference_pfm {
                Some(p) => json!({"file": p.display().to_string()}),
                None => json!({"integrator": a.reference_integrator, "spp": a.reference_spp, "seed": REFERENCE_SEED}),
            },
            "reference_mean_radiance": ref_mean,
            "crop": [cx, cy, cw, ch],
            "integrators": rows,
        }),
    )?;
    Ok(())
}

/// The reference's seed: apart from the compared renders' seeds, so its noise is independent of theirs.
const REFERENCE_SEED: u64 = 1000;

fn reference_image(common: &Common, a: &CompareArgs, scene: &Scene) -> anyhow::Result<Image> {
    if let Some(path) = &a.reference_pfm {
        let img = Image::load_pfm(path)?;
        if (img.width, img.height) != (scene.camera.width, scene.camera.height) {
            anyhow::bail!(
                "{}: reference is {}x{}, the render {}x{}",
                path.display(),
                img.width,
                img.height,
                scene.camera.width,
                scene.camera.height
            );
        }
        return Ok(img);
    }
    let kind: Kind = a.reference_integrator.parse()?;
    let path = cached_reference_path(&common.out, scene, kind, a.reference_spp);
    if path.exists() {
        let img = Image::load_pfm(&path)?;
        println!("reference from {}", path.display());
        return Ok(img);
    }
    let label = format!(
        "reference {} {} {} spp",
        scene.name,
        kind.name(),
        a.reference_spp
    );
    let out = render_with_progress(
        scene,
        kind,
        a.scene.guiding(),
        a.reference_spp,
        REFERENCE_SEED,
        &label,
    )?;
    println!("{label}: {:.1} s", out.seconds);
    out.image.save_pfm(&path)?;
    Ok(out.image)
}

fn cached_reference_path(out: &Path, scene: &Scene, kind: Kind, spp: u32) -> PathBuf {
    out.join(format!(
        "reference_{}_{}x{}_{}_{}spp_seed{}.pfm",
        scene.name,
        scene.camera.width,
        scene.camera.height,
        kind.name(),
        spp,
        REFERENCE_SEED
    ))
}
