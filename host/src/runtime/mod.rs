//! The deterministic runtime: applies committed entries to the state through the applier,
//! all-or-nothing, and answers queries.
//!
//! ## Guest memory is not state
//! A call on a live instance costs well under a microsecond; creating an instance costs
//! microseconds. But a live instance remembers: allocator layout, caches, a `HashMap`'s
//! seed and iteration order. If that memory could change a result, a node restored from a
//! snapshot (fresh instance) would diverge from one that ran all along (warm instance).
//!
//! The rule: **the apply instance is replaced at the first entry of every block of
//! [`RESET_INTERVAL`] log indexes, and after every trap**. A [`Checkpoint`] (the state to
//! snapshot) is only ever captured at such a point, just before that entry: there every
//! node, however it got there, starts the next entry on a fresh instance, whose `HashMap`
//! seed derives from that entry's index. So a node restored from a snapshot continues
//! exactly as the others do. Queries differ from node to node and never run on the apply
//! instance.
//!
//! A call this machine fails (the OS refused memory: not a trap, not an outcome) may be
//! retried on a fresh instance only while the instance had run nothing since it was
//! replaced, for then a fresh one is what every node has. Otherwise the error is
//! [`HostError::Unrepeatable`], and the node halts: a restart replays its log from its last
//! snapshot, which rebuilds the warm instance exactly.
//!
//! Capturing is O(1) (the map is persistent), but afterwards each B-tree node pays one copy
//! on its next write; so checkpoints are captured on request ([`Runtime::request_checkpoint`])
//! rather than at every reset.

pub mod backend;
mod checkpoint;
pub mod engine;
pub mod front;
mod guest;
mod instance;
pub mod module;
pub mod native;
pub mod requests;
pub mod routes;
pub mod state;
mod wasi;
pub mod wasm;

pub use backend::{Backend, CallError, HostError, ModuleDescriptor, Outcome};
pub use checkpoint::{AppliedState, Checkpoint, CheckpointError};
pub use engine::{Limits, OutsideCall};
pub use front::{Front, FrontResult, request_meta};
pub use module::{LoadError, LoadedModule, ModuleHash, WasmEngine};
pub use native::NativeBackend;
pub use requests::RequestTable;
pub use state::{LogPosition, ModuleRecord, StateHash, StateMap, SystemState, Txn, UpgradeRecord};
pub use wasm::WasmBackend;

use crate::entry::RequestId;
use requests::Seen;
use wasmraft_sdk::contract::{ApplierError, Caller, Info, Meta, Payload};

/// The apply instance is replaced at the first entry of each block of this many indexes.
/// Consensus-critical: it decides what guest memory an entry can observe.
pub const RESET_INTERVAL: u64 = 1024;

fn record(d: &ModuleDescriptor, since_index: u64) -> ModuleRecord {
    ModuleRecord {
        name: d.name.clone(),
        version: d.version.clone(),
        hash: d.hash.clone().unwrap_or_default(),
        since_index,
    }
}

/// The rules of replacement, checked the same way on every node: the same applier, and a
/// newer semver version unless a downgrade is asked for.
pub fn upgrade_check(
    active: &ModuleRecord,
    next: &ModuleDescriptor,
    allow_downgrade: bool,
) -> Result<(), ApplierError> {
    if next.name != active.name {
        return Err(ApplierError::new(
            "upgrade-refused",
            format!("the module is applier `{}`, but the cluster runs `{}`", next.name, active.name),
        ));
    }
    let parse = |v: &str| {
        semver::Version::parse(v).map_err(|e| ApplierError::new("upgrade-refused", format!("version `{v}`: {e}")))
    };
    let (from, to) = (parse(&active.version)?, parse(&next.version)?);
    if to <= from && !allow_downgrade {
        return Err(ApplierError::new(
            "upgrade-refused",
            format!("version {to} is not newer than the active {from} (a downgrade must be asked for explicitly)"),
        ));
    }
    Ok(())
}

/// One hosted applier: the module that runs it, its state and its record.
struct Hosted {
    backend: Box<dyn Backend>,
    routes: Vec<String>,
    applied: AppliedState,
    /// The apply instance has run a call since it was last replaced: its memory holds what
    /// those entries left, which only a replay of them from the block's start rebuilds.
    warm: bool,
}

impl Hosted {
    fn name(&self) -> &str {
        &self.applied.system.module.name
    }

    /// The next apply starts on a fresh instance.
    fn reset(&mut self) {
        self.backend.reset();
        self.warm = false;
    }
}

/// Why a set of appliers cannot be hosted together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostingError {
    #[error("no applier to host")]
    None,
    #[error("two appliers are named `{0}`")]
    SameName(String),
    #[error("{0}")]
    Routes(String),
    #[error("the state holds appliers {recorded:?} but the modules given are {given:?}, in that order")]
    Mismatch { recorded: Vec<String>, given: Vec<String> },
}

/// Checks that `descriptors` may be hosted together: distinct names, disjoint routes.
pub fn hosting_check(descriptors: &[ModuleDescriptor]) -> Result<(), HostingError> {
    for (i, d) in descriptors.iter().enumerate() {
        let earlier = &descriptors[..i];
        if earlier.iter().any(|e| e.name == d.name) {
            return Err(HostingError::SameName(d.name.clone()));
        }
        let others = earlier.iter().map(|e| (e.name.as_str(), &e.routes[..]));
        if let Some(why) = routes::conflict(&d.name, &d.routes, others) {
            return Err(HostingError::Routes(why));
        }
    }
    Ok(())
}

/// Which applier an entry or a query is for: a name, or the primary (the first hosted,
/// which also takes what names none, as every entry did before a node could host several).
pub type Target<'a> = Option<&'a str>;

/// What `status` shows of a hosted applier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplierView {
    pub module: ModuleRecord,
    pub routes: Vec<String>,
    pub upgrades: Vec<UpgradeRecord>,
    pub keys: usize,
}

pub struct Runtime {
    /// In hosting order; never empty, names distinct, routes disjoint.
    hosted: Vec<Hosted>,
    /// The outcomes of commands given request ids, for their retries.
    requests: RequestTable,
    applied: LogPosition,
    /// The index block the apply instances were created for; `None`: the next entry gets
    /// fresh instances.
    instance_block: Option<u64>,
    checkpoint_requested: bool,
    checkpoint: Option<Checkpoint>,
    /// How the last command went, until the node's metrics take it.
    last_call: Option<CallStats>,
}

/// How one command's call went: which applier (by hosting position), its outcome, its fuel.
#[derive(Debug, Clone, Copy)]
struct CallStats {
    applier: usize,
    outcome: &'static str,
    fuel: u64,
}

impl Runtime {
    /// A runtime with one applier and empty state at index 0.
    pub fn new(backend: Box<dyn Backend>) -> Self {
        Runtime::restore(backend, Checkpoint::default())
    }

    /// A single-applier runtime that continues from `checkpoint` (see [`Runtime::restore_all`]).
    pub fn restore(backend: Box<dyn Backend>, checkpoint: Checkpoint) -> Self {
        Runtime::restore_all(vec![backend], checkpoint).expect("one applier hosts alone")
    }

    /// A runtime that continues from `checkpoint`, with `backends` running its appliers in
    /// its order. A checkpoint that holds no applier (a new cluster's) takes `backends` as
    /// the cluster's bootstrap appliers.
    pub fn restore_all(backends: Vec<Box<dyn Backend>>, checkpoint: Checkpoint) -> Result<Self, HostingError> {
        let descriptors: Vec<ModuleDescriptor> = backends.iter().map(|b| b.describe()).collect();
        if descriptors.is_empty() {
            return Err(HostingError::None);
        }
        hosting_check(&descriptors)?;
        let parts = if checkpoint.appliers.is_empty() {
            let fresh = |d: &ModuleDescriptor| AppliedState {
                system: SystemState { module: record(d, 0), ..Default::default() },
                state: StateMap::default(),
            };
            descriptors.iter().map(fresh).collect()
        } else {
            checkpoint.appliers
        };
        let recorded: Vec<String> = parts.iter().map(|p| p.system.module.name.clone()).collect();
        let given: Vec<String> = descriptors.iter().map(|d| d.name.clone()).collect();
        if recorded != given {
            return Err(HostingError::Mismatch { recorded, given });
        }
        let hosted = backends
            .into_iter()
            .zip(descriptors)
            .zip(parts)
            .map(|((backend, d), applied)| Hosted { backend, routes: d.routes, applied, warm: false })
            .collect();
        Ok(Runtime {
            hosted,
            requests: checkpoint.requests,
            applied: checkpoint.applied,
            instance_block: None,
            checkpoint_requested: false,
            checkpoint: None,
            last_call: None,
        })
    }

    fn advance_to(&mut self, index: u64) -> Result<(), HostError> {
        if index <= self.applied.index {
            return Err(HostError::OutOfOrder { index, applied: self.applied.index });
        }
        Ok(())
    }

    fn find(&self, target: Target) -> Result<usize, ApplierError> {
        match target {
            None => Ok(0),
            Some(name) => self.hosted.iter().position(|h| h.name() == name).ok_or_else(|| {
                let names: Vec<&str> = self.hosted.iter().map(Hosted::name).collect();
                ApplierError::new(
                    "no-such-applier",
                    format!("this cluster hosts no applier `{name}` (it hosts {})", names.join(", ")),
                )
            }),
        }
    }

    /// Applies a committed entry to the primary applier (see [`Runtime::apply_to`]).
    pub fn apply(&mut self, meta: Meta, command: Payload) -> Result<Result<Vec<u8>, ApplierError>, HostError> {
        self.apply_to(None, meta, command)
    }

    /// Applies a committed entry to `target`. The outer error is this node's failure
    /// (nothing changed; retry or stop); the inner result is the entry's outcome, the same
    /// on every node: on error, no write of the call lands.
    pub fn apply_to(
        &mut self,
        target: Target,
        meta: Meta,
        command: Payload,
    ) -> Result<Result<Vec<u8>, ApplierError>, HostError> {
        self.begin(meta.index)?;
        let now_ns = meta.timestamp_ns;
        let outcome = self.call(target, meta, command)?;
        // After the call: a node that fails it retries the entry, and must expire once.
        self.requests.expire(now_ns);
        Ok(outcome)
    }

    /// Applies a committed entry that carries the request id `request` (see
    /// [`requests`]): as [`Runtime::apply_to`] the first time, else the first outcome
    /// again (or a refusal if the id came with another command), without calling the
    /// applier.
    pub fn apply_once(
        &mut self,
        target: Target,
        meta: Meta,
        command: Payload,
        request: &RequestId,
    ) -> Result<Once, HostError> {
        self.begin(meta.index)?;
        let now_ns = meta.timestamp_ns;
        let scope = requests::scope(meta.caller.as_ref(), &request.id);
        let fingerprint = requests::fingerprint(target, &command);
        let position = LogPosition { index: meta.index, term: meta.term };
        let once = match self.requests.seen(&scope, &fingerprint, now_ns) {
            Seen::New => {
                let result = self.call(target, meta, command)?;
                self.requests.remember(&scope, fingerprint, position, now_ns, request.window_ns, result.clone());
                Once::First(result)
            }
            Seen::Again(record) => {
                self.applied = position;
                Once::Again { at: record.at, result: record.result }
            }
            Seen::Reused { at } => {
                self.applied = position;
                Once::First(Err(ApplierError::new(
                    "request-id-reused",
                    format!("request id `{}` was given to another command, applied at index {}", request.id, at.index),
                )))
            }
            Seen::Full => {
                self.applied = position;
                Once::First(Err(ApplierError::new(
                    "request-table-full",
                    format!(
                        "the cluster remembers as many requests as it holds ({} MiB) for their windows: the command \
                         did not apply; retry later, or without a request id",
                        requests::MAX_TABLE_BYTES >> 20
                    ),
                )))
            }
        };
        self.requests.expire(now_ns);
        Ok(once)
    }

    /// Starts the entry at `index`: fresh instances at the first entry of a block, and the
    /// checkpoint asked for, which holds the state just before this entry.
    fn begin(&mut self, index: u64) -> Result<(), HostError> {
        self.advance_to(index)?;
        let block = index / RESET_INTERVAL;
        if self.instance_block != Some(block) {
            for hosted in &mut self.hosted {
                hosted.reset();
            }
            self.instance_block = Some(block);
            if std::mem::take(&mut self.checkpoint_requested) {
                self.checkpoint = Some(self.capture());
            }
        }
        Ok(())
    }

    /// Calls `target`'s apply for the entry [`Runtime::begin`] started.
    fn call(
        &mut self,
        target: Target,
        mut meta: Meta,
        command: Payload,
    ) -> Result<Result<Vec<u8>, ApplierError>, HostError> {
        let position = LogPosition { index: meta.index, term: meta.term };
        let i = match self.find(target) {
            Ok(i) => i,
            Err(e) => {
                self.applied = position;
                return Ok(Err(e));
            }
        };
        let hosted = &mut self.hosted[i];
        meta.timestamp_ns = meta.timestamp_ns.max(hosted.applied.system.clock_ns);
        let timestamp_ns = meta.timestamp_ns;
        let mut txn = Txn::new(hosted.applied.state.clone());
        let outcome = match hosted.backend.apply(meta, command, &mut txn) {
            Ok(outcome) => outcome,
            // A fresh instance for the retry is what every node had at this entry only if
            // this one was fresh too.
            Err(e) if hosted.warm => return Err(HostError::Unrepeatable(e.to_string())),
            Err(e) => {
                hosted.reset();
                return Err(e);
            }
        };
        hosted.warm = true;
        let label = match &outcome {
            Ok(_) => "ok",
            Err(CallError::Refused(_)) => "refused",
            Err(CallError::Trapped(_)) => "trapped",
        };
        self.last_call = Some(CallStats { applier: i, outcome: label, fuel: hosted.backend.fuel_used() });
        let outcome = match outcome {
            Ok(output) => {
                hosted.applied.state.commit(txn.into_writes());
                hosted.applied.system.clock_ns = timestamp_ns;
                Ok(output)
            }
            Err(CallError::Refused(e)) => Err(e),
            Err(CallError::Trapped(e)) => {
                hosted.reset();
                self.instance_block = None;
                Err(e)
            }
        };
        self.applied = position;
        Ok(outcome)
    }

    /// The applier, outcome and fuel of the last command applied, once: for metrics.
    pub fn take_last_call(&mut self) -> Option<(&str, &'static str, u64)> {
        let call = self.last_call.take()?;
        Some((self.hosted[call.applier].name(), call.outcome, call.fuel))
    }

    /// Records an entry that carries no command (an empty entry from a new leader, a
    /// configuration change), keeping the applied position exact.
    pub fn skip(&mut self, index: u64, term: u64) -> Result<(), HostError> {
        self.advance_to(index)?;
        self.applied = LogPosition { index, term };
        Ok(())
    }

    /// Answers a query to the primary applier against the applied state, on an instance of
    /// its own. It sees the applied index and `now_ns` as its meta.
    pub fn query(&self, caller: Option<Caller>, now_ns: u64, query: Payload) -> QueryResult {
        self.reader().query(caller, now_ns, query)
    }

    /// The primary applier's [`Runtime::reader_of`].
    pub fn reader(&self) -> Reader {
        self.reader_of(None).expect("the primary applier is always hosted")
    }

    /// `target`'s applied state as of now (an O(1) copy) with the module that reads it:
    /// queries on it may run on any thread while later entries apply.
    /// `target`'s state as of now (an O(1) copy); none if no such applier is hosted.
    pub fn state_of(&self, target: Target) -> Option<StateMap> {
        self.find(target).ok().map(|i| self.hosted[i].applied.state.clone())
    }

    pub fn reader_of(&self, target: Target) -> Result<Reader, ApplierError> {
        let hosted = &self.hosted[self.find(target)?];
        Ok(Reader { front: hosted.backend.front(), state: hosted.applied.state.clone(), applied: self.applied })
    }

    fn capture(&self) -> Checkpoint {
        Checkpoint {
            applied: self.applied,
            appliers: self.hosted.iter().map(|h| h.applied.clone()).collect(),
            requests: self.requests.clone(),
        }
    }

    /// The state as of now, at whatever index: for a backup, from which a new cluster
    /// starts with every node on fresh instances alike. Never a snapshot of this cluster,
    /// whose nodes run on from here on warm ones (see the module docs).
    pub fn backup(&self) -> Checkpoint {
        self.capture()
    }

    /// Asks for a checkpoint at the next point where the apply instances are fresh (see
    /// the module docs): at once if no entry has run since the last reset, else just before
    /// the next reset. Collect it with [`Runtime::take_checkpoint`].
    pub fn request_checkpoint(&mut self) {
        if self.instance_block.is_none() {
            self.checkpoint = Some(self.capture());
        } else {
            self.checkpoint_requested = true;
        }
    }

    /// The checkpoint captured since the last call, if any.
    pub fn take_checkpoint(&mut self) -> Option<Checkpoint> {
        self.checkpoint.take()
    }

    pub fn applied(&self) -> LogPosition {
        self.applied
    }

    /// The primary applier's state.
    pub fn state(&self) -> &StateMap {
        &self.hosted[0].applied.state
    }

    /// The hash of the whole replicated state, every applier's and the request table.
    pub fn state_hash(&self) -> StateHash {
        state::whole_hash(self.applier_hashes(), self.requests.map())
    }

    /// Each hosted applier's state hash, in hosting order.
    pub fn applier_hashes(&self) -> Vec<StateHash> {
        self.hosted.iter().map(|h| h.applied.state_hash()).collect()
    }

    /// The primary applier's calls outside the log.
    pub fn front(&self) -> std::sync::Arc<dyn Front> {
        self.hosted[0].backend.front()
    }

    /// Every hosted applier's calls outside the log and its routes, in hosting order.
    pub fn fronts(&self) -> Vec<HostedFront> {
        let front =
            |h: &Hosted| HostedFront { name: h.name().to_string(), routes: h.routes.clone(), front: h.backend.front() };
        self.hosted.iter().map(front).collect()
    }

    /// The primary applier's module, as the replicated state records it.
    pub fn module(&self) -> &ModuleRecord {
        &self.hosted[0].applied.system.module
    }

    /// The primary applier's upgrade entries so far, and their fate.
    pub fn upgrades(&self) -> &[UpgradeRecord] {
        &self.hosted[0].applied.system.upgrades
    }

    /// Every hosted applier as `status` shows it, in hosting order.
    pub fn appliers(&self) -> Vec<ApplierView> {
        let view = |h: &Hosted| ApplierView {
            module: h.applied.system.module.clone(),
            routes: h.routes.clone(),
            upgrades: h.applied.system.upgrades.clone(),
            keys: h.applied.state.len(),
        };
        self.hosted.iter().map(view).collect()
    }

    /// Applies an upgrade entry: `next` replaces the hosted applier of its name if it is
    /// at a newer version (or any version with `allow_downgrade`), its routes overlap no
    /// other applier's, and its `migrate` succeeds. Like `apply`, all or nothing: a refusal
    /// keeps every module and state as they were, on every node; the other appliers are
    /// never touched. The outer error is this node's failure, as for `apply`.
    pub fn upgrade(
        &mut self,
        mut meta: Meta,
        mut next: Box<dyn Backend>,
        allow_downgrade: bool,
    ) -> Result<Result<(), ApplierError>, HostError> {
        self.advance_to(meta.index)?;
        let position = LogPosition { index: meta.index, term: meta.term };
        let to = next.describe();
        let i = match self.find(Some(&to.name)) {
            Ok(i) => i,
            Err(e) => {
                // Every node refuses alike; no applier's history holds it (the proposer checked).
                self.applied = position;
                return Ok(Err(ApplierError::new("upgrade-refused", e.message)));
            }
        };
        let others = self.hosted.iter().enumerate().filter(|(j, _)| *j != i);
        let conflict = routes::conflict(&to.name, &to.routes, others.map(|(_, h)| (h.name(), &h.routes[..])));
        let hosted = &mut self.hosted[i];
        meta.timestamp_ns = meta.timestamp_ns.max(hosted.applied.system.clock_ns);
        let timestamp_ns = meta.timestamp_ns;
        let system = &hosted.applied.system;
        let checked = match conflict {
            Some(why) => Err(ApplierError::new("upgrade-refused", why)),
            None => upgrade_check(&system.module, &to, allow_downgrade),
        };
        let outcome = match checked {
            Err(e) => Err(e),
            Ok(()) => {
                let previous = Info { name: system.module.name.clone(), version: system.module.version.clone() };
                let mut txn = Txn::new(hosted.applied.state.clone());
                match next.migrate(meta, &previous, &mut txn)? {
                    Ok(()) => {
                        hosted.applied.state.commit(txn.into_writes());
                        hosted.applied.system.clock_ns = timestamp_ns;
                        hosted.backend = next;
                        hosted.warm = false;
                        hosted.routes = to.routes.clone();
                        hosted.applied.system.module = record(&to, position.index);
                        // The next entry starts on a fresh instance of the new module.
                        self.instance_block = None;
                        Ok(())
                    }
                    Err(e) => {
                        let e = e.into_error();
                        Err(ApplierError::new(
                            "migrate-failed",
                            format!("{} {}'s migrate failed: {}", to.name, to.version, e),
                        ))
                    }
                }
            }
        };
        self.hosted[i].applied.system.upgrades.push(UpgradeRecord {
            index: position.index,
            name: to.name,
            version: to.version,
            hash: to.hash.unwrap_or_default(),
            refused: outcome.as_ref().err().map(|e| e.message.clone()),
        });
        self.applied = position;
        Ok(outcome)
    }
}

/// The outcome of an entry that carries a request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Once {
    /// Applied now (or refused: an unknown applier, a reused id).
    First(Result<Vec<u8>, ApplierError>),
    /// A retry: the request applied at `at`, with this outcome.
    Again { at: LogPosition, result: Result<Vec<u8>, ApplierError> },
}

/// A hosted applier's calls outside the log, with what routes requests to it.
#[derive(Clone)]
pub struct HostedFront {
    pub name: String,
    pub routes: Vec<String>,
    pub front: std::sync::Arc<dyn Front>,
}

/// A query's answer, the module's refusal, or this node's failure to run it.
pub type QueryResult = Result<Result<Vec<u8>, ApplierError>, HostError>;

/// A read-only view of the state at one applied position, and the module that was active
/// there (see [`Runtime::reader`]).
pub struct Reader {
    front: std::sync::Arc<dyn Front>,
    state: StateMap,
    applied: LogPosition,
}

impl Reader {
    pub fn applied(&self) -> LogPosition {
        self.applied
    }

    /// The state this reader reads (an O(1) copy).
    pub fn state(&self) -> StateMap {
        self.state.clone()
    }

    /// As [`Runtime::query`], at this reader's position.
    pub fn query(&self, caller: Option<Caller>, now_ns: u64, query: Payload) -> QueryResult {
        let meta =
            Meta { index: self.applied.index, term: self.applied.term, timestamp_ns: now_ns, caller, entropy: [0; 32] };
        let mut txn = Txn::read_only(self.state.clone());
        Ok(self.front.query(meta, query, &mut txn)?.map_err(CallError::into_error))
    }
}
