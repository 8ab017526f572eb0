//! A tiny render of the "light through a door" scene, where most paths from the camera never find the
//! light: plain path tracing, next-event estimation and Q-learning path guiding (Dahm & Keller) at the
//! same samples per pixel, each with its share of paths that carry no light (what guiding lowers) and its
//! relative mean squared error against a reference of 256 samples per pixel.
//!
//!     cargo run --release -p glassbox-synthesis --example tiny_render -- [SCENE] [SPP] [OUT_DIR]
//!
//! SCENE is door (default), cornell or sky; SPP defaults to 16. With OUT_DIR, the images are written there
//! as PNG. No tensors, no data: a few seconds.

use std::path::PathBuf;

use glassbox_synthesis::render::integrator::Kind;
use glassbox_synthesis::render::{render, scenes, RenderSettings};

fn main() -> glassbox_synthesis::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args.first().map_or("door", String::as_str);
    let spp: u32 = match args.get(1) {
        Some(s) => s
            .parse()
            .map_err(|_| glassbox_core::Error::invalid("SPP", s, "a whole number such as 16"))?,
        None => 16,
    };
    let out = args.get(2).map(PathBuf::from);
    let mut scene = scenes::by_name(name)?;
    scene.resize(64, 48);
    let seed = 3;
    let quiet = |_: u64| {};

    let reference = render(
        &scene,
        Kind::Nee.build(&scene)?.as_mut(),
        RenderSettings { spp: 256, seed },
        &quiet,
    );
    println!(
        "{} at 64x48: reference (next-event estimation, 256 spp) in {:.2} s",
        scene.name, reference.seconds
    );
    let mut images = vec![("reference", reference.image.clone())];
    for kind in [Kind::Plain, Kind::Nee, Kind::Guided] {
        let r = render(
            &scene,
            kind.build(&scene)?.as_mut(),
            RenderSettings { spp, seed },
            &quiet,
        );
        println!(
            "{:>7}, {spp} spp: relMSE {:.3}, {:.0}% of paths carry no light, {:.2} s",
            kind.name(),
            r.image.relmse(&reference.image),
            100.0 * r.zero_share(),
            r.seconds
        );
        images.push((kind.name(), r.image));
    }
    if let Some(dir) = out {
        std::fs::create_dir_all(&dir).map_err(|e| glassbox_core::Error::io(&dir, e))?;
        for (name, image) in &images {
            let path = dir.join(format!("door-{name}.png"));
            image.save_png(&path, 1.0)?;
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}
