//! Rolling out a new module: every check that can fail is made before anything reaches the
//! log, and every member compiles the module before it is proposed.

use super::{NodeError, NodeHandle, entropy};
use crate::entry::{EntryData, ProposedUpgrade, now_ns};
use crate::proposals::{Applied, Wants};
use crate::runtime::{ModuleRecord, routes, upgrade_check};
use crate::transport;
use std::time::Duration;
use wasmraft_sdk::contract::Caller;

/// Modules larger than this cannot be rolled out (the entry must fit a gRPC message).
pub const MAX_UPGRADE_BYTES: usize = 32 << 20;

/// An upgrade that took effect, phase by phase.
pub struct Upgraded {
    /// The entry, applied here.
    pub applied: Applied,
    /// The module now active, from the entry's index.
    pub module: ModuleRecord,
    /// The module it replaced.
    pub previous: ModuleRecord,
    /// The members that compiled it before it was proposed, this node first.
    pub compiled_on: Vec<u64>,
}

impl NodeHandle {
    /// Checks `module` against the hosted applier of its name (which `applier`, if given,
    /// must be), has every member compile it, proposes it and waits until it is active
    /// here. Each phase is logged as it ends.
    pub async fn upgrade(
        &self,
        applier: Option<&str>,
        module: Vec<u8>,
        allow_downgrade: bool,
        caller: Option<Caller>,
        deadline: Duration,
    ) -> Result<Upgraded, NodeError> {
        if module.len() > MAX_UPGRADE_BYTES {
            return Err(NodeError::Invalid(format!(
                "the module is {} bytes; the limit is {MAX_UPGRADE_BYTES}",
                module.len()
            )));
        }
        let _admitted = self.admission.admit(module.len())?;
        let engine = self.engine.clone();
        let (next, module) = tokio::task::spawn_blocking(move || (engine.load(&module), module))
            .await
            .map_err(|e| NodeError::Internal(e.to_string()))?;
        let next = next.map_err(|e| NodeError::Invalid(format!("the module is refused: {e}")))?;
        let to = next.descriptor();
        if let Some(named) = applier.filter(|named| *named != to.name) {
            return Err(NodeError::Invalid(format!("the module is applier `{}`, not `{named}`", to.name)));
        }
        let hosted = self.status.setup().appliers;
        let Some(active) = hosted.iter().find(|a| a.module.name == to.name) else {
            let names: Vec<&str> = hosted.iter().map(|a| a.module.name.as_str()).collect();
            return Err(NodeError::Refused(format!(
                "the module is refused: it is applier `{}`, and this cluster hosts {} (an upgrade replaces a hosted applier)",
                to.name,
                names.join(", ")
            )));
        };
        let others = hosted.iter().filter(|a| a.module.name != to.name);
        if let Some(why) =
            routes::conflict(&to.name, &to.routes, others.map(|a| (a.module.name.as_str(), &a.routes[..])))
        {
            return Err(NodeError::Refused(format!("the module is refused: {why}")));
        }
        upgrade_check(&active.module, &to, allow_downgrade)
            .map_err(|e| NodeError::Refused(format!("the module is refused: {}", e.message)))?;
        let (name, from, version) = (&to.name, &active.module.version, &to.version);
        tracing::info!(%name, %from, to = %version, hash = %next.hash, "upgrade: checked and compiled here");
        let compiled_on = self.prepare_peers(&module, deadline / 2).await;
        tracing::info!(%name, ?compiled_on, "upgrade: compiled on the members; proposing");
        let upgrade = ProposedUpgrade { timestamp_ns: now_ns(), caller, entropy: entropy()?, module, allow_downgrade };
        let applied = self.propose_entry(EntryData::Upgrade(upgrade).encode(), Wants::Output, deadline).await?;
        if let Err(e) = &applied.result {
            return Err(NodeError::Refused(format!(
                "the cluster applied the upgrade entry at {} and kept its module: {}",
                applied.index, e.message
            )));
        }
        let record = ModuleRecord {
            name: next.info.name.clone(),
            version: next.info.version.clone(),
            hash: next.hash.to_string(),
            since_index: applied.index,
        };
        tracing::info!(%name, index = applied.index, "upgrade: switched");
        Ok(Upgraded { applied, module: record, previous: active.module.clone(), compiled_on })
    }

    /// Has every other member compile `module` before it is proposed, so that no node's
    /// applies wait for a compile at the switch. Best effort: a member that is away or slow
    /// compiles when it reaches the entry. Returns the members that compiled it, this node
    /// (which already has) first.
    async fn prepare_peers(&self, module: &[u8], within: Duration) -> Vec<u64> {
        let mut calls = tokio::task::JoinSet::new();
        let addresses = self.status.setup().members.addresses;
        for (&peer, address) in addresses.iter().filter(|(id, _)| **id != self.id) {
            let (me, address, module, tls) =
                ((self.id, self.cluster_id), address.clone(), module.to_vec(), self.tls.clone());
            calls.spawn(async move {
                let prepare = transport::prepare_module(tls.as_deref(), me, (peer, &address), module);
                match tokio::time::timeout(within, prepare).await {
                    Ok(Ok(())) => return Some(peer),
                    Ok(Err(e)) => tracing::warn!(peer, "a member did not prepare the module: {e}"),
                    Err(_) => tracing::warn!(peer, "a member did not prepare the module within {within:?}"),
                }
                None
            });
        }
        let mut peers: Vec<u64> = calls.join_all().await.into_iter().flatten().collect();
        peers.sort_unstable();
        [self.id].into_iter().chain(peers).collect()
    }
}
