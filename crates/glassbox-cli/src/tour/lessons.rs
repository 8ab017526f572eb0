//! The tour's lessons in the course's order: the commands each runs (quick and full), the figures the
//! page shows, and the numbers it sets beside the full run's and the course's (from docs/lessons/).
//!
//! A command is the `glassbox` arguments after the program name, without `--out`; an argument in braces
//! is filled in by the runner (`super::needs`): `{photo:NAME}` and `{painting:NAME}` are files of the
//! data directory's `images/`, `{cnn}` the MNIST CNN's checkpoint, `{step:NAME}` another step's output
//! directory of the same lesson. A step's `needs` are inputs it finds itself (the VGG16 weights).

/// One lesson of the course: a section of the page.
pub struct Lesson {
    /// The lesson's directory under the tour's output and its name for `--only`.
    pub id: &'static str,
    pub title: &'static str,
    /// The lesson's page in the repository.
    pub doc: &'static str,
    /// A few sentences: what the figures show (plain text).
    pub about: &'static str,
    pub steps: &'static [Step],
    pub metrics: &'static [Metric],
}

/// One command of a lesson, run into `<tour>/<lesson>/<dir>/`.
pub struct Step {
    pub dir: &'static str,
    pub quick: &'static [&'static str],
    /// The lesson's default settings (what the course runs).
    pub full: &'static [&'static str],
    pub needs: &'static [Need],
    pub figures: &'static [Figure],
}

/// An input a command finds by itself; the step is skipped, with the way to get it, when it is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// The full VGG16 with its classifier (`cargo xtask fetch-weights`).
    Vgg16,
    /// VGG16's convolutions: the full VGG16, or the shared vgg16_features_hed.safetensors.
    VggFeatures,
    /// A photo the command looks up by itself in the data directory's images/photos/.
    Photo(&'static str),
}

/// A figure: a PNG in the step's directory (`*` matches any run of characters, files in name order).
pub struct Figure {
    pub file: &'static str,
    pub caption: &'static str,
}

/// A number from a step's metrics.json.
pub struct Metric {
    pub label: &'static str,
    /// The step's directory (its metrics.json), or `STEP/FILE.json` for another file.
    pub step: &'static str,
    /// A JSON pointer into metrics.json (`/test/accuracy`).
    pub pointer: &'static str,
    pub format: Format,
    /// glassbox's full run, as docs/lessons/ reports it (empty: none).
    pub full: &'static str,
    /// The course's number (empty: the course gives none).
    pub course: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A share in 0..1 as a percentage with two decimals.
    Percent,
    /// Four significant decimals.
    Decimal,
    /// A whole number.
    Count,
    /// Seconds.
    Seconds,
}

const fn fig(file: &'static str, caption: &'static str) -> Figure {
    Figure { file, caption }
}

const fn metric(
    label: &'static str,
    step: &'static str,
    pointer: &'static str,
    format: Format,
    full: &'static str,
    course: &'static str,
) -> Metric {
    Metric {
        label,
        step,
        pointer,
        format,
        full,
        course,
    }
}

use Format::*;

/// Every lesson, in the course's order.
pub static LESSONS: &[Lesson] = &[
    Lesson {
        id: "conv",
        title: "Convolution by hand",
        doc: "docs/lessons/convolution.md",
        about: "A 1x1 filter (R + G - B) finds yellow; 3x3 filters blur and find edges and stripes; the \
                output sizes of valid, same, strided and transposed convolutions; a three-layer face detector \
                of hand-made filters that tells a forward face from a profile.",
        steps: &[
            Step {
                dir: "yellow",
                quick: &["conv", "yellow", "--photo", "{photo:astronaut.png}"],
                full: &["conv", "yellow", "--photo", "{photo:astronaut.png}"],
                needs: &[],
                figures: &[
                    fig("yellow.png", "the yellow detector's response"),
                    fig("yellow_relu.png", "after a ReLU"),
                ],
            },
            Step {
                dir: "filters",
                quick: &["conv", "filters", "--photo", "{photo:coffee.png}"],
                full: &["conv", "filters", "--photo", "{photo:coffee.png}"],
                needs: &[],
                figures: &[
                    fig("filters_binary.png", "3x3 filters on a random binary image"),
                    fig("filters_photo.png", "the same filters on a photo"),
                ],
            },
            Step {
                dir: "sizes",
                quick: &["conv", "sizes"],
                full: &["conv", "sizes"],
                needs: &[],
                figures: &[
                    fig("sizes_padding.png", "valid, same and full padding"),
                    fig("sizes_transposed.png", "a transposed convolution"),
                ],
            },
            Step {
                dir: "faces",
                quick: &["conv", "faces"],
                full: &["conv", "faces"],
                needs: &[],
                figures: &[
                    fig("faces_filters.png", "the face detector's filters"),
                    fig("faces_forward.png", "the course's face, every map"),
                    fig("faces_profile.png", "a profile"),
                ],
            },
        ],
        metrics: &[
            metric("forward face: layer-3 score (max 4)", "faces", "/metrics/masks/forward/forward_score", Count, "4", "4"),
            metric("face missing an eye: score", "faces", "/metrics/masks/missing_eye/forward_score", Count, "3", ""),
            metric("profile: profile score (max 3)", "faces", "/metrics/masks/profile/profile_score", Count, "3", "3"),
        ],
    },
    Lesson {
        id: "mnist",
        title: "The MNIST CNN",
        doc: "docs/lessons/cnn.md",
        about: "The course's Keras CNN (two convolutions, max-pooling, dropout, two dense layers; 1.2 million \
                parameters) trained with Adam on handwritten digits: loss and accuracy per epoch, the confusion \
                matrix, and the digits it gets wrong. The quick run is one epoch; the course trains twelve.",
        steps: &[Step {
            dir: "train",
            quick: &["mnist", "train", "--epochs", "1"],
            full: &["mnist", "train"],
            needs: &[],
            figures: &[
                fig("confusion.png", "the confusion matrix on the test digits"),
                fig("mistakes.png", "test digits it gets wrong"),
                fig("predictions.png", "test digits with its guesses"),
                fig("loss.png", "loss per epoch"),
                fig("accuracy.png", "accuracy per epoch"),
            ],
        }],
        metrics: &[
            metric("test accuracy after epoch 1", "train", "/epochs/0/eval/test_accuracy", Percent, "98.06%", "98.37%"),
            metric("test accuracy after the last epoch", "train", "/test/accuracy", Percent, "99.09% (12 epochs)", "99.20% (12 epochs)"),
            metric("parameters (counted)", "train", "/parameters", Count, "1199882", "1199882"),
        ],
    },
    Lesson {
        id: "vgg",
        title: "VGG16 and seeing inside",
        doc: "docs/lessons/cnn.md",
        about: "The pretrained VGG16: the responses of a first-block layer to a photo, what filters of a deeper \
                layer want to see (gradient ascent from noise over growing octaves), HED's edges from VGG16's \
                blocks, and ImageNet's top five classes where the full VGG16 has been fetched.",
        steps: &[
            Step {
                dir: "classify",
                quick: &["vgg", "classify", "{photo:chelsea.png}", "{photo:coffee.png}"],
                full: &["vgg", "classify", "{photo:chelsea.png}", "{photo:coffee.png}"],
                needs: &[Need::Vgg16],
                figures: &[fig("classify-*.png", "top-5 ImageNet classes")],
            },
            Step {
                dir: "responses",
                quick: &["vgg", "responses", "{photo:chelsea.png}"],
                full: &["vgg", "responses", "{photo:chelsea.png}"],
                needs: &[Need::VggFeatures],
                figures: &[fig("responses-*.png", "how the first filters of block1_conv2 respond")],
            },
            Step {
                dir: "visualize",
                quick: &["vgg", "visualize", "--layer", "block3_conv1", "--filters", "8"],
                full: &["vgg", "visualize", "--layer", "block3_conv1", "--filters", "16"],
                needs: &[Need::VggFeatures],
                figures: &[
                    fig("filters-*.png", "what block3_conv1's filters want to see"),
                    fig("objective-*.png", "the climbed activation per step"),
                ],
            },
            Step {
                dir: "edges",
                quick: &["vgg", "edges", "{photo:chelsea.png}"],
                full: &["vgg", "edges", "{photo:chelsea.png}"],
                needs: &[],
                figures: &[
                    fig("edges.png", "HED's fused edge map"),
                    fig("edges-sides.png", "the five side outputs"),
                ],
            },
        ],
        metrics: &[
            metric("filters whose objective rose", "visualize", "/metrics/rose", Count, "16 of 16", ""),
            metric("edges: mean edge probability", "edges", "/metrics/mean_probability", Decimal, "", ""),
        ],
    },
    Lesson {
        id: "adversary",
        title: "Adversarial examples",
        doc: "docs/lessons/cnn.md",
        about: "FGSM and PGD against the MNIST CNN trained above: how much accuracy is left when each pixel may \
                move by eps; and a PGD attack on HED that erases the edges inside a box of a photo while the \
                photo looks the same. Attacking VGG16's classes needs the full VGG16.",
        steps: &[
            Step {
                dir: "mnist",
                quick: &["adversary", "mnist", "--checkpoint", "{cnn}", "--limit", "500"],
                full: &["adversary", "mnist", "--checkpoint", "{cnn}"],
                needs: &[],
                figures: &[fig("adversary.png", "digits before and after the attacks")],
            },
            Step {
                dir: "edges",
                quick: &["adversary", "edges", "{photo:chelsea.png}"],
                full: &["adversary", "edges", "{photo:chelsea.png}"],
                needs: &[],
                figures: &[fig("adversary-edges.png", "HED's edges erased inside the box")],
            },
            Step {
                dir: "vgg",
                quick: &["adversary", "vgg", "{photo:chelsea.png}"],
                full: &["adversary", "vgg", "{photo:chelsea.png}"],
                needs: &[Need::Vgg16],
                figures: &[fig("adversary-vgg-*.png", "VGG16's top class before and after")],
            },
        ],
        metrics: &[
            metric("clean accuracy", "mnist/metrics-adversary.json", "/metrics/clean_accuracy", Percent, "99.09%", ""),
            metric("accuracy under FGSM eps 0.25", "mnist/metrics-adversary.json", "/metrics/attacks/4/accuracy", Percent, "26.48%", ""),
            metric("accuracy under PGD eps 0.1 (20 steps)", "mnist/metrics-adversary.json", "/metrics/attacks/6/accuracy", Percent, "61.54%", ""),
            metric("edges inside the box, before", "edges", "/metrics/inside_before", Decimal, "0.223", ""),
            metric("edges inside the box, after", "edges", "/metrics/inside_after", Decimal, "0.062", ""),
        ],
    },
    Lesson {
        id: "autoencoders",
        title: "Autoencoders",
        doc: "docs/lessons/generative.md",
        about: "The tiny autoencoder that memorizes one tiger (fed a cat, it still draws the tiger), then dense \
                and convolutional autoencoders on MNIST: reconstructions and the loss curves, and the deep \
                model's two-number code.",
        steps: &[
            Step {
                dir: "tiger",
                quick: &["ae", "tiger", "--epochs", "10"],
                full: &["ae", "tiger"],
                needs: &[Need::Photo("tiger-bw-100.jpg"), Need::Photo("chelsea.png")],
                figures: &[
                    fig("memorization.png", "the tiger, a cat and a black square through the network"),
                    fig("many.png", "trained on 104 photos instead"),
                ],
            },
            Step {
                dir: "shallow",
                quick: &["ae", "mnist", "--model", "shallow", "--epochs", "3"],
                full: &["ae", "mnist", "--model", "shallow"],
                needs: &[],
                figures: &[fig("reconstructions.png", "test digits and their reconstructions")],
            },
            Step {
                dir: "deep",
                quick: &["ae", "mnist", "--model", "deep", "--epochs", "2"],
                full: &["ae", "mnist", "--model", "deep"],
                needs: &[],
                figures: &[
                    fig("reconstructions.png", "reconstructions through a code of two numbers"),
                    fig("codes.png", "the test digits' codes"),
                    fig("loss.png", "loss per epoch"),
                ],
            },
            Step {
                dir: "conv",
                quick: &["ae", "mnist", "--model", "conv", "--epochs", "1", "--train-limit", "10000"],
                full: &["ae", "mnist", "--model", "conv"],
                needs: &[],
                figures: &[fig("reconstructions.png", "the convolutional autoencoder's reconstructions")],
            },
        ],
        metrics: &[
            metric("tiger: the cat's output vs the tiger (correlation)", "tiger", "/memorization/1/output_tiger_correlation", Decimal, "", ""),
            metric("shallow 784-20-784: test loss", "shallow", "/summary/test_loss", Decimal, "0.1136 (50 epochs)", "0.116 (50 epochs)"),
            metric("deep, 2-D code: test loss", "deep", "/summary/test_loss", Decimal, "0.1664 (50 epochs)", "0.1870 (50 epochs)"),
            metric("convolutional: test loss", "conv", "/summary/test_loss", Decimal, "0.0766 (50 epochs)", "0.0762 (50 epochs)"),
        ],
    },
    Lesson {
        id: "vae",
        title: "The variational autoencoder",
        doc: "docs/lessons/generative.md",
        about: "A VAE with a code of two numbers: digits decoded from a lattice over the code plane, the test \
                digits' codes, random digits, and the samples judged by the MNIST CNN (how balanced and how \
                confident its verdicts are, and a FID on its features).",
        steps: &[Step {
            dir: "train",
            quick: &["vae", "mnist", "--epochs", "5", "--judge-with", "{cnn}", "--judge-samples", "2000"],
            full: &["vae", "mnist", "--judge-with", "{cnn}"],
            needs: &[],
            figures: &[
                fig("lattice.png", "digits decoded from a lattice over the code plane"),
                fig("codes.png", "the test digits' codes"),
                fig("random-digits.png", "digits from random codes"),
                fig("reconstructions.png", "test digits and their reconstructions"),
                fig("loss.png", "loss per epoch"),
            ],
        }],
        metrics: &[
            metric("test ELBO (nats per image)", "train", "/summary/test_elbo_nats", Decimal, "-139.02 (50 epochs)", ""),
            metric("samples: class entropy (nats, max 2.30)", "train", "/judge/samples/entropy", Decimal, "", ""),
            metric("samples: FID on the CNN's features", "train", "/judge/samples/fid", Decimal, "", ""),
        ],
    },
    Lesson {
        id: "denoising",
        title: "Denoising",
        doc: "docs/lessons/generative.md",
        about: "The convolutional autoencoder trained to remove Gaussian noise (std 0.5) from digits: noisy \
                inputs, its outputs, and the clean digits.",
        steps: &[Step {
            dir: "train",
            quick: &["ae", "mnist", "--model", "denoise", "--epochs", "2", "--train-limit", "10000"],
            full: &["ae", "mnist", "--model", "denoise"],
            needs: &[],
            figures: &[
                fig("reconstructions.png", "noisy digits, the network's output, the clean digits"),
                fig("loss.png", "loss per epoch"),
            ],
        }],
        metrics: &[
            metric("train loss", "train", "/summary/train_loss", Decimal, "0.0942 (100 epochs)", "0.0945 (100 epochs)"),
            metric("test loss", "train", "/summary/test_loss", Decimal, "0.0938 (100 epochs)", "0.0938 (100 epochs)"),
        ],
    },
    Lesson {
        id: "gan",
        title: "GANs",
        doc: "docs/lessons/generative.md",
        about: "A DCGAN on MNIST: the same noise decoded after each epoch, the final samples, both players' \
                losses, and the samples judged by the MNIST CNN. The course's own setup is in the full \
                commands (it stalls for 15 epochs, see the lesson).",
        steps: &[Step {
            dir: "dcgan",
            quick: &[
                "gan", "mnist", "--setup", "dcgan", "--epochs", "3", "--train-limit", "10000", "--batch-size", "64",
                "--judge-with", "{cnn}", "--judge-samples", "2000",
            ],
            full: &["gan", "mnist", "--setup", "dcgan", "--epochs", "10", "--judge-with", "{cnn}"],
            needs: &[],
            figures: &[
                fig("samples.png", "samples"),
                fig("evolution.png", "the same noise after each epoch"),
                fig("losses.png", "both players' losses"),
            ],
        }],
        metrics: &[
            metric("samples: class entropy (nats, max 2.30)", "dcgan", "/judge/samples/entropy", Decimal, "2.266 (10 epochs)", ""),
            metric("samples: the CNN's mean confidence", "dcgan", "/judge/samples/mean_confidence", Decimal, "0.872 (10 epochs)", ""),
            metric("samples: FID on the CNN's features", "dcgan", "/judge/samples/fid", Decimal, "31.9 (10 epochs)", ""),
        ],
    },
    Lesson {
        id: "rl",
        title: "Q-learning games",
        doc: "docs/lessons/rl.md",
        about: "Tabular Q-learning on the course's Flippers puzzle (a 3x3 board of coins to turn to heads) and on \
                tic-tac-toe against a mostly perfect opponent: a game played by the learned table, and the \
                training curves. Both run at full settings: they take a second.",
        steps: &[
            Step {
                dir: "flippers",
                quick: &["rl", "flippers", "train"],
                full: &["rl", "flippers", "train"],
                needs: &[],
                figures: &[
                    fig("game.png", "a game played by the learned table"),
                    fig("training.png", "moves per game while training"),
                ],
            },
            Step {
                dir: "tictactoe",
                quick: &["rl", "tictactoe", "train"],
                full: &["rl", "tictactoe", "train"],
                needs: &[],
                figures: &[fig("training.png", "X's reward while training")],
            },
        ],
        metrics: &[
            metric("Flippers: starts solved (of 512)", "flippers", "/metrics/evaluation/solved", Count, "448", "330"),
            metric("Flippers: starts stuck", "flippers", "/metrics/evaluation/stuck", Count, "64", "182"),
            metric("Flippers: mean moves with surprises", "flippers", "/metrics/evaluation/surprise_mean_moves", Decimal, "7.20", "17.69"),
            metric("tic-tac-toe: minimax-optimal moves", "tictactoe", "/metrics/minimax_agreement/share", Percent, "99.67%", ""),
        ],
    },
    Lesson {
        id: "render",
        title: "Path tracing with Q-learning",
        doc: "docs/lessons/path-tracing.md",
        about: "A path tracer whose next direction is learned by Q-learning (Dahm & Keller): the Cornell box, \
                and light through a door, where plain path tracing rarely finds the light and the guided \
                one learns the way; compared at equal samples per pixel against a high-sample reference.",
        steps: &[
            Step {
                dir: "cornell",
                quick: &["render", "--scene", "cornell", "--spp", "64"],
                full: &["render", "--scene", "cornell", "--spp", "1024"],
                needs: &[],
                figures: &[fig("render_*.png", "the Cornell box (next-event estimation)")],
            },
            Step {
                dir: "door",
                quick: &[
                    "render", "compare", "--scene", "door", "--size", "64x64", "--spp", "256", "--seeds", "1",
                    "--reference-spp", "1024",
                ],
                full: &[
                    "render", "compare", "--scene", "door", "--size", "128x128", "--spp", "1024",
                    "--reference-spp", "16384",
                ],
                needs: &[],
                figures: &[
                    fig("compare_*spp.png", "plain and guided at equal samples, and the reference"),
                    fig("compare_*closeup.png", "close-up"),
                ],
            },
        ],
        metrics: &[
            metric("Cornell box: mean red radiance", "cornell", "/mean_radiance/0", Decimal, "", "0.2401 (Mitsuba 3)"),
            metric("door: plain relMSE", "door", "/integrators/0/relmse_mean", Decimal, "0.0605 (1024 spp)", ""),
            metric("door: guided relMSE", "door", "/integrators/1/relmse_mean", Decimal, "0.0079 (1024 spp)", ""),
        ],
    },
    Lesson {
        id: "text",
        title: "Character and word LSTMs",
        doc: "docs/lessons/sequence.md",
        about: "Two-layer LSTMs on the Sherlock Holmes stories: a character model (its samples, the share of real \
                words it writes, and memory cells that track quotations and word positions) and a word model \
                (perplexity on held-out text). The quick runs are smaller (two LSTM(128)) and read the start of \
                the corpus twice.",
        steps: &[
            Step {
                dir: "char",
                quick: &[
                    "text", "train", "--limit", "800000", "--epochs", "2", "--hidden", "128", "--batch-size", "8",
                ],
                full: &["text", "train"],
                needs: &[],
                figures: &[
                    fig("cells.png", "memory cells over held-out text"),
                    fig("loss.png", "loss per epoch"),
                ],
            },
            Step {
                dir: "word",
                quick: &[
                    "text", "train", "--level", "word", "--limit", "400000", "--epochs", "2", "--hidden", "128",
                    "--batch-size", "16",
                ],
                full: &["text", "train", "--level", "word"],
                needs: &[],
                figures: &[fig("loss.png", "loss per epoch")],
            },
        ],
        metrics: &[
            metric("characters: held-out loss (nats)", "char", "/summary/validation_loss", Decimal, "1.2188 (20 epochs)", ""),
            metric("characters: real words at temperature 0.5", "char", "/summary/real_words/share", Percent, "99.0%", ""),
            metric("words: held-out perplexity", "word", "/summary/validation_perplexity", Decimal, "79.9 (10 epochs)", "433.6 (its network, run by glassbox)"),
        ],
    },
    Lesson {
        id: "dream",
        title: "Deep dreaming",
        doc: "docs/lessons/synthesis.md",
        about: "A photo pushed, by gradient ascent over octaves, towards what VGG16's block4 and block5 respond \
                to (the \"eyes\" preset): the dream beside the photo, and the objective's climb.",
        steps: &[Step {
            dir: "eyes",
            quick: &["dream", "{photo:chelsea.png}"],
            full: &["dream", "{photo:chelsea.png}", "--preset", "eyes"],
            needs: &[Need::VggFeatures],
            figures: &[
                fig("dream-side-by-side.png", "the photo and its dream"),
                fig("objective.png", "the objective per step and octave"),
            ],
        }],
        metrics: &[],
    },
    Lesson {
        id: "style",
        title: "Style transfer",
        doc: "docs/lessons/synthesis.md",
        about: "Gatys et al.: a photo repainted with a painting's Gram matrices on VGG16, minimized by L-BFGS; the \
                result, the losses per step, and the Gram matrices of the painting and of the result.",
        steps: &[Step {
            dir: "starry-night",
            quick: &[
                "style", "--content", "{photo:chelsea.png}", "--style",
                "{painting:van-gogh-starry-night-1889.jpg}", "--size", "256", "--steps", "50",
            ],
            full: &[
                "style", "--content", "{photo:chelsea.png}", "--style",
                "{painting:van-gogh-starry-night-1889.jpg}",
            ],
            needs: &[Need::VggFeatures],
            figures: &[
                fig("style-transfer.png", "photo, painting, result"),
                fig("losses.png", "the losses per step"),
                fig("gram-matrices.png", "Gram matrices of the painting and of the result"),
            ],
        }],
        metrics: &[
            metric("style loss, first step", "starry-night", "/metrics/first/style", Decimal, "", ""),
            metric("style loss, last step", "starry-night", "/metrics/last/style", Decimal, "", ""),
            metric("seconds per evaluation", "starry-night", "/metrics/seconds_per_evaluation", Seconds, "", ""),
        ],
    },
];
