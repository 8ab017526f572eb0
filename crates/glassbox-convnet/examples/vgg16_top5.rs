//! VGG16 from a safetensors file: the five most probable ImageNet classes of a photo.
//!
//!     cargo run --release -p glassbox-convnet --example vgg16_top5 -- [WEIGHTS.safetensors] [IMAGE]
//!
//! Without WEIGHTS the model `vgg16` of models/models.toml is looked for where glassbox looks for it (the
//! Hugging Face cache; `cargo xtask fetch-weights` puts it there). Without IMAGE, `images/photos/chelsea.png`
//! of the data directory (`GLASSBOX_DATA`). Either missing: a message saying how to get it, exit code 2.
//! Torchvision and timm tensor names both load; a file with only the convolutions cannot classify and says so.

use std::path::PathBuf;
use std::process::ExitCode;

use candle_core::Device;
use glassbox_convnet::vgg::{self, Vgg16};
use glassbox_core::data::{locate, DataLocator};
use glassbox_core::imaging::{load_image, LoadOptions, Resize};

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let (weights, image) = (args.next(), args.next());
    let data = DataLocator::new(None);
    let weights = match weights.map_or_else(|| locate::find_model(&data, "vgg16"), Ok) {
        Ok(path) => path,
        Err(e) => {
            eprintln!("no VGG16 weights given and none found: {e}");
            eprintln!("usage: vgg16_top5 WEIGHTS.safetensors [IMAGE]");
            return ExitCode::from(2);
        }
    };
    let image = match image.or_else(|| data.find_file("images/photos/chelsea.png").map(|(_, p)| p))
    {
        Some(path) => path,
        None => {
            eprintln!("no image given and no images/photos/chelsea.png in a data directory (GLASSBOX_DATA)");
            eprintln!("usage: vgg16_top5 WEIGHTS.safetensors IMAGE");
            return ExitCode::from(2);
        }
    };
    match classify(&weights, &image) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn classify(weights: &std::path::Path, image: &std::path::Path) -> glassbox_convnet::Result<()> {
    let device = Device::Cpu;
    let model = Vgg16::load(weights, &device)?;
    model.require_classifier()?;
    // Resized and center-cropped to 224x224 as in ImageNet evaluation; the normalization comes from the
    // file's metadata or models.toml, never from the caller.
    let photo = load_image(
        image,
        &LoadOptions::rgb().with_resize(Resize::imagenet_eval()),
    )?;
    let x = model.preprocess(&photo.unsqueeze(0)?)?;
    let logits: Vec<f32> = model.logits(&x)?.squeeze(0)?.to_vec1()?;
    println!("{} by VGG16 from {}:", image.display(), weights.display());
    let classes = vgg::imagenet_classes();
    for (class, p) in vgg::top_k(&logits, 5) {
        println!("  {:5.1}%  {} ({class})", 100.0 * p, classes[class]);
    }
    Ok(())
}
