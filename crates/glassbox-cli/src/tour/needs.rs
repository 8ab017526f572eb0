//! Filling in a step's command: the files its placeholders name, and whether what it needs is here.
//! A missing input makes a [`Skip`] that says what is missing and how to get it; nothing is faked.

use std::path::{Path, PathBuf};

use glassbox_core::data::locate::find_model;
use glassbox_core::data::DataLocator;

use super::lessons::Need;

/// Where the MNIST lesson leaves its CNN, relative to the tour's directory.
pub const CNN_CHECKPOINT: &str = "mnist/train/checkpoint.safetensors";

/// Why a step did not run, and the command (or setting) that would let it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skip {
    pub reason: String,
    pub fetch: String,
}

/// What placeholders resolve against.
pub struct Context<'a> {
    pub locator: &'a DataLocator,
    /// The tour's output directory.
    pub tour: &'a Path,
    /// The lesson's output directory.
    pub lesson: &'a Path,
}

const DATA_HINT: &str = "GLASSBOX_DATA=../shared/data (photos and paintings are not downloadable: \
                         `cargo xtask fetch-data` fetches MNIST and the Holmes corpus only)";

/// The step's arguments with every placeholder filled in, or why it cannot run.
pub fn resolve(args: &[&str], needs: &[Need], cx: &Context) -> Result<Vec<String>, Skip> {
    for need in needs {
        check(*need, cx.locator)?;
    }
    args.iter().map(|a| fill(a, cx)).collect()
}

/// The arguments as the lesson's page shows the full command: placeholders become the paths a reader
/// of the docs would type (`../shared/data/...`, `out/...`).
pub fn display(args: &[&str], out: &str) -> Vec<String> {
    args.iter()
        .map(|a| match placeholder(a) {
            Some(("photo", name)) => format!("../shared/data/images/photos/{name}"),
            Some(("painting", name)) => format!("../shared/data/images/paintings/{name}"),
            Some(("cnn", _)) => format!("out/{CNN_CHECKPOINT}"),
            Some(("step", name)) => format!("{out}/{name}"),
            _ => (*a).to_string(),
        })
        .collect()
}

fn placeholder(arg: &str) -> Option<(&str, &str)> {
    let inner = arg.strip_prefix('{')?.strip_suffix('}')?;
    Some(inner.split_once(':').unwrap_or((inner, "")))
}

fn fill(arg: &str, cx: &Context) -> Result<String, Skip> {
    let Some((kind, name)) = placeholder(arg) else {
        return Ok(arg.to_string());
    };
    let path: PathBuf = match kind {
        "photo" | "painting" => image(cx.locator, &format!("images/{kind}s/{name}"))?,
        "cnn" => {
            let path = cx.tour.join(CNN_CHECKPOINT);
            if !path.is_file() {
                return Err(Skip {
                    reason: "the MNIST CNN this lesson uses has not been trained in this tour"
                        .into(),
                    fetch: "glassbox tour --only mnist,... (the mnist lesson trains it)".into(),
                });
            }
            path
        }
        "step" => cx.lesson.join(name),
        _ => panic!("unknown placeholder {arg} in the tour's lesson table"),
    };
    Ok(path.display().to_string())
}

/// A file under the data directories' `images/`, or why the step is skipped.
fn image(locator: &DataLocator, relative: &str) -> Result<PathBuf, Skip> {
    match locator.find_file(relative) {
        Some((_, path)) => Ok(path),
        None => Err(Skip {
            reason: format!("{relative} is not in any data directory"),
            fetch: DATA_HINT.into(),
        }),
    }
}

fn check(need: Need, locator: &DataLocator) -> Result<(), Skip> {
    match need {
        Need::Photo(name) => image(locator, &format!("images/photos/{name}")).map(|_| ()),
        Need::Vgg16 => find_model(locator, "vgg16").map(|_| ()).map_err(|_| Skip {
            reason:
                "needs the full VGG16 with its ImageNet classifier (the shared weights hold only \
                     its convolutions)"
                    .into(),
            fetch: "cargo xtask fetch-weights --model vgg16".into(),
        }),
        Need::VggFeatures => find_model(locator, "vgg16")
            .or_else(|_| find_model(locator, "vgg16-features-hed"))
            .map(|_| ())
            .map_err(|_| Skip {
                reason: "needs VGG16's convolution weights".into(),
                fetch: "cargo xtask fetch-weights --model vgg16, or \
                        GLASSBOX_WEIGHTS=../shared/weights (vgg16_features_hed.safetensors)"
                    .into(),
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_or_skip_with_a_way_to_get_them() {
        let empty = tempfile::tempdir().unwrap();
        let locator = DataLocator::only(empty.path());
        let tour = empty.path().join("tour");
        let cx = Context {
            locator: &locator,
            tour: &tour,
            lesson: &tour.join("text"),
        };
        let args = resolve(
            &["text", "inspect", "--checkpoint", "{step:train}"],
            &[],
            &cx,
        )
        .unwrap();
        assert_eq!(
            args[3],
            tour.join("text").join("train").display().to_string()
        );
        let skip = resolve(&["conv", "yellow", "{photo:astronaut.png}"], &[], &cx).unwrap_err();
        assert!(
            skip.reason.contains("images/photos/astronaut.png"),
            "{skip:?}"
        );
        let skip = resolve(&["ae", "tiger"], &[Need::Photo("tiger.jpg")], &cx).unwrap_err();
        assert!(skip.reason.contains("images/photos/tiger.jpg"), "{skip:?}");
        let skip = resolve(&["adversary", "mnist", "{cnn}"], &[], &cx).unwrap_err();
        assert!(skip.fetch.contains("--only mnist"), "{skip:?}");
        std::fs::create_dir_all(empty.path().join("images/photos")).unwrap();
        std::fs::write(empty.path().join("images/photos/astronaut.png"), b"x").unwrap();
        let args = resolve(&["{photo:astronaut.png}"], &[], &cx).unwrap();
        assert!(args[0].ends_with("images/photos/astronaut.png"), "{args:?}");
        assert_eq!(
            display(&["{photo:a.png}", "{step:train}", "{cnn}"], "out/text"),
            [
                "../shared/data/images/photos/a.png",
                "out/text/train",
                "out/mnist/train/checkpoint.safetensors"
            ]
        );
    }
}
