//! Health as orchestrators probe it (Kubernetes' `/livez` and `/readyz`): no credentials,
//! no module. Live: the process answers. Ready: it can serve what the cluster committed,
//! that is, it knows a leader, heard from it recently, and has applied nearly everything
//! committed that it knows of. A node catching up, or cut off from its leader, says why.
//! The client door's `grpc.health.v1` service reports the same readiness ([`ready`]).

use super::Gateway;
use crate::status::{Consensus, StatusBoard};
use axum::extract::State;
use axum::http::StatusCode;
use std::sync::Arc;
use std::time::Duration;

/// Committed entries a ready node may still have to apply.
pub const MAX_APPLY_LAG: u64 = 1_000;
/// How long a ready follower may go without hearing from its leader: longer than any
/// election timeout (400-800 ms by default) takes to replace a lost one.
pub const MAX_LEADER_SILENCE: Duration = Duration::from_secs(2);

pub async fn livez() -> &'static str {
    "ok"
}

pub async fn readyz(State(gateway): State<Arc<Gateway>>) -> (StatusCode, String) {
    match ready(&gateway.node.status) {
        Ok(()) => (StatusCode::OK, "ok".into()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
    }
}

/// Why the node whose status is `status` is not ready, if it is not: the rule of `/readyz`,
/// which the gRPC health service follows too.
pub fn ready(status: &StatusBoard) -> Result<(), String> {
    readiness(&status.consensus(), status.applied().index)
}

/// Why a node in `consensus` that applied up to `applied` is not ready, if it is not.
fn readiness(consensus: &Consensus, applied: u64) -> Result<(), String> {
    match consensus.leader_contact.map(|at| at.elapsed()) {
        None if consensus.role == "leader" => {
            return Err(format!("leading term {}, with no quorum's answer in it yet", consensus.term));
        }
        None => return Err(format!("no leader known (term {})", consensus.term)),
        Some(silence) if silence > MAX_LEADER_SILENCE && consensus.role == "leader" => {
            return Err(format!("leading, with no word from a quorum for {} ms", silence.as_millis()));
        }
        Some(silence) if silence > MAX_LEADER_SILENCE => {
            return Err(format!("no word from leader {} for {} ms", consensus.leader, silence.as_millis()));
        }
        Some(_) => {}
    }
    let lag = consensus.commit_index.saturating_sub(applied);
    if lag > MAX_APPLY_LAG {
        return Err(format!("catching up: applied {applied} of {} committed entries", consensus.commit_index));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn ready_with_a_leader_heard_recently_and_little_left_to_apply() {
        let ago = |silence: Duration| Instant::now().checked_sub(silence);
        let c = |leader_contact: Option<Instant>, commit_index| Consensus {
            leader: 2,
            leader_contact,
            commit_index,
            term: 3,
            ..Default::default()
        };
        assert_eq!(readiness(&c(ago(Duration::from_millis(40)), 5_000), 4_500), Ok(()));
        assert_eq!(readiness(&c(None, 10), 10), Err("no leader known (term 3)".into()));
        assert!(readiness(&c(ago(Duration::from_secs(3)), 10), 10).unwrap_err().contains("no word from leader 2"));
        let deposed = Consensus { role: "leader", ..c(ago(Duration::from_secs(3)), 10) };
        assert!(readiness(&deposed, 10).unwrap_err().contains("no word from a quorum"), "a leader no quorum answers");
        let behind = readiness(&c(ago(Duration::ZERO), 5_000), 100).unwrap_err();
        assert_eq!(behind, "catching up: applied 100 of 5000 committed entries");
    }
}
