//! The shared real files the convnet tests read, found through GLASSBOX_WEIGHTS / GLASSBOX_DATA; each
//! returns None (with a note) where they are not there, and the test is skipped.

#![allow(dead_code)]

use std::path::PathBuf;

use candle_core::Tensor;

/// The shared VGG16 convolution + HED weights.
pub fn shared_weights() -> Option<PathBuf> {
    let dir = std::env::var_os("GLASSBOX_WEIGHTS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("GLASSBOX_DATA").map(|d| PathBuf::from(d).join("../weights"))
        })?;
    let p = dir.join("vgg16_features_hed.safetensors");
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("skipped: no vgg16_features_hed.safetensors under GLASSBOX_WEIGHTS / GLASSBOX_DATA/../weights");
        None
    }
}

/// chelsea.png as `(1, 3, 300, 451)` RGB in `0..=255`.
pub fn chelsea() -> Option<Tensor> {
    let Some(photo) = std::env::var_os("GLASSBOX_DATA")
        .map(|d| PathBuf::from(d).join("images/photos/chelsea.png"))
        .filter(|p| p.is_file())
    else {
        eprintln!("skipped: GLASSBOX_DATA has no images/photos/chelsea.png");
        return None;
    };
    let options = glassbox_core::imaging::LoadOptions::rgb();
    Some(
        glassbox_core::imaging::load_image(&photo, &options)
            .unwrap()
            .unsqueeze(0)
            .unwrap(),
    )
}
