//! Membership calls of the client API: `ChangeMembers` and `TransferLeader`. Any node takes
//! them; only the leader can check and propose them, so a follower hands the call to the
//! leader (once: a forwarded call is never forwarded again).

use super::members_of;
use super::server::{ClientService, status_of};
use crate::inbox::Event;
use crate::membership::{Change, MembershipOutput};
use crate::proposals::ProposeError;
use crate::proto::client::client_client::ClientClient;
use crate::proto::client::{
    MemberChange, MemberChangeResponse, TransferLeaderRequest, TransferLeaderResponse, member_change,
};
use crate::status::Consensus;
use std::time::{Duration, Instant};
use tonic::{Request, Status};

/// Set on a call a follower hands to the leader.
const FORWARDED: &str = "x-wasmraft-forwarded";

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
    /// The leader's client, when this node is not it and the call was not forwarded yet.
    async fn leader_client<T>(
        &self,
        request: &Request<T>,
        leader: u64,
    ) -> Result<ClientClient<tonic::transport::Channel>, Status> {
        if request.metadata().contains_key(FORWARDED) || leader == 0 || leader == self.id {
            return Err(Status::unavailable("no leader is known right now; retry shortly"));
        }
        let address = self.status.setup().members.addresses.get(&leader).cloned();
        let address =
            address.ok_or_else(|| Status::unavailable(format!("the leader ({leader}) has no known address")))?;
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
            .map_err(|e| Status::internal(e.to_string()))?
            .connect_timeout(Duration::from_secs(1))
            .connect()
            .await
            .map_err(|e| Status::unavailable(format!("cannot reach the leader ({leader} at {address}): {e}")))?;
        Ok(ClientClient::new(channel))
    }

    fn forwarded<T>(message: T, deadline: Duration) -> Request<T> {
        let mut request = Request::new(message);
        request.metadata_mut().insert(FORWARDED, "1".parse().expect("ascii"));
        request.set_timeout(deadline);
        request
    }

    pub(super) async fn change_members_call(
        &self,
        request: Request<MemberChange>,
    ) -> Result<MemberChangeResponse, Status> {
        let deadline = self.deadline(request.metadata());
        let until = Instant::now() + deadline;
        let change = parse(request.get_ref())?;
        let outcome = self.propose_with(|id| Event::ChangeMembers { id, change }, deadline).await?;
        let applied = match outcome {
            Err(ProposeError::NotLeader(leader)) => {
                let mut client = self.leader_client(&request, leader).await?;
                let response =
                    client.change_members(Self::forwarded(request.into_inner(), deadline)).await?.into_inner();
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

    pub(super) async fn transfer_leader_call(
        &self,
        request: Request<TransferLeaderRequest>,
    ) -> Result<TransferLeaderResponse, Status> {
        let deadline = self.deadline(request.metadata());
        let until = Instant::now() + deadline;
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.events
            .send(Event::TransferLeader { to: request.get_ref().to, reply })
            .map_err(|_| Status::unavailable("the node is shutting down"))?;
        let target = match answer.await.map_err(|_| Status::unavailable("the node is shutting down"))? {
            Err(ProposeError::NotLeader(leader)) => {
                let mut client = self.leader_client(&request, leader).await?;
                return client
                    .transfer_leader(Self::forwarded(request.into_inner(), deadline))
                    .await
                    .map(|r| r.into_inner());
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
