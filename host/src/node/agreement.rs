//! What every node of a cluster must run alike besides the module and the log: the limits
//! and constants that decide where a call stops and what it returns, and the code the
//! compiler generates. Two nodes that differ in one of them may apply the same entry
//! differently, and nothing would say so until their state hashes differ.
//!
//! A new cluster's nodes record these in their data directory (`identity.json`); a node
//! checks its own against them at every start, a joining node against its cluster's, and
//! every peer connection carries their digest, so a node that differs is refused with a
//! message that names what differs.

use crate::entry::{ENTRY_FORMAT, MAX_CLOCK_SKEW_NS};
use crate::runtime::engine::{MAX_TABLE_ELEMENTS, MAX_WASM_STACK, code_target, fuel};
use crate::runtime::{Limits, RESET_INTERVAL};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsensusSettings {
    /// `--fuel`.
    pub fuel_per_call: u64,
    /// `--memory-mib`, in bytes.
    pub memory_bytes: usize,
    pub wasm_stack_bytes: usize,
    pub table_elements: usize,
    /// Index blocks at whose start the apply instance is replaced.
    pub reset_interval: u64,
    pub host_call_fuel: u64,
    pub fuel_bytes_per_unit: u64,
    pub max_clock_skew_ns: u64,
    /// The wasmtime that compiles modules, and the machine code it generates.
    pub code: String,
    /// [`ENTRY_FORMAT`]. An `identity.json` written before it was recorded reads as format
    /// 2, which applies every older log (directories of the unreleased builds that wrote
    /// request-id entries without it are restored from a backup, not upgraded in place);
    /// peers' digests tell the builds apart, and a cluster that sends no format is not
    /// joined.
    #[serde(default = "unrecorded_entry_format")]
    pub entry_format: u32,
}

/// What an `identity.json` without a format records: fixed, whatever later builds write.
fn unrecorded_entry_format() -> u32 {
    2
}

impl ConsensusSettings {
    /// This node's, with `limits` from its flags.
    pub fn of(limits: &Limits) -> Self {
        ConsensusSettings {
            fuel_per_call: limits.fuel_per_call,
            memory_bytes: limits.memory_bytes,
            wasm_stack_bytes: MAX_WASM_STACK,
            table_elements: MAX_TABLE_ELEMENTS,
            reset_interval: RESET_INTERVAL,
            host_call_fuel: fuel::HOST_CALL,
            fuel_bytes_per_unit: fuel::BYTES_PER_UNIT,
            max_clock_skew_ns: MAX_CLOCK_SKEW_NS,
            code: code_target(),
            entry_format: ENTRY_FORMAT,
        }
    }

    /// A cluster's settings as a member sent them to a joining node (JSON): a member that
    /// sends no entry format is of an older build, which this node could not run beside.
    pub fn of_cluster(json: &str) -> anyhow::Result<ConsensusSettings> {
        let value: serde_json::Value = serde_json::from_str(json)?;
        if value.get("entry_format").is_none() {
            anyhow::bail!(
                "the cluster runs an older wasmraft, whose entries differ from this build's (format {ENTRY_FORMAT}): \
                 join it with the build it runs, or upgrade all of its nodes first"
            );
        }
        Ok(serde_json::from_value(value)?)
    }

    /// What peer messages carry: equal digests, equal settings.
    pub fn digest(&self) -> u64 {
        let bytes = postcard::to_allocvec(self).expect("settings encode");
        let hash = blake3::derive_key("wasmraft consensus settings v1", &bytes);
        u64::from_le_bytes(hash[..8].try_into().expect("8 bytes"))
    }

    /// Each setting that differs, as "name: ours here, theirs there".
    pub fn differences(&self, theirs: &ConsensusSettings) -> Vec<String> {
        let (ours, theirs) = (serde_json::to_value(self), serde_json::to_value(theirs));
        let (Ok(serde_json::Value::Object(ours)), Ok(serde_json::Value::Object(theirs))) = (ours, theirs) else {
            return vec!["the settings do not compare".into()];
        };
        ours.iter()
            .filter(|(name, value)| theirs.get(*name) != Some(value))
            .map(|(name, value)| {
                format!("{name}: {value} here, {} there", theirs.get(name).unwrap_or(&serde_json::Value::Null))
            })
            .collect()
    }

    /// Refuses to run with `theirs` (`whose`: where they come from) unless they are ours.
    pub fn check(&self, theirs: &ConsensusSettings, whose: &str) -> anyhow::Result<()> {
        let differences = self.differences(theirs);
        if differences.is_empty() {
            return Ok(());
        }
        anyhow::bail!(
            "this node's consensus settings differ from {whose}'s ({}): every node of a cluster must run the same \
             wasmraft build with the same --fuel and --memory-mib, or the nodes could apply the same entry differently",
            differences.join("; ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_difference_is_named_and_changes_the_digest() {
        let ours = ConsensusSettings::of(&Limits::default());
        assert!(ours.check(&ours.clone(), "the cluster").is_ok());
        let theirs = ConsensusSettings::of(&Limits { fuel_per_call: 7, ..Limits::default() });
        assert_ne!(ours.digest(), theirs.digest());
        let refused = ours.check(&theirs, "the cluster").unwrap_err().to_string();
        assert!(refused.contains("fuel_per_call: 1000000000 here, 7 there"), "{refused}");
        assert!(!refused.contains("memory_bytes"), "{refused}");
    }

    #[test]
    fn a_build_of_another_entry_format_is_told_apart() {
        let ours = ConsensusSettings::of(&Limits::default());
        let older = ConsensusSettings { entry_format: 1, ..ours.clone() };
        assert_ne!(ours.digest(), older.digest(), "a peer of format 1 would skip entries it cannot read");
        assert!(ours.check(&older, "the cluster").unwrap_err().to_string().contains("entry_format: 2 here, 1 there"));
        // Recorded before the format was: read as this build's, whose log it can apply.
        let mut recorded = serde_json::to_value(&ours).unwrap();
        recorded.as_object_mut().unwrap().remove("entry_format");
        let recorded: ConsensusSettings = serde_json::from_value(recorded).unwrap();
        assert!(ours.check(&recorded, "identity.json").is_ok());
        // A cluster that sends no format is of an older build: not joined.
        let mut sent = serde_json::to_value(&ours).unwrap();
        assert!(ConsensusSettings::of_cluster(&sent.to_string()).is_ok());
        sent.as_object_mut().unwrap().remove("entry_format");
        assert!(ConsensusSettings::of_cluster(&sent.to_string()).unwrap_err().to_string().contains("older wasmraft"));
    }
}
