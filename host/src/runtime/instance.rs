//! One live instance of an applier: creating it, running a call on it with the call's
//! transaction and entry, and turning traps into deterministic error results.

use super::backend::CallError;
use super::engine::Limits;
use super::guest::{GuestFault, GuestState, bindings};
use super::state::Txn;
use super::wasi::{self, EntrySource};
use wasmraft_sdk::contract::{Action, ApplierError, Encoding, HttpOutcome, HttpRequest, HttpResponse, Info, Meta, Payload};
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, ResourceLimiter, Store, Trap};
use wasmtime_wasi::I32Exit;

use bindings::exports::wasmraft::applier::http_handler as wit_http;
use bindings::wasmraft::applier::types as wit;

/// A live instance and its store.
pub(super) struct Instance {
    store: Store<GuestState>,
    bindings: bindings::Applier,
}

/// What the host passes across for one call.
struct CallInput {
    meta: wit::EntryMeta,
    source: EntrySource,
}

fn to_wit_meta(meta: Meta) -> wit::EntryMeta {
    let word = |i: usize| u64::from_le_bytes(meta.entropy[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    wit::EntryMeta {
        index: meta.index,
        term: meta.term,
        timestamp_ns: meta.timestamp_ns,
        entropy: (word(0), word(1), word(2), word(3)),
        caller: meta.caller.map(|c| wit::Caller { subject: c.subject, scopes: c.scopes }),
    }
}

fn to_wit_encoding(e: Encoding) -> wit::Encoding {
    match e {
        Encoding::Postcard => wit::Encoding::Postcard,
        Encoding::Json => wit::Encoding::Json,
    }
}

fn to_wit_payload(p: Payload) -> wit::Payload {
    wit::Payload { encoding: to_wit_encoding(p.encoding), bytes: p.bytes }
}

fn from_wit_payload(p: wit::Payload) -> Payload {
    let encoding = match p.encoding {
        wit::Encoding::Postcard => Encoding::Postcard,
        wit::Encoding::Json => Encoding::Json,
    };
    Payload { encoding, bytes: p.bytes }
}

fn from_wit_response(r: wit_http::Response) -> HttpResponse {
    HttpResponse { status: r.status, headers: r.headers, body: r.body }
}

fn from_wit_error(e: wit::ApplierError) -> ApplierError {
    ApplierError { code: e.code, message: e.message, body: e.body }
}

impl CallInput {
    fn new(meta: Meta) -> Self {
        let source = EntrySource::new(meta.index, meta.timestamp_ns, meta.entropy);
        CallInput { meta: to_wit_meta(meta), source }
    }
}

impl Instance {
    /// Creates an instance of `pre` to run the entry at `index` (its hash seed derives from
    /// it). `name` labels its log lines.
    pub(super) fn new(
        engine: &Engine,
        pre: &bindings::ApplierPre<GuestState>,
        limits: &Limits,
        name: &str,
        index: u64,
    ) -> wasmtime::Result<Self> {
        let state = GuestState {
            txn: Txn::new(Default::default()),
            source: EntrySource::default(),
            seed: wasi::insecure_seed(index),
            wasi: wasi::sealed_ctx(),
            table: ResourceTable::new(),
            memory_limit: limits.memory_bytes,
            budget: limits.fuel_per_call,
            panic: None,
            module: name.into(),
        };
        let mut store = Store::new(engine, state);
        store.limiter(|s| s as &mut dyn ResourceLimiter);
        // Start functions and data initialisers run on this budget too.
        store.set_fuel(limits.fuel_per_call)?;
        let bindings = pre.instantiate(&mut store)?;
        Ok(Instance { store, bindings })
    }

    /// Runs `call` with `txn` as the store and the entry's time and entropy as WASI's.
    fn run<R>(
        &mut self,
        input: CallInput,
        txn: &mut Txn,
        call: impl FnOnce(&bindings::Applier, &mut Store<GuestState>, &wit::EntryMeta) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        let data = self.store.data_mut();
        data.txn = std::mem::replace(txn, Txn::new(Default::default()));
        data.source = input.source;
        data.panic = None;
        let budget = data.budget;
        let result = self.store.set_fuel(budget).and_then(|()| call(&self.bindings, &mut self.store, &input.meta));
        let data = self.store.data_mut();
        *txn = std::mem::replace(&mut data.txn, Txn::new(Default::default()));
        result.map_err(|e| CallError::Trapped(classify(&e, data.panic.take(), budget)))
    }

    pub(super) fn info(&mut self) -> Result<Info, CallError> {
        let meta = CallInput::new(Meta { index: 0, term: 0, timestamp_ns: 0, caller: None, entropy: [0; 32] });
        let info = self.run(meta, &mut Txn::read_only(Default::default()), |b, s, _| {
            b.wasmraft_applier_state_machine().call_info(s)
        })?;
        Ok(Info { name: info.name, version: info.version })
    }

    pub(super) fn apply(&mut self, meta: Meta, command: Payload, txn: &mut Txn) -> Result<Vec<u8>, CallError> {
        let payload = to_wit_payload(command);
        self.run(CallInput::new(meta), txn, |b, s, m| b.wasmraft_applier_state_machine().call_apply(s, m, &payload))?
            .map_err(|e| CallError::Refused(from_wit_error(e)))
    }

    pub(super) fn migrate(&mut self, meta: Meta, previous: &Info, txn: &mut Txn) -> Result<(), CallError> {
        let previous = wit::ModuleInfo { name: previous.name.clone(), version: previous.version.clone() };
        self.run(CallInput::new(meta), txn, |b, s, m| b.wasmraft_applier_state_machine().call_migrate(s, m, &previous))?
            .map_err(|e| CallError::Refused(from_wit_error(e)))
    }

    /// The calls without store access run on an empty, read-only transaction.
    fn detached<R>(
        &mut self,
        meta: Meta,
        call: impl FnOnce(&bindings::Applier, &mut Store<GuestState>, &wit::EntryMeta) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        self.run(CallInput::new(meta), &mut Txn::read_only(Default::default()), call)
    }

    pub(super) fn handle(&mut self, meta: Meta, request: HttpRequest) -> Result<Action, CallError> {
        let request = wit_http::Request {
            method: request.method,
            path: request.path,
            query: request.query,
            body: request.body,
            auth_error: request.auth_error,
            settings: request.settings,
        };
        let action = self.detached(meta, |b, s, m| b.wasmraft_applier_http_handler().call_handle(s, m, &request))?;
        Ok(match action {
            wit_http::Action::Respond(r) => Action::Respond(from_wit_response(r)),
            wit_http::Action::Propose(p) => Action::Propose(from_wit_payload(p)),
            wit_http::Action::Read(p) => Action::Read(from_wit_payload(p)),
        })
    }

    pub(super) fn render(&mut self, encoding: Encoding, outcome: HttpOutcome) -> Result<HttpResponse, CallError> {
        let encoding = to_wit_encoding(encoding);
        let outcome = match outcome {
            HttpOutcome::Applied(bytes) => wit_http::Outcome::Applied(bytes),
            HttpOutcome::Answered(bytes) => wit_http::Outcome::Answered(bytes),
            HttpOutcome::Failed(e) => wit_http::Outcome::Failed(wit::ApplierError { code: e.code, message: e.message, body: e.body }),
        };
        let meta = Meta { index: 0, term: 0, timestamp_ns: 0, caller: None, entropy: [0; 32] };
        let response = self.detached(meta, |b, s, _| b.wasmraft_applier_http_handler().call_render(s, encoding, &outcome))?;
        Ok(from_wit_response(response))
    }

    pub(super) fn housekeeping(&mut self, meta: Meta) -> Result<Option<Payload>, CallError> {
        let command = self.detached(meta, |b, s, m| b.wasmraft_applier_state_machine().call_housekeeping(s, m))?;
        Ok(command.map(from_wit_payload))
    }

    pub(super) fn query(&mut self, meta: Meta, query: Payload, txn: &mut Txn) -> Result<Vec<u8>, CallError> {
        let payload = to_wit_payload(query);
        self.run(CallInput::new(meta), txn, |b, s, m| b.wasmraft_applier_state_machine().call_query(s, m, &payload))?
            .map_err(|e| CallError::Refused(from_wit_error(e)))
    }
}

/// A trap as an error result. The message is deterministic: it names the fault, never a
/// backtrace or an address.
fn classify(err: &wasmtime::Error, panic: Option<String>, budget: u64) -> ApplierError {
    if let Some(fault) = err.downcast_ref::<GuestFault>() {
        let code = match fault {
            GuestFault::OutOfFuel { .. } => "out-of-fuel",
            GuestFault::OutOfMemory { .. } => "out-of-memory",
            GuestFault::TableLimit { .. } | GuestFault::Store(_) => "limit-exceeded",
        };
        return ApplierError::new(code, fault.to_string());
    }
    if let Some(exit) = err.downcast_ref::<I32Exit>() {
        return ApplierError::new("exit", format!("the applier called exit({})", exit.0));
    }
    match (err.downcast_ref::<Trap>(), panic) {
        (Some(Trap::OutOfFuel), _) => ApplierError::new("out-of-fuel", GuestFault::OutOfFuel { budget }.to_string()),
        (Some(Trap::StackOverflow), _) => ApplierError::new("stack-overflow", "the call overflowed the wasm stack"),
        (_, Some(message)) => ApplierError::new("panic", format!("the applier {message}")),
        (Some(trap), None) => ApplierError::new("trap", format!("the applier trapped: {trap}")),
        // A host function failed in a way we did not classify (a WASI resource error, say):
        // the root cause is a property of the call, not of the node.
        (None, None) => ApplierError::new("trap", format!("the applier trapped: {}", err.root_cause())),
    }
}

