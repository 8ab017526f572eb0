//! `glassbox text train --level word` and generation from a word model: the vocabulary learned from the
//! training text (tokenizer.json beside the checkpoint), the course's tiny network or the default, the
//! held-out perplexity, samples after the first and the last epoch.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use candle_core::DType;
use candle_nn::VarMap;
use glassbox_core::seed::SeededInit;
use glassbox_sequence::generate::Sampling;
use glassbox_sequence::train::{LanguageModel, Recipe, TrainRun, CHECKPOINT_FILE};
use glassbox_sequence::word_model::{WordModel, WordModelConfig};
use glassbox_sequence::word_train::{next_word_loss, train_words, TrainedWords, WordSampler};
use glassbox_sequence::words::{WordText, TOKENIZER_FILE};
use serde_json::json;

use crate::cli::Common;
use crate::text_cmd::{
    first_chars, load_corpus, loss_chart, median_seconds, Preset, SAMPLE_TEMPERATURES,
};
use crate::text_inspect::DEFAULT_SEED_TEXT;

/// Words in each sample written during training.
const SAMPLE_WORDS: usize = 60;
/// The course's task, on which both presets are compared: the word after 40 words, windows every 3.
const NEXT_WORD_WINDOW: usize = 40;
const NEXT_WORD_STEP: usize = 3;

/// The word network asked for.
pub struct WordModelChoice {
    pub preset: Preset,
    pub hidden: Option<usize>,
    pub vocabulary: usize,
}

impl WordModelChoice {
    fn config(&self, vocabulary: usize) -> WordModelConfig {
        let config = match self.preset {
            Preset::Course => WordModelConfig::course(vocabulary),
            Preset::Default => WordModelConfig::every_step(vocabulary),
        };
        WordModelConfig {
            hidden: self.hidden.unwrap_or(config.hidden),
            ..config
        }
    }
}

/// The prefix of every word model's name.
pub const WORD_MODEL_PREFIX: &str = "word-lstm-";

pub fn train(
    common: &Common,
    corpus: Option<&Path>,
    limit: Option<usize>,
    choice: &WordModelChoice,
    recipe: &Recipe,
    resume: bool,
) -> anyhow::Result<()> {
    if choice.vocabulary < 2 {
        anyhow::bail!(
            "invalid --vocabulary {}: expected at least 2 (the unknown token and one word)",
            choice.vocabulary
        );
    }
    let device = common.device.open()?;
    let out = &common.out;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let (corpus, source) = load_corpus(common, corpus)?;
    let text = first_chars(&corpus.text, limit)?;
    let text = WordText::from_text(text, &corpus.path, choice.vocabulary, recipe.window)?;
    let unknown = |ids: &[u32]| ids.iter().filter(|&&id| id == 0).count() as f64 / ids.len() as f64;
    println!(
        "corpus from {source}: {} tokens, a vocabulary of {} ({:.1}% of the training tokens and {:.1}% \
         of the held-out ones unknown); {} held out",
        text.ids.len(),
        text.tokenizer.len(),
        100.0 * unknown(text.train()),
        100.0 * unknown(text.validation()),
        text.validation().len()
    );
    let varmap = VarMap::new();
    let vb = SeededInit::var_builder(&varmap, common.seed(), DType::F32, &device);
    let model = WordModel::new(choice.config(text.tokenizer.len()), vb, common.seed())?;
    model.start_fresh(&varmap)?;
    let parameters: usize = varmap.all_vars().iter().map(|v| v.elem_count()).sum();
    println!("{}: {parameters} parameters", model.name());
    let run = TrainRun {
        out,
        seed: common.seed(),
        device: &device,
        resume,
    };
    let seed_ids = &text.validation()[..recipe.window];
    let seed_text = text.tokenizer.to_prose(seed_ids);
    let mut written = vec![CHECKPOINT_FILE.to_string(), TOKENIZER_FILE.to_string()];
    let outcome = train_words(&model, &varmap, &text, recipe, &run, |report| {
        if report.epoch == 1 || report.epoch == recipe.epochs {
            let name = format!("samples-epoch-{:03}.txt", report.epoch);
            let sampler = WordSampler {
                model: &model,
                tokenizer: &text.tokenizer,
                window: recipe.window,
            };
            let samples = samples(&sampler, &seed_text, common)?;
            println!("after epoch {}:\n{samples}", report.epoch);
            glassbox_core::assets::atomic::write_bytes_atomic(&out.join(&name), samples.as_bytes())
                .map_err(glassbox_core::Error::from)?;
            written.push(name);
        }
        Ok(())
    })?;
    common.say_resumed(outcome.resumed_from);
    let epochs = outcome.metrics.epochs().to_vec();
    loss_chart(out, &model.name(), &epochs, "word")?;
    written.push("loss.png".into());
    let validation_loss = epochs
        .last()
        .and_then(|e| e.pointer("/eval/validation_loss"))
        .and_then(|v| v.as_f64());
    let next_word = next_word_loss(&model, text.validation(), NEXT_WORD_WINDOW, NEXT_WORD_STEP)?;
    let summary = json!({
        "model": model.name(),
        "parameters": parameters,
        "tokens": text.ids.len(),
        "vocabulary": text.tokenizer.len(),
        "held_out_unknown_share": unknown(text.validation()),
        "epochs": epochs.len(),
        "train_loss": epochs.last().and_then(|e| e.get("train_loss")).cloned(),
        "validation_loss": validation_loss,
        "validation_perplexity": validation_loss.map(f64::exp),
        "next_word": {
            "window": NEXT_WORD_WINDOW,
            "step": NEXT_WORD_STEP,
            "loss": next_word,
            "perplexity": next_word.exp(),
        },
        "median_seconds_per_epoch": median_seconds(&epochs),
        "source": source,
    });
    println!(
        "after {} epochs: held-out perplexity {:.1} over its windows, {:.1} for the word after 40 words",
        epochs.len(),
        validation_loss.map_or(f64::NAN, f64::exp),
        next_word.exp()
    );
    let mut metrics = outcome.metrics;
    metrics.set("summary", summary)?;
    for f in written.iter().map(String::as_str).chain(["metrics.json"]) {
        println!("wrote {}", out.join(f).display());
    }
    Ok(())
}

/// The same seed text continued at each of [`SAMPLE_TEMPERATURES`].
fn samples(
    sampler: &WordSampler,
    seed_text: &str,
    common: &Common,
) -> glassbox_sequence::Result<String> {
    let mut all = String::new();
    for t in SAMPLE_TEMPERATURES {
        let mut rng = common.seed().stream("word samples");
        let sampling = Sampling::from_temperature(t)?;
        let mut sample = String::new();
        sampler.generate(seed_text, SAMPLE_WORDS, sampling, &mut rng, |w| {
            sample.push_str(w)
        })?;
        let label = if t == 0.0 {
            "greedy".to_string()
        } else {
            format!("temperature {t}")
        };
        all.push_str(&format!("--- {label}\n{seed_text} |{sample}\n"));
    }
    Ok(all)
}

pub fn generate(
    common: &Common,
    trained: &TrainedWords,
    seed_text: Option<&str>,
    sampling: Sampling,
    words: usize,
) -> anyhow::Result<()> {
    let seed_text = seed_text.unwrap_or(DEFAULT_SEED_TEXT.trim_end());
    let mut rng = common.seed().stream("text generate");
    let mut stdout = std::io::stdout().lock();
    write!(stdout, "{seed_text}")?;
    trained
        .sampler()
        .generate(seed_text, words, sampling, &mut rng, |piece| {
            // A closed pipe ends the program quietly (SIGPIPE); other write errors are not worth a stop.
            let _ = write!(stdout, "{piece}").and_then(|()| stdout.flush());
        })?;
    writeln!(stdout)?;
    Ok(())
}
