//! Data: where it lives, the MNIST IDX files, seeded mini-batches and text corpora.

pub mod batch;
pub mod idx;
pub mod inventory;
pub mod locate;
pub mod mnist;
pub mod text;

pub use batch::Batches;
pub use locate::{DataLocator, DataSource};
pub use mnist::{Mnist, MnistSplit};
pub use text::{CharVocab, Corpus};
