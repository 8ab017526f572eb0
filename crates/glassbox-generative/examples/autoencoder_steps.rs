//! The course's shallow autoencoder (784-20-784, sigmoid output, binary cross-entropy) takes 1,500 Adam
//! steps on the MNIST digits compiled into glassbox-core, and the test digits' reconstruction loss is
//! printed before and after, with one digit and its reconstruction drawn in the terminal.
//!
//!     cargo run --release -p glassbox-generative --example autoencoder_steps -- [STEPS]
//!
//! Needs no files; a few seconds on a laptop.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use glassbox_core::checkpoint::trainable_vars;
use glassbox_core::data::{Batches, Mnist};
use glassbox_core::optim::{Adam, Optimizer, ParamsAdam};
use glassbox_core::seed::{Seed, SeededInit};
use glassbox_generative::{Autoencoder, DenseAutoencoder, DenseConfig};

fn main() -> glassbox_generative::Result<()> {
    let steps: usize = match std::env::args().nth(1) {
        Some(s) => s.parse().map_err(|_| {
            glassbox_core::Error::invalid("STEPS", s, "a whole number such as 1500")
        })?,
        None => 1500,
    };
    let device = Device::Cpu;
    let mnist = Mnist::embedded()?;
    let test: Vec<usize> = (0..mnist.test.count).collect();
    let test_x = mnist.test.images_tensor(&test, &device)?;

    let seed = Seed(1);
    let varmap = VarMap::new();
    let model = DenseAutoencoder::new(
        DenseConfig::shallow(),
        SeededInit::var_builder(&varmap, seed, DType::F32, &device),
    )?;
    let mut opt = Adam::new(trainable_vars(&varmap), ParamsAdam::default())?;
    let test_loss = |m: &DenseAutoencoder| -> glassbox_generative::Result<f32> {
        Ok(m.training_loss(&test_x, &test_x, 0)?.to_scalar::<f32>()?)
    };
    println!(
        "{}: test loss {:.4} before training",
        model.model_name(),
        test_loss(&model)?
    );

    let mut rng = seed.stream("example/shuffle");
    let mut done = 0;
    while done < steps {
        for batch in Batches::shuffled(mnist.train.count, 64, &mut rng).iter() {
            if done == steps {
                break;
            }
            let x = mnist.train.images_tensor(batch, &device)?;
            opt.backward_step(&model.training_loss(&x, &x, 0)?)?;
            done += 1;
        }
    }
    let after = test_loss(&model)?;
    println!("after {steps} steps of 64: test loss {after:.4} (binary cross-entropy per pixel)");

    let digit = test_x.narrow(0, 0, 1)?;
    let back = model.reconstruct(&digit)?;
    println!("a test digit (left) and its reconstruction through a 20-number code (right):");
    let rows =
        |t: &Tensor| -> candle_core::Result<Vec<Vec<f32>>> { t.reshape((28, 28))?.to_vec2() };
    for (a, b) in rows(&digit)?.iter().zip(rows(&back)?.iter()) {
        let line = |r: &[f32]| {
            r.chunks(2)
                .map(|p| shade(p[0].max(p[1])))
                .collect::<String>()
        };
        println!("  {}  |  {}", line(a), line(b));
    }
    Ok(())
}

/// A pixel in 0..1 as a character.
fn shade(p: f32) -> char {
    [' ', '.', ':', '*', '#'][((p.clamp(0.0, 1.0) * 4.99) as usize).min(4)]
}
