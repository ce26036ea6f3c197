//! What a Raft entry carries. `Entry.data` holds an [`EntryData`] (postcard); `Entry.context`
//! holds the [`ProposalId`], so the node that took the request can answer it when the entry
//! applies there.

use serde::{Deserialize, Serialize};
use wasmraft_sdk::contract::{Caller, Payload};

/// The first variant's tag doubles as the format version: new kinds of entries are new
/// variants, appended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryData {
    Command(ProposedCommand),
    /// Replace the applier with `module` (a component's bytes).
    Upgrade(ProposedUpgrade),
}

/// An upgrade as the proposing node checked and stamped it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposedUpgrade {
    pub timestamp_ns: u64,
    pub caller: Option<Caller>,
    pub entropy: [u8; 32],
    pub module: Vec<u8>,
    pub allow_downgrade: bool,
}

/// Postcard writes the variant index first: an upgrade entry is recognizable from its first
/// byte, without decoding the module it carries.
pub const UPGRADE_TAG: u8 = 1;

/// A client's command as the proposing node stamped it: every node applies it with this
/// time, caller and entropy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposedCommand {
    pub timestamp_ns: u64,
    pub caller: Option<Caller>,
    pub entropy: [u8; 32],
    pub payload: Payload,
}

impl EntryData {
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("entry data encodes")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, postcard::Error> {
        postcard::from_bytes(bytes)
    }
}

/// Who proposed an entry: the node and its sequence number for the proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProposalId {
    pub node: u64,
    pub seq: u64,
}

impl ProposalId {
    pub fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.node.to_be_bytes());
        out[8..].copy_from_slice(&self.seq.to_be_bytes());
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; 16] = bytes.try_into().ok()?;
        Some(ProposalId {
            node: u64::from_be_bytes(bytes[..8].try_into().ok()?),
            seq: u64::from_be_bytes(bytes[8..].try_into().ok()?),
        })
    }
}
