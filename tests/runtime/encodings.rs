//! Typed commands and outputs round-trip through the wasm boundary in both encodings, and
//! the JSON a person sees has the documented shape.

use kv_applier::{Command, KvError, Output, Query, QueryOutput};
use serde::{Serialize, de::DeserializeOwned};
use wasmraft::runtime::{Limits, Runtime};
use wasmraft_sdk::codec;
use wasmraft_sdk::contract::{ApplierError, Encoding, Payload};
use wasmraft_tests::{Rng, meta, wasm_runtime};

struct Kv {
    runtime: Runtime,
    rng: Rng,
}

impl Kv {
    fn new() -> Self {
        Kv { runtime: wasm_runtime("kv", Limits::default()), rng: Rng(3) }
    }

    fn apply_raw(&mut self, payload: Payload) -> Result<Vec<u8>, ApplierError> {
        let index = self.runtime.applied().index + 1;
        self.runtime.apply(meta(index, index, &mut self.rng), payload).unwrap()
    }

    fn apply<T: DeserializeOwned>(&mut self, encoding: Encoding, command: &Command) -> Result<T, ApplierError> {
        let out = self.apply_raw(Payload { encoding, bytes: codec::encode(encoding, command).unwrap() })?;
        Ok(codec::decode(encoding, &out).unwrap())
    }

    fn query<Q: Serialize>(&self, encoding: Encoding, query: &Q) -> Result<QueryOutput, ApplierError> {
        let out = self
            .runtime
            .query(None, 0, Payload { encoding, bytes: codec::encode(encoding, query).unwrap() })
            .unwrap()?;
        Ok(codec::decode(encoding, &out).unwrap())
    }
}

#[test]
fn typed_round_trip_in_both_encodings() {
    let mut kv = Kv::new();
    for (i, encoding) in [Encoding::Postcard, Encoding::Json].into_iter().enumerate() {
        let key = format!("k{i}");
        let put = Command::Put { key: key.clone(), value: "ünïcode ✓".into() };
        let written: Output = kv.apply(encoding, &put).unwrap();
        assert_eq!(written, Output::Written { version: 1, mod_index: i as u64 * 3 + 1 });
        let cas = Command::Cas { key: key.clone(), expected_version: 9, value: "x".into() };
        let err = kv.apply::<Output>(encoding, &cas).unwrap_err();
        assert_eq!(err.code, "version-mismatch");
        let body: KvError = codec::decode(encoding, err.body.as_deref().unwrap()).unwrap();
        assert_eq!(body, KvError::VersionMismatch { key: key.clone(), expected: 9, actual: 1 });
        let deleted: Output = kv.apply(encoding, &Command::Delete { key: key.clone() }).unwrap();
        assert_eq!(deleted, Output::Deleted { version: 1 });
        let err = kv.query(encoding, &Query::Get { key }).unwrap_err();
        assert_eq!(err.code, "not-found");
    }
}

#[test]
fn json_is_what_the_documentation_shows() {
    let mut kv = Kv::new();
    let out = kv.apply_raw(Payload::json(br#"{"put":{"key":"a","value":"1"}}"#.to_vec())).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), r#"{"written":{"version":1,"mod_index":1}}"#);
    let out = kv.runtime.query(None, 0, Payload::json(br#"{"range":{"start":"","end":null,"limit":10}}"#.to_vec()));
    assert_eq!(
        String::from_utf8(out.unwrap().unwrap()).unwrap(),
        r#"{"range":{"entries":[{"key":"a","value":"1","version":1,"create_index":1,"mod_index":1}],"more":false}}"#
    );
}
