//! `glassbox conv ...`: the convolution lesson (glassbox-tensor), figures and metrics.json.

use std::path::{Path, PathBuf};

use anyhow::Context;
use glassbox_core::imaging::{load_image, save_rgb_png, LoadOptions, Resize};
use glassbox_tensor::conv::filters::three_by_three;
use glassbox_tensor::lesson::{faces, filters, sizes, yellow, RgbImage};
use serde_json::{json, Value};

use crate::cli::{Common, ConvCommand};

/// The photos are loaded with their longer side at this many pixels, so figures stay small.
const PHOTO_SIDE: u32 = 320;
/// The filters figure has six panels of the photo: smaller.
const FILTERS_PHOTO_SIDE: u32 = 240;

pub fn run(common: &Common, cmd: &ConvCommand) -> anyhow::Result<()> {
    // Checks the flag the same way as every subcommand; the lesson's tensors are tiny and stay on the CPU.
    common.device.open()?;
    let out = &common.out;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let (lesson, metrics, written) = match cmd {
        ConvCommand::Yellow { photo } => yellow_cmd(common, photo)?,
        ConvCommand::Filters { photo } => filters_cmd(common, photo)?,
        ConvCommand::Sizes => sizes_cmd(out)?,
        ConvCommand::Faces => faces_cmd(common)?,
    };
    common.finish_lesson(&format!("conv {lesson}"), metrics, &written)
}

/// The photo: a path as given if it exists, else `images/photos/NAME` in the data directories.
fn find_photo(common: &Common, photo: &str) -> anyhow::Result<PathBuf> {
    let direct = Path::new(photo);
    if direct.is_file() {
        println!("photo: {}", direct.display());
        return Ok(direct.to_path_buf());
    }
    let relative = format!("images/photos/{photo}");
    let locator = common.locator();
    match locator.find_file(&relative) {
        Some((source, path)) => {
            println!("photo: {} (from {source})", path.display());
            Ok(path)
        }
        None => Err(glassbox_core::Error::NotFound {
            what: format!("photo {photo:?}"),
            searched: locator.searched(&relative),
            hint: Some(
                "point --data-dir or GLASSBOX_DATA at a data directory with images/photos/ (for example ../shared/data), or pass --photo PATH".into(),
            ),
        }
        .into()),
    }
}

fn save(out: &Path, name: &str, image: &RgbImage) -> anyhow::Result<()> {
    save_rgb_png(out.join(name), image)?;
    Ok(())
}

fn yellow_cmd(common: &Common, photo: &str) -> anyhow::Result<(&'static str, Value, Vec<String>)> {
    let path = find_photo(common, photo)?;
    let image = load_image(
        &path,
        &LoadOptions::rgb().with_resize(Resize::LongerSide(PHOTO_SIDE)),
    )?;
    let y = yellow::run(&image)?;
    save(&common.out, "yellow.png", &y.plain)?;
    save(&common.out, "yellow_relu.png", &y.relu)?;
    let (_, h, w) = image.dims3()?;
    Ok((
        "yellow",
        json!({
            "photo": path.display().to_string(),
            "size": [h, w],
            "filter": {"red": 1.0, "green": 1.0, "blue": -1.0},
            "display": "0 = black, 2 = white",
            "response": y.raw,
            "relu": y.after_relu,
        }),
        vec!["yellow.png".into(), "yellow_relu.png".into()],
    ))
}

fn filters_cmd(common: &Common, photo: &str) -> anyhow::Result<(&'static str, Value, Vec<String>)> {
    let out = &common.out;
    let seed = common.seed();
    let binary = filters::random_binary(seed, 20)?;
    let (responses, found) = filters::binary_matches(&binary)?;
    save(
        out,
        "filters_binary.png",
        &filters::binary_figure(&binary, &responses, &found)?,
    )?;
    for m in &found {
        println!(
            "{}: max {} (possible {}) at {:?}",
            m.filter, m.max, m.max_possible, m.positions
        );
    }
    let path = find_photo(common, photo)?;
    let gray = load_image(
        &path,
        &LoadOptions::gray().with_resize(Resize::LongerSide(FILTERS_PHOTO_SIDE)),
    )?;
    let photo_resp = filters::photo_responses(&gray)?;
    save(
        out,
        "filters_photo.png",
        &filters::photo_figure(&gray, &photo_resp)?,
    )?;
    let photo_stats = three_by_three()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let v = photo_resp.get(i)?.flatten_all()?.to_vec1::<f32>()?;
            let (lo, hi) = v
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), x| {
                    (a.min(*x), b.max(*x))
                });
            Ok(json!({"filter": f.name, "min": lo, "max": hi}))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((
        "filters",
        json!({
            "binary": {"size": [20, 20], "seed_stream": "conv/binary", "matches": found},
            "photo": {"path": path.display().to_string(), "padding": "same", "responses": photo_stats},
        }),
        vec!["filters_binary.png".into(), "filters_photo.png".into()],
    ))
}

fn sizes_cmd(out: &Path) -> anyhow::Result<(&'static str, Value, Vec<String>)> {
    let table = sizes::table()?;
    for row in &table {
        println!(
            "{:<48} {:>2}x{:<2} -> {:>2}x{:<2} (candle {}x{})",
            row.case,
            row.input.0,
            row.input.1,
            row.output.0,
            row.output.1,
            row.candle.0,
            row.candle.1
        );
    }
    save(out, "sizes_padding.png", &sizes::padding_figure()?)?;
    save(out, "sizes_transposed.png", &sizes::transposed_figure()?)?;
    Ok((
        "sizes",
        json!({"table": table}),
        vec!["sizes_padding.png".into(), "sizes_transposed.png".into()],
    ))
}

fn faces_cmd(common: &Common) -> anyhow::Result<(&'static str, Value, Vec<String>)> {
    let out = &common.out;
    let random = faces::random_mask(common.seed())?;
    let cases = [
        ("forward", "course face", faces::mask(&faces::FACE)?),
        ("profile", "profile", faces::mask(&faces::PROFILE)?),
        (
            "missing_eye",
            "missing eye",
            faces::mask(&faces::MISSING_EYE)?,
        ),
        ("blank", "blank", faces::mask(&["............"; 12])?),
        ("random", "random", random),
    ];
    let mut verdicts = serde_json::Map::new();
    let mut written = Vec::new();
    for (key, title, mask) in cases {
        let maps = faces::detect(&mask)?;
        let v = maps.verdict();
        println!(
            "{title}: Forward {}/{} {}, Profile {}/{} {}",
            v.forward_score,
            v.forward_max,
            if v.forward { "FOUND" } else { "-" },
            v.profile_score,
            v.profile_max,
            if v.profile { "FOUND" } else { "-" }
        );
        let name = format!("faces_{key}.png");
        save(out, &name, &faces::figure(&maps, title)?)?;
        written.push(name);
        verdicts.insert(key.to_string(), serde_json::to_value(v)?);
    }
    save(out, "faces_filters.png", &faces::filters_figure()?)?;
    written.push("faces_filters.png".into());
    Ok((
        "faces",
        json!({
            "found": "layer-3 response equals its largest possible value (Forward 4, Profile 3)",
            "downsampling": "max over 2x2 blocks: 12x12 -> 6x6 -> 3x3",
            "random_seed_stream": "conv/faces/random",
            "masks": verdicts,
        }),
        written,
    ))
}
