//! The `wasmraft` command line.

mod backup;
mod target;

use crate::entry::now_ns;
use crate::http::dev;
use crate::node::config::{LogFormat, ServeArgs};
use crate::proto::client::{
    Consistency as ProtoConsistency, Encoding as ProtoEncoding, ProposeRequest, QueryRequest, StatusRequest,
    UpgradeRequest, propose_response, query_response,
};
use crate::runtime::{Limits, ModuleDescriptor, Runtime, WasmBackend, WasmEngine};
use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;
use serde_json::{Value, json};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use target::{Connected, Target};
use wasmraft_sdk::contract::{ApplierError, Meta, Payload};

#[derive(Parser)]
#[command(name = "wasmraft", version, about = "A replicated state machine whose logic is a WebAssembly component.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node. A new data directory bootstraps a node of a new cluster (give every
    /// initial member the same --peers and --module) or joins a running cluster (--join,
    /// after `wasmraft member add`); an existing one is recovered (it needs no --peers, --module or --join then).
    ///
    /// A node has a peer door (--listen, mutual TLS with --peer-cert/--peer-key/--peer-ca)
    /// and a client door (--client-listen, TLS with --client-cert/--client-key); without
    /// certificates it serves loopback addresses only, unless --insecure.
    ///
    /// Example, one of three nodes on this machine, with `wasmraft dev-certs --dir certs`:
    ///
    ///   wasmraft serve --id 1 --listen 127.0.0.1:7001 --client-listen 127.0.0.1:7101 \
    ///     --peers 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003 \
    ///     --data-dir /var/lib/wasmraft/1 --module kv.wasm --tls-dir certs
    ///
    /// and a fourth node joining it:
    ///
    ///   wasmraft dev-certs --dir certs --nodes 4
    ///   wasmraft member add --endpoint 127.0.0.1:7101 --cacert certs/ca.pem \
    ///     --cert certs/admin.pem --key certs/admin-key.pem 4 --address 127.0.0.1:7004
    ///   wasmraft serve --id 4 --listen 127.0.0.1:7004 --client-listen 127.0.0.1:7104 \
    ///     --join 127.0.0.1:7001 --data-dir /var/lib/wasmraft/4 --tls-dir certs
    #[command(verbatim_doc_comment)]
    Serve(Box<ServeArgs>),
    /// Propose a command (the applier's JSON) and print its outcome once applied.
    ///
    /// Prints {"index", "term", "output"} or {"index", "term", "error": {"code", "message",
    /// "body"}}. Exits 1 when the applier refused the command, 2 when the cluster could not
    /// take it (no leader, deadline passed: then it may or may not have applied).
    Propose {
        #[command(flatten)]
        target: Target,
        /// The hosted applier it is for (see `status`); the primary if not given.
        #[arg(long, value_name = "NAME")]
        applier: Option<String>,
        /// The request's id: the cluster applies a command at most once per id (within the
        /// node's --request-window), and a retry gets the first outcome. A random one if not
        /// given.
        #[arg(long, value_name = "ID")]
        request_id: Option<String>,
        /// Keep retrying, with the same request id, while the outcome is unknown or the
        /// cluster unavailable (no leader, a deadline, a lost connection), for this long;
        /// `0s`: one attempt.
        #[arg(long, value_name = "DURATION", default_value = "30s")]
        retry_for: humantime::Duration,
        /// The command as JSON; `-` or nothing reads it from stdin.
        command: Option<String>,
    },
    /// Run a query (the applier's JSON) against the node's state.
    ///
    /// Prints {"applied_index", "output"} or {"applied_index", "error"} (stale reads add
    /// "staleness_ms" and "known_commit_index"); exits like propose.
    Query {
        #[command(flatten)]
        target: Target,
        /// The hosted applier it is for (see `status`); the primary if not given.
        #[arg(long, value_name = "NAME")]
        applier: Option<String>,
        /// `linearizable` sees every write acknowledged before it (a Raft ReadIndex round);
        /// `stale` sees every write acknowledged before some instant at most
        /// --max-staleness ago (one ReadIndex round serves this node's stale reads for that
        /// long), else refuses.
        #[arg(long, value_enum, default_value = "linearizable")]
        consistency: ReadConsistency,
        /// For stale reads: how old the state the answer reads may be.
        #[arg(long, default_value = "1s")]
        max_staleness: humantime::Duration,
        /// The query as JSON; `-` or nothing reads it from stdin.
        query: Option<String>,
    },
    /// Print a node's view of itself and of the cluster as JSON, including every hosted
    /// applier (its active module with the index it took effect at, its HTTP routes, its
    /// own state hash and upgrades) the whole history of upgrades, and snapshot transfers under way or just finished.
    Status {
        #[command(flatten)]
        target: Target,
    },
    /// Roll out a new version of a hosted applier, through the log: every node switches at
    /// the same index, and the new module's `migrate` runs there, all or nothing. The other
    /// appliers, their modules and their state are not touched.
    ///
    /// The node checks the module before proposing anything: it compiles, it is a
    /// wasmraft applier, it has a hosted applier's name and a newer version, and its HTTP
    /// routes overlap no other applier's. A refused module never reaches the log. Prints
    /// {"index", "term", "module"}.
    Upgrade {
        #[command(flatten)]
        target: Target,
        /// The applier it replaces; refused if the module is another. The module's own
        /// name if not given.
        #[arg(long, value_name = "NAME")]
        applier: Option<String>,
        /// The new component (.wasm).
        #[arg(long)]
        module: PathBuf,
        /// Accept a version that is not newer than the active one.
        #[arg(long)]
        allow_downgrade: bool,
    },
    /// Change or list the cluster's members. One change at a time, through the log; any
    /// node takes it. A new node joins in three steps: `member add` it, start it with
    /// `wasmraft serve --join ADDR_OF_A_MEMBER`, and `member promote` it once it has caught up.
    Member {
        #[command(subcommand)]
        change: MemberCommand,
    },
    /// Back up a live cluster, check a backup, or start a new cluster from one.
    Snapshot {
        #[command(subcommand)]
        command: backup::SnapshotCommand,
    },
    /// Hand leadership to another voter (the most caught-up one unless --to is given); waits
    /// until it leads. Prints {"leader", "term"}.
    TransferLeader {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value_t = 0, hide_default_value = true)]
        to: u64,
    },
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
    /// Make an RSA key pair for local testing (kept if DIR already holds one): nodes verify
    /// tokens with DIR/public.pem (`serve --jwt-public-key`), `dev-token` signs with
    /// DIR/private.pem. Prints the public key's path. Not for production.
    DevKeys {
        #[arg(long, default_value = "dev-keys")]
        dir: PathBuf,
    },
    /// Make a certificate authority and certificates for a local cluster (the CA is kept
    /// if DIR already holds one): DIR/ca.pem, node-ID.pem with node-ID-key.pem for each of
    /// --nodes (carrying `node-ID.CLUSTER`, `localhost` and the loopback addresses), and
    /// admin.pem with admin-key.pem (a client with every role). A node takes them with
    /// `serve --tls-dir DIR`; a client command with `--cacert DIR/ca.pem --cert
    /// DIR/admin.pem --key DIR/admin-key.pem`. Not for production: the CA key is in DIR.
    DevCerts {
        #[arg(long, default_value = "dev-certs")]
        dir: PathBuf,
        /// The node ids to make certificates for, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        nodes: Vec<u64>,
        /// The cluster's name (`serve --cluster-name`).
        #[arg(long, default_value = "wasmraft")]
        cluster_name: String,
    },
    /// Print a bearer token for local testing, as the reference DSS's dummy OAuth server
    /// mints them (RS256, one hour). Use it as `Authorization: Bearer $TOKEN`.
    ///
    ///   curl -H "Authorization: Bearer $(wasmraft dev-token --sub uss1 \
    ///     --scope utm.strategic_coordination)" localhost:8082/dss/v1/...
    #[command(verbatim_doc_comment)]
    DevToken {
        /// The private key (PEM) to sign with.
        #[arg(long, default_value = "dev-keys/private.pem")]
        key: PathBuf,
        /// The USS the token speaks for (`sub`).
        #[arg(long, default_value = "uss1")]
        sub: String,
        /// Scopes to grant; repeat the flag or separate them with spaces or commas. The DSS's:
        /// SCD `utm.strategic_coordination`, `utm.constraint_management`,
        /// `utm.constraint_processing`, `utm.conformance_monitoring_sa`,
        /// `utm.availability_arbitration`; RID v1 `dss.read.identification_service_areas`,
        /// `dss.write.identification_service_areas`; RID v2 `rid.display_provider`,
        /// `rid.service_provider`; aux `interuss.pool_status.read`,
        /// `interuss.pool_status.heartbeat.write`, `interuss.versioning.read_system_versions`.
        #[arg(long, required = true)]
        scope: Vec<String>,
        /// The audience (`aud`): the DSS's host name, as clients set it.
        #[arg(long, default_value = "localhost")]
        audience: String,
        #[arg(long, default_value = "dummyoauth")]
        issuer: String,
        /// How long the token lives (nodes refuse more than one hour).
        #[arg(long, default_value = "1h")]
        expires_in: humantime::Duration,
    },
}

#[derive(Subcommand)]
enum MemberCommand {
    /// Print the voters and learners with their addresses.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Add node ID as a learner: it receives the log (or a snapshot) but does not vote yet.
    /// The id must be new: a removed id is never reused.
    Add {
        #[command(flatten)]
        target: Target,
        id: u64,
        /// The new node's peer address (HOST:PORT, its `--listen`).
        #[arg(long)]
        address: String,
    },
    /// Make learner ID a voter, once it has caught up with the log.
    Promote {
        #[command(flatten)]
        target: Target,
        id: u64,
        /// Remove this voter in the same change (joint consensus): a replacement that never
        /// changes the number of voters.
        #[arg(long, value_name = "OLD_ID")]
        replacing: Option<u64>,
    },
    /// Remove node ID. The leader cannot remove itself: `transfer-leader` first.
    Remove {
        #[command(flatten)]
        target: Target,
        id: u64,
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

/// Exit codes of the client commands.
const REFUSED: u8 = 1;
const FAILED: u8 = 2;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let (default_filter, format) = match &cli.command {
        Command::Serve(args) => ("info", args.log_format()),
        _ => ("warn", LogFormat::Text),
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
        // The node's span (its id) as `span`; the list of spans would only repeat it.
        LogFormat::Json => logs.json().flatten_event(true).with_span_list(false).init(),
    }
    let result = match cli.command {
        Command::Serve(args) => args.resolve().and_then(crate::node::run).map(|()| ExitCode::SUCCESS),
        // Input is read before the node is reached: a connection that waits on a slow stdin
        // with no call made may be closed for room on a full door.
        Command::Propose { target, applier, request_id, retry_for, command } => json_input(command, "command")
            .and_then(|command| client_call(target, |t| propose(t, applier, request_id, retry_for.into(), command))),
        Command::Query { target, applier, query, consistency, max_staleness } => json_input(query, "query")
            .and_then(|query| client_call(target, |t| run_query(t, applier, query, consistency, max_staleness.into()))),
        Command::Status { target } => client_call(target, status),
        Command::Upgrade { target, applier, module, allow_downgrade } => {
            client_call(target, |t| upgrade(t, applier, module, allow_downgrade))
        }
        Command::Member { change } => member(change),
        Command::Snapshot { command } => backup::run(command).map(|()| ExitCode::SUCCESS),
        Command::TransferLeader { target, to } => client_call(target, |t| transfer_leader(t, to)),
        Command::Inspect { module, limits } => inspect(&module, limits.limits()).map(|()| ExitCode::SUCCESS),
        Command::Local { module, limits } => local(&module, limits.limits()).map(|()| ExitCode::SUCCESS),
        Command::DevKeys { dir } => dev::ensure_keys(&dir).map(|public| {
            println!("{}", public.display());
            ExitCode::SUCCESS
        }),
        Command::DevCerts { dir, nodes, cluster_name } => {
            crate::tls::dev::make_dir(&dir, &cluster_name, &nodes).map(|written| {
                for path in written {
                    println!("{}", path.display());
                }
                ExitCode::SUCCESS
            })
        }
        Command::DevToken { key, sub, scope, audience, issuer, expires_in } => {
            let args = dev::TokenArgs {
                key: &key,
                subject: &sub,
                scopes: &scope,
                audience: &audience,
                issuer: &issuer,
                lifetime: expires_in.into(),
            };
            dev::token(&args).map(|token| {
                println!("{token}");
                ExitCode::SUCCESS
            })
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(FAILED)
        }
    }
}

fn client_call<F: std::future::Future<Output = anyhow::Result<ExitCode>>>(
    target: Target,
    call: impl FnOnce(Connected) -> F,
) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async { call(target.connect().await?).await })
}

/// JSON from the argument, or from stdin when it is absent or `-`; checked before sending.
fn json_input(arg: Option<String>, what: &str) -> anyhow::Result<Vec<u8>> {
    let text = match arg.as_deref() {
        None | Some("-") => std::io::read_to_string(std::io::stdin()).context("reading stdin")?,
        Some(text) => text.to_string(),
    };
    let value: Value = serde_json::from_str(&text).with_context(|| format!("the {what} is not JSON"))?;
    Ok(serde_json::to_vec(&value)?)
}

fn rpc_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", status.code(), status.message())
}

async fn propose(
    mut c: Connected,
    applier: Option<String>,
    request_id: Option<String>,
    retry_for: std::time::Duration,
    command: Vec<u8>,
) -> anyhow::Result<ExitCode> {
    let request_id = match request_id {
        Some(id) => id,
        None => random_request_id()?,
    };
    let request = ProposeRequest {
        command,
        encoding: ProtoEncoding::Json as i32,
        applier: applier.unwrap_or_default(),
        request_id: request_id.clone(),
    };
    let until = std::time::Instant::now() + retry_for;
    let mut pause = std::time::Duration::from_millis(100);
    let response = loop {
        match c.client.propose(c.call(request.clone())).await {
            Ok(response) => break response.into_inner(),
            Err(status) if retryable(&status) && std::time::Instant::now() + pause < until => {
                eprintln!("{}; retrying request {request_id}", rpc_error(status));
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(2));
            }
            Err(status) => return Err(rpc_error(status)),
        }
    };
    let outcome = match response.outcome.context("the answer has no outcome")? {
        propose_response::Outcome::Output(output) => Ok(output),
        propose_response::Outcome::Error(e) => Err(ApplierError { code: e.code, message: e.message, body: e.body }),
    };
    let mut place = json!({ "index": response.index, "term": response.term });
    if response.replayed {
        place["replayed"] = json!(true);
    }
    print_outcome(place, outcome)
}

/// 128 random bits, hex: unique without coordination.
fn random_request_id() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no entropy from the OS: {e}"))?;
    Ok(hex::encode(bytes))
}

/// Whether a failed propose may be tried again with its request id: the command was not
/// applied, or its outcome is unknown (the id makes a second attempt safe either way).
fn retryable(status: &tonic::Status) -> bool {
    use tonic::Code;
    // Cancelled: how tonic reports a call that outlived `--timeout`.
    matches!(
        status.code(),
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::Aborted
            | Code::ResourceExhausted
            | Code::Unknown
    )
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ReadConsistency {
    Linearizable,
    Stale,
}

async fn run_query(
    mut c: Connected,
    applier: Option<String>,
    query: Vec<u8>,
    consistency: ReadConsistency,
    max_staleness: std::time::Duration,
) -> anyhow::Result<ExitCode> {
    let consistency = match consistency {
        ReadConsistency::Linearizable => ProtoConsistency::Linearizable,
        ReadConsistency::Stale => ProtoConsistency::Stale,
    };
    let request = QueryRequest {
        query,
        encoding: ProtoEncoding::Json as i32,
        consistency: consistency as i32,
        max_staleness_ms: max_staleness.as_millis() as u64,
        applier: applier.unwrap_or_default(),
    };
    let response = c.client.query(c.call(request)).await.map_err(rpc_error)?.into_inner();
    let outcome = match response.outcome.context("the answer has no outcome")? {
        query_response::Outcome::Output(output) => Ok(output),
        query_response::Outcome::Error(e) => Err(ApplierError { code: e.code, message: e.message, body: e.body }),
    };
    let mut head = json!({ "applied_index": response.applied_index });
    if matches!(consistency, ProtoConsistency::Stale) {
        head["staleness_ms"] = json!(response.staleness_ms);
        head["known_commit_index"] = json!(response.known_commit_index);
    }
    print_outcome(head, outcome)
}

async fn status(mut c: Connected) -> anyhow::Result<ExitCode> {
    let s = c.client.status(c.call(StatusRequest {})).await.map_err(rpc_error)?.into_inner();
    let members = members_json(&s.members);
    let module = s.module.map(module_json);
    let upgrades_json = |upgrades: &[crate::proto::client::UpgradeRecord]| -> Vec<Value> {
        let upgrade = |u: &crate::proto::client::UpgradeRecord| {
            let refused = (!u.refused.is_empty()).then_some(&u.refused);
            json!({ "index": u.index, "name": u.name, "version": u.version, "hash": u.hash, "refused": refused })
        };
        upgrades.iter().map(upgrade).collect()
    };
    let appliers: Vec<Value> = s
        .appliers
        .iter()
        .map(|a| {
            json!({
                "module": a.module.clone().map(module_json), "routes": a.routes,
                "state_hash": a.state_hash, "upgrades": upgrades_json(&a.upgrades),
            })
        })
        .collect();
    let out = json!({
        "id": s.id, "role": s.role, "term": s.term, "leader": s.leader,
        "commit_index": s.commit_index, "applied_index": s.applied_index,
        "members": members, "module": module, "state_hash": s.state_hash, "appliers": appliers,
        "snapshot_index": s.snapshot_index, "first_log_index": s.first_log_index,
        "last_log_index": s.last_log_index, "cluster_id": s.cluster_id, "upgrades": upgrades_json(&s.upgrades),
        "snapshot_transfers": s.snapshot_transfers.iter().map(|t| json!({
            "peer": t.peer, "direction": t.direction, "index": t.index, "term": t.term, "bytes": t.bytes,
            "total_bytes": t.total_bytes, "elapsed_ms": t.elapsed_ms, "state": t.state,
        })).collect::<Vec<_>>(),
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ExitCode::SUCCESS)
}

fn module_json(m: crate::proto::client::Module) -> Value {
    json!({ "name": m.name, "version": m.version, "hash": m.hash, "since_index": m.since_index })
}

async fn upgrade(
    mut c: Connected,
    applier: Option<String>,
    module: PathBuf,
    allow_downgrade: bool,
) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(&module).with_context(|| format!("cannot read {}", module.display()))?;
    // The phases on stderr, the outcome as JSON on stdout.
    eprintln!("upgrade: {} ({} KiB): checking and compiling it on the node…", module.display(), bytes.len() / 1024);
    let request = c.call(UpgradeRequest { module: bytes, allow_downgrade, applier: applier.unwrap_or_default() });
    let r = c.client.upgrade(request).await.map_err(rpc_error)?.into_inner();
    let (next, previous) = (r.module.unwrap_or_default(), r.previous.unwrap_or_default());
    eprintln!("upgrade: checked: {} {} replaces {} (hash {})", next.name, next.version, previous.version, next.hash);
    let on: Vec<String> = r.compiled_on.iter().map(u64::to_string).collect();
    eprintln!("upgrade: compiled on members {} before it was proposed", on.join(", "));
    eprintln!("upgrade: proposed: committed at index {} (term {})", r.index, r.term);
    eprintln!(
        "upgrade: switched at index {}: {} {} is active on every member from there",
        r.index, next.name, next.version
    );
    let out = json!({
        "index": r.index, "term": r.term, "module": module_json(next), "previous": module_json(previous),
        "compiled_on": r.compiled_on,
    });
    println!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn member(command: MemberCommand) -> anyhow::Result<ExitCode> {
    use crate::proto::client::{AddLearner, MemberChange, Promote, Remove, member_change::Change};
    let (target, change) = match command {
        MemberCommand::List { target } => return client_call(target, list_members),
        MemberCommand::Add { target, id, address } => (target, Change::AddLearner(AddLearner { id, address })),
        MemberCommand::Promote { target, id, replacing } => {
            (target, Change::Promote(Promote { id, replacing: replacing.unwrap_or(0) }))
        }
        MemberCommand::Remove { target, id } => (target, Change::Remove(Remove { id })),
    };
    client_call(target, |mut c| async move {
        let request = c.call(MemberChange { change: Some(change) });
        let response = c.client.change_members(request).await.map_err(rpc_error)?.into_inner();
        println!("{}", json!({ "index": response.index, "members": members_json(&response.members) }));
        Ok(ExitCode::SUCCESS)
    })
}

fn members_json(members: &[crate::proto::client::Member]) -> Vec<Value> {
    members.iter().map(|m| json!({ "id": m.id, "address": m.address, "kind": m.kind })).collect()
}

async fn list_members(mut c: Connected) -> anyhow::Result<ExitCode> {
    let s = c.client.status(c.call(StatusRequest {})).await.map_err(rpc_error)?.into_inner();
    println!("{}", serde_json::to_string_pretty(&json!({ "leader": s.leader, "members": members_json(&s.members) }))?);
    Ok(ExitCode::SUCCESS)
}

async fn transfer_leader(mut c: Connected, to: u64) -> anyhow::Result<ExitCode> {
    let request = c.call(crate::proto::client::TransferLeaderRequest { to });
    let response = c.client.transfer_leader(request).await.map_err(rpc_error)?.into_inner();
    println!("{}", json!({ "leader": response.leader, "term": response.term }));
    Ok(ExitCode::SUCCESS)
}

fn print_outcome(mut head: Value, outcome: Result<Vec<u8>, ApplierError>) -> anyhow::Result<ExitCode> {
    let refused = outcome.is_err();
    let body = outcome_json(outcome);
    head.as_object_mut().expect("an object").extend(body.as_object().expect("an object").clone());
    println!("{head}");
    Ok(if refused { ExitCode::from(REFUSED) } else { ExitCode::SUCCESS })
}

fn load(
    path: &PathBuf,
    limits: Limits,
) -> anyhow::Result<(std::sync::Arc<WasmEngine>, std::sync::Arc<crate::runtime::LoadedModule>)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let engine = WasmEngine::new(limits, None)?;
    let module = engine.load(&bytes).with_context(|| format!("{} is not a usable applier", path.display()))?;
    Ok((engine, module))
}

fn inspect(path: &PathBuf, limits: Limits) -> anyhow::Result<()> {
    let (_, module) = load(path, limits)?;
    let ModuleDescriptor { name, version, hash, size_bytes, routes } = module.descriptor();
    let out = json!({
        "name": name, "version": version, "hash": hash, "size_bytes": size_bytes,
        "routes": routes, "imports": module.imports,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Line {
    Apply(Value),
    Query(Value),
}

fn entropy() -> anyhow::Result<[u8; 32]> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no entropy from the OS: {e}"))?;
    Ok(bytes)
}

/// `{"output": ...}` or `{"error": {...}}`; outputs and error bodies are the applier's JSON.
fn outcome_json(outcome: Result<Vec<u8>, ApplierError>) -> Value {
    let as_json = |bytes: &[u8]| {
        serde_json::from_slice::<Value>(bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into()))
    };
    match outcome {
        Ok(output) => json!({ "output": as_json(&output) }),
        Err(e) => json!({ "error": { "code": e.code, "message": e.message, "body": e.body.as_deref().map(as_json) } }),
    }
}

fn with_index(index: u64, outcome: Result<Vec<u8>, ApplierError>) -> Value {
    let mut line = json!({ "index": index });
    line.as_object_mut().expect("an object").extend(outcome_json(outcome).as_object().expect("an object").clone());
    line
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
                with_index(index, runtime.apply(meta, payload)?)
            }
            Line::Query(query) => {
                let payload = Payload::json(serde_json::to_vec(&query)?);
                with_index(runtime.applied().index, runtime.query(None, now_ns(), payload)?)
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
