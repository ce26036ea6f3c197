//! Version 2.0.0 of the KV applier (same name, `kv`), for rolling out with `wasmraft upgrade`.
//!
//! What changed, observably: outputs of writes carry `by: "kv 2.0.0"`; a new `append`
//! command; and `migrate` records where it came from under the key `migrated`, or refuses
//! (and the cluster keeps version 1) while the key `fail-migration` exists.

use kv_applier::{Kv, QueryOutput};
use serde::{Deserialize, Serialize};
use wasmraft_sdk::{Applier, Ctx, Error, Info, codes};

pub use kv_applier::Query;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    Put {
        key: String,
        value: String,
    },
    Delete {
        key: String,
    },
    Cas {
        key: String,
        expected_version: u64,
        value: String,
    },
    /// Appends `suffix` to the key's value (an absent key counts as empty).
    Append {
        key: String,
        suffix: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    Written { version: u64, mod_index: u64, by: String },
    Deleted { version: u64, by: String },
}

const BY: &str = "kv 2.0.0";

fn from_v1(out: kv_applier::Output) -> Output {
    match out {
        kv_applier::Output::Written { version, mod_index } => Output::Written { version, mod_index, by: BY.into() },
        kv_applier::Output::Deleted { version } => Output::Deleted { version, by: BY.into() },
    }
}

fn value_of(ctx: &Ctx, key: &str) -> Result<Option<String>, Error> {
    match Kv::query(ctx, Query::Get { key: key.into() }) {
        Ok(QueryOutput::Entry(e)) => Ok(Some(e.value)),
        Ok(other) => Err(Error::internal(format!("a get answered {other:?}"))),
        Err(e) if e.code() == codes::NOT_FOUND => Ok(None),
        Err(e) => Err(e),
    }
}

pub struct Kv2;

impl Applier for Kv2 {
    const NAME: &'static str = "kv";
    const VERSION: &'static str = "2.0.0";

    type Command = Command;
    type Query = Query;
    type Output = Output;
    type QueryOutput = QueryOutput;

    fn apply(ctx: &mut Ctx, command: Command) -> Result<Output, Error> {
        let v1 = match command {
            Command::Put { key, value } => kv_applier::Command::Put { key, value },
            Command::Delete { key } => kv_applier::Command::Delete { key },
            Command::Cas { key, expected_version, value } => kv_applier::Command::Cas { key, expected_version, value },
            Command::Append { key, suffix } => {
                let value = value_of(ctx, &key)?.unwrap_or_default() + &suffix;
                kv_applier::Command::Put { key, value }
            }
        };
        Kv::apply(ctx, v1).map(from_v1)
    }

    fn query(ctx: &Ctx, query: Query) -> Result<QueryOutput, Error> {
        Kv::query(ctx, query)
    }

    fn migrate(ctx: &mut Ctx, previous: &Info) -> Result<(), Error> {
        Kv::apply(
            ctx,
            kv_applier::Command::Put { key: "migrated".into(), value: format!("from {}", previous.version) },
        )?;
        if value_of(ctx, "fail-migration")?.is_some() {
            return Err(Error::conflict("refusing to migrate while `fail-migration` is set"));
        }
        Ok(())
    }
}

wasmraft_sdk::export_applier!(Kv2);

#[cfg(test)]
mod tests {
    use super::*;
    use wasmraft_sdk::Encoding::Json;
    use wasmraft_sdk::testing::TestHost;

    #[test]
    fn append_and_tagged_outputs() {
        let mut h = TestHost::new();
        let put = Command::Put { key: "a".into(), value: "x".into() };
        assert_eq!(h.apply::<Kv2>(Json, &put), Ok(Output::Written { version: 1, mod_index: 1, by: BY.into() }));
        h.apply::<Kv2>(Json, &Command::Append { key: "a".into(), suffix: "y".into() }).unwrap();
        h.apply::<Kv2>(Json, &Command::Append { key: "b".into(), suffix: "z".into() }).unwrap();
        let got = |h: &mut TestHost, k: &str| match h.query::<Kv2>(Json, &Query::Get { key: k.into() }).unwrap() {
            QueryOutput::Entry(e) => e.value,
            other => panic!("{other:?}"),
        };
        assert_eq!((got(&mut h, "a"), got(&mut h, "b")), ("xy".to_string(), "z".to_string()));
    }
}
