//! What `Status` reports, kept current by the threads that know each part.

use crate::membership::MemberBook;
use crate::runtime::Front;
use crate::runtime::{ModuleRecord, UpgradeRecord};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Default)]
pub struct Consensus {
    pub role: &'static str,
    pub term: u64,
    /// 0: none known.
    pub leader: u64,
    /// How long ago this node last heard from the leader (zero on the leader); none
    /// without a leader.
    pub leader_contact: Option<std::time::Duration>,
    pub commit_index: u64,
    pub first_index: u64,
    pub last_index: u64,
    pub snapshot_index: u64,
    pub voters: Vec<u64>,
    pub learners: Vec<u64>,
}

/// Published after every batch of applied entries.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    pub index: u64,
    pub state_hash: String,
}

/// What the cluster runs and who is in it, as of the applied index. It changes only with
/// upgrade entries, conf changes and snapshots, so it is published only then, not with
/// every batch.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    pub module: ModuleRecord,
    pub upgrades: Vec<UpgradeRecord>,
    /// Member addresses and removed ids.
    pub members: MemberBook,
}

#[derive(Default)]
pub struct StatusBoard {
    consensus: Mutex<Consensus>,
    applied: Mutex<Applied>,
    setup: Mutex<Setup>,
    /// The active module's calls outside the log (HTTP requests, housekeeping), replaced
    /// with the setup.
    front: Mutex<Option<Arc<dyn Front>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl StatusBoard {
    pub fn set_consensus(&self, c: Consensus) {
        *lock(&self.consensus) = c;
    }

    pub fn set_applied(&self, a: Applied) {
        *lock(&self.applied) = a;
    }

    pub fn set_setup(&self, s: Setup) {
        *lock(&self.setup) = s;
    }

    pub fn set_front(&self, front: Arc<dyn Front>) {
        *lock(&self.front) = Some(front);
    }

    /// None until the apply thread has started.
    pub fn front(&self) -> Option<Arc<dyn Front>> {
        lock(&self.front).clone()
    }

    pub fn setup(&self) -> Setup {
        lock(&self.setup).clone()
    }

    pub fn consensus(&self) -> Consensus {
        lock(&self.consensus).clone()
    }

    pub fn applied(&self) -> Applied {
        lock(&self.applied).clone()
    }

    /// Whether `id` is in the cluster as this node knows it: a voter, a learner, or a
    /// member with an address (a joining node knows the members' addresses before the log
    /// tells it who votes), and not removed. Cheap: nothing is copied.
    pub fn is_member(&self, id: u64) -> bool {
        let setup = lock(&self.setup);
        if setup.members.removed.contains(&id) {
            return false;
        }
        if setup.members.addresses.contains_key(&id) {
            return true;
        }
        drop(setup);
        let c = lock(&self.consensus);
        c.voters.contains(&id) || c.learners.contains(&id)
    }
}
