//! A snapshot transfer's progress, as `status` shows it and the log tells it: a line when
//! it starts, one every few seconds while it runs, one when it ends.

use crate::status::{StatusBoard, Transfer};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a running transfer says how far it got.
const SAY_EVERY: Duration = Duration::from_secs(2);

pub struct Progress {
    status: Arc<StatusBoard>,
    id: u64,
    peer: u64,
    index: u64,
    total: u64,
    direction: &'static str,
    started: Instant,
    said: Instant,
    finished: bool,
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

impl Progress {
    /// A transfer of snapshot (`index`, `term`) of `total` bytes (0: unknown) to or from
    /// `peer`.
    pub fn start(status: &Arc<StatusBoard>, peer: u64, sending: bool, (index, term): (u64, u64), total: u64) -> Self {
        let started = Instant::now();
        let transfer = Transfer { peer, sending, index, term, bytes: 0, total, started, finished: None };
        let id = status.start_transfer(transfer);
        let direction = if sending { "sending a snapshot" } else { "receiving a snapshot" };
        tracing::info!(peer, index, term, total_bytes = total, "{direction}");
        Progress { status: status.clone(), id, peer, index, total, direction, started, said: started, finished: false }
    }

    /// `bytes` have moved so far.
    pub fn advance(&mut self, bytes: u64) {
        self.status.update_transfer(self.id, |t| t.bytes = bytes);
        if self.said.elapsed() >= SAY_EVERY {
            self.said = Instant::now();
            let (peer, index, direction) = (self.peer, self.index, self.direction);
            tracing::info!(peer, index, bytes, "{direction}: {:.1} of {:.1} MiB", mib(bytes), mib(self.total));
        }
    }

    pub fn finish(mut self, outcome: Result<(), String>) {
        self.end(outcome);
    }

    fn end(&mut self, outcome: Result<(), String>) {
        self.finished = true;
        let took = self.started.elapsed();
        self.status.update_transfer(self.id, |t| t.finished = Some((outcome, took)));
    }
}

impl Drop for Progress {
    /// A transfer dropped unfinished (its task ended on an error) is shown as failed.
    fn drop(&mut self) {
        if !self.finished {
            self.end(Err("ended before the whole file moved".into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::FINISHED_TRANSFERS;

    #[test]
    fn status_shows_transfers_under_way_and_the_last_few_finished() {
        let status = Arc::new(StatusBoard::default());
        let mut sending = Progress::start(&status, 3, true, (100, 2), 4096);
        sending.advance(1024);
        let shown = status.transfers();
        assert_eq!((shown.len(), shown[0].bytes, shown[0].total, shown[0].finished.is_none()), (1, 1024, 4096, true));
        sending.finish(Ok(()));
        drop(Progress::start(&status, 2, false, (100, 2), 0));
        let shown = status.transfers();
        assert!(matches!(shown[0].finished, Some((Ok(()), _))));
        assert!(matches!(&shown[1].finished, Some((Err(why), _)) if why.contains("ended before")));
        for n in 0..20 {
            Progress::start(&status, 2, true, (n, 1), 1).finish(Ok(()));
        }
        let running = Progress::start(&status, 9, true, (500, 3), 10);
        let shown = status.transfers();
        assert_eq!(shown.len(), FINISHED_TRANSFERS + 1, "the running one and the newest finished");
        assert_eq!(shown.last().unwrap().peer, 9);
        drop(running);
    }
}
