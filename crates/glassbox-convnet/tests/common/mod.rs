//! The shared real files the convnet tests read, through glassbox_core::testdata: `None` (with the reason
//! printed) where they are not there, and the test is skipped; under CI a missing file fails the test.

#![allow(dead_code)]

use std::path::PathBuf;

use candle_core::Tensor;

/// The shared VGG16 convolution + HED weights.
pub fn shared_weights() -> Option<PathBuf> {
    glassbox_core::testdata::weights_file("vgg16_features_hed.safetensors")
}

/// chelsea.png as `(1, 3, 300, 451)` RGB in `0..=255`.
pub fn chelsea() -> Option<Tensor> {
    let photo = glassbox_core::testdata::data_file("images/photos/chelsea.png")?;
    let options = glassbox_core::imaging::LoadOptions::rgb();
    Some(
        glassbox_core::imaging::load_image(&photo, &options)
            .unwrap()
            .unsqueeze(0)
            .unwrap(),
    )
}
