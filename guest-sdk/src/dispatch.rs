//! Decode, call, encode: the one path from a boundary call to the applier's typed methods,
//! shared by the wasm export and the native runner.

use crate::codec;
use crate::contract::{Action, ApplierError, Encoding, HttpOutcome, HttpRequest, HttpResponse, Info, Meta, Payload};
use crate::http::{Failure, Handled, Outcome, Request, WIRE_ENCODING};
use crate::{Applier, Ctx, Error, Timestamp};

pub(crate) fn info<A: Applier>() -> Info {
    Info { name: A::NAME.to_string(), version: A::VERSION.to_string() }
}

pub(crate) fn routes<A: Applier>() -> Vec<String> {
    A::ROUTES.iter().map(|r| r.to_string()).collect()
}

pub(crate) fn apply<A: Applier>(meta: Meta, encoding: Encoding, bytes: &[u8]) -> Result<Vec<u8>, ApplierError> {
    let command: A::Command = codec::decode(encoding, bytes)
        .map_err(|e| Error::bad_request(format!("command does not decode as {e}")).into_wire(encoding))?;
    let mut ctx = Ctx::new(meta);
    let output = A::apply(&mut ctx, command).map_err(|e| e.into_wire(encoding))?;
    encode_output(encoding, &output)
}

pub(crate) fn query<A: Applier>(meta: Meta, encoding: Encoding, bytes: &[u8]) -> Result<Vec<u8>, ApplierError> {
    let query: A::Query = codec::decode(encoding, bytes)
        .map_err(|e| Error::bad_request(format!("query does not decode as {e}")).into_wire(encoding))?;
    let ctx = Ctx::new(meta);
    let output = A::query(&ctx, query).map_err(|e| e.into_wire(encoding))?;
    encode_output(encoding, &output)
}

pub(crate) fn migrate<A: Applier>(meta: Meta, previous: &Info) -> Result<(), ApplierError> {
    let mut ctx = Ctx::new(meta);
    A::migrate(&mut ctx, previous).map_err(|e| e.into_wire(Encoding::Json))
}

fn encode_output<T: serde::Serialize>(encoding: Encoding, output: &T) -> Result<Vec<u8>, ApplierError> {
    codec::encode(encoding, output)
        .map_err(|e| Error::internal(format!("output does not encode as {e}")).into_wire(encoding))
}

pub(crate) fn housekeeping<A: Applier>(meta: Meta) -> Option<Payload> {
    let command = A::housekeeping(Timestamp(meta.timestamp_ns))?;
    // A command that does not encode is a bug in the applier; on the leader's periodic path
    // proposing nothing is the only safe answer.
    codec::encode(WIRE_ENCODING, &command).ok().map(|bytes| Payload { encoding: WIRE_ENCODING, bytes })
}

pub(crate) fn handle<A: Applier>(meta: Meta, request: HttpRequest) -> Action {
    let wire = |what: &str, encoded: Result<Vec<u8>, codec::CodecError>| match encoded {
        Ok(bytes) => Ok(Payload { encoding: WIRE_ENCODING, bytes }),
        Err(e) => Err(HttpResponse::text(500, &format!("the {what} does not encode as {e}"))),
    };
    match A::handle(Request::from_wire(meta, request)) {
        Handled::Respond(response) => Action::Respond(response),
        Handled::Propose(c) => {
            wire("command", codec::encode(WIRE_ENCODING, &c)).map_or_else(Action::Respond, Action::Propose)
        }
        Handled::Read(q) => wire("query", codec::encode(WIRE_ENCODING, &q)).map_or_else(Action::Respond, Action::Read),
    }
}

/// `render` reads the state its outcome came from through a context whose meta is empty:
/// rendering belongs to no entry, so it has no index, time, caller or entropy.
pub(crate) fn render<A: Applier>(encoding: Encoding, outcome: HttpOutcome) -> HttpResponse {
    let undecodable = |what: &str, e: codec::CodecError| {
        let e = ApplierError::new(crate::codes::INTERNAL, format!("the {what} does not decode as {e}"));
        Outcome::Failed(Failure::from_wire(e, encoding))
    };
    let outcome = match outcome {
        HttpOutcome::Applied(bytes) => {
            codec::decode(encoding, &bytes).map_or_else(|e| undecodable("output", e), Outcome::Applied)
        }
        HttpOutcome::Answered(bytes) => {
            codec::decode(encoding, &bytes).map_or_else(|e| undecodable("answer", e), Outcome::Answered)
        }
        HttpOutcome::Failed(e) => Outcome::Failed(Failure::from_wire(e, encoding)),
    };
    let meta = Meta { index: 0, term: 0, timestamp_ns: 0, caller: None, entropy: [0; 32] };
    A::render(&Ctx::new(meta), outcome)
}
