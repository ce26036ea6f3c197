//! Membership calls of the client API: `ChangeMembers` and `TransferLeader`. Any node takes
//! them; only the leader can check and propose them, so a follower hands the call to the
//! leader over the peer door (once: a forwarded call is never forwarded again).

use super::members_of;
use super::server::{ClientService, status_of};
use crate::inbox::Event;
use crate::membership::{Change, MembershipOutput};
use crate::proposals::ProposeError;
use crate::proto::client::{
    MemberChange, MemberChangeResponse, TransferLeaderRequest, TransferLeaderResponse, member_change,
};
use crate::status::Consensus;
use crate::transport;
use std::time::{Duration, Instant};
use tonic::Status;

fn parse(request: &MemberChange) -> Result<Change, Status> {
    Ok(match &request.change {
        Some(member_change::Change::AddLearner(a)) => Change::AddLearner { id: a.id, address: a.address.clone() },
        Some(member_change::Change::Promote(p)) => {
            Change::Promote { id: p.id, replacing: (p.replacing != 0).then_some(p.replacing) }
        }
        Some(member_change::Change::Remove(r)) => Change::Remove { id: r.id },
        None => return Err(Status::invalid_argument("the request names no change")),
    })
}

fn refused(e: ProposeError) -> Status {
    match e {
        ProposeError::Refused(why) => Status::failed_precondition(why),
        e => status_of(e),
    }
}

impl ClientService {
    /// The leader's peer address, to hand it a call this follower cannot make.
    fn leader_address(&self, leader: u64) -> Result<String, Status> {
        if leader == 0 || leader == self.id {
            return Err(Status::unavailable("no leader is known right now; retry shortly"));
        }
        let address = self.status.setup().members.addresses.get(&leader).cloned();
        address.ok_or_else(|| Status::unavailable(format!("the leader ({leader}) has no known address")))
    }

    /// Makes a member change, through the leader if this node is not it; `forwarded`: a
    /// follower handed it here, and it goes no further.
    pub(crate) async fn change_members_call(
        &self,
        request: MemberChange,
        deadline: Duration,
        forwarded: bool,
    ) -> Result<MemberChangeResponse, Status> {
        let until = Instant::now() + deadline;
        let change = parse(&request)?;
        let outcome = self.propose_with(|id| Event::ChangeMembers { id, change }, deadline).await?;
        let applied = match outcome {
            Err(ProposeError::NotLeader(leader)) if !forwarded => {
                let address = self.leader_address(leader)?;
                let response =
                    transport::forward_change_members(self.tls.as_deref(), (leader, &address), request, deadline)
                        .await?;
                // As for any proposal, answer once the entry has applied here too: a node
                // joining through this one right after must find itself a member.
                self.applied_up_to(response.index, until).await?;
                return Ok(response);
            }
            other => other.map_err(refused)?,
        };
        let output = applied.result.map_err(|e| {
            Status::failed_precondition(format!("the change applied at {} was void: {}", applied.index, e.message))
        })?;
        let after: MembershipOutput = postcard::from_bytes(&output).map_err(|e| Status::internal(e.to_string()))?;
        let conf = Consensus { voters: after.voters, learners: after.learners, ..Default::default() };
        Ok(MemberChangeResponse { index: applied.index, members: members_of(&conf, &after.addresses) })
    }

    /// Waits until this node has applied `index`.
    async fn applied_up_to(&self, index: u64, until: Instant) -> Result<(), Status> {
        while self.status.applied().index < index {
            if Instant::now() >= until {
                return Err(Status::deadline_exceeded(format!(
                    "the change applied at {index} has not reached this node yet"
                )));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// Moves leadership, through the leader if this node is not it (see
    /// [`Self::change_members_call`]).
    pub(crate) async fn transfer_leader_call(
        &self,
        request: TransferLeaderRequest,
        deadline: Duration,
        forwarded: bool,
    ) -> Result<TransferLeaderResponse, Status> {
        let until = Instant::now() + deadline;
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.events
            .send(Event::TransferLeader { to: request.to, reply })
            .map_err(|_| Status::unavailable("the node is shutting down"))?;
        let target = match answer.await.map_err(|_| Status::unavailable("the node is shutting down"))? {
            Err(ProposeError::NotLeader(leader)) if !forwarded => {
                let address = self.leader_address(leader)?;
                return transport::forward_transfer_leader(self.tls.as_deref(), (leader, &address), request, deadline)
                    .await;
            }
            other => other.map_err(refused)?,
        };
        loop {
            let c = self.status.consensus();
            if c.leader == target {
                return Ok(TransferLeaderResponse { leader: target, term: c.term });
            }
            if Instant::now() >= until {
                return Err(Status::deadline_exceeded(format!(
                    "leadership did not move to {target} in time (leader: {})",
                    c.leader
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
