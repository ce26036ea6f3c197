//! The newest entries of the log, kept in memory as they are written. What a leader sends a
//! follower a little behind (one back from a restart, or a probe sent again at every
//! heartbeat response until the follower answers) comes from here rather than from
//! raft-engine's files, where each fetch costs a read, a decode and fresh memory for every
//! entry: a returning follower's probes once kept a leader's Raft thread busy for seconds.
//! (TiKV keeps an entry cache for the same reason.)

use protobuf::Message as _;
use raft::eraftpb::Entry;
use std::collections::VecDeque;

pub struct Recent {
    /// A contiguous run of entries, the newest last.
    entries: VecDeque<Entry>,
    /// The bytes their data and context take.
    bytes: usize,
    max_bytes: usize,
}

fn weight(e: &Entry) -> usize {
    e.data.len() + e.context.len()
}

impl Recent {
    pub fn new(max_bytes: usize) -> Recent {
        Recent { entries: VecDeque::new(), bytes: 0, max_bytes }
    }

    fn first_index(&self) -> Option<u64> {
        self.entries.front().map(|e| e.index)
    }

    /// Takes entries just written: they replace any held at or after the first of them (a
    /// conflicting append), and the oldest go once the bytes are over the bound.
    pub fn append(&mut self, new: &[Entry]) {
        let Some(first) = new.first() else { return };
        match self.first_index() {
            // Joins the run, or replaces part of it.
            Some(front) if front < first.index && first.index <= front + self.entries.len() as u64 => {
                for gone in self.entries.drain((first.index - front) as usize..) {
                    self.bytes -= weight(&gone);
                }
            }
            _ => self.clear(),
        }
        for e in new {
            self.bytes += weight(e);
            self.entries.push_back(e.clone());
        }
        while self.bytes > self.max_bytes && self.entries.len() > 1 {
            let gone = self.entries.pop_front().expect("not empty");
            self.bytes -= weight(&gone);
        }
        debug_assert!(self.entries.iter().zip(self.entries.iter().skip(1)).all(|(a, b)| a.index + 1 == b.index));
    }

    /// Forgets the entries before `index` (compacted away).
    pub fn compact_to(&mut self, index: u64) {
        while self.first_index().is_some_and(|first| first < index) {
            let gone = self.entries.pop_front().expect("not empty");
            self.bytes -= weight(&gone);
        }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// Entries `low..high`, cut as raft-rs cuts them at `max_size` bytes (at least one), if
    /// all of those are held here.
    pub fn get(&self, low: u64, high: u64, max_size: Option<u64>) -> Option<Vec<Entry>> {
        let front = self.first_index()?;
        if low < front || high > front + self.entries.len() as u64 || low >= high {
            return None;
        }
        let mut out = Vec::new();
        let mut size = 0u64;
        for e in self.entries.range((low - front) as usize..(high - front) as usize) {
            size += u64::from(e.compute_size());
            if !out.is_empty() && max_size.is_some_and(|max| size > max) {
                break;
            }
            out.push(e.clone());
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, term: u64) -> Entry {
        Entry { index, term, data: vec![0; 100].into(), ..Default::default() }
    }

    fn held(r: &Recent) -> Vec<(u64, u64)> {
        r.entries.iter().map(|e| (e.index, e.term)).collect()
    }

    #[test]
    fn holds_a_contiguous_run_of_the_newest_entries_within_its_bytes() {
        let mut r = Recent::new(500);
        r.append(&(1..=3).map(|i| entry(i, 1)).collect::<Vec<_>>());
        r.append(&[entry(4, 1)]);
        assert_eq!(held(&r), [(1, 1), (2, 1), (3, 1), (4, 1)]);
        // A conflicting append replaces the tail.
        r.append(&[entry(3, 2)]);
        assert_eq!(held(&r), [(1, 1), (2, 1), (3, 2)]);
        // Over 500 bytes: the oldest go.
        r.append(&(4..=7).map(|i| entry(i, 2)).collect::<Vec<_>>());
        assert_eq!(r.first_index(), Some(3));
        assert_eq!(r.bytes, 500);
        // A gap (after a snapshot, say) starts a new run.
        r.append(&[entry(20, 3)]);
        assert_eq!(held(&r), [(20, 3)]);
        r.append(&[entry(21, 3), entry(22, 3)]);
        r.compact_to(22);
        assert_eq!(held(&r), [(22, 3)]);
    }

    #[test]
    fn answers_only_ranges_it_holds_cut_at_the_size_limit() {
        let mut r = Recent::new(1 << 20);
        r.append(&(10..=19).map(|i| entry(i, 1)).collect::<Vec<_>>());
        assert!(r.get(9, 12, None).is_none());
        assert!(r.get(15, 21, None).is_none());
        let one = u64::from(entry(10, 1).compute_size());
        let got = r.get(10, 20, Some(3 * one)).unwrap();
        assert_eq!(got.iter().map(|e| e.index).collect::<Vec<_>>(), [10, 11, 12]);
        // At least one, whatever the limit.
        assert_eq!(r.get(12, 20, Some(0)).unwrap().len(), 1);
        assert_eq!(r.get(10, 20, None).unwrap().len(), 10);
    }
}
