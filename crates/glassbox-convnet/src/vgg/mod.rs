//! VGG16: loading (torchvision or timm names), every layer by name, ImageNet classification, and the
//! responses of one layer's filters to a photo.

pub mod classes;
pub mod hed;
pub mod model;

pub use classes::{imagenet_classes, top_k};
pub use hed::{Edges, Hed};
pub use model::{layer_names, Vgg16, CONVS};
