//! What `Status` reports, kept current by the threads that know each part.

use crate::membership::MemberBook;
use crate::runtime::{HostedFront, ModuleRecord, UpgradeRecord, routes};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Default)]
pub struct Consensus {
    pub role: &'static str,
    pub term: u64,
    /// 0: none known.
    pub leader: u64,
    /// When this node last heard from its leader in this term (a leader: from a quorum of
    /// voters, once it has committed in its term); none without a leader.
    pub leader_contact: Option<std::time::Instant>,
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
    /// The whole state's.
    pub state_hash: String,
    /// Each hosted applier's, in hosting order.
    pub applier_hashes: Vec<String>,
}

/// A hosted applier, as of the applied index.
#[derive(Debug, Clone, Default)]
pub struct HostedApplier {
    pub module: ModuleRecord,
    pub routes: Vec<String>,
    pub upgrades: Vec<UpgradeRecord>,
}

/// What the cluster runs and who is in it, as of the applied index. It changes only with
/// upgrade entries, conf changes and snapshots, so it is published only then, not with
/// every batch.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// In hosting order: the primary first.
    pub appliers: Vec<HostedApplier>,
    /// Member addresses and removed ids.
    pub members: MemberBook,
}

/// A snapshot on its way to or from a peer, or one that recently finished.
#[derive(Debug, Clone)]
pub struct Transfer {
    pub peer: u64,
    /// To the peer (this node leads), or from it.
    pub sending: bool,
    pub index: u64,
    pub term: u64,
    /// Bytes moved so far.
    pub bytes: u64,
    /// The file's size (as its sender declared it, when receiving; 0 if unknown).
    pub total: u64,
    pub started: std::time::Instant,
    /// How it ended, and how long it took: none while under way.
    pub finished: Option<(Result<(), String>, std::time::Duration)>,
}

/// Finished transfers `status` still shows, newest last.
pub const FINISHED_TRANSFERS: usize = 8;

#[derive(Default)]
pub struct StatusBoard {
    consensus: Mutex<Consensus>,
    applied: Mutex<Applied>,
    setup: Mutex<Setup>,
    /// The active modules' calls outside the log (HTTP requests, housekeeping), in
    /// hosting order, replaced with the setup.
    fronts: Mutex<Arc<Vec<HostedFront>>>,
    /// Snapshot transfers under way and the last few finished, by id.
    transfers: Mutex<(u64, std::collections::BTreeMap<u64, Transfer>)>,
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

    pub fn set_fronts(&self, fronts: Vec<HostedFront>) {
        *lock(&self.fronts) = Arc::new(fronts);
    }

    /// Every hosted applier's front, the primary first; empty until the apply thread has
    /// started.
    pub fn fronts(&self) -> Arc<Vec<HostedFront>> {
        lock(&self.fronts).clone()
    }

    /// The front of the applier that serves `path` (see [`routes::route`]); none until the
    /// apply thread has started.
    pub fn route(&self, path: &str) -> Option<HostedFront> {
        let fronts = self.fronts();
        routes::route(&fronts, |f| &f.routes, path).cloned()
    }

    /// The front of the applier named `name`, or the primary's.
    pub fn front(&self, name: Option<&str>) -> Option<HostedFront> {
        let fronts = self.fronts();
        match name {
            None => fronts.first().cloned(),
            Some(name) => fronts.iter().find(|f| f.name == name).cloned(),
        }
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

    /// Registers a transfer under way; its id for [`Self::update_transfer`].
    pub fn start_transfer(&self, transfer: Transfer) -> u64 {
        let mut guard = lock(&self.transfers);
        let (next, transfers) = &mut *guard;
        *next += 1;
        transfers.insert(*next, transfer);
        // Under way ones stay; of the finished ones, the newest few.
        let finished: Vec<u64> = transfers.iter().filter(|(_, t)| t.finished.is_some()).map(|(id, _)| *id).collect();
        for id in finished.iter().take(finished.len().saturating_sub(FINISHED_TRANSFERS)) {
            transfers.remove(id);
        }
        *next
    }

    pub fn update_transfer(&self, id: u64, update: impl FnOnce(&mut Transfer)) {
        if let Some(transfer) = lock(&self.transfers).1.get_mut(&id) {
            update(transfer);
        }
    }

    /// Transfers under way and the last few finished, oldest first.
    pub fn transfers(&self) -> Vec<Transfer> {
        lock(&self.transfers).1.values().cloned().collect()
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
