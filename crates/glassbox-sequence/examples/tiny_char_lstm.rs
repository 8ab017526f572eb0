//! A tiny character LSTM learns a short text held in a string, then writes from it greedily: the held-out
//! loss falls from about ln(symbols) towards zero as it memorizes the rhyme.
//!
//!     cargo run --release -p glassbox-sequence --example tiny_char_lstm -- [STEPS]
//!
//! The same model type, batches and sampler as the Holmes lessons, at a size that trains in seconds
//! (one LSTM(64) layer predicting the next character at every step, Adam).

use std::path::Path;

use candle_core::{DType, Device};
use candle_nn::VarMap;
use glassbox_core::checkpoint::trainable_vars;
use glassbox_core::optim::{Adam, Optimizer, ParamsAdam};
use glassbox_core::seed::{Seed, SeededInit};
use glassbox_sequence::chars::course_windows;
use glassbox_sequence::generate::{generate, Sampling};
use glassbox_sequence::train::window_batch;
use glassbox_sequence::{CharModel, CharModelConfig, CharText};

const RHYME: &str = "Twinkle, twinkle, little star, how I wonder what you are! \
Up above the world so high, like a diamond in the sky. ";

fn main() -> glassbox_sequence::Result<()> {
    let steps: usize = match std::env::args().nth(1) {
        Some(s) => s
            .parse()
            .map_err(|_| glassbox_core::Error::invalid("STEPS", s, "a whole number such as 300"))?,
        None => 300,
    };
    let window = 24;
    // Eight copies, so that the held-out 5% is itself a stretch of the rhyme.
    let text = CharText::from_text(&RHYME.repeat(8), Path::new("<the rhyme>"), window)?;
    println!(
        "{} characters, {} symbols",
        text.ids.len(),
        text.vocab.len()
    );

    let device = Device::Cpu;
    let seed = Seed(7);
    let varmap = VarMap::new();
    let config = CharModelConfig {
        hidden: 64,
        layers: 1,
        ..CharModelConfig::every_step(text.vocab.len())
    };
    let vb = SeededInit::var_builder(&varmap, seed, DType::F32, &device);
    let model = CharModel::new(config, vb)?;
    model.start_fresh(&varmap)?;
    let params = ParamsAdam {
        lr: 0.01,
        ..ParamsAdam::default()
    };
    let mut opt = Adam::new(trainable_vars(&varmap), params)?;

    let starts = course_windows(text.train(), window, 3);
    let held_out = course_windows(text.validation(), window, 1);
    let (vx, vy) = window_batch(
        text.validation(),
        &held_out,
        window,
        config.targets,
        &device,
    )?;
    let mut rng = seed.stream("example/batches");
    for step in 0..=steps {
        if step % 50 == 0 {
            let loss = model.loss(&vx, &vy)?.to_scalar::<f32>()?;
            println!("step {step:4}: held-out loss {loss:.3} nats per character");
        }
        if step == steps {
            break;
        }
        let batch: Vec<usize> = (0..32)
            .map(|_| starts[rand::Rng::random_range(&mut rng, 0..starts.len())])
            .collect();
        let (x, y) = window_batch(text.train(), &batch, window, config.targets, &device)?;
        opt.backward_step(&model.loss(&x, &y)?)?;
    }

    print!("greedy, from \"Twinkle\": Twinkle");
    generate(
        &model,
        &text.vocab,
        "Twinkle",
        80,
        Sampling::Greedy,
        &mut rng,
        |c| print!("{c}"),
    )?;
    println!();
    Ok(())
}
