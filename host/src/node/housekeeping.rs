//! Housekeeping: now and then the leader asks each hosted applier for a command that keeps
//! its state tidy (removing what expired, say) and proposes it to that applier. The command is an ordinary entry, so
//! every node applies it at the same index with the same time: the module decides what to
//! remove from that time, never from a clock of its own.

use crate::handle::NodeHandle;
use crate::proposals::Wants;
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
        for hosted in status.fronts().iter() {
            let Some(meta) = request_meta(status.applied().index, None) else { continue };
            let (front, applier) = (hosted.front.clone(), hosted.name.as_str());
            let command = match tokio::task::spawn_blocking(move || front.housekeeping(meta)).await {
                Ok(Ok(Ok(Some(command)))) => command,
                Ok(Ok(Ok(None))) => continue,
                Ok(Ok(Err(trap))) => {
                    tracing::warn!(applier, "the module's housekeeping failed: {}", trap.into_error());
                    continue;
                }
                Ok(Err(host)) => {
                    tracing::warn!(applier, "cannot run the module's housekeeping: {host}");
                    continue;
                }
                Err(_) => continue,
            };
            match node.propose_command(Some(applier), command, None, None, Wants::Output, deadline).await {
                Ok(applied) => match applied.result {
                    Ok(_) => tracing::debug!(applier, index = applied.index, "housekeeping applied"),
                    Err(e) => tracing::warn!(applier, index = applied.index, "housekeeping refused: {e}"),
                },
                Err(e) => tracing::debug!(applier, "housekeeping not proposed: {e}"),
            }
        }
    }
}
