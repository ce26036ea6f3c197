//! raft-rs logs through slog; this drain hands its records to `tracing` (target `raft`).

use slog::{Drain, KV, Key, OwnedKVList, Record, Serializer};
use std::fmt::{self, Write};

struct TracingDrain;

struct Pairs(String);

impl Serializer for Pairs {
    fn emit_arguments(&mut self, key: Key, val: &fmt::Arguments) -> slog::Result {
        let _ = write!(self.0, " {key}={val}");
        Ok(())
    }
}

impl Drain for TracingDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &Record, values: &OwnedKVList) -> Result<(), slog::Never> {
        let mut pairs = Pairs(String::new());
        let _ = record.kv().serialize(record, &mut pairs);
        let _ = values.serialize(record, &mut pairs);
        let msg = record.msg();
        match record.level() {
            slog::Level::Critical | slog::Level::Error => tracing::error!(target: "raft", "{msg}{}", pairs.0),
            slog::Level::Warning => tracing::warn!(target: "raft", "{msg}{}", pairs.0),
            slog::Level::Info => tracing::info!(target: "raft", "{msg}{}", pairs.0),
            slog::Level::Debug => tracing::debug!(target: "raft", "{msg}{}", pairs.0),
            slog::Level::Trace => tracing::trace!(target: "raft", "{msg}{}", pairs.0),
        }
        Ok(())
    }
}

pub fn logger() -> slog::Logger {
    slog::Logger::root(TracingDrain.fuse(), slog::o!())
}
