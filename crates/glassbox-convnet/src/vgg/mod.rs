//! VGG16: loading (torchvision or timm names), every layer by name, ImageNet classification, and the
//! responses of one layer's filters to a photo, HED edges, and filter visualization by gradient ascent.

pub mod classes;
pub mod gradient;
pub mod hed;
pub mod model;
pub mod visualize;

pub use classes::{imagenet_classes, top_k};
pub use gradient::Tape;
pub use hed::{Edges, Hed};
pub use model::{layer_names, Vgg16, CONVS};
pub use visualize::{visualize, Target, Visualization};
