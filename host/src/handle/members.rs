//! Member changes and leadership transfers. Any node takes them; only the leader can check
//! and propose them, so a follower hands the call to the leader over the peer door (once: a
//! forwarded call is never forwarded again).

use super::{NodeError, NodeHandle};
use crate::inbox::Event;
use crate::membership::{Change, MembershipOutput};
use crate::proposals::{ProposeError, Wants};
use crate::proto::client::Member;
use crate::proto::client::{
    MemberChange, MemberChangeResponse, TransferLeaderRequest, TransferLeaderResponse, member_change,
};
use crate::proto::forwarded_error;
use crate::status::Consensus;
use crate::transport;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How often a transfer still waiting is asked for again (longer than the default election
/// timeout, 0.8 s, after which raft-rs gives it up).
const RETRANSFER: Duration = Duration::from_secs(1);

fn parse(request: &MemberChange) -> Result<Change, NodeError> {
    Ok(match &request.change {
        Some(member_change::Change::AddLearner(a)) => Change::AddLearner { id: a.id, address: a.address.clone() },
        Some(member_change::Change::Promote(p)) => {
            Change::Promote { id: p.id, replacing: (p.replacing != 0).then_some(p.replacing) }
        }
        Some(member_change::Change::Remove(r)) => Change::Remove { id: r.id },
        None => return Err(NodeError::Invalid("the request names no change".into())),
    })
}

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

impl NodeHandle {
    /// The leader's peer address, to hand it a call this follower cannot make.
    fn leader_address(&self, leader: u64) -> Result<String, NodeError> {
        if leader == 0 || leader == self.id {
            return Err(ProposeError::NoLeader.into());
        }
        let address = self.status.setup().members.addresses.get(&leader).cloned();
        address.ok_or_else(|| NodeError::Unavailable(format!("the leader ({leader}) has no known address")))
    }

    /// Makes a member change, through the leader if this node is not it; `forwarded`: a
    /// follower handed it here, and it goes no further.
    pub async fn change_members(
        &self,
        request: MemberChange,
        deadline: Duration,
        forwarded: bool,
    ) -> Result<MemberChangeResponse, NodeError> {
        let until = Instant::now() + deadline;
        let change = parse(&request)?;
        let outcome = self.propose_with(Wants::Output, |id| Event::ChangeMembers { id, change }, deadline).await?;
        let applied = match outcome {
            Err(ProposeError::NotLeader(leader)) if !forwarded => {
                let address = self.leader_address(leader)?;
                let response =
                    transport::forward_change_members(self.tls.as_deref(), (leader, &address), request, deadline)
                        .await
                        .map_err(forwarded_error)?;
                // As for any proposal, answer once the entry has applied here too: a node
                // joining through this one right after must find itself a member.
                self.applied_up_to(response.index, until).await?;
                return Ok(response);
            }
            other => other?,
        };
        let output = applied.result.map_err(|e| {
            NodeError::Refused(format!("the change applied at {} was void: {}", applied.index, e.message))
        })?;
        let after: MembershipOutput = postcard::from_bytes(&output).map_err(|e| NodeError::Internal(e.to_string()))?;
        let conf = Consensus { voters: after.voters, learners: after.learners, ..Default::default() };
        Ok(MemberChangeResponse { index: applied.index, members: members_of(&conf, &after.addresses) })
    }

    /// Waits until this node has applied `index`.
    pub(super) async fn applied_up_to(&self, index: u64, until: Instant) -> Result<(), NodeError> {
        while self.status.applied().index < index {
            if Instant::now() >= until {
                return Err(NodeError::DeadlineExceeded(format!("this node has not applied up to {index} yet")));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// Moves leadership, through the leader if this node is not it (see
    /// [`Self::change_members`]).
    pub async fn transfer_leader(
        &self,
        request: TransferLeaderRequest,
        deadline: Duration,
        forwarded: bool,
    ) -> Result<TransferLeaderResponse, NodeError> {
        let until = Instant::now() + deadline;
        let target = match self.start_transfer(request.to).await? {
            Err(ProposeError::NotLeader(leader)) if !forwarded => {
                let address = self.leader_address(leader)?;
                return transport::forward_transfer_leader(self.tls.as_deref(), (leader, &address), request, deadline)
                    .await
                    .map_err(forwarded_error);
            }
            other => other?,
        };
        let mut asked = Instant::now();
        loop {
            let c = self.status.consensus();
            if c.leader == target {
                return Ok(TransferLeaderResponse { leader: target, term: c.term });
            }
            if Instant::now() >= until {
                return Err(NodeError::DeadlineExceeded(format!(
                    "leadership did not move to {target} in time (leader: {})",
                    c.leader
                )));
            }
            // raft-rs drops a transfer whose target has not caught up within one election
            // timeout, without a word; asking again while it runs changes nothing. A leader
            // that lost leadership meanwhile answers NotLeader: the wait decides.
            if asked.elapsed() >= RETRANSFER {
                asked = Instant::now();
                let _ = self.start_transfer(target).await?;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Asks the Raft thread to move leadership to `to` (0: the most caught-up voter).
    async fn start_transfer(&self, to: u64) -> Result<Result<u64, ProposeError>, NodeError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.events.send(Event::TransferLeader { to, reply }).map_err(|_| NodeError::shutting_down())?;
        answer.await.map_err(|_| NodeError::shutting_down())
    }
}
