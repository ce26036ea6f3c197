//! Accepting connections on a door within limits that hold before any work is done for the
//! other side: how many connections are open at once and how long one may take to be
//! admitted (its TLS handshake and its wait for a place). Admissions run apart from the
//! accept loop and hold no connection's place: at most [`MAX_ADMISSIONS`] run at once, and
//! a new one ends the oldest. Silent sockets (no certificate needed to open one) then cannot
//! keep a peer out: a real handshake finishes in milliseconds, so to keep one from finishing
//! an outsider must open sockets faster than `MAX_ADMISSIONS` per handshake time.
//!
//! Nor can open connections that prove nothing fill a door: when a connection waits for a
//! place, the door closes one that no request has vouched for since it opened
//! ([`UNVOUCHED_GRACE`]; the door's checks vouch for a connection whose request they let
//! in with credentials, [`ConnInfo::vouch`]), oldest first, else the one idle longest
//! among those that have sent nothing for longer than any request takes ([`IDLE_GRACE`]).
//! Bytes alone prove nothing: an outsider's HTTP/2 preface, pings or requests without
//! credentials do not keep a place on a full door.

use super::Credentials;
use atomic_waker::AtomicWaker;
use rustls_pki_types::CertificateDer;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio_rustls::server::TlsStream;

/// A connection's TLS handshake and its wait for a place must be over within this.
pub const ADMISSION_TIMEOUT: Duration = Duration::from_secs(10);
/// Admissions under way at once on a door; one more ends the oldest.
pub const MAX_ADMISSIONS: usize = 64;
/// A connection no request has vouched for this long since it opened may be closed to make
/// room (a real client sends its first request, with its credentials, at once).
pub const UNVOUCHED_GRACE: Duration = Duration::from_secs(1);
/// A connection that has sent nothing for this long may be closed to make room: longer than
/// any request's deadline, and than the HTTP/2 pings a server sends an idle client.
pub const IDLE_GRACE: Duration = Duration::from_secs(60);
/// How often a connection waiting for a place looks again for one to close.
const EVICT_RETRY: Duration = Duration::from_millis(250);

/// What the door knows of a connection's other side; every request carries it.
#[derive(Debug, Clone, Default)]
pub struct ConnInfo {
    pub remote: Option<std::net::SocketAddr>,
    /// The certificate chain the other side presented, verified against the door's CA
    /// (leaf first); none on a plain connection or without a client certificate.
    pub certs: Option<Arc<Vec<CertificateDer<'static>>>>,
    /// Shared with the connection's [`Activity`] (not the activity itself: a request that
    /// outlives its connection must not keep it registered).
    vouched: Option<Arc<AtomicBool>>,
}

impl ConnInfo {
    /// The verified leaf certificate, if any.
    pub fn leaf(&self) -> Option<&CertificateDer<'static>> {
        self.certs.as_ref().and_then(|c| c.first())
    }

    /// The door let a request of this connection in on its credentials (or needs none): the
    /// connection keeps its place on a full door while it talks.
    pub fn vouch(&self) {
        if let Some(vouched) = &self.vouched
            && !vouched.load(Ordering::Relaxed)
        {
            vouched.store(true, Ordering::Relaxed);
        }
    }
}

enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// When a connection last sent anything, whether a request vouched for it, and whether the
/// door closed it to make room.
struct Activity {
    opened: Instant,
    /// Milliseconds from `opened` to the last bytes read, plus one (0: none yet).
    last_read: AtomicU64,
    vouched: Arc<AtomicBool>,
    evicted: AtomicBool,
    /// Woken when evicted: the connection's reader sees the close at once.
    reader: AtomicWaker,
}

impl Activity {
    fn new() -> Self {
        Activity {
            opened: Instant::now(),
            last_read: AtomicU64::new(0),
            vouched: Arc::default(),
            evicted: AtomicBool::new(false),
            reader: AtomicWaker::new(),
        }
    }

    fn read_now(&self) {
        self.last_read.store(self.opened.elapsed().as_millis() as u64 + 1, Ordering::Relaxed);
    }

    /// Whether the connection is one to close for room, and how soon: one never vouched
    /// for before any other (the older first), then the one idle longest.
    fn evictable(&self, now: Instant) -> Option<(bool, Duration)> {
        let open = now.saturating_duration_since(self.opened);
        if !self.vouched.load(Ordering::Relaxed) && open >= UNVOUCHED_GRACE {
            return Some((true, open));
        }
        let idle = match self.last_read.load(Ordering::Relaxed) {
            0 => open,
            ms => open.saturating_sub(Duration::from_millis(ms - 1)),
        };
        (idle >= IDLE_GRACE).then_some((false, idle))
    }

    fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        self.reader.wake();
    }
}

/// A door's open connections, to pick one to close when another waits for a place.
#[derive(Default)]
struct Register {
    conns: Mutex<Vec<Weak<Activity>>>,
}

impl Register {
    fn add(&self, conn: &Arc<Activity>, max_open: usize) {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        if conns.len() >= 2 * max_open {
            conns.retain(|c| c.strong_count() > 0);
        }
        conns.push(Arc::downgrade(conn));
    }

    /// Closes the first of the connections that may be closed, if any ([`Activity::evictable`]).
    fn evict_idlest(&self, door: &'static str) {
        let now = Instant::now();
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        conns.retain(|c| c.strong_count() > 0);
        let first = conns
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|c| !c.evicted.load(Ordering::Relaxed))
            .filter_map(|c| c.evictable(now).map(|order| (order, c)))
            .max_by_key(|(order, _)| *order);
        if let Some(((unvouched, time), conn)) = first {
            let why = match unvouched {
                true => format!("open {time:?} with no request in on credentials"),
                false => format!("idle for {time:?}"),
            };
            say_once(door, None, format!("closed a connection {why} to make room (the door is full)"));
            conn.evict();
        }
    }
}

/// An accepted connection (after its handshake), holding its place among the open ones.
pub struct Conn {
    io: Io,
    info: ConnInfo,
    activity: Arc<Activity>,
    _open: OwnedSemaphorePermit,
}

impl Conn {
    pub fn info(&self) -> &ConnInfo {
        &self.info
    }
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        self.info.clone()
    }
}

impl AsyncRead for Conn {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let evicted =
            || std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "closed to make room on a full door");
        if self.activity.evicted.load(Ordering::Relaxed) {
            return Poll::Ready(Err(evicted()));
        }
        let before = buf.filled().len();
        let polled = match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        match polled {
            Poll::Ready(Ok(())) if buf.filled().len() > before => self.activity.read_now(),
            Poll::Pending => {
                self.activity.reader.register(cx.waker());
                // Evicted between the check above and the waker's registration.
                if self.activity.evicted.load(Ordering::Acquire) {
                    return Poll::Ready(Err(evicted()));
                }
            }
            _ => {}
        }
        polled
    }
}

impl AsyncWrite for Conn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Says what the door refused or closed: once per reason, since a misconfigured peer retries
/// every few hundred milliseconds.
fn say_once(door: &'static str, remote: Option<std::net::SocketAddr>, why: String) {
    static SAID: std::sync::Mutex<Option<std::collections::HashSet<String>>> = std::sync::Mutex::new(None);
    let mut said = SAID.lock().unwrap_or_else(|p| p.into_inner());
    let said = said.get_or_insert_with(Default::default);
    if said.len() >= 1024 {
        said.clear();
    }
    if said.insert(format!("{door}: {why}")) {
        tracing::warn!(door, ?remote, "{why}");
    }
}

/// Accepts connections on `listener` (with TLS from `tls`, if given) until the receiver is
/// dropped: at most `max_open` at once, each admitted (handshake and place) within
/// [`ADMISSION_TIMEOUT`] and at most [`MAX_ADMISSIONS`] admissions at once.
pub fn accept(
    door: &'static str,
    listener: TcpListener,
    tls: Option<Arc<Credentials>>,
    max_open: usize,
) -> mpsc::Receiver<Conn> {
    let (tx, rx) = mpsc::channel(64);
    let open = Arc::new(Semaphore::new(max_open));
    let register = Arc::new(Register::default());
    tokio::spawn(async move {
        // Admissions under way, oldest first: dropping one's sender ends it.
        let mut admissions: std::collections::VecDeque<oneshot::Sender<()>> = Default::default();
        loop {
            let (stream, remote) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of descriptors, say: wait rather than spin.
                        tracing::warn!(door, "cannot accept a connection: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = tx.closed() => return,
            };
            // Nagle's algorithm with delayed ACKs holds small answers back by ~40 ms.
            let _ = stream.set_nodelay(true);
            admissions.retain(|a| !a.is_closed());
            if admissions.len() >= MAX_ADMISSIONS {
                admissions.pop_front();
            }
            let (cancel, cancelled) = oneshot::channel::<()>();
            admissions.push_back(cancel);
            let (tx, open, register) = (tx.clone(), open.clone(), register.clone());
            let acceptor = tls.as_ref().map(|tls| tokio_rustls::TlsAcceptor::from(tls.server_config()));
            tokio::spawn(async move {
                let admission = async {
                    let io = match acceptor {
                        Some(acceptor) => Io::Tls(Box::new(acceptor.accept(stream).await.map_err(|e| e.to_string())?)),
                        None => Io::Plain(stream),
                    };
                    Ok::<_, String>((io, place(door, &open, &register).await))
                };
                let (io, permit) = tokio::select! {
                    done = tokio::time::timeout(ADMISSION_TIMEOUT, admission) => match done {
                        Ok(Ok(done)) => done,
                        Ok(Err(e)) => return say_once(door, Some(remote), format!("refused a TLS connection: {e}")),
                        Err(_) => return say_once(door, Some(remote), format!("refused a connection: not admitted within {ADMISSION_TIMEOUT:?}")),
                    },
                    _ = cancelled => {
                        return say_once(door, Some(remote), format!("refused a connection: ended by a newer one, over {MAX_ADMISSIONS} admissions at once"));
                    }
                };
                let certs = match &io {
                    Io::Tls(stream) => stream.get_ref().1.peer_certificates().map(|c| Arc::new(c.to_vec())),
                    Io::Plain(_) => None,
                };
                let activity = Arc::new(Activity::new());
                register.add(&activity, max_open);
                let info = ConnInfo { remote: Some(remote), certs, vouched: Some(activity.vouched.clone()) };
                let _ = tx.send(Conn { io, info, activity, _open: permit }).await;
            });
        }
    });
    rx
}

/// A place among the door's open connections, closing an idle one to make room if need be.
async fn place(door: &'static str, open: &Arc<Semaphore>, register: &Register) -> OwnedSemaphorePermit {
    loop {
        if let Ok(permit) = open.clone().try_acquire_owned() {
            return permit;
        }
        register.evict_idlest(door);
        if let Ok(permit) = tokio::time::timeout(EVICT_RETRY, open.clone().acquire_owned()).await {
            return permit.expect("the semaphore is never closed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_no_request_vouched_for_goes_first_then_the_idlest() {
        let unvouched = Activity::new();
        let (vouched, talking) = (Activity::new(), Activity::new());
        vouched.vouched.store(true, Ordering::Relaxed);
        talking.vouched.store(true, Ordering::Relaxed);
        let soon = unvouched.opened + UNVOUCHED_GRACE / 2;
        // Bytes prove nothing: an unvouched connection that just spoke may still go.
        unvouched.read_now();
        assert_eq!(unvouched.evictable(soon), None, "within its grace");
        let later = unvouched.opened + 2 * IDLE_GRACE;
        assert!(matches!(unvouched.evictable(later), Some((true, _))));
        assert!(matches!(vouched.evictable(later), Some((false, _))), "silent for longer than any request takes");
        talking.last_read.store((2 * IDLE_GRACE - UNVOUCHED_GRACE).as_millis() as u64, Ordering::Relaxed);
        assert_eq!(talking.evictable(later), None, "it spoke a second ago");
        assert!(unvouched.evictable(later) > vouched.evictable(later), "the unvouched one goes first");
    }
}
