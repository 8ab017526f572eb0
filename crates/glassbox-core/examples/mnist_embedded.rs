//! MNIST from the real subset compiled into glassbox-core (5,000 training and 1,000 test digits), no
//! files needed: the class counts, one digit drawn in the terminal, seeded shuffled batches as candle
//! tensors, and a nearest-class-mean classifier as a first baseline.
//!
//!     cargo run --release -p glassbox-core --example mnist_embedded [-- DATA_DIR]
//!
//! With DATA_DIR (a directory holding `mnist/` with the four IDX files) the full set is used instead, and
//! the example says which source it read.

use candle_core::{DType, Device, Tensor, D};
use glassbox_core::data::{Batches, DataLocator, Mnist};
use glassbox_core::seed::Seed;

fn main() -> glassbox_core::Result<()> {
    let dir = std::env::args().nth(1).map(std::path::PathBuf::from);
    let mnist = match dir {
        Some(dir) => Mnist::load(&DataLocator::new(Some(dir)))?,
        None => Mnist::embedded()?,
    };
    println!(
        "MNIST from {:?}: {} training and {} test digits of {}x{}",
        mnist.source, mnist.train.count, mnist.test.count, mnist.train.rows, mnist.train.cols
    );
    println!(
        "training digits per class: {:?}",
        mnist.train.label_counts()
    );

    // The first training digit, one character a pixel pair.
    println!("the first training digit, a {}:", mnist.train.labels[0]);
    for row in mnist.train.image(0).chunks(mnist.train.cols) {
        let line: String = row.chunks(2).map(|p| shade(p[0].max(p[1]))).collect();
        println!("  {line}");
    }

    // Seeded batches: the same seed gives the same order on every run.
    let dev = Device::Cpu;
    let mut rng = Seed(42).stream("example/shuffle");
    let batches = Batches::shuffled(mnist.train.count, 128, &mut rng);
    let first = batches.iter().next().expect("at least one batch");
    let x = mnist.train.images_tensor(first, &dev)?;
    println!(
        "{} batches of up to 128; the first as a tensor: {:?}",
        batches.len(),
        x.dims()
    );

    // Nearest class mean: each class's average image from the training digits, each test digit given the
    // class of the closest one.
    let all: Vec<usize> = (0..mnist.train.count).collect();
    let images = mnist.train.images_tensor(&all, &dev)?.flatten_from(1)?; // (N, 784)
    let labels = mnist.train.labels_tensor(&all, &dev)?;
    let one_hot = labels
        .unsqueeze(1)?
        .broadcast_eq(&Tensor::arange(0u32, 10, &dev)?.unsqueeze(0)?)?
        .to_dtype(DType::F32)?; // (N, 10)
    let sums = one_hot.t()?.matmul(&images)?; // (10, 784)
    let means = sums.broadcast_div(&one_hot.sum(0)?.unsqueeze(1)?)?;
    let test: Vec<usize> = (0..mnist.test.count).collect();
    let t = mnist.test.images_tensor(&test, &dev)?.flatten_from(1)?;
    // |t - m|^2 = |t|^2 - 2 t.m + |m|^2; |t|^2 is the same for every class.
    let scores =
        (t.matmul(&means.t()?)? * 2.0)?.broadcast_sub(&means.sqr()?.sum(1)?.unsqueeze(0)?)?;
    let predicted = scores.argmax(D::Minus1)?;
    let correct = predicted
        .eq(&mnist.test.labels_tensor(&test, &dev)?)?
        .to_dtype(DType::F32)?
        .sum_all()?
        .to_scalar::<f32>()?;
    println!(
        "nearest class mean: {:.1}% of the {} test digits right",
        100.0 * correct / mnist.test.count as f32,
        mnist.test.count
    );
    Ok(())
}

/// A pixel's darkness as a character.
fn shade(p: u8) -> char {
    [' ', '.', ':', '*', '#'][usize::from(p) * 5 / 256]
}
