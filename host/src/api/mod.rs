//! The client API over gRPC and who may call it.

pub mod authz;
pub mod server;

pub use server::ClientService;

use crate::proto::client::Member;
use crate::status::Consensus;
use std::collections::BTreeMap;

/// The members as `Status` shows them: voters, then learners, with their addresses.
pub fn members_of(c: &Consensus, addresses: &BTreeMap<u64, String>) -> Vec<Member> {
    let member = |id: u64, kind: &str| Member {
        id,
        address: addresses.get(&id).cloned().unwrap_or_default(),
        kind: kind.into(),
    };
    let (mut voters, mut learners) = (c.voters.clone(), c.learners.clone());
    voters.sort_unstable();
    learners.sort_unstable();
    voters.iter().map(|&id| member(id, "voter")).chain(learners.iter().map(|&id| member(id, "learner"))).collect()
}
