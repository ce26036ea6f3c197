//! From outcomes to HTTP responses: success bodies and statuses per operation, and the
//! reference's error bodies (`{"message"}` for 4xx, `{"error_message"}` for 5xx, an
//! `AirspaceConflictResponse` for missing OVNs).

use crate::api::{AirspaceConflict, Output, QueryOutput};
use crate::json::{self, *};
use crate::notify;
use wasmraft_sdk::Ctx;
use wasmraft_sdk::http::{Failure, Outcome, Response, default_status};

/// Code of the 409 whose body lists the OIRs and constraints missing from a key.
pub const MISSING_OVNS: &str = "missing-ovns";

pub use dss_common::errors::error;

/// `ctx` reads the state the outcome came from (see [`wasmraft_sdk::Applier::render`]).
pub fn render(ctx: &Ctx, outcome: Outcome<Output, QueryOutput>) -> Response {
    match outcome {
        Outcome::Applied(output) => applied(ctx, &output),
        Outcome::Answered(answer) => answered(&answer),
        Outcome::Failed(failure) => failed(&failure),
    }
}

fn applied(ctx: &Ctx, output: &Output) -> Response {
    let created = |yes: bool| if yes { 201 } else { 200 };
    // The subscribers a change with time-of-day indices notifies, as of the entry's end.
    let listed = |notify| notify::listed(ctx, notify).map_err(|e| error(500, &format!("whom to notify: {e}")));
    match output {
        Output::OirChanged { created: c, oir, subscribers } => {
            Response::json_written(created(*c), change_oir_response(oir, subscribers))
        }
        Output::ConstraintChanged { created: c, constraint, subscribers } => {
            Response::json_written(created(*c), change_constraint_response(constraint, subscribers))
        }
        Output::OirChangedNotifying { created: c, oir, notify } => match listed(notify) {
            Ok(subscribers) => Response::json_written(created(*c), change_oir_response(oir, &subscribers)),
            Err(response) => response,
        },
        Output::ConstraintChangedNotifying { created: c, constraint, notify } => match listed(notify) {
            Ok(subscribers) => {
                Response::json_written(created(*c), change_constraint_response(constraint, &subscribers))
            }
            Err(response) => response,
        },
        Output::SubscriptionPut { subscription, oirs, constraints } => {
            Response::json(200, &PutSubscriptionResponse::new(subscription, oirs.as_deref(), constraints.as_deref()))
        }
        Output::SubscriptionDeleted(subscription) => {
            Response::json(200, &SubscriptionResponse { subscription: subscription.into() })
        }
        Output::Availability(status) => Response::json(200, &UssAvailabilityStatusResponse::from(status)),
        Output::HeartbeatRecorded(instances) => Response::json(201, &DssInstancesResponse::new(instances)),
        Output::Evicted { oirs, constraints, subscriptions } => Response::json(
            200,
            &serde_json::json!({"oirs": oirs, "constraints": constraints, "subscriptions": subscriptions}),
        ),
    }
}

fn answered(answer: &QueryOutput) -> Response {
    match answer {
        QueryOutput::Oir(oir) => {
            Response::json(200, &GetOperationalIntentReferenceResponse { operational_intent_reference: oir.into() })
        }
        QueryOutput::Oirs(oirs) => Response::json(200, &QueryOperationalIntentReferenceResponse::new(oirs)),
        QueryOutput::Constraint(c) => {
            Response::json(200, &GetConstraintReferenceResponse { constraint_reference: c.into() })
        }
        QueryOutput::Constraints(cs) => Response::json(200, &QueryConstraintReferencesResponse::new(cs)),
        QueryOutput::Subscription(s) => Response::json(200, &SubscriptionResponse { subscription: s.into() }),
        QueryOutput::Subscriptions(subs) => Response::json(200, &QuerySubscriptionsResponse::new(subs)),
        QueryOutput::Availability(status) => Response::json(200, &UssAvailabilityStatusResponse::from(status)),
        QueryOutput::DssInstances(instances) => Response::json(200, &json::DssInstancesResponse::new(instances)),
    }
}

/// The status of a failure's code: the SDK's mapping, plus missing OVNs as 409.
fn status_of(code: &str) -> u16 {
    match code {
        MISSING_OVNS => 409,
        other => default_status(other),
    }
}

fn failed(failure: &Failure) -> Response {
    if failure.code == MISSING_OVNS
        && let Some(conflict) = failure.body::<AirspaceConflict>()
    {
        return Response::json(
            409,
            &AirspaceConflictResponse::new(&conflict.message, &conflict.missing_oirs, &conflict.missing_constraints),
        );
    }
    error(status_of(&failure.code), &failure.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_codes_map_to_the_reference_statuses_and_bodies() {
        let response = |code: &str| {
            let r = error(status_of(code), "why");
            (r.status, r.json_body::<serde_json::Value>().unwrap())
        };
        let message = serde_json::json!({"message": "why"});
        let internal = serde_json::json!({"error_message": "why"});
        assert_eq!(response("bad-request"), (400, message.clone()));
        assert_eq!(response("permission-denied"), (403, message.clone()));
        assert_eq!(response("not-found"), (404, message.clone()));
        assert_eq!(response("conflict"), (409, message.clone()));
        assert_eq!(response("payload-too-large"), (413, message.clone()));
        assert_eq!(response("busy"), (429, message));
        assert_eq!(response("unavailable"), (503, internal.clone()));
        assert_eq!(response("timeout"), (504, internal.clone()));
        assert_eq!(response("internal"), (500, internal.clone()));
        assert_eq!(response("out-of-fuel"), (500, internal));
    }
}
