//! Housekeeping: now and then the leader asks the module for a command that keeps the state
//! tidy (removing what expired, say) and proposes it. The command is an ordinary entry, so
//! every node applies it at the same index with the same time: the module decides what to
//! remove from that time, never from a clock of its own.

use crate::handle::NodeHandle;
use crate::runtime::request_meta;
use std::sync::Arc;
use std::time::Duration;

pub async fn run(node: Arc<NodeHandle>, every: Duration) {
    let (status, me, deadline) = (node.status.clone(), node.id, node.deadline);
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        if status.consensus().leader != me {
            continue;
        }
        let Some(front) = status.front() else { continue };
        let Some(meta) = request_meta(status.applied().index, None) else { continue };
        let command = match tokio::task::spawn_blocking(move || front.housekeeping(meta)).await {
            Ok(Ok(Ok(Some(command)))) => command,
            Ok(Ok(Ok(None))) => continue,
            Ok(Ok(Err(trap))) => {
                tracing::warn!("the module's housekeeping failed: {}", trap.into_error());
                continue;
            }
            Ok(Err(host)) => {
                tracing::warn!("cannot run the module's housekeeping: {host}");
                continue;
            }
            Err(_) => continue,
        };
        match node.propose_command(command, None, deadline).await {
            Ok(applied) => match applied.result {
                Ok(_) => tracing::debug!(index = applied.index, "housekeeping applied"),
                Err(e) => tracing::warn!(index = applied.index, "housekeeping refused: {e}"),
            },
            Err(e) => tracing::debug!("housekeeping not proposed: {e}"),
        }
    }
}
