//! Fuzz targets for every parser of outside input in glassbox, and the small runner CI uses.
//!
//! Each target is a function of arbitrary bytes that hands them to one parser the way a user's file would
//! reach it, and panics only when that parser misbehaves: a panic inside it, an error that does not name
//! the file, or a result that breaks the format's own rules (an IDX whose data does not fill its
//! dimensions, a Q table with a non-finite value, ...). Errors are the expected outcome for most inputs.
//!
//! The same functions run two ways:
//! - coverage-guided, under libFuzzer: `cargo xtask fuzz` (cargo-fuzz on the nightly toolchain, the
//!   binaries in `fuzz_targets/`), for campaigns recorded in docs/reliability.md;
//! - blind mutation of generated seeds for a few seconds per target, plus every input a campaign ever
//!   found (`regressions/<target>/`), in `cargo test` ([`campaign`]), so CI keeps both.
//!
//! Memory is part of the contract: [`alloc::CountingAllocator`] measures the heap each input takes, and
//! [`Target::heap_limit`] states the most it may take (a header that claims 4 billion images is refused
//! before anything that size is allocated).

pub mod alloc;
pub mod campaign;
pub mod mutate;
pub mod scratch;
pub mod seeds;
pub mod targets;

/// One parser under test.
#[derive(Clone, Copy)]
pub struct Target {
    pub name: &'static str,
    /// Runs one input; panics when the parser misbehaves.
    pub run: fn(&[u8]),
    /// Inputs of a handful of valid files to mutate from.
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// Whether the input may be gzip, whose content can be up to 1032 times its size.
    pub gzip: bool,
}

/// Heap every input may use whatever its size: the parsers' fixed overheads (a decoder's tables, a
/// tokenizer's machinery).
pub const HEAP_BASE: usize = 64 << 20;

impl Target {
    /// The most heap one input of `len` bytes may take at once: the base, plus room for a few copies of
    /// the content (read, decompressed, parsed) where the content of gzip is at most 1032 times the input
    /// (deflate's limit).
    pub fn heap_limit(&self, len: usize) -> usize {
        let content = if self.gzip { len * 1032 } else { len };
        HEAP_BASE + 4 * content
    }
}

/// Every target, by name.
pub const TARGETS: &[Target] = &[
    Target {
        name: "idx",
        run: targets::idx,
        seeds: seeds::idx,
        gzip: true,
    },
    Target {
        name: "mnist",
        run: targets::mnist,
        seeds: seeds::mnist,
        gzip: false,
    },
    Target {
        name: "checkpoint",
        run: targets::checkpoint,
        seeds: seeds::checkpoint,
        gzip: false,
    },
    Target {
        name: "manifest",
        run: targets::manifest,
        seeds: seeds::manifest,
        gzip: false,
    },
    Target {
        name: "corpus",
        run: targets::corpus,
        seeds: seeds::corpus,
        gzip: false,
    },
    Target {
        name: "tokenizer",
        run: targets::tokenizer,
        seeds: seeds::tokenizer,
        gzip: false,
    },
    Target {
        name: "image",
        run: targets::image,
        seeds: seeds::image,
        gzip: false,
    },
    Target {
        name: "qtable",
        run: targets::qtable,
        seeds: seeds::qtable,
        gzip: false,
    },
    Target {
        name: "pfm",
        run: targets::pfm,
        seeds: seeds::pfm,
        gzip: false,
    },
    Target {
        name: "options",
        run: targets::options,
        seeds: seeds::options,
        gzip: false,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}
