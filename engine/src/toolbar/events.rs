//! The JSON events pushed to toolbars over WebSocket. Pure functions; the wire format lives in
//! one place.

use crate::common::{Channel, InteractionId, QueueId};
use crate::interactions::Interaction;
use crate::router::{AgentState, EndReason, PauseReason, Time};
use serde_json::{json, Value};

/// `{"type":"offer", ...}`: customer data unless `masked`.
pub(crate) fn offer(
    id: InteractionId,
    channel: Channel,
    queue: Option<QueueId>,
    auto_answer_at: Option<Time>,
    rec: Option<&Interaction>,
    masked: bool,
) -> String {
    let mut v = json!({
        "type": "offer",
        "interaction": id.0,
        "channel": channel,
        "queue": queue.map(|q| q.0),
        "auto_answer": auto_answer_at.is_some(),
    });
    if let Some(r) = rec {
        let customer = if masked {
            r.customer.masked()
        } else {
            r.customer.clone()
        };
        v["customer"] = serde_json::to_value(customer).unwrap_or(Value::Null);
        v["thread_id"] = json!(r.thread_id);
        v["transferred"] = json!(r.transferred);
        v["priority"] = json!(r.priority);
    }
    v.to_string()
}

/// `{"type": kind, "interaction": id}`.
pub(crate) fn simple(kind: &str, id: InteractionId) -> String {
    json!({"type": kind, "interaction": id.0}).to_string()
}

/// `{"type":"ended", "interaction": id, "reason": ...}`.
pub(crate) fn ended(id: InteractionId, reason: EndReason) -> String {
    let reason = match reason {
        EndReason::Completed => "completed",
        EndReason::Abandoned => "abandoned",
        EndReason::Voicemail(_) => "voicemail",
        EndReason::Overflow(_) => "overflow",
        EndReason::Refused { .. } => "refused",
        EndReason::NotAnswered { .. } => "not_answered",
    };
    json!({"type": "ended", "interaction": id.0, "reason": reason}).to_string()
}

/// The state name and pause reason shown to toolbars.
pub fn state_fields(state: AgentState) -> (&'static str, Value) {
    match state {
        AgentState::LoggedOut => ("logged_out", Value::Null),
        AgentState::Disabled => ("disabled", Value::Null),
        AgentState::Paused(r) => (
            "paused",
            match r {
                PauseReason::Manual(Some(id)) => json!({"kind": "manual", "reason_id": id.0}),
                PauseReason::Manual(None) => json!({"kind": "manual"}),
                PauseReason::LogIn => json!({"kind": "log_in"}),
                PauseReason::NoAnswer => json!({"kind": "no_answer"}),
            },
        ),
        AgentState::Busy => ("busy", Value::Null),
        AgentState::Ringing => ("ringing", Value::Null),
        AgentState::WrapUp => ("wrap_up", Value::Null),
        AgentState::Available => ("available", Value::Null),
    }
}

/// `{"type":"state", "state": ..., "pause": ...}`.
pub(crate) fn state(state: AgentState) -> String {
    let (name, pause) = state_fields(state);
    json!({"type": "state", "state": name, "pause": pause}).to_string()
}
