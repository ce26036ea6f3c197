//! One live instance of an applier: creating it, running a call on it with the call's
//! transaction and entry, and turning traps into deterministic error results.

use super::backend::CallError;
use super::backend::HostError;
use super::engine::Limits;
use super::guest::{GuestFault, GuestState, bindings, call_hook, machine_failed};
use super::state::Txn;
use super::wasi::{self, EntrySource};
use wasmraft_sdk::contract::{
    Action, ApplierError, Encoding, HttpOutcome, HttpRequest, HttpResponse, Info, Meta, Payload,
};
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, ResourceLimiter, Store, Trap};
use wasmtime_wasi::I32Exit;

use bindings::exports::wasmraft::applier::http_handler as wit_http;
use bindings::wasmraft::applier::types as wit;

/// A call's result: what the guest returned, how it trapped (an outcome, the same on every
/// node), or this machine's failure to run it (not an outcome).
pub(super) type CallResult<R> = Result<Result<R, CallError>, HostError>;

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
            host_fault: None,
        };
        let mut store = Store::new(engine, state);
        store.limiter(|s| s as &mut dyn ResourceLimiter);
        store.call_hook(call_hook);
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
    ) -> CallResult<R> {
        let data = self.store.data_mut();
        data.txn = std::mem::replace(txn, Txn::new(Default::default()));
        data.source = input.source;
        data.panic = None;
        let budget = data.budget;
        let result = self.store.set_fuel(budget).and_then(|()| call(&self.bindings, &mut self.store, &input.meta));
        let data = self.store.data_mut();
        *txn = std::mem::replace(&mut data.txn, Txn::new(Default::default()));
        if let Some(fault) = data.host_fault.take() {
            return Err(HostError::Call(fault));
        }
        match result {
            Ok(value) => Ok(Ok(value)),
            Err(e) => classify(&e, data.panic.take(), budget).map(|e| Err(CallError::Trapped(e))),
        }
    }

    /// Fuel the last call used.
    pub(super) fn fuel_used(&self) -> u64 {
        self.store.data().budget.saturating_sub(self.store.get_fuel().unwrap_or(0))
    }

    pub(super) fn info(&mut self) -> CallResult<Info> {
        let meta = CallInput::new(Meta { index: 0, term: 0, timestamp_ns: 0, caller: None, entropy: [0; 32] });
        let info = self.run(meta, &mut Txn::read_only(Default::default()), |b, s, _| {
            b.wasmraft_applier_state_machine().call_info(s)
        })?;
        Ok(info.map(|info| Info { name: info.name, version: info.version }))
    }

    pub(super) fn routes(&mut self) -> CallResult<Vec<String>> {
        let meta = Meta { index: 0, term: 0, timestamp_ns: 0, caller: None, entropy: [0; 32] };
        self.detached(meta, |b, s, _| b.wasmraft_applier_http_handler().call_routes(s))
    }

    pub(super) fn apply(&mut self, meta: Meta, command: Payload, txn: &mut Txn) -> CallResult<Vec<u8>> {
        let payload = to_wit_payload(command);
        let result = self
            .run(CallInput::new(meta), txn, |b, s, m| b.wasmraft_applier_state_machine().call_apply(s, m, &payload))?;
        Ok(refused_as_error(result))
    }

    pub(super) fn migrate(&mut self, meta: Meta, previous: &Info, txn: &mut Txn) -> CallResult<()> {
        let previous = wit::ModuleInfo { name: previous.name.clone(), version: previous.version.clone() };
        let result = self.run(CallInput::new(meta), txn, |b, s, m| {
            b.wasmraft_applier_state_machine().call_migrate(s, m, &previous)
        })?;
        Ok(refused_as_error(result))
    }

    /// The calls without store access (`handle`, `housekeeping`) run on an empty, read-only
    /// transaction.
    fn detached<R>(
        &mut self,
        meta: Meta,
        call: impl FnOnce(&bindings::Applier, &mut Store<GuestState>, &wit::EntryMeta) -> wasmtime::Result<R>,
    ) -> CallResult<R> {
        self.run(CallInput::new(meta), &mut Txn::read_only(Default::default()), call)
    }

    pub(super) fn handle(&mut self, meta: Meta, request: HttpRequest) -> CallResult<Action> {
        let request = wit_http::Request {
            method: request.method,
            path: request.path,
            query: request.query,
            body: request.body,
            auth_error: request.auth_error,
            settings: request.settings,
        };
        let action = self.detached(meta, |b, s, m| b.wasmraft_applier_http_handler().call_handle(s, m, &request))?;
        Ok(action.map(|action| match action {
            wit_http::Action::Respond(r) => Action::Respond(from_wit_response(r)),
            wit_http::Action::Propose(p) => Action::Propose(from_wit_payload(p)),
            wit_http::Action::Read(p) => Action::Read(from_wit_payload(p)),
        }))
    }

    pub(super) fn render(
        &mut self,
        encoding: Encoding,
        outcome: HttpOutcome,
        txn: &mut Txn,
    ) -> CallResult<HttpResponse> {
        let encoding = to_wit_encoding(encoding);
        let outcome = match outcome {
            HttpOutcome::Applied(bytes) => wit_http::Outcome::Applied(bytes),
            HttpOutcome::Answered(bytes) => wit_http::Outcome::Answered(bytes),
            HttpOutcome::Failed(e) => {
                wit_http::Outcome::Failed(wit::ApplierError { code: e.code, message: e.message, body: e.body })
            }
        };
        let meta = Meta { index: 0, term: 0, timestamp_ns: 0, caller: None, entropy: [0; 32] };
        let response = self.run(CallInput::new(meta), txn, |b, s, _| {
            b.wasmraft_applier_http_handler().call_render(s, encoding, &outcome)
        })?;
        Ok(response.map(from_wit_response))
    }

    pub(super) fn housekeeping(&mut self, meta: Meta) -> CallResult<Option<Payload>> {
        let command = self.detached(meta, |b, s, m| b.wasmraft_applier_state_machine().call_housekeeping(s, m))?;
        Ok(command.map(|c| c.map(from_wit_payload)))
    }

    pub(super) fn query(&mut self, meta: Meta, query: Payload, txn: &mut Txn) -> CallResult<Vec<u8>> {
        let payload = to_wit_payload(query);
        let result = self
            .run(CallInput::new(meta), txn, |b, s, m| b.wasmraft_applier_state_machine().call_query(s, m, &payload))?;
        Ok(refused_as_error(result))
    }
}

/// A call that returned the applier's error: refused, with the instance intact.
fn refused_as_error<R>(result: Result<Result<R, wit::ApplierError>, CallError>) -> Result<R, CallError> {
    result.and_then(|r| r.map_err(|e| CallError::Refused(from_wit_error(e))))
}

/// A trap as an error result. The message is deterministic: it names the fault, never a
/// backtrace or an address. An error this machine caused (an allocation or a system call
/// that failed) is no result: it is this node's failure.
fn classify(err: &wasmtime::Error, panic: Option<String>, budget: u64) -> Result<ApplierError, HostError> {
    if machine_failed(err) {
        return Err(HostError::Call(format!("{err:#}")));
    }
    Ok(trap_error(err, panic, budget))
}

fn trap_error(err: &wasmtime::Error, panic: Option<String>, budget: u64) -> ApplierError {
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
        // the root cause is a property of the call, not of the node (those are caught above).
        (None, None) => ApplierError::new("trap", format!("the applier trapped: {}", err.root_cause())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Before, every unclassified error became the entry's `trap` outcome, on the node it
    /// happened on alone.
    #[test]
    fn a_failure_of_this_machine_is_no_outcome() {
        let refused = wasmtime::Error::new(std::io::Error::from_raw_os_error(12)).context("making memory accessible");
        assert!(
            matches!(classify(&refused, None, 1), Err(HostError::Call(m)) if m.contains("making memory accessible"))
        );
        let errno = wasmtime::Error::new(rustix::io::Errno::NOMEM);
        assert!(matches!(classify(&errno, None, 1), Err(HostError::Call(_))));
        // The guest's own doing is an outcome, the same everywhere.
        let guest = wasmtime::Error::msg("unknown handle index 3");
        assert!(matches!(classify(&guest, None, 1), Ok(e) if e.code == "trap"));
        let fuel = wasmtime::Error::new(GuestFault::OutOfFuel { budget: 9 });
        assert!(matches!(classify(&fuel, None, 9), Ok(e) if e.code == "out-of-fuel"));
    }

    #[test]
    fn a_growth_this_machine_refused_fails_the_call_here_alone() {
        let mut state = GuestState {
            txn: Txn::new(Default::default()),
            source: EntrySource::default(),
            seed: (0, 0),
            wasi: wasi::sealed_ctx(),
            table: ResourceTable::new(),
            memory_limit: 1 << 20,
            budget: 1,
            panic: None,
            module: "m".into(),
            host_fault: None,
        };
        // Beyond the memory type's maximum: the guest sees -1, as on every node.
        assert!(state.memory_grow_failed(wasmtime::Error::msg("Memory maximum size exceeded")).is_ok());
        assert_eq!(state.host_fault, None);
        // The OS refused: the call fails, and the runtime learns it was this machine.
        assert!(state.memory_grow_failed(wasmtime::Error::new(rustix::io::Errno::NOMEM)).is_err());
        assert!(state.host_fault.is_some());
    }
}
