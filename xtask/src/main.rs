//! Project tasks, so that a fresh machine needs nothing but cargo and rustup:
//!
//!   cargo xtask appliers   build every applier in appliers/ to a wasm component
//!   cargo xtask test       build the appliers, then run every test
//!   cargo xtask demo       build everything, start a local 3-node cluster, show it working
//!   cargo xtask bench      build everything and print the benchmarks
//!   cargo xtask soak       a long randomized fault run (kills, pauses, member changes, upgrades)

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const TARGET: &str = "wasm32-wasip2";

type Result<T = ()> = std::result::Result<T, String>;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root());
    c
}

fn run(cmd: &mut Command) -> Result {
    eprintln!("+ {cmd:?}");
    match cmd.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("{cmd:?} failed: {s}")),
        Err(e) => Err(format!("cannot run {cmd:?}: {e}")),
    }
}

/// Installs the wasm target with rustup when it is missing.
fn ensure_wasm_target() -> Result {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("rustup is needed to install the {TARGET} target: {e}"))?;
    if String::from_utf8_lossy(&installed.stdout).lines().any(|l| l.trim() == TARGET) {
        return Ok(());
    }
    run(Command::new("rustup").args(["target", "add", TARGET]))
}

/// (directory name, package name) of every applier crate.
fn appliers() -> Result<Vec<(String, String)>> {
    let mut found = Vec::new();
    let dir = root().join("appliers");
    for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let Ok(manifest) = std::fs::read_to_string(path.join("Cargo.toml")) else { continue };
        let package = manifest
            .lines()
            .find_map(|l| l.trim().strip_prefix("name = ").map(|v| v.trim_matches('"').to_string()))
            .ok_or_else(|| format!("{}: no package name", path.display()))?;
        found.push((path.file_name().unwrap().to_string_lossy().into_owned(), package));
    }
    found.sort();
    Ok(found)
}

/// Builds every applier and copies each to `target/appliers/<dir>.wasm`.
fn build_appliers() -> Result<Vec<PathBuf>> {
    ensure_wasm_target()?;
    let appliers = appliers()?;
    let out = target_dir().join("appliers");
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let mut built = Vec::new();
    // One build per applier, copied out at once: an applier that uses another as a library
    // turns that one's exports off by a feature, and building it rewrites the other's
    // .wasm (crate-type cdylib) without them.
    for (dir, package) in appliers {
        run(cargo().args(["build", "--target", TARGET, "--profile", "applier", "-p", &package]))?;
        let from = target_dir().join(TARGET).join("applier").join(format!("{}.wasm", package.replace('-', "_")));
        let to = out.join(format!("{dir}.wasm"));
        std::fs::copy(&from, &to).map_err(|e| format!("{} -> {}: {e}", from.display(), to.display()))?;
        let size = std::fs::metadata(&to).map(|m| m.len()).unwrap_or(0);
        eprintln!("applier {dir}: {} ({} KiB)", relative(&to), size / 1024);
        built.push(to);
    }
    Ok(built)
}

fn relative(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}

fn build_node() -> Result<PathBuf> {
    run(cargo().args(["build", "--release", "-p", "wasmraft"]))?;
    Ok(target_dir().join("release/wasmraft"))
}

fn test() -> Result {
    build_appliers()?;
    // The cluster tests run this binary as real processes.
    build_node()?;
    run(cargo().args(["test", "--release", "--workspace"]))
}

/// Runs `wasmraft <args>` and shows the command and what it printed.
fn show(wasmraft: &Path, args: &[&str]) -> Result {
    eprintln!("\n$ wasmraft {}", args.join(" "));
    run(Command::new(wasmraft).args(args))
}

fn demo() -> Result {
    build_appliers()?;
    let wasmraft = build_node()?;
    let kv = target_dir().join("appliers/kv.wasm");
    let data = target_dir().join("demo-cluster");
    let _ = std::fs::remove_dir_all(&data);
    let peers = "1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003";
    eprintln!("\n== starting 3 nodes on 127.0.0.1:7001-7003 (data in {}, logs beside it)", relative(&data));
    let mut nodes = Vec::new();
    for id in 1..=3 {
        std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
        let log = std::fs::File::create(data.join(format!("node{id}.log"))).map_err(|e| e.to_string())?;
        let child = Command::new(&wasmraft)
            .args(["serve", "--id", &id.to_string(), "--listen", &format!("127.0.0.1:700{id}"), "--peers", peers])
            .arg("--data-dir")
            .arg(data.join(format!("node{id}")))
            .arg("--module")
            .arg(&kv)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start node {id}: {e}"))?;
        nodes.push(child);
    }
    let result = (|| {
        // Wait for a leader.
        for _ in 0..100 {
            let out = Command::new(&wasmraft).args(["status", "--endpoint", "127.0.0.1:7001"]).output();
            if out.is_ok_and(|o| o.status.success() && !String::from_utf8_lossy(&o.stdout).contains("\"leader\": 0")) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        show(&wasmraft, &["propose", "--endpoint", "127.0.0.1:7001", r#"{"put": {"key": "greeting", "value": "hello from node 1"}}"#])?;
        show(&wasmraft, &["propose", "--endpoint", "127.0.0.1:7002", r#"{"cas": {"key": "greeting", "expected_version": 1, "value": "updated through node 2"}}"#])?;
        show(&wasmraft, &["query", "--endpoint", "127.0.0.1:7003", r#"{"get": {"key": "greeting"}}"#])?;
        eprintln!("\n(an applier refusal is an answer: exit code 1)");
        let _ = show(&wasmraft, &["propose", "--endpoint", "127.0.0.1:7003", r#"{"delete": {"key": "nothing-here"}}"#]);
        eprintln!("\n== hot upgrade: kv 2.0.0 goes through the log; every node switches at its index");
        let kv2 = target_dir().join("appliers/kv2.wasm");
        show(&wasmraft, &["upgrade", "--endpoint", "127.0.0.1:7002", "--module", &kv2.to_string_lossy()])?;
        show(&wasmraft, &["propose", "--endpoint", "127.0.0.1:7003", r#"{"append": {"key": "greeting", "suffix": ", now on v2"}}"#])?;
        show(&wasmraft, &["query", "--endpoint", "127.0.0.1:7001", r#"{"get": {"key": "greeting"}}"#])?;
        for id in 1..=3 {
            let out = Command::new(&wasmraft)
                .args(["status", "--endpoint", &format!("127.0.0.1:700{id}")])
                .output()
                .map_err(|e| e.to_string())?;
            let text = String::from_utf8_lossy(&out.stdout);
            let field = |name: &str| {
                text.lines().find(|l| l.trim_start().starts_with(&format!("\"{name}\""))).unwrap_or("").trim().to_string()
            };
            eprintln!("node {id}: {} {} {}", field("role"), field("applied_index"), field("state_hash"));
        }
        Ok(())
    })();
    for mut node in nodes {
        // SIGTERM via `kill`, so the nodes shut down cleanly.
        let _ = Command::new("kill").arg(node.id().to_string()).status();
        let _ = node.wait();
    }
    eprintln!("\nstopped the cluster; `wasmraft serve --help` shows every flag");
    result
}

fn bench() -> Result {
    build_appliers()?;
    build_node()?;
    run(cargo().args(["bench", "-p", "wasmraft-tests", "--bench", "apply"]))?;
    run(cargo().args(["bench", "-p", "wasmraft-tests", "--bench", "cluster"]))
}

/// The randomized fault run, out of the default suite: `cargo xtask soak [SECONDS] [SEED]`.
fn soak() -> Result {
    build_appliers()?;
    build_node()?;
    let mut args = std::env::args().skip(2);
    let (seconds, seed) = (args.next().unwrap_or_else(|| "120".into()), args.next().unwrap_or_else(|| "1".into()));
    run(cargo()
        .args(["test", "--release", "-p", "wasmraft-tests", "--test", "cluster", "soak", "--", "--ignored", "--nocapture"])
        .env("WASMRAFT_SOAK_SECONDS", seconds)
        .env("WASMRAFT_SOAK_SEED", seed))
}

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "appliers" => build_appliers().map(drop),
        "test" => test(),
        "demo" => demo(),
        "bench" => bench(),
        "soak" => soak(),
        _ => {
            eprintln!("usage: cargo xtask <appliers | test | demo | bench | soak [SECONDS] [SEED]>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {task}: {e}");
            ExitCode::FAILURE
        }
    }
}
