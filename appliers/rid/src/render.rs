//! From outcomes to HTTP responses in the shapes of the version each request came through
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
        Outcome::Failed(failure) => {
            let status = if failure.code == EXHAUSTED { 429 } else { default_status(&failure.code) };
            error(status, &failure.message)
        }
    }
}

fn v2(api: Api) -> bool {
    api == Api::V2
}

fn applied(output: &Output) -> Response {
    match output {
        Output::IsaChanged { api, isa, subscribers } => Response::json(
            200,
            &IsaChangeResponse {
                service_area: Isa::new(isa, v2(*api)),
                subscribers: subscribers.iter().map(SubscriberToNotify::new).collect(),
            },
        ),
        Output::SubscriptionPut { api, subscription, isas } => Response::json(
            200,
            &PutSubscriptionResponse {
                subscription: Subscription::new(subscription, v2(*api)),
                service_areas: isas.iter().map(|i| Isa::new(i, v2(*api))).collect(),
            },
        ),
        Output::SubscriptionDeleted { api, subscription } => {
            Response::json(200, &SubscriptionResponse { subscription: Subscription::new(subscription, v2(*api)) })
        }
        Output::Evicted { isas, subscriptions } => {
            Response::json(200, &serde_json::json!({"isas": isas, "subscriptions": subscriptions}))
        }
    }
}

fn answered(answer: &QueryOutput) -> Response {
    match answer {
        QueryOutput::Isa { api, isa } => Response::json(200, &IsaResponse { service_area: Isa::new(isa, v2(*api)) }),
        QueryOutput::Isas { api, isas } => {
            Response::json(200, &IsasResponse { service_areas: isas.iter().map(|i| Isa::new(i, v2(*api))).collect() })
        }
        QueryOutput::Subscription { api, subscription } => {
            Response::json(200, &SubscriptionResponse { subscription: Subscription::new(subscription, v2(*api)) })
        }
        QueryOutput::Subscriptions { api, subscriptions } => Response::json(
            200,
            &SubscriptionsResponse {
                subscriptions: subscriptions.iter().map(|s| Subscription::new(s, v2(*api))).collect(),
            },
        ),
    }
}
