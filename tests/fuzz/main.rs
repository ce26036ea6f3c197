//! Fuzzing of everything a node reads from the network or the disk, on stable Rust: each
//! target takes its seeds (the files of `tests/fuzz/corpus/<target>/`, and valid inputs made
//! by the real encoders) and runs mutations of them (bit flips, byte changes, cuts,
//! insertions, splices) through the node's own decoder for a bounded time. A target passes
//! if nothing panics: a refusal is the right answer to garbage. A failing input is written
//! to `target/fuzz-failures/` to replay.
//!
//! `cargo xtask test` runs every target for [`DEFAULT_BUDGET`]; `WASMRAFT_FUZZ_SECONDS=600
//! cargo test --release -p wasmraft-tests --test fuzz` runs longer, and
//! `WASMRAFT_FUZZ_SEED` varies the mutations.

mod mutate;
mod targets;

use std::path::PathBuf;
use std::time::{Duration, Instant};
use wasmraft_tests::Rng;

/// How long each target runs by default.
const DEFAULT_BUDGET: Duration = Duration::from_secs(3);

fn budget() -> Duration {
    std::env::var("WASMRAFT_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).map_or(DEFAULT_BUDGET, Duration::from_secs)
}

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target)
}

/// The committed seeds of `target`.
fn committed_seeds(target: &str) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(corpus_dir(target)).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    files.sort();
    files.iter().map(|p| std::fs::read(p).expect("a corpus file")).collect()
}

thread_local! {
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Silences panic messages on this thread while it fuzzes (thousands of caught panics would
/// bury the one that matters); other threads' panics are reported as usual.
fn quiet_panics(quiet: bool) {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|q| q.get()) {
                report(info);
            }
        }));
    });
    QUIET.with(|q| q.set(quiet));
}

/// Runs `check` on the seeds and their mutations for the budget (at most `max_runs`
/// inputs); panics, naming the saved input, if `check` panics on one.
fn fuzz(target: &str, made: Vec<Vec<u8>>, max_runs: usize, check: impl Fn(&[u8])) {
    let mut seeds = committed_seeds(target);
    assert!(!seeds.is_empty(), "{} has no seeds", corpus_dir(target).display());
    seeds.extend(made);
    let seed = std::env::var("WASMRAFT_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed);
    let mut rng = Rng(seed);
    let (until, mut runs) = (Instant::now() + budget(), 0usize);
    let mut failure = None;
    quiet_panics(true);
    while runs < max_runs && Instant::now() < until {
        let input = if runs < seeds.len() { seeds[runs].clone() } else { mutate::mutate(&mut rng, &seeds) };
        runs += 1;
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&input))).is_err() {
            failure = Some(input);
            break;
        }
    }
    quiet_panics(false);
    if let Some(input) = failure {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-failures");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{target}-{}.bin", blake3::hash(&input).to_hex()));
        std::fs::write(&path, &input).unwrap();
        // Run it again, with the panic's own message this time.
        check(&input);
        panic!("{target}: a panic on {} (it did not repeat)", path.display());
    }
    eprintln!("{target}: {runs} inputs, no panic");
}

#[test]
fn raft_messages() {
    fuzz("raft_message", targets::raft_message_seeds(), usize::MAX, targets::raft_message);
}

#[test]
fn peer_and_client_wire() {
    fuzz("wire", targets::wire_seeds(), usize::MAX, targets::wire);
}

#[test]
fn log_entries() {
    fuzz("entry", targets::entry_seeds(), usize::MAX, targets::entry);
}

#[test]
fn checkpoints() {
    fuzz("checkpoint", targets::checkpoint_seeds(), usize::MAX, targets::checkpoint);
}

#[test]
fn snapshot_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("snapshot");
    fuzz("snapshot", targets::snapshot_seeds(), usize::MAX, |bytes| targets::snapshot(&file, bytes));
}

#[test]
fn bearer_tokens() {
    let verifier = targets::token_verifier();
    fuzz("token", targets::token_seeds(), usize::MAX, |bytes| targets::token(&verifier, bytes));
}

#[test]
fn certificates() {
    fuzz("certificate", targets::certificate_seeds(), usize::MAX, targets::certificate);
}

#[test]
fn write_ahead_log_files() {
    let dir = tempfile::tempdir().unwrap();
    fuzz("wal", targets::wal_seeds(), usize::MAX, |bytes| targets::wal(dir.path(), bytes));
}

#[test]
fn dss_http_requests() {
    fuzz("http_request", targets::http_request_seeds(), usize::MAX, targets::http_request);
}

#[test]
fn rid_http_requests() {
    fuzz("rid_request", targets::rid_request_seeds(), usize::MAX, targets::rid_request);
}

#[test]
fn modules() {
    // A mutated module that still validates is compiled: a few hundred at most.
    let engine = targets::module_engine();
    fuzz("module", targets::module_seeds(), 300, |bytes| targets::module(&engine, bytes));
}

/// Writes the made seeds of every target into the corpus (run once, then commit):
/// `cargo test --release -p wasmraft-tests --test fuzz -- --ignored write_corpus`.
#[test]
#[ignore]
fn write_corpus() {
    let sets = [
        ("raft_message", targets::raft_message_seeds()),
        ("wire", targets::wire_seeds()),
        ("entry", targets::entry_seeds()),
        ("checkpoint", targets::checkpoint_seeds()),
        ("snapshot", targets::snapshot_seeds()),
        ("token", targets::token_seeds()),
        ("certificate", targets::certificate_seeds()),
        ("wal", targets::wal_seeds()),
        ("http_request", targets::http_request_seeds()),
        ("rid_request", targets::rid_request_seeds()),
    ];
    for (target, seeds) in sets {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (n, seed) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{n:02}")), seed).unwrap();
        }
    }
    // The module seed is the built KV applier itself (not committed: it is built).
    let dir = corpus_dir("module");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("empty"), b"").unwrap();
}
