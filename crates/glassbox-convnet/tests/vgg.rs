//! VGG16 loading: torchvision and timm names give the same network, every layer by name, errors that name
//! what is missing; the real shared convolution weights when GLASSBOX_WEIGHTS (or ../shared) is there.

mod common;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use common::{chelsea, shared_weights};
use glassbox_convnet::vgg::{layer_names, Vgg16, CONVS};
use glassbox_core::imaging::Normalization;

/// Deterministic weights of a given shape: small values from a sine, different per tensor.
fn det(shape: &[usize], salt: f64, scale: f64) -> Tensor {
    let n: usize = shape.iter().product();
    let t = Tensor::arange(0u32, n as u32, &Device::Cpu)
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap();
    let t = ((t * 0.7312).unwrap() + salt).unwrap().sin().unwrap();
    (t * scale)
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap()
        .reshape(shape)
        .unwrap()
}

fn features(salt: f64) -> HashMap<String, Tensor> {
    let mut m = HashMap::new();
    for (i, c) in CONVS.iter().enumerate() {
        let fan_in = (c.in_channels * 9) as f64;
        m.insert(
            format!("features.{}.weight", c.index),
            det(
                &[c.out_channels, c.in_channels, 3, 3],
                salt + i as f64,
                (2.0 / fan_in).sqrt(),
            ),
        );
        m.insert(
            format!("features.{}.bias", c.index),
            det(&[c.out_channels], salt + 0.5, 0.01),
        );
    }
    m
}

fn path() -> &'static Path {
    Path::new("synthetic.safetensors")
}

#[test]
fn torchvision_and_timm_names_give_the_same_logits_with_no_relu_on_them() {
    let mut tv = features(1.0);
    let fc6 = det(&[4096, 25088], 3.0, 0.01);
    let fc7 = det(&[4096, 4096], 4.0, 0.02);
    let fc8 = det(&[1000, 4096], 5.0, 0.05);
    let b6 = det(&[4096], 6.0, 0.1);
    let b7 = det(&[4096], 7.0, 0.1);
    let b8 = det(&[1000], 8.0, 0.1);
    let mut timm = tv.clone();
    tv.insert("classifier.0.weight".into(), fc6.clone());
    tv.insert("classifier.3.weight".into(), fc7.clone());
    tv.insert("classifier.6.weight".into(), fc8.clone());
    tv.insert("classifier.0.bias".into(), b6.clone());
    tv.insert("classifier.3.bias".into(), b7.clone());
    tv.insert("classifier.6.bias".into(), b8.clone());
    // timm's ConvMlp: fc1 is a 7x7 convolution over the 512x7x7 features, fc2 a 1x1 convolution.
    timm.insert(
        "pre_logits.fc1.weight".into(),
        fc6.reshape((4096, 512, 7, 7)).unwrap(),
    );
    timm.insert(
        "pre_logits.fc2.weight".into(),
        fc7.reshape((4096, 4096, 1, 1)).unwrap(),
    );
    timm.insert("head.fc.weight".into(), fc8);
    timm.insert("pre_logits.fc1.bias".into(), b6);
    timm.insert("pre_logits.fc2.bias".into(), b7);
    timm.insert("head.fc.bias".into(), b8);
    let norm = Normalization::TORCHVISION;
    let a = Vgg16::from_tensors(tv, norm, path()).unwrap();
    let b = Vgg16::from_tensors(timm, norm, path()).unwrap();
    assert!(a.has_classifier() && b.has_classifier());
    let x = det(&[2, 3, 224, 224], 9.0, 1.0);
    let la = a.logits(&x).unwrap();
    let lb = b.logits(&x).unwrap();
    assert_eq!(la.dims(), [2, 1000]);
    let diff = (&la - &lb)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert_eq!(diff, 0.0);
    let min = la.min_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(min < 0.0, "logits must not go through a ReLU (min {min})");
    // Every layer by name, with the expected shapes, from one pass.
    let names = layer_names();
    assert_eq!(names.len(), 13 + 5 + 3);
    let outs = a.layers(&x, &names).unwrap();
    let shape = |n: &str| {
        outs[names.iter().position(|m| *m == n).unwrap()]
            .dims()
            .to_vec()
    };
    assert_eq!(shape("block1_conv2"), [2, 64, 224, 224]);
    assert_eq!(shape("block1_pool"), [2, 64, 112, 112]);
    assert_eq!(shape("block5_pool"), [2, 512, 7, 7]);
    assert_eq!(shape("fc7"), [2, 4096]);
    // The fused conv+pool path (block5_conv3 not asked for) gives the same pool as the separate one.
    let fused = a.layers(&x, &["block5_pool"]).unwrap().remove(0);
    let d = (&fused - &outs[names.iter().position(|m| *m == "block5_pool").unwrap()])
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(d < 1e-4, "{d}");
}

#[test]
fn missing_or_misshaped_tensors_are_listed_with_the_file() {
    let mut t = features(1.0);
    t.remove("features.7.weight");
    t.insert("features.0.bias".into(), det(&[65], 1.0, 0.1));
    let err = Vgg16::from_tensors(t, Normalization::CAFFE, path())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("synthetic.safetensors"), "{err}");
    assert!(err.contains("missing features.7.weight"), "{err}");
    assert!(
        err.contains("features.0.bias is [65], expected [64]"),
        "{err}"
    );
    // Another model entirely (an MNIST checkpoint's names).
    let mut other = HashMap::new();
    other.insert("conv1.weight".to_string(), det(&[32, 1, 3, 3], 0.0, 0.1));
    let err = Vgg16::from_tensors(other, Normalization::CAFFE, path())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("not VGG16's 13 convolutions"), "{err}");
    // Asking a features-only network to classify names the missing tensors and the way to get them.
    let v = Vgg16::from_tensors(features(1.0), Normalization::CAFFE, path()).unwrap();
    let x = det(&[1, 3, 32, 32], 2.0, 1.0);
    let err = v.layers(&x, &["logits"]).err().unwrap().to_string();
    assert!(
        err.contains("cargo xtask fetch-weights") && err.contains("classifier.6.weight"),
        "{err}"
    );
    let err = v.layers(&x, &["block9_conv1"]).err().unwrap().to_string();
    assert!(err.contains("block1_conv1"), "{err}");
}

#[test]
fn the_shared_weights_load_as_caffe_features_without_a_classifier() {
    let Some(p) = shared_weights() else { return };
    let v = Vgg16::load(&p, &Device::Cpu).unwrap();
    assert!(!v.has_classifier());
    assert_eq!(v.normalization(), Normalization::CAFFE);
    assert!(v.tensor("hed.fuse.weight").is_some());
    // On a uniform grey image every block1_conv1 response is known by hand: inside, the bias plus each
    // channel's value (128 minus the caffe mean) times the sum of that channel's 3x3 weights; at the
    // top-left corner only the weights that overlap the image (rows and columns 1..3), since the padding is 0.
    let x = v
        .preprocess(&Tensor::full(128f32, (1, 3, 64, 64), &Device::Cpu).unwrap())
        .unwrap();
    let mut outs = v.layers(&x, &["block1_conv1", "block3_conv1"]).unwrap();
    let (y1, y3) = (outs.remove(0), outs.remove(0));
    assert_eq!(y1.dims(), [1, 64, 64, 64]);
    assert_eq!(y3.dims(), [1, 256, 16, 16]);
    let w: Vec<f32> = v
        .tensor("features.0.weight")
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let b: Vec<f32> = v.tensor("features.0.bias").unwrap().to_vec1().unwrap();
    let value = [128.0 - 123.68, 128.0 - 116.779, 128.0 - 103.939];
    let by_hand = |o: usize, corner: bool| -> f32 {
        let mut sum = b[o];
        for (c, x) in value.iter().enumerate() {
            for k in 0..9 {
                if !corner || (k / 3 >= 1 && k % 3 >= 1) {
                    sum += x * w[(o * 3 + c) * 9 + k];
                }
            }
        }
        sum.max(0.0)
    };
    let y1 = y1.squeeze(0).unwrap();
    let mut positive = 0;
    for o in 0..64 {
        for (corner, (r, c)) in [(false, (32, 32)), (true, (0, 0))] {
            let got: f32 = y1
                .get(o)
                .unwrap()
                .get(r)
                .unwrap()
                .get(c)
                .unwrap()
                .to_scalar()
                .unwrap();
            let want = by_hand(o, corner);
            assert!(
                (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                "filter {o} at ({r}, {c}): {got}, by hand {want}"
            );
            positive += usize::from(want > 0.0);
        }
    }
    assert!(
        positive > 10,
        "only {positive} positive responses: a weak check"
    );
    // Deeper down: finite everywhere, and not silenced.
    let deep: Vec<f32> = y3.flatten_all().unwrap().to_vec1().unwrap();
    assert!(
        deep.iter().all(|v| v.is_finite()),
        "block3_conv1 has NaN or Inf"
    );
    assert!(deep.iter().any(|&v| v > 0.0), "block3_conv1 is all zero");
}

#[test]
fn hed_edges_are_high_on_the_cats_outline_and_low_on_the_flat_background() {
    let Some(p) = shared_weights() else { return };
    let Some(image) = chelsea() else { return };
    let v = Vgg16::load(&p, &Device::Cpu).unwrap();
    let hed = glassbox_convnet::vgg::Hed::from_vgg(&v).unwrap();
    let edges = hed.edges(&v, &image).unwrap();
    assert_eq!(edges.fused.dims(), [1, 1, 300, 451]);
    assert_eq!(edges.sides.len(), 5);
    let region = |y0: usize, y1: usize, x0: usize, x1: usize| {
        let r = edges.fused.squeeze(0).unwrap().squeeze(0).unwrap();
        let r = r
            .narrow(0, y0, y1 - y0)
            .unwrap()
            .narrow(1, x0, x1 - x0)
            .unwrap();
        let v: Vec<f32> = r.flatten_all().unwrap().to_vec1().unwrap();
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        (mean, v.iter().copied().fold(0.0f32, f32::max))
    };
    // The blurred background at the top right: flat, so no edges (measured: mean 0.03, max 0.15).
    let (mean, max) = region(5, 45, 405, 445);
    assert!(
        mean < 0.1 && max < 0.3,
        "background: mean {mean}, max {max}"
    );
    // The head's outline on both sides and the nose (measured maxima 0.77, 0.82, 0.91).
    for (what, (y0, y1, x0, x1), floor) in [
        ("right outline", (120, 200, 340, 380), 0.6),
        ("left outline", (60, 200, 20, 60), 0.6),
        ("nose", (220, 265, 225, 295), 0.8),
    ] {
        let (_, max) = region(y0, y1, x0, x1);
        assert!(max > floor, "{what}: max edge probability {max}");
    }
    // A file without HED's tensors is refused by name.
    let plain = Vgg16::from_tensors(features(1.0), Normalization::CAFFE, path()).unwrap();
    let err = glassbox_convnet::vgg::Hed::from_vgg(&plain)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("hed.fuse.weight") && err.contains("synthetic.safetensors"),
        "{err}"
    );
}
