//! The training commands under faults, on the embedded MNIST subset and the embedded corpus slice:
//!
//! - SIGKILL mid-epoch (MNIST CNN, character LSTM, VAE, GAN) and mid-write (checkpoint, metrics): the files
//!   on disk are never corrupt, and the resumed run ends with the checkpoint, byte for byte, of a run
//!   that was never interrupted. The test hooks of `glassbox_assets::testhook` stop the process at the
//!   exact point before it is killed, so no test races a timer.
//! - A NaN loss or infinite weights: a clear error naming the epoch (and batch), a non-zero exit, the
//!   previous checkpoint intact, and `metrics.json` saying where the run stopped.
//! - An output directory that is a file, read-only or full (a file size limit on the child): a clear
//!   error naming the file, and never a half-written file where a good one was.
//! - Two runs into one directory: the second is refused, naming the first; killing the first leaves no
//!   stale lock.
//! - One MNIST epoch gives the same checkpoint with 1 or 2 threads and beside a process that hogs the CPU.
#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::Duration;

use candle_core::{DType, Device};
use common::{json, text};
use glassbox_core::checkpoint::Checkpoint;

/// A small MNIST run: 10 batches of 64 an epoch, 100 test digits.
const MNIST: &[&str] = &[
    "mnist",
    "train",
    "--epochs",
    "2",
    "--train-limit",
    "640",
    "--test-limit",
    "100",
    "--batch-size",
    "64",
];

/// A small character LSTM on the first 20,000 characters of the embedded slice: 12 batches an epoch.
const TEXT: &[&str] = &[
    "text",
    "train",
    "--limit",
    "20000",
    "--hidden",
    "32",
    "--batch-size",
    "16",
    "--epochs",
    "2",
];

/// The VAE, 10 batches of 64 an epoch.
const VAE: &[&str] = &[
    "vae",
    "mnist",
    "--epochs",
    "2",
    "--train-limit",
    "640",
    "--test-limit",
    "100",
    "--batch-size",
    "64",
];

/// The DCGAN, 10 batches of 32 an epoch (both players, their optimizers and the batch norms' running
/// averages in one checkpoint).
const GAN: &[&str] = &[
    "gan",
    "mnist",
    "--epochs",
    "2",
    "--train-limit",
    "320",
    "--batch-size",
    "32",
];

/// How long a paused child may take to reach its pause.
const PAUSE_TIMEOUT: Duration = Duration::from_secs(180);

const CHECKPOINT: &str = "checkpoint.safetensors";

/// `glassbox ARGS --out OUT` on the embedded data, with no test hook unless the test sets one.
fn command(args: &[&str], out: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_glassbox"));
    cmd.args(args)
        .arg("--out")
        .arg(out)
        .env_remove("GLASSBOX_DATA")
        .env_remove("GLASSBOX_WEIGHTS")
        .env_remove(glassbox_core::assets::testhook::PAUSE_WRITE)
        .env_remove(glassbox_core::assets::testhook::PAUSE_BATCH);
    cmd
}

fn run(mut cmd: Command) -> Output {
    cmd.output().expect("glassbox runs")
}

fn run_ok(cmd: Command, what: &str) -> String {
    let o = run(cmd);
    let s = text(&o);
    assert!(o.status.success(), "{what} failed: {s}");
    s
}

/// A run that fails: its exit status must be 1 (an error, not a panic's 101 or a signal).
fn run_failing(cmd: Command, what: &str) -> String {
    let o = run(cmd);
    let s = text(&o);
    assert_eq!(o.status.code(), Some(1), "{what}: {s}");
    assert!(!s.contains("panicked"), "{what} panicked: {s}");
    s
}

/// Starts `cmd` with the test hook `hook=value`, waits for it to say it paused, and returns it still
/// running (paused) with what it wrote to standard error so far.
fn start_paused(mut cmd: Command, hook: &str, value: &str, log: &Path) -> (Child, String) {
    cmd.env(hook, value)
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("glassbox starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    loop {
        match rx.recv_timeout(PAUSE_TIMEOUT) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
                if line.contains("glassbox test hook: paused") {
                    return (child, seen);
                }
            }
            Err(e) => {
                let _ = child.kill();
                let status = child.wait().unwrap();
                let stdout = std::fs::read_to_string(log).unwrap_or_default();
                panic!("{hook}={value}: no pause ({e:?}, {status}):\n{stdout}\n{seen}");
            }
        }
    }
}

/// Runs `cmd` until the test hook pauses it, then SIGKILLs it (what `Child::kill` sends on Unix).
fn kill_when_paused(cmd: Command, hook: &str, value: &str, log: &Path) -> String {
    let (mut child, seen) = start_paused(cmd, hook, value, log);
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL),
        "{status}"
    );
    seen
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Checks that two checkpoints are the same bytes; if not, says which entries differ.
fn assert_same_checkpoint(what: &str, got: &Path, want: &[u8]) {
    let bytes = read(got);
    if bytes == want {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let wanted = dir.path().join("wanted.safetensors");
    std::fs::write(&wanted, want).unwrap();
    let (a, b) = (load(got), load(&wanted));
    let mut problems = Vec::new();
    if a.meta != b.meta {
        problems.push(format!("metadata {:?} vs {:?}", a.meta, b.meta));
    }
    let mut names: Vec<&String> = b.tensors.keys().collect();
    names.sort();
    for name in names {
        let values = |c: &Checkpoint| {
            c.tensors.get(name).map(|t| {
                t.flatten_all()
                    .unwrap()
                    .to_dtype(DType::F64)
                    .unwrap()
                    .to_vec1::<f64>()
                    .unwrap()
            })
        };
        let (x, y) = (values(&a), values(&b));
        if x != y {
            let differ = match (&x, &y) {
                (Some(x), Some(y)) => x.iter().zip(y).filter(|(p, q)| p != q).count(),
                _ => 0,
            };
            problems.push(format!("{name}: {differ} values differ (or missing)"));
        }
    }
    panic!(
        "{what}: {} is not the uninterrupted run's checkpoint ({} vs {} bytes): {}",
        got.display(),
        bytes.len(),
        want.len(),
        problems.join("; ")
    );
}

fn load(path: &Path) -> Checkpoint {
    Checkpoint::load(path, &Device::Cpu)
        .unwrap_or_else(|e| panic!("{}: does not load: {e}", path.display()))
}

/// The temporary files the atomic writer left in `dir`.
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tmp"))
        .collect();
    found.sort();
    found
}

/// The second epoch's training loss in a run's metrics.json.
fn second_epoch_loss(out: &Path) -> f64 {
    let m = json(&out.join("metrics.json"));
    m["epochs"][1]["train_loss"]
        .as_f64()
        .unwrap_or_else(|| panic!("no second epoch in {m}"))
}

/// What an uninterrupted run of `args` leaves: its checkpoint's bytes and its second epoch's loss.
struct Reference {
    checkpoint: Vec<u8>,
    loss: f64,
}

fn reference(args: &[&str]) -> Reference {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    run_ok(command(args, &out), "the uninterrupted run");
    Reference {
        checkpoint: read(&out.join(CHECKPOINT)),
        loss: second_epoch_loss(&out),
    }
}

/// The uninterrupted MNIST run, shared by the tests that resume one.
fn mnist_reference() -> &'static Reference {
    static REFERENCE: OnceLock<Reference> = OnceLock::new();
    REFERENCE.get_or_init(|| reference(MNIST))
}

/// Kills `args` after batch 4 of epoch 2, checks what is on disk, resumes, and compares with `want`.
fn killed_mid_epoch_resumes_identically(args: &[&str], want: &Reference) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let hook = glassbox_core::assets::testhook::PAUSE_BATCH;
    let seen = kill_when_paused(command(args, &out), hook, "2:4", &dir.path().join("log"));
    assert!(seen.contains("after batch 4 of epoch 2"), "{seen}");
    // Killed mid-epoch 2: the checkpoint is epoch 1's, whole; metrics.json is whole JSON.
    assert_eq!(load(&out.join(CHECKPOINT)).meta.epoch, 1);
    assert_eq!(
        json(&out.join("metrics.json"))["epochs"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let s = run_ok(command(args, &out), "the resumed run");
    assert!(s.contains("resumed after epoch 1"), "{s}");
    assert_same_checkpoint(&args.join(" "), &out.join(CHECKPOINT), &want.checkpoint);
    assert_eq!(second_epoch_loss(&out), want.loss);
}

#[test]
fn mnist_killed_mid_epoch_resumes_to_the_same_checkpoint() {
    killed_mid_epoch_resumes_identically(MNIST, mnist_reference());
}

#[test]
fn the_character_lstm_killed_mid_epoch_resumes_to_the_same_checkpoint() {
    killed_mid_epoch_resumes_identically(TEXT, &reference(TEXT));
}

#[test]
fn the_vae_killed_mid_epoch_resumes_to_the_same_checkpoint() {
    killed_mid_epoch_resumes_identically(VAE, &reference(VAE));
}

#[test]
fn the_gan_killed_mid_epoch_resumes_to_the_same_checkpoint() {
    killed_mid_epoch_resumes_identically(GAN, &reference(GAN));
    // The course's dense GAN: other networks, the same loop.
    let course = [GAN, &["--setup", "course"]].concat();
    killed_mid_epoch_resumes_identically(&course, &reference(&course));
}

/// Killed half-way through writing epoch 2's checkpoint (or metrics.json): the file at the real path is
/// epoch 1's, whole; the half-written temporary file is there, and the resumed run removes it and ends
/// with the uninterrupted run's checkpoint.
#[test]
fn mnist_killed_mid_write_keeps_the_last_files_and_resumes_to_the_same_checkpoint() {
    let want = mnist_reference();
    // metrics.json is written when the run starts, then after each epoch (before the checkpoint).
    for target in ["checkpoint.safetensors:2", "metrics.json:3"] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let hook = glassbox_core::assets::testhook::PAUSE_WRITE;
        let seen = kill_when_paused(command(MNIST, &out), hook, target, &dir.path().join("log"));
        let name = target.split(':').next().unwrap();
        assert!(
            seen.contains(&format!("writing {}", out.join(name).display())),
            "{seen}"
        );
        let left = temporaries(&out);
        assert_eq!(left.len(), 1, "{target}: {left:?}");
        let ck = load(&out.join(CHECKPOINT));
        assert_eq!(ck.meta.epoch, 1, "{target}");
        let m = json(&out.join("metrics.json"));
        let recorded = m["epochs"].as_array().unwrap().len();
        // The checkpoint write follows epoch 2's metrics; the metrics write precedes the checkpoint.
        assert_eq!(recorded, if name == CHECKPOINT { 2 } else { 1 }, "{m}");
        let s = run_ok(command(MNIST, &out), "the resumed run");
        assert!(s.contains("resumed after epoch 1"), "{target}: {s}");
        assert_eq!(temporaries(&out), Vec::<PathBuf>::new(), "{target}");
        assert_same_checkpoint(target, &out.join(CHECKPOINT), &want.checkpoint);
        assert_eq!(second_epoch_loss(&out), want.loss, "{target}");
    }
}

/// Runs `args` for one epoch into `out`, then again for two with `--lr lr`, which must fail with
/// `expected` (and exit status 1), keep epoch 1's checkpoint and say in metrics.json where it stopped.
fn diverges(args: &[&str], out: &Path, lr: &str, expected: &str) -> serde_json::Value {
    let mut first = command(args, out);
    first.args(["--epochs", "1"]);
    run_ok(first, "epoch 1");
    let good = read(&out.join(CHECKPOINT));
    let mut cmd = command(args, out);
    cmd.args(["--epochs", "2", "--lr", lr]);
    let s = run_failing(cmd, &format!("--lr {lr}"));
    assert!(s.contains(expected), "--lr {lr}: {s}");
    assert!(s.contains("lower the learning rate"), "--lr {lr}: {s}");
    assert_eq!(
        read(&out.join(CHECKPOINT)),
        good,
        "--lr {lr}: checkpoint changed"
    );
    assert_eq!(temporaries(out), Vec::<PathBuf>::new());
    let m = json(&out.join("metrics.json"));
    let stopped = m["stopped"].clone();
    assert_eq!(stopped["epoch"], 2, "--lr {lr}: {m}");
    assert!(
        stopped["error"]
            .as_str()
            .is_some_and(|e| e.contains(expected)),
        "--lr {lr}: {stopped}"
    );
    stopped
}

/// A learning rate of 1e10 turns the loss into NaN in epoch 2's second batch. Then the run stops with a
/// clear error and exit status 1, epoch 1's checkpoint stays, metrics.json says where it stopped, and
/// with a sane rate the run goes on from epoch 1 as if nothing had happened.
#[test]
fn a_nan_loss_stops_with_where_it_happened_and_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // MNIST without its --epochs 2 (each run here sets its own).
    let args = [&MNIST[..2], &MNIST[4..]].concat();
    let stopped = diverges(&args, &out, "1e10", "loss became NaN at epoch 2, batch 2");
    assert_eq!(
        (&stopped["batch"], &stopped["loss"]),
        (&2.into(), &"NaN".into())
    );
    let s = run_ok(command(MNIST, &out), "the resumed run");
    assert!(s.contains("resumed after epoch 1"), "{s}");
    let m = json(&out.join("metrics.json"));
    assert!(m.get("stopped").is_none(), "{m}");
    let want = &mnist_reference().checkpoint;
    assert_same_checkpoint("after a NaN", &out.join(CHECKPOINT), want);
}

/// With one batch an epoch and a rate of 1e39 (infinite in f32), epoch 2's only loss is finite but the
/// update makes the weights infinite: the checkpoint of such weights is refused, not written.
#[test]
fn infinite_weights_are_never_saved() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let args = [
        "mnist",
        "train",
        "--train-limit",
        "64",
        "--batch-size",
        "64",
        "--test-limit",
        "100",
    ];
    let expected = "holds NaN or infinity after epoch 2; training stopped and";
    let stopped = diverges(&args, &out, "1e39", expected);
    assert!(stopped["tensor"].is_string(), "{stopped}");
    assert_eq!(load(&out.join(CHECKPOINT)).meta.epoch, 1);
}

/// Limits the size of any file the child writes to `bytes` (RLIMIT_FSIZE), with SIGXFSZ ignored so
/// that a write past it fails with EFBIG ("File too large") as on a full disk, instead of killing it.
fn with_file_size_limit(cmd: &mut Command, bytes: u64) {
    // SAFETY: between fork and exec only async-signal-safe calls (setrlimit, signal) are made.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: bytes as libc::rlim_t,
                rlim_max: bytes as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
}

#[test]
fn a_full_disk_fails_clearly_and_leaves_the_good_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let epoch1 = [&MNIST[..2], &["--epochs", "1"], &MNIST[4..]].concat();
    run_ok(command(&epoch1, &out), "epoch 1");
    let (checkpoint, metrics) = (read(&out.join(CHECKPOINT)), read(&out.join("metrics.json")));

    // Room for the lock but not for metrics.json: refused before any training.
    let mut cmd = command(MNIST, &out);
    with_file_size_limit(&mut cmd, 64);
    let s = run_failing(cmd, "a 64-byte limit");
    let metrics_path = out.join("metrics.json").display().to_string();
    assert!(
        s.contains(&format!("cannot write {metrics_path}")) && s.contains("File too large"),
        "{s}"
    );
    assert!(!s.contains("epoch 2/2"), "trained anyway: {s}");
    assert_eq!(read(&out.join("metrics.json")), metrics);
    assert_eq!(read(&out.join(CHECKPOINT)), checkpoint);

    // Room for metrics.json, not for the 14 MB checkpoint: epoch 2 trains, its checkpoint fails.
    let mut cmd = command(MNIST, &out);
    with_file_size_limit(&mut cmd, 1 << 20);
    let s = run_failing(cmd, "a 1 MB limit");
    let checkpoint_path = out.join(CHECKPOINT).display().to_string();
    assert!(
        s.contains(&format!("cannot write {checkpoint_path}"))
            && s.contains("File too large")
            && s.contains("unchanged"),
        "{s}"
    );
    assert_eq!(
        read(&out.join(CHECKPOINT)),
        checkpoint,
        "checkpoint changed"
    );
    assert_eq!(temporaries(&out), Vec::<PathBuf>::new());
    let m = json(&out.join("metrics.json"));
    assert!(
        m["stopped"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("File too large")),
        "{m}"
    );
    // With room again, the run resumes after epoch 1.
    let s = run_ok(command(MNIST, &out), "the resumed run");
    assert!(s.contains("resumed after epoch 1"), "{s}");
    assert_same_checkpoint(
        "after a full disk",
        &out.join(CHECKPOINT),
        &mnist_reference().checkpoint,
    );
}

#[test]
fn an_output_that_is_a_file_or_read_only_is_a_clear_error_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"keep me").unwrap();
    for out in [file.clone(), file.join("below")] {
        let s = run_failing(command(MNIST, &out), "--out under a file");
        assert!(s.contains(&out.display().to_string()), "{s}");
        assert!(!s.contains("epoch 1/"), "trained anyway: {s}");
    }
    assert_eq!(read(&file), b"keep me");

    let locked = dir.path().join("read-only");
    std::fs::create_dir(&locked).unwrap();
    let mode = |m| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(m)).unwrap();
    };
    mode(0o555);
    // Root (and CAP_DAC_OVERRIDE) writes through permissions: then there is nothing to test.
    if std::fs::write(locked.join("probe"), b"").is_ok() {
        mode(0o755);
        eprintln!("skipping the read-only directory: this user writes into it anyway (root?)");
        return;
    }
    let s = run_failing(command(MNIST, &locked), "a read-only --out");
    mode(0o755);
    assert!(
        s.contains(&locked.display().to_string()) && s.contains("Permission denied"),
        "{s}"
    );
    assert!(!s.contains("epoch 1/"), "trained anyway: {s}");
}

#[test]
fn a_second_run_into_the_same_output_is_refused_and_a_killed_run_leaves_no_stale_lock() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let hook = glassbox_core::assets::testhook::PAUSE_BATCH;
    let (mut first, _) = start_paused(command(MNIST, &out), hook, "1:2", &dir.path().join("log"));
    let pid = first.id();
    let metrics = read(&out.join("metrics.json"));
    // Any training command into the same directory, not only the same lesson (Q-learning included).
    const RL: &[&str] = &["rl", "flippers", "train", "--games", "100"];
    for args in [MNIST, TEXT, VAE, RL] {
        let s = run_failing(command(args, &out), "a second run");
        assert!(
            s.contains("another glassbox run")
                && s.contains(&format!("process {pid}"))
                && s.contains(&out.display().to_string())
                && s.contains("another --out"),
            "{s}"
        );
    }
    assert_eq!(
        read(&out.join("metrics.json")),
        metrics,
        "the second run wrote"
    );
    assert!(!out.join(CHECKPOINT).exists());
    first.kill().unwrap();
    first.wait().unwrap();
    // The kernel released the dead run's lock.
    let s = run_ok(command(MNIST, &out), "a run after the kill");
    assert!(!s.contains("resumed"), "{s}");
    assert_eq!(load(&out.join(CHECKPOINT)).meta.epoch, 2);
}

/// A process that spins on a core until dropped: with the run's two threads, more work than cores.
struct Hog(Child);

impl Hog {
    fn start() -> Hog {
        Hog(Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .expect("sh starts"))
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One epoch of the MNIST CNN on the 5,000 embedded digits gives the same checkpoint, byte for byte,
/// with 1 thread, with 2, and with 2 while another process keeps a core busy: the kernels split
/// their sums by the problem's size, never by the thread count or by timing.
#[test]
fn mnist_weights_do_not_depend_on_the_thread_count_or_the_load() {
    let args = ["mnist", "train", "--epochs", "1", "--test-limit", "100"];
    let dir = tempfile::tempdir().unwrap();
    let train = |name: &str, threads: &str| {
        let out = dir.path().join(name);
        let mut cmd = command(&args, &out);
        cmd.env("RAYON_NUM_THREADS", threads);
        run_ok(cmd, name);
        out.join(CHECKPOINT)
    };
    let one = read(&train("one-thread", "1"));
    assert_same_checkpoint("2 threads", &train("two-threads", "2"), &one);
    let hog = Hog::start();
    let loaded = train("two-threads-under-load", "2");
    drop(hog);
    assert_same_checkpoint("2 threads under load", &loaded, &one);
}
