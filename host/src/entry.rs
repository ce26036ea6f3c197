//! What a Raft entry carries. `Entry.data` holds an [`EntryData`] (postcard); `Entry.context`
//! holds the [`ProposalId`], so the node that took the request can answer it when the entry
//! applies there.

use serde::{Deserialize, Serialize};
use wasmraft_sdk::contract::{Caller, Payload};

/// The kinds of entries this build writes and how it applies them. Raise it with every new
/// kind and every change to how one applies (the request table's bounds included): it is
/// one of the [`crate::node::agreement::ConsensusSettings`], so a node of another format is
/// refused by its peers rather than skipping or misapplying what it cannot read.
/// 1: commands, upgrades, commands to a named applier. 2: commands with a request id.
pub const ENTRY_FORMAT: u32 = 2;

/// The first variant's tag doubles as the format version: new kinds of entries are new
/// variants, appended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryData {
    /// A command for the primary (first hosted) applier.
    Command(ProposedCommand),
    /// Replace the hosted applier of the module's name with `module` (a component's bytes).
    Upgrade(ProposedUpgrade),
    /// A command for the hosted applier named `applier`.
    CommandTo { applier: String, command: ProposedCommand },
    /// A command that carries its client's request id: applied at most once for that id
    /// within the id's window (see [`crate::runtime::requests`]). `applier` none: the primary.
    Once { applier: Option<String>, request: RequestId, command: ProposedCommand },
}

/// A client's id for one request, and how long the cluster remembers its outcome (the
/// proposing node's setting, carried in the entry so that every node expires it alike).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestId {
    pub id: String,
    pub window_ns: u64,
}

impl RequestId {
    /// The longest id a client may give (the `Idempotency-Key` of HTTP, or the gRPC field).
    pub const MAX_BYTES: usize = 255;

    /// `id` if a client may give it: 1 to [`RequestId::MAX_BYTES`] bytes of visible ASCII.
    pub fn check(id: &str) -> Result<(), String> {
        if id.is_empty() || id.len() > Self::MAX_BYTES {
            return Err(format!("a request id has 1 to {} characters, not {}", Self::MAX_BYTES, id.len()));
        }
        if !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("a request id is visible ASCII (no spaces or control characters)".into());
        }
        Ok(())
    }
}

/// An upgrade as the proposing node checked and stamped it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposedUpgrade {
    pub timestamp_ns: u64,
    pub caller: Option<Caller>,
    pub entropy: [u8; 32],
    #[serde(with = "serde_bytes")]
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

/// Who proposed an entry: the node, the node's process (its incarnation) and the process's
/// sequence number for the proposal. The incarnation is what keeps an entry proposed before a
/// restart from answering a waiter of the new process that drew the same sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProposalId {
    pub node: u64,
    /// Random per process, never 0 (0 marks entries written before incarnations existed).
    pub incarnation: u64,
    pub seq: u64,
}

/// What `Entry.context` carries: the proposal's id, then the leader's clock when it took the
/// proposal into its log (the leader writes it; see [`EntryContext::stamped`]).
///
/// Layout: node | incarnation | seq | leader time (ns), each u64 big-endian. An entry of
/// an older node has 16 bytes (node | seq): it is read with incarnation 0, which no waiter
/// of this version holds, and without a leader time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryContext {
    pub id: ProposalId,
    pub leader_time_ns: Option<u64>,
}

const ID_BYTES: usize = 24;
const STAMPED_BYTES: usize = ID_BYTES + 8;
const LEGACY_BYTES: usize = 16;

fn word(bytes: &[u8], i: usize) -> u64 {
    u64::from_be_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes"))
}

impl ProposalId {
    /// The context of a proposal that no leader has stamped yet.
    pub fn to_context(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(STAMPED_BYTES);
        for w in [self.node, self.incarnation, self.seq] {
            out.extend_from_slice(&w.to_be_bytes());
        }
        out
    }
}

impl EntryContext {
    /// `None` for an entry without a proposer (a new leader's empty entry) or a context
    /// that is none of the known layouts.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        match bytes.len() {
            LEGACY_BYTES => Some(EntryContext {
                id: ProposalId { node: word(bytes, 0), incarnation: 0, seq: word(bytes, 1) },
                leader_time_ns: None,
            }),
            ID_BYTES | STAMPED_BYTES => Some(EntryContext {
                id: ProposalId { node: word(bytes, 0), incarnation: word(bytes, 1), seq: word(bytes, 2) },
                leader_time_ns: (bytes.len() == STAMPED_BYTES).then(|| word(bytes, 3)),
            }),
            _ => None,
        }
    }

    /// `context` with the leader's clock written into it, replacing any time already
    /// there (a proposer cannot choose the leader's time). Unchanged if it is not a
    /// proposal's context.
    pub fn stamped(context: &[u8], leader_time_ns: u64) -> Option<Vec<u8>> {
        if !matches!(context.len(), ID_BYTES | STAMPED_BYTES) {
            return None;
        }
        let mut out = Vec::with_capacity(STAMPED_BYTES);
        out.extend_from_slice(&context[..ID_BYTES]);
        out.extend_from_slice(&leader_time_ns.to_be_bytes());
        Some(out)
    }
}

/// This machine's clock in ns since the Unix epoch: what a node stamps on what it proposes
/// (0 before 1970).
pub fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// How far an entry's time may lie from the clock of the leader that took it into its log,
/// either way. A proposer's time outside this is moved to its edge, so one node with a
/// fast or slow clock cannot move the cluster's time (and every expiry computed from it)
/// by more than this; only the leader's own clock can, and leaders change. Consensus-
/// critical: every node must bound entries alike.
pub const MAX_CLOCK_SKEW_NS: u64 = 1_000_000_000;

/// The time an entry applies with: the proposer's, within [`MAX_CLOCK_SKEW_NS`] of the
/// leader's when the leader stamped it.
pub fn entry_time(proposer_ns: u64, leader_time_ns: Option<u64>) -> u64 {
    match leader_time_ns {
        Some(leader) => {
            proposer_ns.clamp(leader.saturating_sub(MAX_CLOCK_SKEW_NS), leader.saturating_add(MAX_CLOCK_SKEW_NS))
        }
        None => proposer_ns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_round_trip_and_older_layouts_parse() {
        let id = ProposalId { node: 3, incarnation: 77, seq: 9 };
        let context = id.to_context();
        assert_eq!(EntryContext::parse(&context), Some(EntryContext { id, leader_time_ns: None }));
        let stamped = EntryContext::stamped(&context, 5).unwrap();
        assert_eq!(EntryContext::parse(&stamped), Some(EntryContext { id, leader_time_ns: Some(5) }));
        // A proposer that stamps its own time is overruled by the leader's.
        assert_eq!(EntryContext::parse(&EntryContext::stamped(&stamped, 6).unwrap()).unwrap().leader_time_ns, Some(6));
        let mut legacy = 3u64.to_be_bytes().to_vec();
        legacy.extend_from_slice(&9u64.to_be_bytes());
        let old = EntryContext::parse(&legacy).unwrap();
        assert_eq!((old.id.node, old.id.incarnation, old.id.seq, old.leader_time_ns), (3, 0, 9, None));
        assert_eq!(EntryContext::stamped(&legacy, 1), None);
        assert_eq!(EntryContext::parse(&[]), None);
        assert_eq!(EntryContext::parse(&[0; 17]), None);
    }

    /// Entries of every kind as builds before byte strings went through `serde_bytes`
    /// wrote them: each byte string as a sequence of u8.
    mod sequences {
        use serde::{Deserialize, Serialize};

        #[derive(Serialize, Deserialize)]
        pub enum EntryData {
            Command(ProposedCommand),
            Upgrade { timestamp_ns: u64, caller: Option<Caller>, entropy: [u8; 32], module: Vec<u8>, allow: bool },
        }
        #[derive(Serialize, Deserialize)]
        pub struct Caller {
            pub subject: String,
            pub scopes: Vec<String>,
        }
        #[derive(Serialize, Deserialize)]
        pub struct ProposedCommand {
            pub timestamp_ns: u64,
            pub caller: Option<Caller>,
            pub entropy: [u8; 32],
            pub encoding: u8,
            pub bytes: Vec<u8>,
        }
    }

    #[test]
    fn byte_strings_keep_the_entry_format() {
        let bytes: Vec<u8> = (0..=255).cycle().take(1_000).collect();
        let caller = || Caller { subject: "uss1".into(), scopes: vec!["a".into()] };
        let command = EntryData::Command(ProposedCommand {
            timestamp_ns: 7,
            caller: Some(caller()),
            entropy: [9; 32],
            payload: Payload::json(bytes.clone()),
        });
        let old_caller = || Some(sequences::Caller { subject: "uss1".into(), scopes: vec!["a".into()] });
        let old = sequences::EntryData::Command(sequences::ProposedCommand {
            timestamp_ns: 7,
            caller: old_caller(),
            entropy: [9; 32],
            encoding: 1,
            bytes: bytes.clone(),
        });
        assert_eq!(command.encode(), postcard::to_allocvec(&old).unwrap());
        assert_eq!(EntryData::decode(&postcard::to_allocvec(&old).unwrap()).unwrap(), command);

        let upgrade = EntryData::Upgrade(ProposedUpgrade {
            timestamp_ns: 1,
            caller: None,
            entropy: [2; 32],
            module: bytes.clone(),
            allow_downgrade: true,
        });
        let old = sequences::EntryData::Upgrade {
            timestamp_ns: 1,
            caller: None,
            entropy: [2; 32],
            module: bytes,
            allow: true,
        };
        assert_eq!(upgrade.encode(), postcard::to_allocvec(&old).unwrap());
    }

    #[test]
    fn entry_time_stays_near_the_leaders_clock() {
        let leader = 1_000 * MAX_CLOCK_SKEW_NS;
        assert_eq!(entry_time(leader + 5, Some(leader)), leader + 5);
        // A follower whose clock runs an hour ahead moves time by the bound, no more.
        assert_eq!(entry_time(leader + 3600 * MAX_CLOCK_SKEW_NS, Some(leader)), leader + MAX_CLOCK_SKEW_NS);
        assert_eq!(entry_time(0, Some(leader)), leader - MAX_CLOCK_SKEW_NS);
        assert_eq!(entry_time(42, None), 42);
        assert_eq!(entry_time(u64::MAX, Some(u64::MAX - 1)), u64::MAX);
    }
}
