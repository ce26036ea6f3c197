//! From outcomes to HTTP responses, in the shapes of the version each request came through
//! (every success is a 200, creates included), and the reference's error bodies.

use crate::api::{Api, Output, QueryOutput};
use crate::json::*;
use crate::subscription::EXHAUSTED;
use dss_common::errors::error;
use wasmraft_sdk::http::{Outcome, Response, default_status};

pub fn render(outcome: Outcome<Output, QueryOutput>) -> Response {
    match outcome {
        Outcome::Applied(output) => applied(&output),
        Outcome::Answered(answer) => answered(&answer),
        Outcome::Failed(failure) => error(status_of(&failure.code), &failure.message),
    }
}

/// The status of a failure's code: the SDK's mapping, plus too many subscriptions as 429.
fn status_of(code: &str) -> u16 {
    if code == EXHAUSTED { 429 } else { default_status(code) }
}

fn v2(api: &Api) -> bool {
    *api == Api::V2
}

fn applied(output: &Output) -> Response {
    match output {
        Output::IsaChanged { api, id, isa, subscribers } => Response::json(
            200,
            &IsaChangeResponse {
                service_area: IdentificationServiceArea::new(v2(api), *id, isa),
                subscribers: SubscriberToNotify::list(subscribers),
            },
        ),
        Output::SubscriptionPut { api, id, subscription, isas } => Response::json(
            200,
            &PutSubscriptionResponse {
                subscription: Subscription::new(v2(api), *id, subscription),
                service_areas: IdentificationServiceArea::list(v2(api), isas),
            },
        ),
        Output::SubscriptionDeleted { api, id, subscription } => {
            Response::json(200, &SubscriptionResponse { subscription: Subscription::new(v2(api), *id, subscription) })
        }
        Output::Evicted { isas, subscriptions } => {
            Response::json(200, &serde_json::json!({"isas": isas, "subscriptions": subscriptions}))
        }
    }
}

fn answered(answer: &QueryOutput) -> Response {
    match answer {
        QueryOutput::Isa { api, id, isa } => {
            Response::json(200, &GetIsaResponse { service_area: IdentificationServiceArea::new(v2(api), *id, isa) })
        }
        QueryOutput::Isas { api, isas } => {
            Response::json(200, &SearchIsasResponse { service_areas: IdentificationServiceArea::list(v2(api), isas) })
        }
        QueryOutput::Subscription { api, id, subscription } => {
            Response::json(200, &SubscriptionResponse { subscription: Subscription::new(v2(api), *id, subscription) })
        }
        QueryOutput::Subscriptions { api, subscriptions } => Response::json(
            200,
            &SearchSubscriptionsResponse {
                subscriptions: subscriptions.iter().map(|(id, s)| Subscription::new(v2(api), *id, s)).collect(),
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_codes_map_to_the_reference_statuses() {
        for (code, status) in [
            ("bad-request", 400),
            ("permission-denied", 403),
            ("not-found", 404),
            ("conflict", 409),
            (EXHAUSTED, 429),
            ("internal", 500),
            ("out-of-fuel", 500),
        ] {
            assert_eq!(status_of(code), status, "{code}");
        }
    }
}
