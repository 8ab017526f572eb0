//! Files that lie, given to the `glassbox` command: each is refused with a message naming the file, and
//! the process's peak resident memory (the kernel's count, from `wait4`) stays small whatever the file
//! claims. Run with `--nocapture` to see each command's peak (docs/reliability.md quotes them).
#![cfg(target_os = "linux")]

use std::path::Path;
use std::process::{Command, Stdio};

/// A refusal needs the program and a few buffers; a parser that believed a claim would need gigabytes.
const PEAK_RSS_LIMIT: u64 = 64 << 20;

struct Finished {
    code: i32,
    output: String,
    peak_rss: u64,
}

/// Runs glassbox with its output in files (so a full pipe cannot block it) and reaps it with `wait4`,
/// which reports the peak resident memory of that child alone.
fn run(args: &[&str], dir: &Path) -> Finished {
    let out_path = dir.join("output.txt");
    let out_file = std::fs::File::create(&out_path).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(args)
        .env_remove("GLASSBOX_DATA")
        .env_remove("GLASSBOX_WEIGHTS")
        .env_remove("RUST_BACKTRACE")
        .stdout(Stdio::from(out_file.try_clone().unwrap()))
        .stderr(Stdio::from(out_file))
        .spawn()
        .expect("glassbox starts");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data, fully written by wait4 on success.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    std::mem::forget(child); // already reaped
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    Finished {
        code,
        output: std::fs::read_to_string(&out_path).unwrap(),
        peak_rss: usage.ru_maxrss as u64 * 1024,
    }
}

fn check(dir: &Path, args: &[&str], names: &str, says: &str, code: i32) {
    let done = run(args, dir);
    eprintln!(
        "glassbox {}: exit {}, peak RSS {:.1} MB",
        args.join(" "),
        done.code,
        done.peak_rss as f64 / (1 << 20) as f64
    );
    assert_eq!(done.code, code, "{}", done.output);
    assert!(
        done.output.contains(names) && done.output.contains(says),
        "expected {names} and {says:?} in: {}",
        done.output
    );
    assert!(!done.output.contains("panicked"), "{}", done.output);
    assert!(
        done.peak_rss < PEAK_RSS_LIMIT,
        "peak RSS {} MB",
        done.peak_rss >> 20
    );
}

fn idx_header(magic: u32, dims: &[u32]) -> Vec<u8> {
    let mut bytes = magic.to_be_bytes().to_vec();
    for d in dims {
        bytes.extend(d.to_be_bytes());
    }
    bytes.extend([0u8; 16]);
    bytes
}

/// MNIST files whose headers claim 4 billion images: `data info` reports them unusable, training
/// refuses them.
#[test]
fn mnist_files_claiming_4_billion_images() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mnist = data.join("mnist");
    std::fs::create_dir_all(&mnist).unwrap();
    for split in ["train", "t10k"] {
        let images = idx_header(0x803, &[4_000_000_000, 28, 28]);
        std::fs::write(mnist.join(format!("{split}-images-idx3-ubyte")), images).unwrap();
        let labels = idx_header(0x801, &[4_000_000_000]);
        std::fs::write(mnist.join(format!("{split}-labels-idx1-ubyte")), labels).unwrap();
    }
    let data = data.to_str().unwrap();
    let says = "header promises 4000000000 items";
    check(
        dir.path(),
        &["data", "info", "--data-dir", data],
        "train-images-idx3-ubyte",
        says,
        0,
    );
    let out = dir.path().join("out");
    let args = [
        "mnist",
        "train",
        "--data-dir",
        data,
        "--out",
        out.to_str().unwrap(),
    ];
    check(dir.path(), &args, "train-images-idx3-ubyte", says, 1);
}

/// A character-model checkpoint of a few hundred bytes whose name describes a 4-billion-unit LSTM.
#[test]
fn a_checkpoint_naming_a_huge_model() {
    let dir = tempfile::tempdir().unwrap();
    let header = r#"{"__metadata__":{"glassbox.model":"char-lstm-1x4000000000-pytorch-every-step","glassbox.epoch":"1","vocabulary":"abc","window":"4"},"head.bias":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header.as_bytes());
    bytes.extend([0u8; 12]);
    let path = dir.path().join("huge.safetensors");
    std::fs::write(&path, bytes).unwrap();
    let args = ["text", "generate", "--checkpoint", path.to_str().unwrap()];
    check(dir.path(), &args, "huge.safetensors", "at least", 1);
}

/// A Q table that claims 2^60 states.
#[test]
fn a_q_table_claiming_2_to_the_60_states() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge-table.json");
    let json = r#"{"format":"glassbox-q-table/1","game":"flippers","states":1152921504606846976,"actions":9,"made_by":{},"rows":{}}"#;
    std::fs::write(&path, json).unwrap();
    let out = dir.path().join("out");
    let args = [
        "rl",
        "flippers",
        "play",
        "--table",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    check(
        dir.path(),
        &args,
        "huge-table.json",
        "1152921504606846976",
        1,
    );
}

/// A binary file as a training corpus.
#[test]
fn a_binary_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("program.bin");
    let mut bytes = b"\x7fELF\x02\x01\x01\0".to_vec();
    bytes.extend((0..4096u32).map(|i| (i * 7 % 251) as u8 & 0x7f));
    std::fs::write(&path, bytes).unwrap();
    let out = dir.path().join("out");
    let args = [
        "text",
        "train",
        "--corpus",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    check(dir.path(), &args, "program.bin", "not a text file", 1);
}
