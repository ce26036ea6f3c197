//! The standard gRPC services beside the client API on its door: `grpc.health.v1.Health`
//! (for orchestrators' probes, without credentials: see [`super::authz::access_of`]) and
//! server reflection, which describes the client API to tools such as `grpcurl`.

use crate::proto::client::client_server::SERVICE_NAME as CLIENT;
use crate::status::StatusBoard;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::server::HealthReporter;
use tonic_reflection::server::{Builder, Error, v1, v1alpha};

/// How often the health statuses catch up with the node's readiness.
const FOLLOW_EVERY: Duration = Duration::from_millis(250);
/// The largest request either service decodes: theirs name a service, a symbol or a file.
/// Their bodies are not held against the door's budget (see [`super::gate::Gate::beside`]).
const MAX_REQUEST: usize = 16 << 10;

/// The health service, NOT_SERVING until the node is ready, and the task that keeps it
/// following the node's readiness.
pub async fn health(status: Arc<StatusBoard>) -> (HealthServer<impl Health>, impl Future<Output = ()>) {
    let (reporter, server) = tonic_health::server::health_reporter();
    report(&reporter, ServingStatus::NotServing).await;
    (server.max_decoding_message_size(MAX_REQUEST), follow(reporter, status))
}

/// The whole server ("") and the client API serve when the node is ready, as `/readyz`
/// says it (see [`crate::http::health::ready`]).
async fn follow(reporter: HealthReporter, status: Arc<StatusBoard>) {
    let mut ticks = tokio::time::interval(FOLLOW_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut reported = ServingStatus::NotServing;
    loop {
        ticks.tick().await;
        let now = match crate::http::health::ready(&status) {
            Ok(()) => ServingStatus::Serving,
            Err(_) => ServingStatus::NotServing,
        };
        if now != reported {
            report(&reporter, now).await;
            reported = now;
        }
    }
}

async fn report(reporter: &HealthReporter, status: ServingStatus) {
    reporter.set_service_status("", status).await;
    reporter.set_service_status(CLIENT, status).await;
}

/// What reflection describes: the client API and the health service.
fn described() -> Builder<'static> {
    Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::CLIENT_DESCRIPTORS)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}

/// Server reflection, v1.
pub fn reflection() -> Result<v1::ServerReflectionServer<impl v1::ServerReflection>, Error> {
    Ok(described().build_v1()?.max_decoding_message_size(MAX_REQUEST))
}

/// Server reflection, v1alpha: what older tools ask for.
pub fn reflection_v1alpha() -> Result<v1alpha::ServerReflectionServer<impl v1alpha::ServerReflection>, Error> {
    Ok(described().build_v1alpha()?.max_decoding_message_size(MAX_REQUEST))
}
