//! Cluster membership besides Raft's own configuration: the address of every member, and
//! the ids that left (never reused). It changes only with conf-change entries (an added
//! learner's address rides in the change's context), so it is the same on every node at
//! the same index; snapshots carry it, and `members.json` keeps the latest across restarts.

use raft::eraftpb::{ConfChangeSingle, ConfChangeTransition, ConfChangeType, ConfChangeV2, ConfState};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub const FILE: &str = "members.json";
/// The largest `members.json` read: room for thousands of members' addresses.
const MAX_FILE_BYTES: usize = 16 << 20;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberBook {
    /// Member id -> HOST:PORT of its peer door.
    pub addresses: BTreeMap<u64, String>,
    /// Ids removed from the cluster: refused if proposed again.
    pub removed: BTreeSet<u64>,
}

/// The membership right after a change applied: the output of a conf-change entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipOutput {
    pub voters: Vec<u64>,
    pub learners: Vec<u64>,
    pub addresses: BTreeMap<u64, String>,
}

/// A membership change as an operator asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    AddLearner {
        id: u64,
        address: String,
    },
    /// `replacing`: a voter removed in the same (joint) change.
    Promote {
        id: u64,
        replacing: Option<u64>,
    },
    Remove {
        id: u64,
    },
}

fn single(change_type: ConfChangeType, node_id: u64) -> ConfChangeSingle {
    let mut c = ConfChangeSingle::default();
    c.set_change_type(change_type);
    c.node_id = node_id;
    c
}

impl Change {
    /// Checks the change against the membership it would change: the reasons an operator
    /// can act on. (The leader checks what only it knows: a change in progress, a learner
    /// that has not caught up.)
    pub fn check(&self, conf: &ConfState, book: &MemberBook) -> Result<(), String> {
        let is_voter = |id: u64| conf.voters.contains(&id);
        let is_learner = |id: u64| conf.learners.contains(&id);
        match self {
            Change::AddLearner { id, address } => {
                if *id == 0 {
                    return Err("node id 0 is not valid".into());
                }
                if is_voter(*id) || is_learner(*id) {
                    return Err(format!("node {id} is already a member"));
                }
                if book.removed.contains(id) {
                    return Err(format!(
                        "node id {id} was removed from this cluster and cannot be reused; pick a new id"
                    ));
                }
                if address.parse::<std::net::SocketAddr>().is_err() && !address.contains(':') {
                    return Err(format!("`{address}` is not HOST:PORT"));
                }
                if let Some((other, _)) = book.addresses.iter().find(|(_, a)| *a == address) {
                    return Err(format!("{address} is already node {other}'s address"));
                }
            }
            Change::Promote { id, replacing } => {
                if !is_learner(*id) {
                    return Err(format!("node {id} is not a learner (add it with `member add` first)"));
                }
                if let Some(old) = replacing
                    && !is_voter(*old)
                {
                    return Err(format!("node {old} is not a voter"));
                }
            }
            Change::Remove { id } => {
                if !is_voter(*id) && !is_learner(*id) {
                    return Err(format!("node {id} is not a member"));
                }
                if is_voter(*id) && conf.voters.len() == 1 {
                    return Err(format!("node {id} is the only voter"));
                }
            }
        }
        Ok(())
    }

    /// The raft-rs change: simple when one voter changes, joint (left automatically) when two.
    pub fn to_conf_change(&self) -> ConfChangeV2 {
        let (changes, context, transition) = match self {
            Change::AddLearner { id, address } => (
                vec![single(ConfChangeType::AddLearnerNode, *id)],
                address.as_bytes().to_vec(),
                ConfChangeTransition::Auto,
            ),
            Change::Promote { id, replacing: None } => {
                (vec![single(ConfChangeType::AddNode, *id)], Vec::new(), ConfChangeTransition::Auto)
            }
            Change::Promote { id, replacing: Some(old) } => (
                vec![single(ConfChangeType::AddNode, *id), single(ConfChangeType::RemoveNode, *old)],
                Vec::new(),
                ConfChangeTransition::Implicit,
            ),
            Change::Remove { id } => {
                (vec![single(ConfChangeType::RemoveNode, *id)], Vec::new(), ConfChangeTransition::Auto)
            }
        };
        let mut cc = ConfChangeV2::default();
        cc.set_transition(transition);
        cc.set_changes(changes.into());
        cc.set_context(context.into());
        cc
    }
}

impl MemberBook {
    pub fn from_addresses(addresses: BTreeMap<u64, String>) -> Self {
        MemberBook { addresses, removed: BTreeSet::new() }
    }

    /// Follows an applied conf change. Idempotent, so replaying a change already in the
    /// book (after a restart) changes nothing.
    pub fn apply(&mut self, cc: &ConfChangeV2) {
        for c in cc.get_changes() {
            match c.get_change_type() {
                ConfChangeType::AddNode | ConfChangeType::AddLearnerNode => {
                    if let Ok(address) = std::str::from_utf8(cc.get_context())
                        && !address.is_empty()
                    {
                        self.addresses.insert(c.node_id, address.to_string());
                    }
                }
                ConfChangeType::RemoveNode => {
                    self.addresses.remove(&c.node_id);
                    self.removed.insert(c.node_id);
                }
            }
        }
    }

    /// The book `dir` keeps, if any.
    pub fn load(dir: &Path) -> anyhow::Result<Option<Self>> {
        let path = dir.join(FILE);
        if !path.exists() {
            return Ok(None);
        }
        let text = crate::durable::read(&path, MAX_FILE_BYTES)?;
        Ok(Some(serde_json::from_slice(&text).map_err(|e| anyhow::anyhow!("{} is damaged: {e}", path.display()))?))
    }

    /// Replaces the book `dir` keeps (atomically, durably).
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        crate::durable::write(&dir.join(FILE), &serde_json::to_vec_pretty(self)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(voters: &[u64], learners: &[u64]) -> ConfState {
        ConfState { voters: voters.to_vec(), learners: learners.to_vec(), ..Default::default() }
    }

    #[test]
    fn checks_name_the_problem() {
        let mut book =
            MemberBook::from_addresses([(1, "127.0.0.1:1".to_string()), (2, "127.0.0.1:2".to_string())].into());
        book.removed.insert(9);
        let c = conf(&[1, 2], &[4]);
        let add = |id, a: &str| Change::AddLearner { id, address: a.into() }.check(&c, &book);
        assert!(add(3, "127.0.0.1:3").is_ok());
        assert!(add(2, "127.0.0.1:3").unwrap_err().contains("already a member"));
        assert!(add(9, "127.0.0.1:3").unwrap_err().contains("cannot be reused"));
        assert!(add(3, "127.0.0.1:1").unwrap_err().contains("node 1's address"));
        assert!(add(3, "nowhere").unwrap_err().contains("HOST:PORT"));
        assert!(Change::Promote { id: 2, replacing: None }.check(&c, &book).unwrap_err().contains("not a learner"));
        assert!(Change::Promote { id: 4, replacing: Some(7) }.check(&c, &book).unwrap_err().contains("not a voter"));
        assert!(Change::Remove { id: 5 }.check(&c, &book).unwrap_err().contains("not a member"));
        assert!(Change::Remove { id: 1 }.check(&conf(&[1], &[]), &book).unwrap_err().contains("only voter"));
    }

    #[test]
    fn the_book_follows_changes_idempotently() {
        let mut book = MemberBook::default();
        let add = Change::AddLearner { id: 4, address: "127.0.0.1:4".into() }.to_conf_change();
        book.apply(&add);
        book.apply(&add);
        assert_eq!(book.addresses.get(&4).map(String::as_str), Some("127.0.0.1:4"));
        book.apply(&Change::Promote { id: 4, replacing: None }.to_conf_change());
        assert_eq!(book.addresses.len(), 1, "a promotion carries no address and keeps the known one");
        let replace = Change::Promote { id: 4, replacing: Some(1) }.to_conf_change();
        assert_eq!(replace.get_changes().len(), 2);
        assert_eq!(replace.get_transition(), ConfChangeTransition::Implicit);
        book.apply(&Change::Remove { id: 4 }.to_conf_change());
        assert!(book.addresses.is_empty() && book.removed.contains(&4));
    }
}
