//! Writes every target's seeds as a libFuzzer corpus: `DIR/<target>/seed-N`. Files already there (a
//! corpus grown by earlier campaigns) are kept. `cargo xtask fuzz` runs this before each campaign.

use std::path::PathBuf;

fn main() {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: write_seeds DIR");
        std::process::exit(2);
    };
    for target in glassbox_fuzz::TARGETS {
        let corpus = dir.join(target.name);
        if let Err(e) = std::fs::create_dir_all(&corpus) {
            eprintln!("cannot create {}: {e}", corpus.display());
            std::process::exit(1);
        }
        for (i, seed) in (target.seeds)().iter().enumerate() {
            let path = corpus.join(format!("seed-{i}"));
            if let Err(e) = std::fs::write(&path, seed) {
                eprintln!("cannot write {}: {e}", path.display());
                std::process::exit(1);
            }
        }
    }
}
