//! An applier whose commands misbehave on request, so the host's tests can show that each
//! misbehaviour is contained: it changes nothing and every node answers it the same way.

use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;
use std::hint::black_box;
use wasmraft_sdk::{Applier, Ctx, Error, Id, Table};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Does nothing: the bare cost of a call.
    Noop,
    /// Reads `key` from the store `times` times: the cost of a host import.
    Read {
        key: String,
        times: u32,
    },
    Put {
        key: String,
        value: String,
    },
    /// Puts `count` keys, then panics.
    PutThenPanic {
        count: u32,
    },
    /// Puts `count` keys, then returns an error.
    PutThenFail {
        count: u32,
    },
    /// Never returns.
    Spin,
    /// Allocates `chunk_kib` KiB at a time and keeps all of it, forever.
    Hog {
        chunk_kib: u32,
    },
    /// Recurses `depth` frames deep (and answers a checksum of the levels).
    Recurse {
        depth: u32,
    },
    /// Counts `word` in a `HashMap` that lives in guest memory across calls, stores the
    /// count, and answers with it and the map's iteration order: both depend on how long
    /// the instance has lived and on its hash seed.
    Remember {
        word: String,
    },
    /// Reports what the guest can see of time and identity.
    Observe,
    /// Reads WASI's wall clock `times` times: the cost of a WASI import.
    Clock {
        times: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    Done,
    Depth(u64),
    Remembered { count: u64, order: Vec<String> },
    Observed { now_ns: u64, wasi_now_ns: u64, index: u64, ids: [Id; 2] },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Query {
    Get {
        key: String,
    },
    /// Never returns: holds an instance until its fuel runs out.
    Spin,
}

const VALUES: Table<String, String> = Table::new("values");

thread_local! {
    static SEEN: RefCell<HashMap<String, u64>> = RefCell::new(HashMap::new());
}

fn put_many(ctx: &mut Ctx, count: u32) -> Result<(), Error> {
    for i in 0..count {
        VALUES.put(ctx, &format!("doomed-{i}"), &"x".repeat(64))?;
    }
    Ok(())
}

/// Not a tail call (work remains after it returns) and no locals in linear memory, so each
/// level is a frame on the wasm stack.
#[inline(never)]
fn recurse(depth: u32) -> u64 {
    if depth == 0 {
        return 0;
    }
    recurse(depth - 1).rotate_left(1) ^ depth as u64
}

pub struct Testkit;

impl Applier for Testkit {
    const NAME: &'static str = "testkit";
    const VERSION: &'static str = "0.1.0";

    type Command = Command;
    type Query = Query;
    type Output = Output;
    type QueryOutput = Option<String>;

    fn apply(ctx: &mut Ctx, command: Command) -> Result<Output, Error> {
        match command {
            Command::Noop => Ok(Output::Done),
            Command::Read { key, times } => {
                for _ in 0..times {
                    black_box(ctx.get(key.as_bytes()));
                }
                Ok(Output::Done)
            }
            Command::Put { key, value } => VALUES.put(ctx, &key, &value).map(|()| Output::Done),
            Command::PutThenPanic { count } => {
                put_many(ctx, count)?;
                panic!("testkit panics on purpose after {count} puts");
            }
            Command::PutThenFail { count } => {
                put_many(ctx, count)?;
                Err(Error::conflict(format!("testkit refuses on purpose after {count} puts")))
            }
            Command::Spin => {
                let mut n = 0u64;
                loop {
                    n = black_box(n.wrapping_add(1));
                }
            }
            Command::Hog { chunk_kib } => {
                let mut kept = Vec::new();
                loop {
                    kept.push(black_box(vec![1u8; chunk_kib as usize * 1024]));
                }
            }
            Command::Recurse { depth } => Ok(Output::Depth(recurse(depth))),
            Command::Remember { word } => {
                let (count, order) = SEEN.with(|seen| {
                    let mut seen = seen.borrow_mut();
                    let count = {
                        let c = seen.entry(word.clone()).or_default();
                        *c += 1;
                        *c
                    };
                    (count, seen.keys().cloned().collect::<Vec<_>>())
                });
                VALUES.put(ctx, &word, &format!("{count}:{}", order.join(",")))?;
                Ok(Output::Remembered { count, order })
            }
            Command::Clock { times } => {
                for _ in 0..times {
                    black_box(std::time::SystemTime::now());
                }
                Ok(Output::Done)
            }
            Command::Observe => {
                let wasi_now_ns = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64);
                let ids = [ctx.new_id(), ctx.new_id()];
                Ok(Output::Observed { now_ns: ctx.now().as_nanos(), wasi_now_ns, index: ctx.index(), ids })
            }
        }
    }

    fn query(ctx: &Ctx, query: Query) -> Result<Option<String>, Error> {
        match query {
            Query::Get { key } => VALUES.get(ctx, &key),
            Query::Spin => {
                let mut n = 0u64;
                loop {
                    n = black_box(n.wrapping_add(1));
                }
            }
        }
    }
}

wasmraft_sdk::export_applier!(Testkit);
