//! The round trip to each follower, as the leader sees it: from a heartbeat leaving the
//! Raft thread to its answer arriving there. It covers the transport both ways and the
//! follower's Raft loop, which is what a slow peer costs the leader (etcd times a ping of
//! its own instead). Heartbeats go every tick, so the figure stays current at no cost.

use super::Metrics;
use raft::eraftpb::{Message, MessageType};
use std::collections::HashMap;
use std::time::Instant;

#[derive(Default)]
pub struct RoundTrips {
    /// The newest heartbeat to each peer (an answer to an older, lost one would otherwise
    /// count the time the peer was away).
    sent: HashMap<u64, Instant>,
}

impl RoundTrips {
    /// Notes the heartbeats among `messages`, about to be sent.
    pub fn sending(&mut self, messages: &[Message]) {
        for m in messages.iter().filter(|m| m.get_msg_type() == MessageType::MsgHeartbeat) {
            self.sent.insert(m.to, Instant::now());
        }
    }

    /// Records the round trip if `m` answers a heartbeat.
    pub fn received(&mut self, m: &Message, metrics: &Metrics) {
        if m.get_msg_type() != MessageType::MsgHeartbeatResponse {
            return;
        }
        if let Some(sent) = self.sent.remove(&m.from) {
            metrics.peer_round_trip.with_label_values(&[&m.from.to_string()]).observe(sent.elapsed().as_secs_f64());
        }
    }

    /// Forgets every heartbeat in flight (this node no longer leads).
    pub fn clear(&mut self) {
        self.sent.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: MessageType, from: u64, to: u64) -> Message {
        let mut m = Message::default();
        m.set_msg_type(kind);
        (m.from, m.to) = (from, to);
        m
    }

    #[test]
    fn a_heartbeat_answered_is_one_round_trip_for_its_peer() {
        let metrics = Metrics::new();
        let mut trips = RoundTrips::default();
        trips.sending(&[message(MessageType::MsgHeartbeat, 1, 2), message(MessageType::MsgAppend, 1, 3)]);
        trips.received(&message(MessageType::MsgHeartbeatResponse, 3, 1), &metrics);
        trips.received(&message(MessageType::MsgHeartbeatResponse, 2, 1), &metrics);
        trips.received(&message(MessageType::MsgHeartbeatResponse, 2, 1), &metrics);
        let count = |peer: &str| metrics.peer_round_trip.with_label_values(&[peer]).get_sample_count();
        assert_eq!((count("2"), count("3")), (1, 0), "one heartbeat to 2, none to 3");
    }
}
