//! `glassbox text`: the character and word LSTMs on the Holmes corpus (glassbox-sequence): training with
//! checkpoints that resume, samples after the first and the last epoch, and generation streamed to the
//! terminal. The word level's own parts are in [`crate::text_words`].

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use candle_core::DType;
use candle_nn::VarMap;
use clap::{Subcommand, ValueEnum};
use glassbox_core::data::Corpus;
use glassbox_core::plot::{line_chart, LineChart, Series};
use glassbox_core::seed::SeededInit;
use glassbox_sequence::char_train::{load_trained, train_chars, trained_chars};
use glassbox_sequence::generate::{generate, Sampling};
use glassbox_sequence::train::{Recipe, SavedModel, TrainRun, CHECKPOINT_FILE};
use glassbox_sequence::word_train::trained_words;
use glassbox_sequence::{CharModel, CharModelConfig, CharText};
use serde_json::json;

use crate::cli::Common;
use crate::text_inspect::{inspect, seed_text_for};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// The course's network and recipe exactly: two LSTM(128), the character after each 40-character
    /// window, RMSprop lr 0.01, batch 100 (its saved run diverged after 6 epochs).
    Course,
    /// Two LSTM(256) predicting every step of 100-character windows, Adam 2e-3 with clipping at 1 and
    /// a cosine schedule, batch 32.
    Default,
}

/// What a model reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Level {
    /// Characters.
    Char,
    /// Words and punctuation marks, through a learned vocabulary (tokenizer.json beside the checkpoint).
    /// The course preset: two LSTM(8) with dropout 0.3 over one-hot words, the word after 40-word
    /// windows; the default: embedding 128, two LSTM(256) with dropout 0.3, every step of 40-word
    /// windows, Adam 2e-3, clipping, cosine, batch 32.
    Word,
}

#[derive(Debug, Subcommand)]
pub enum TextCommand {
    /// Trains a character (or --level word) model on the Holmes corpus (or --corpus): a checkpoint per
    /// epoch (run the same command again to resume), samples after epoch 1 and at the end, loss.png,
    /// metrics.json.
    Train {
        #[arg(long, value_enum, default_value_t = Level::Char)]
        level: Level,
        #[arg(long, value_enum, default_value_t = Preset::Default)]
        preset: Preset,
        /// Word level: tokens in the vocabulary, the unknown one included.
        #[arg(long, default_value_t = glassbox_sequence::words::COURSE_VOCABULARY)]
        vocabulary: usize,
        /// Any UTF-8 text file instead of the Holmes corpus (normalized the same way).
        #[arg(long, value_name = "FILE")]
        corpus: Option<PathBuf>,
        /// Only the first N characters of the corpus (its last 5% still held out).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// [default: the preset's]
        #[arg(long)]
        epochs: Option<usize>,
        /// [default: the preset's]
        #[arg(long)]
        batch_size: Option<usize>,
        /// [default: the preset's]
        #[arg(long)]
        lr: Option<f64>,
        /// The LSTMs' state size [default: the preset's].
        #[arg(long)]
        hidden: Option<usize>,
        /// Start over even if the output directory holds a checkpoint.
        #[arg(long)]
        fresh: bool,
    },
    /// Measures a trained model: the share of real words in 3,000 words sampled at temperature 0.5,
    /// and cells.png, the memory cells that follow quotations and words over held-out text.
    Inspect {
        /// A checkpoint written by `glassbox text train`.
        #[arg(long, value_name = "FILE")]
        checkpoint: PathBuf,
        /// The corpus it was trained on, if not the Holmes corpus.
        #[arg(long, value_name = "FILE")]
        corpus: Option<PathBuf>,
        /// The --limit it was trained with: words and held-out text from that slice.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
    /// Writes text from a trained model (character or word) to the terminal as it is sampled.
    Generate {
        /// A checkpoint written by `glassbox text train`.
        #[arg(long, value_name = "FILE")]
        checkpoint: PathBuf,
        /// The text to continue [default: "To Sherlock Holmes she is always THE woman. " where the
        /// model knows those symbols].
        #[arg(long, value_name = "S")]
        seed_text: Option<String>,
        /// 0 for the likeliest symbol every time; 0.5 safe, 1.0 the model's own odds, 1.5 wild.
        #[arg(long, default_value_t = 0.5)]
        temperature: f64,
        /// Characters to write (words for a word model) [default: 500 characters, 100 words].
        #[arg(long)]
        length: Option<usize>,
    },
}

/// The temperatures of the samples written during training (0 = greedy).
pub(crate) const SAMPLE_TEMPERATURES: [f64; 4] = [0.0, 0.5, 1.0, 1.5];
const SAMPLE_LENGTH: usize = 400;

pub fn run(common: &Common, cmd: &TextCommand) -> anyhow::Result<()> {
    match cmd {
        TextCommand::Train {
            level,
            preset,
            vocabulary,
            corpus,
            limit,
            epochs,
            batch_size,
            lr,
            hidden,
            fresh,
        } => {
            let mut recipe = match (level, preset) {
                (Level::Char, Preset::Course) => Recipe::course(),
                (Level::Char, Preset::Default) => Recipe::every_step(),
                (Level::Word, Preset::Course) => Recipe::course_words(),
                (Level::Word, Preset::Default) => Recipe::every_step_words(),
            };
            if let Some(e) = epochs {
                recipe.epochs = *e;
            }
            if let Some(b) = batch_size {
                recipe.batch_size = *b;
            }
            if let Some(lr) = lr {
                if !(lr.is_finite() && *lr > 0.0) {
                    anyhow::bail!("invalid --lr {lr}: expected a positive number");
                }
                recipe.optimizer = recipe.optimizer.with_lr(*lr);
            }
            if *hidden == Some(0) {
                anyhow::bail!("invalid --hidden 0: expected at least 1");
            }
            let model = Model {
                preset: *preset,
                hidden: *hidden,
            };
            let _lock = common.lock_out()?;
            match level {
                Level::Char => train(common, corpus.as_deref(), *limit, model, &recipe, !fresh),
                Level::Word => crate::text_words::train(
                    common,
                    corpus.as_deref(),
                    *limit,
                    &crate::text_words::WordModelChoice {
                        preset: *preset,
                        hidden: *hidden,
                        vocabulary: *vocabulary,
                    },
                    &recipe,
                    !fresh,
                ),
            }
        }
        TextCommand::Inspect {
            checkpoint,
            corpus,
            limit,
        } => inspect_cmd(common, checkpoint, corpus.as_deref(), *limit),
        TextCommand::Generate {
            checkpoint,
            seed_text,
            temperature,
            length,
        } => generate_cmd(
            common,
            checkpoint,
            seed_text.as_deref(),
            *temperature,
            *length,
        ),
    }
}

/// The network asked for, built once the corpus says how many symbols it has.
pub(crate) struct Model {
    preset: Preset,
    hidden: Option<usize>,
}

impl Model {
    fn config(&self, symbols: usize) -> CharModelConfig {
        let config = match self.preset {
            Preset::Course => CharModelConfig::course(symbols),
            Preset::Default => CharModelConfig::every_step(symbols),
        };
        CharModelConfig {
            hidden: self.hidden.unwrap_or(config.hidden),
            ..config
        }
    }
}

fn train(
    common: &Common,
    corpus: Option<&Path>,
    limit: Option<usize>,
    model: Model,
    recipe: &Recipe,
    resume: bool,
) -> anyhow::Result<()> {
    let device = common.device.open()?;
    let out = &common.out;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let (corpus, source) = load_corpus(common, corpus)?;
    let text = first_chars(&corpus.text, limit)?;
    let corpus_text = text;
    let text = CharText::from_text(text, &corpus.path, recipe.window)?;
    let config = model.config(text.vocab.len());
    println!(
        "corpus from {source}: {} characters, {} symbols; {} held out",
        text.ids.len(),
        text.vocab.len(),
        text.validation().len()
    );
    let varmap = VarMap::new();
    let vb = SeededInit::var_builder(&varmap, common.seed(), DType::F32, &device);
    let model = CharModel::new(config, vb)?;
    model.start_fresh(&varmap)?;
    let parameters: usize = varmap.all_vars().iter().map(|v| v.elem_count()).sum();
    println!("{}: {parameters} parameters", model.name());
    let run = TrainRun {
        out,
        seed: common.seed(),
        device: &device,
        resume,
    };
    let mut written = vec![CHECKPOINT_FILE.to_string()];
    let seed_text: String = text.vocab.decode(&text.validation()[..recipe.window]);
    let outcome = train_chars(&model, &varmap, &text, recipe, &run, |report| {
        if report.epoch == 1 || report.epoch == recipe.epochs {
            let name = format!("samples-epoch-{:03}.txt", report.epoch);
            let samples = samples(&model, &text, &seed_text, common)?;
            println!("after epoch {}:\n{samples}", report.epoch);
            glassbox_core::assets::atomic::write_bytes_atomic(&out.join(&name), samples.as_bytes())
                .map_err(glassbox_core::Error::from)?;
            written.push(name);
        }
        Ok(())
    })?;
    common.say_resumed(outcome.resumed_from);
    let held_out = text.vocab.decode(text.validation());
    let inspection = inspect(
        &model,
        &text.vocab,
        corpus_text,
        &held_out,
        out,
        common.seed(),
    )?;
    written.extend(["real-words.txt".to_string(), "cells.png".to_string()]);
    let epochs = outcome.metrics.epochs().to_vec();
    loss_chart(out, &model.name(), &epochs, "character")?;
    written.push("loss.png".into());
    let last = |key: &str| epochs.last().and_then(|e| e.pointer(key)).cloned();
    let summary = json!({
        "model": model.name(),
        "parameters": parameters,
        "characters": text.ids.len(),
        "symbols": text.vocab.len(),
        "epochs": epochs.len(),
        "train_loss": last("/train_loss"),
        "validation_loss": last("/eval/validation_loss"),
        "median_seconds_per_epoch": median_seconds(&epochs),
        "source": source,
        "real_words": inspection["real_words"],
        "cells": inspection["cells"],
    });
    println!(
        "after {} epochs: training loss {}, held-out loss {} nats per character",
        epochs.len(),
        summary["train_loss"],
        summary["validation_loss"]
    );
    let mut metrics = outcome.metrics;
    metrics.set("summary", summary)?;
    for f in written.iter().map(String::as_str).chain(["metrics.json"]) {
        println!("wrote {}", out.join(f).display());
    }
    Ok(())
}

/// loss.png: training and held-out loss per epoch, in nats per `unit`.
pub(crate) fn loss_chart(
    out: &Path,
    model: &str,
    epochs: &[serde_json::Value],
    unit: &str,
) -> anyhow::Result<()> {
    line_chart(
        out.join("loss.png"),
        &LineChart {
            title: format!("{model}: nats per {unit}"),
            x_label: "epoch".into(),
            y_label: format!("cross-entropy (nats per {unit})"),
            series: vec![
                Series::from_epochs("training", epochs, |e| e["train_loss"].as_f64()),
                Series::from_epochs("held out", epochs, |e| {
                    e["eval"]["validation_loss"].as_f64()
                }),
            ],
            y_range: None,
        },
    )?;
    Ok(())
}

/// The median of the epochs' training seconds.
pub(crate) fn median_seconds(epochs: &[serde_json::Value]) -> Option<f64> {
    let seconds: Vec<f64> = epochs
        .iter()
        .filter_map(|e| e["seconds"].as_f64())
        .collect();
    glassbox_core::stats::median(&seconds)
}

/// The same seed text continued at each of [`SAMPLE_TEMPERATURES`].
fn samples(
    model: &CharModel,
    text: &CharText,
    seed_text: &str,
    common: &Common,
) -> glassbox_sequence::Result<String> {
    let mut all = String::new();
    for t in SAMPLE_TEMPERATURES {
        let mut rng = common.seed().stream("text samples");
        let sampling = Sampling::from_temperature(t)?;
        let sample = generate(
            model,
            &text.vocab,
            seed_text,
            SAMPLE_LENGTH,
            sampling,
            &mut rng,
            |_| {},
        )?;
        let label = if t == 0.0 {
            "greedy".to_string()
        } else {
            format!("temperature {t}")
        };
        all.push_str(&format!("--- {label}\n{seed_text}|{sample}\n"));
    }
    Ok(all)
}

/// The first `limit` characters of `text` (all of it without a limit).
pub(crate) fn first_chars(text: &str, limit: Option<usize>) -> anyhow::Result<&str> {
    Ok(match limit {
        Some(0) => anyhow::bail!("invalid --limit 0: expected a number of characters"),
        Some(n) => text
            .char_indices()
            .nth(n)
            .map_or(text, |(end, _)| &text[..end]),
        None => text,
    })
}

/// The Holmes corpus (found as the data locator says) or the file given, and where it came from.
pub(crate) fn load_corpus(
    common: &Common,
    corpus: Option<&Path>,
) -> anyhow::Result<(Corpus, String)> {
    Ok(match corpus {
        Some(path) => (Corpus::load(path)?, path.display().to_string()),
        None => {
            let (c, source) = Corpus::holmes(&common.locator())?;
            (c, source.to_string())
        }
    })
}

fn inspect_cmd(
    common: &Common,
    checkpoint: &Path,
    corpus: Option<&Path>,
    limit: Option<usize>,
) -> anyhow::Result<()> {
    let device = common.device.open()?;
    let trained = load_trained(checkpoint, &device)?;
    let (corpus, source) = load_corpus(common, corpus)?;
    let corpus_text = first_chars(&corpus.text, limit)?;
    let text = CharText::from_text(corpus_text, &corpus.path, trained.window)?;
    println!(
        "{} after {} epochs; words and held-out text from {source}",
        trained.model.name(),
        trained.epoch
    );
    let out = &common.out;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let held_out = text.vocab.decode(text.validation());
    let found = inspect(
        &trained.model,
        &trained.vocab,
        corpus_text,
        &held_out,
        out,
        common.seed(),
    )?;
    let report = json!({
        "checkpoint": checkpoint.display().to_string(),
        "model": trained.model.name(),
        "epoch": trained.epoch,
        "source": source,
        "inspection": found,
    });
    let path = out.join("inspect.json");
    glassbox_core::assets::atomic::write_bytes_atomic(
        &path,
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    println!("wrote {}", path.display());
    Ok(())
}

fn generate_cmd(
    common: &Common,
    checkpoint: &Path,
    seed_text: Option<&str>,
    temperature: f64,
    length: Option<usize>,
) -> anyhow::Result<()> {
    let sampling = Sampling::from_temperature(temperature)?;
    let device = common.device.open()?;
    let saved = SavedModel::open(checkpoint, &device, "a character or word model")?;
    if saved
        .model_name()
        .starts_with(crate::text_words::WORD_MODEL_PREFIX)
    {
        let trained = trained_words(&saved.expecting("a word model"), &device)?;
        let words = length.unwrap_or(100);
        return crate::text_words::generate(common, &trained, seed_text, sampling, words);
    }
    let length = length.unwrap_or(500);
    let trained = trained_chars(&saved.expecting("a character model"), &device)?;
    let seed_text = match seed_text {
        Some(s) => s.to_string(),
        None => seed_text_for(&trained.vocab),
    };
    let mut rng = common.seed().stream("text generate");
    let mut stdout = std::io::stdout().lock();
    write!(stdout, "{seed_text}")?;
    generate(
        &trained.model,
        &trained.vocab,
        &seed_text,
        length,
        sampling,
        &mut rng,
        |c| {
            // A closed pipe ends the program quietly (SIGPIPE); other write errors are not worth a stop.
            let _ = write!(stdout, "{c}").and_then(|()| stdout.flush());
        },
    )?;
    writeln!(stdout)?;
    Ok(())
}
