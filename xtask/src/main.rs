//! Project tasks, so that a fresh machine needs nothing but cargo and rustup:
//!
//!   cargo xtask appliers   build every applier in appliers/ to a wasm component
//!   cargo xtask test       build the appliers, then run every test
//!   cargo xtask demo       build everything and show the KV applier at work
//!   cargo xtask bench      build everything and print the apply benchmark

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
    let mut cmd = cargo();
    cmd.args(["build", "--target", TARGET, "--profile", "applier"]);
    for (_, package) in &appliers {
        cmd.args(["-p", package]);
    }
    run(&mut cmd)?;
    let out = target_dir().join("appliers");
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let mut built = Vec::new();
    for (dir, package) in appliers {
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

fn test() -> Result {
    build_appliers()?;
    run(cargo().args(["test", "--release", "--workspace"]))
}

fn demo() -> Result {
    build_appliers()?;
    run(cargo().args(["build", "--release", "-p", "wasmraft"]))?;
    let wasmraft = target_dir().join("release/wasmraft");
    let kv = target_dir().join("appliers/kv.wasm");
    eprintln!("\n== the KV applier, as the host sees it:");
    run(Command::new(&wasmraft).arg("inspect").arg(&kv))?;
    let script = [
        r#"{"apply": {"put": {"key": "greeting", "value": "hello"}}}"#,
        r#"{"apply": {"put": {"key": "greeting", "value": "hello, world"}}}"#,
        r#"{"apply": {"cas": {"key": "greeting", "expected_version": 1, "value": "stale"}}}"#,
        r#"{"apply": {"put": {"key": "planet", "value": "earth"}}}"#,
        r#"{"query": {"get": {"key": "greeting"}}}"#,
        r#"{"query": {"range": {"start": "", "end": null, "limit": 10}}}"#,
        r#"{"apply": {"delete": {"key": "nothing-here"}}}"#,
    ];
    eprintln!("\n== applying commands through the wasm runtime (`wasmraft local`):");
    for line in script {
        eprintln!("   {line}");
    }
    let mut child = Command::new(&wasmraft)
        .args(["local", "--module"])
        .arg(&kv)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    use std::io::Write;
    child.stdin.take().unwrap().write_all(script.join("\n").as_bytes()).map_err(|e| e.to_string())?;
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("wasmraft local failed: {status}"));
    }
    Ok(())
}

fn bench() -> Result {
    build_appliers()?;
    run(cargo().args(["bench", "-p", "wasmraft-tests", "--bench", "apply"]))
}

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "appliers" => build_appliers().map(drop),
        "test" => test(),
        "demo" => demo(),
        "bench" => bench(),
        _ => {
            eprintln!("usage: cargo xtask <appliers | test | demo | bench>");
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
