//! When this node last heard from the cluster in its current term, as an instant: a
//! follower from its leader, a leader from a quorum of voters. `/readyz` rests on it. An
//! instant, not a count of election ticks: a Raft thread that stalled, or a process that
//! was paused, counts ticks late (a stall is one tick), while the time since an instant
//! keeps growing. And a leader's own word is not enough: a
//! deposed leader that has not yet heard of its successor still believes it leads, but no
//! quorum answers it.

use raft::StateRole;
use std::collections::HashMap;
use std::time::Instant;

#[derive(Default)]
pub struct Contact {
    /// The term the instants below are of.
    term: u64,
    /// When each peer last sent a message of `term`.
    heard: HashMap<u64, Instant>,
}

/// What [`Contact::last`] needs of Raft's state.
pub struct View<'a> {
    pub id: u64,
    pub term: u64,
    pub role: StateRole,
    /// 0: none known.
    pub leader: u64,
    pub voters: &'a [u64],
    /// The outgoing voters of a joint configuration (empty otherwise): a majority of each
    /// must have spoken.
    pub outgoing: &'a [u64],
    /// Whether the commit index includes an entry of this term: until then a new leader's
    /// commit index may lag writes its predecessor acknowledged.
    pub committed_in_term: bool,
}

impl Contact {
    /// A message of `message_term` from `from` was stepped while Raft's term was `term`.
    /// Only the current term's count (a pre-vote carries a later term without changing it).
    pub fn heard(&mut self, from: u64, message_term: u64, term: u64) {
        if term != self.term {
            self.heard.clear();
            self.term = term;
        }
        if message_term == term {
            self.heard.insert(from, Instant::now());
        }
    }

    /// When this node's state was last known to be the cluster's: for a follower, when its
    /// leader last spoke; for a leader that has committed in its term, when the latest
    /// quorum of voters (itself now) had all spoken to it. None without a leader.
    pub fn last(&self, view: &View) -> Option<Instant> {
        let heard = |peer| self.heard.get(&peer).copied().filter(|_| view.term == self.term);
        match view.role {
            StateRole::Leader if !view.committed_in_term => None,
            StateRole::Leader => {
                let now = Instant::now();
                // The latest instant a majority of `voters` had all spoken at or after.
                let quorum = |voters: &[u64]| {
                    let mut times: Vec<Instant> =
                        voters.iter().filter_map(|&v| if v == view.id { Some(now) } else { heard(v) }).collect();
                    times.sort_unstable_by(|a, b| b.cmp(a));
                    times.get(voters.len() / 2).copied()
                };
                match view.outgoing {
                    [] => quorum(view.voters),
                    outgoing => quorum(view.voters).min(quorum(outgoing)),
                }
            }
            _ if view.leader != raft::INVALID_ID => heard(view.leader),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn view(role: StateRole, leader: u64, voters: &[u64]) -> View<'_> {
        View { id: 1, term: 5, role, leader, voters, outgoing: &[], committed_in_term: true }
    }

    #[test]
    fn a_follower_counts_from_its_leaders_last_message_of_the_term() {
        let mut c = Contact::default();
        assert_eq!(c.last(&view(StateRole::Follower, 2, &[1, 2, 3])), None, "never heard");
        c.heard(2, 5, 5);
        let first = c.last(&view(StateRole::Follower, 2, &[1, 2, 3])).expect("heard");
        std::thread::sleep(Duration::from_millis(20));
        // Another peer, a pre-vote's later term, and an old term's message are not the leader's word.
        c.heard(3, 5, 5);
        c.heard(2, 6, 5);
        c.heard(2, 4, 5);
        assert_eq!(c.last(&view(StateRole::Follower, 2, &[1, 2, 3])), Some(first));
        assert!(first.elapsed() >= Duration::from_millis(20), "the silence grows with no tick");
        let next_term = View { term: 6, ..view(StateRole::Follower, 2, &[1, 2, 3]) };
        assert_eq!(c.last(&next_term), None, "a new term starts with nothing heard");
        assert_eq!(c.last(&view(StateRole::Candidate, 0, &[1, 2, 3])), None);
    }

    #[test]
    fn a_leader_counts_from_its_quorums_latest_word() {
        let mut c = Contact::default();
        let voters = [1, 2, 3, 4, 5];
        assert_eq!(c.last(&view(StateRole::Leader, 1, &voters)), None, "no voter heard: no quorum");
        c.heard(2, 5, 5);
        assert_eq!(c.last(&view(StateRole::Leader, 1, &voters)), None, "2 of 5");
        std::thread::sleep(Duration::from_millis(20));
        c.heard(4, 5, 5);
        let quorum = c.last(&view(StateRole::Leader, 1, &voters)).expect("itself, 2 and 4");
        assert!(quorum.elapsed() >= Duration::from_millis(20), "the older of its peers' words");
        let three = [1, 2, 3];
        let fresh = c.last(&view(StateRole::Leader, 1, &three)).expect("itself and 2");
        assert_eq!(fresh, quorum, "of 3 voters, the one other that spoke");
        let unsure = View { committed_in_term: false, ..view(StateRole::Leader, 1, &three) };
        assert_eq!(c.last(&unsure), None, "a new leader that has not committed in its term");
        // Joint: {1, 2, 3} and {1, 6, 7}; 6 and 7 never heard: no majority of the outgoing.
        let joint = View { outgoing: &[1, 6, 7], ..view(StateRole::Leader, 1, &three) };
        assert_eq!(c.last(&joint), None, "a majority of each configuration");
        c.heard(7, 5, 5);
        assert_eq!(c.last(&joint), Some(quorum), "the older of the two majorities' instants");
        let alone = View { term: 9, ..view(StateRole::Leader, 1, &[1]) };
        assert!(c.last(&alone).is_some_and(|at| at.elapsed() < Duration::from_secs(1)), "a quorum of itself");
    }
}
