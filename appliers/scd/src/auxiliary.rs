//! The aux API (aux.yaml): version, token check, and the pool of DSS instances with their
//! heartbeats. (Not `aux.rs`: that name is reserved on Windows.)

use crate::api::{Command, DssInstance, Heartbeat, HeartbeatView, Output, Query, QueryOutput};
use crate::auth;
use crate::entry::{manager, now};
use crate::json::{CAsResponse, GlobalOptionsResponse, PoolResponse, SystemVersionResponse, VersionResponse};
use crate::notify;
use crate::render::error;
use crate::request::{Reply, bad_request};
use crate::rfc3339;
use crate::store::{HEARTBEATS, HeartbeatRecord, PARTICIPANTS, ParticipantRecord};
use wasmraft_sdk::http::{Handled, Request, Response};
use wasmraft_sdk::{Applier, Ctx, Error};

/// Node settings naming the DSS instance that took a request, for the pool routes.
const LOCALITY_SETTING: &str = "locality";
const PUBLIC_ENDPOINT_SETTING: &str = "public-endpoint";
/// The instance name when the node has no `locality` setting.
const DEFAULT_LOCALITY: &str = "wasmraft";
/// The DSS Airspace Representation id the pool route reports; without it, the node's
/// `cluster-id` (set by the node itself), as the reference reports its database cluster's
/// id: every node of the pool reports the same id, as aux.yaml asks.
const DAR_ID_SETTING: &str = "dar-id";
const CLUSTER_ID_SETTING: &str = "cluster-id";

fn respond(status: u16, value: &impl serde::Serialize) -> Reply {
    Ok(Handled::Respond(Response::json(status, value)))
}

fn current_version() -> String {
    format!("{}-{}", crate::Scd::NAME, crate::Scd::VERSION)
}

/// No credentials needed.
pub fn version() -> Reply {
    respond(200, &VersionResponse { version: current_version() })
}

/// `GET /versions/{system_identity}`: the DSS's version whatever the identity, as the
/// reference answers. The reference's handler never looks at its authorization result, so
/// it answers without a token too; so does this (the same version is public at
/// `/aux/v1/version`).
pub fn system_version(system_identity: &str) -> Reply {
    respond(
        200,
        &SystemVersionResponse { system_identity: system_identity.to_string(), system_version: current_version() },
    )
}

/// 200 `{}` when the token is valid, has a ISA scope and (if given) `owner` is its subject.
pub fn validate_oauth(request: &Request) -> Reply {
    let caller = auth::authorize(request, auth::VALIDATE_OAUTH)?;
    if let Some(owner) = request.query_param("owner")
        && owner != caller.subject
    {
        return Err(error(403, &format!("Owner mismatch, required: {owner}, but oauth token has {}", caller.subject)));
    }
    respond(200, &serde_json::json!({}))
}

pub fn pool(request: &Request) -> Reply {
    auth::authorize(request, auth::POOL)?;
    let dar_id = request.setting(DAR_ID_SETTING).or_else(|| request.setting(CLUSTER_ID_SETTING)).unwrap_or_default();
    respond(200, &PoolResponse { dar_id: dar_id.to_string() })
}

/// No CA files are configured for this DSS: `{}`, as the reference answers then.
pub fn ca_certs() -> Reply {
    respond(200, &CAsResponse {})
}

pub fn global_options(request: &Request) -> Reply {
    auth::authorize(request, auth::POOL)?;
    respond(
        200,
        &GlobalOptionsResponse {
            scd_global_lock: false,
            scd_hash_lock: false,
            time_based_notification_index: notify::time_based(request),
        },
    )
}

pub fn handle_instances(request: &Request) -> Reply {
    auth::authorize(request, auth::POOL)?;
    Ok(Handled::Read(Query::DssInstances))
}

pub fn handle_heartbeat(request: &Request) -> Reply {
    auth::authorize(request, auth::HEARTBEAT)?;
    let source = request.query_param("source").ok_or_else(|| bad_request("Source not set"))?;
    let time = |name: &str, what: &str| {
        request
            .query_param(name)
            .map(|t| {
                rfc3339::parse(&t).map_err(|e| bad_request(format!("Unable to parse {what} as RFC3339 time: {e}")))
            })
            .transpose()
    };
    let timestamp = time("timestamp", "timestamp")?;
    let next_expected_before = time("next_heartbeat_expected_before", "next heartbeat expected before")?;
    Ok(Handled::Propose(Command::RecordHeartbeat(Heartbeat {
        locality: request.setting(LOCALITY_SETTING).unwrap_or(DEFAULT_LOCALITY).to_string(),
        public_endpoint: request.setting(PUBLIC_ENDPOINT_SETTING).unwrap_or_default().to_string(),
        source,
        timestamp,
        next_expected_before,
    })))
}

/// Records the heartbeat (the latest per instance and source), and the instance itself:
/// the reference registers an instance at its start-up, which an applier has no hook for.
pub fn record_heartbeat(ctx: &mut Ctx, beat: Heartbeat) -> Result<Output, Error> {
    let reporter = manager(ctx)?;
    if beat.source.is_empty() {
        return Err(Error::bad_request("Source not set"));
    }
    let timestamp = beat.timestamp.unwrap_or(now(ctx));
    if beat.next_expected_before.is_some_and(|next| next < timestamp) {
        return Err(Error::bad_request(
            "Cannot expect the timestamp of the next heartbeat before the timestamp of the new heartbeat",
        ));
    }
    PARTICIPANTS.put(ctx, &beat.locality, &ParticipantRecord { public_endpoint: beat.public_endpoint })?;
    let record = HeartbeatRecord { timestamp, reporter, next_expected_before: beat.next_expected_before };
    HEARTBEATS.put(ctx, &(beat.locality, beat.source), &record)?;
    Ok(Output::HeartbeatRecorded(instances(ctx)?))
}

/// Every instance, in locality order, with its latest heartbeat over all sources (the
/// first in source order on a tie).
pub fn instances(ctx: &Ctx) -> Result<Vec<DssInstance>, Error> {
    let mut out = Vec::new();
    for row in PARTICIPANTS.iter(ctx) {
        let (locality, participant) = row?;
        let mut latest: Option<HeartbeatView> = None;
        for beat in HEARTBEATS.with_prefix(ctx, &locality) {
            let ((_, source), b) = beat?;
            if latest.as_ref().is_none_or(|l| b.timestamp > l.timestamp) {
                latest = Some(HeartbeatView {
                    timestamp: b.timestamp,
                    reporter: b.reporter,
                    source,
                    next_expected_before: b.next_expected_before,
                });
            }
        }
        out.push(DssInstance {
            id: locality,
            public_endpoint: participant.public_endpoint,
            most_recent_heartbeat: latest,
        });
    }
    Ok(out)
}

pub fn query_instances(ctx: &Ctx) -> Result<QueryOutput, Error> {
    Ok(QueryOutput::DssInstances(instances(ctx)?))
}
