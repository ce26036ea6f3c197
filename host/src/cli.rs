//! The `wasmraft` command line.

use crate::runtime::{Limits, ModuleDescriptor, Runtime, WasmBackend, WasmEngine};
use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;
use serde_json::{Value, json};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};
use wasmraft_sdk::contract::{ApplierError, Meta, Payload};

#[derive(Parser)]
#[command(name = "wasmraft", version, about = "A replicated state machine whose logic is a WebAssembly component.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check an applier module and print what it is: name, version, content hash, imports.
    ///
    /// Exits non-zero, saying why, if the module is not a usable applier.
    Inspect {
        /// The applier component (`.wasm`), as built with `cargo build --target wasm32-wasip2`.
        module: PathBuf,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Apply commands from stdin on one in-memory runtime: no consensus, nothing kept.
    ///
    /// Reads one JSON object per line, `{"apply": COMMAND}` (the next entry) or
    /// `{"query": QUERY}` (against the state so far), and prints one JSON line per input:
    /// `{"index": N, "output": ...}` or `{"index": N, "error": {"code", "message", "body"}}`.
    /// At the end it prints the applied index and the state hash. Commands and queries are
    /// the applier's own JSON (for the KV applier: `{"put": {"key": "a", "value": "1"}}`).
    Local {
        /// The applier component (`.wasm`).
        #[arg(long)]
        module: PathBuf,
        #[command(flatten)]
        limits: LimitArgs,
    },
}

/// Per-call limits. In a cluster every node must use the same values.
#[derive(Args)]
struct LimitArgs {
    /// Fuel per call (about one unit per wasm instruction).
    #[arg(long, default_value_t = Limits::default().fuel_per_call)]
    fuel: u64,
    /// Linear memory per instance, in MiB.
    #[arg(long, default_value_t = Limits::default().memory_bytes >> 20)]
    memory_mib: usize,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits { fuel_per_call: self.fuel, memory_bytes: self.memory_mib << 20 }
    }
}

pub fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect { module, limits } => inspect(&module, limits.limits()),
        Command::Local { module, limits } => local(&module, limits.limits()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(path: &PathBuf, limits: Limits) -> anyhow::Result<(std::sync::Arc<WasmEngine>, std::sync::Arc<crate::runtime::LoadedModule>)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let engine = WasmEngine::new(limits, None)?;
    let module = engine.load(&bytes).with_context(|| format!("{} is not a usable applier", path.display()))?;
    Ok((engine, module))
}

fn inspect(path: &PathBuf, limits: Limits) -> anyhow::Result<()> {
    let (_, module) = load(path, limits)?;
    let ModuleDescriptor { name, version, hash, size_bytes } = module.descriptor();
    let out = json!({ "name": name, "version": version, "hash": hash, "size_bytes": size_bytes, "imports": module.imports });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Line {
    Apply(Value),
    Query(Value),
}

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

fn entropy() -> anyhow::Result<[u8; 32]> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no entropy from the OS: {e}"))?;
    Ok(bytes)
}

/// An outcome as a JSON line; outputs and error bodies are the applier's JSON.
fn outcome_json(index: u64, outcome: Result<Vec<u8>, ApplierError>) -> Value {
    let as_json = |bytes: &[u8]| {
        serde_json::from_slice::<Value>(bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into()))
    };
    match outcome {
        Ok(output) => json!({ "index": index, "output": as_json(&output) }),
        Err(e) => json!({
            "index": index,
            "error": { "code": e.code, "message": e.message, "body": e.body.as_deref().map(as_json) },
        }),
    }
}

fn local(path: &PathBuf, limits: Limits) -> anyhow::Result<()> {
    let (engine, module) = load(path, limits)?;
    let mut runtime = Runtime::new(Box::new(WasmBackend::new(engine, module)));
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Line = match serde_json::from_str(&line) {
            Ok(parsed) => parsed,
            Err(e) => bail!("line {}: expected {{\"apply\": ...}} or {{\"query\": ...}}: {e}", n + 1),
        };
        let result = match parsed {
            Line::Apply(command) => {
                let index = runtime.applied().index + 1;
                let meta = Meta { index, term: 1, timestamp_ns: now_ns(), caller: None, entropy: entropy()? };
                let payload = Payload::json(serde_json::to_vec(&command)?);
                outcome_json(index, runtime.apply(meta, payload)?)
            }
            Line::Query(query) => {
                let payload = Payload::json(serde_json::to_vec(&query)?);
                outcome_json(runtime.applied().index, runtime.query(None, now_ns(), payload)?)
            }
        };
        writeln!(out, "{result}")?;
    }
    let summary = json!({
        "applied_index": runtime.applied().index,
        "state_hash": runtime.state_hash().to_string(),
        "keys": runtime.state().len(),
        "module": runtime.module(),
    });
    writeln!(out, "{summary}")?;
    Ok(())
}
