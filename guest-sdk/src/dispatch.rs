//! Decode, call, encode: the one path from a boundary call to the applier's typed methods,
//! shared by the wasm export and the native runner.

use crate::codec;
use crate::contract::{ApplierError, Encoding, Info, Meta};
use crate::{Applier, Ctx, Error};

pub(crate) fn info<A: Applier>() -> Info {
    Info { name: A::NAME.to_string(), version: A::VERSION.to_string() }
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
