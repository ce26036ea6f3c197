//! Accepting connections on a door within limits that hold before any work is done for the
//! other side: how many connections are open at once (more wait in the listen backlog) and
//! how long a TLS handshake may take. Handshakes run apart from the accept loop and hold no
//! connection's place: at most [`MAX_HANDSHAKES`] run at once, and a new one ends the
//! oldest. Silent sockets (no certificate needed to open one) then cannot keep a peer out:
//! a real handshake finishes in milliseconds, so to keep one from finishing an outsider must
//! open sockets faster than `MAX_HANDSHAKES` per handshake time.

use super::Credentials;
use rustls_pki_types::CertificateDer;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio_rustls::server::TlsStream;

/// A TLS handshake must finish within this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// TLS handshakes under way at once on a door; one more ends the oldest.
pub const MAX_HANDSHAKES: usize = 64;

/// What the door knows of a connection's other side; every gRPC request carries it.
#[derive(Debug, Clone, Default)]
pub struct ConnInfo {
    pub remote: Option<std::net::SocketAddr>,
    /// The certificate chain the other side presented, verified against the door's CA
    /// (leaf first); none on a plain connection or without a client certificate.
    pub certs: Option<Arc<Vec<CertificateDer<'static>>>>,
}

impl ConnInfo {
    /// The verified leaf certificate, if any.
    pub fn leaf(&self) -> Option<&CertificateDer<'static>> {
        self.certs.as_ref().and_then(|c| c.first())
    }
}

enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// An accepted connection (after its handshake), holding its place among the open ones.
pub struct Conn {
    io: Io,
    info: ConnInfo,
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
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
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

/// Where a refused handshake is said: once per reason, since a misconfigured peer retries
/// every few hundred milliseconds.
fn log_refused(door: &'static str, remote: Option<std::net::SocketAddr>, why: String) {
    static SAID: std::sync::Mutex<Option<std::collections::HashSet<String>>> = std::sync::Mutex::new(None);
    let mut said = SAID.lock().unwrap_or_else(|p| p.into_inner());
    let said = said.get_or_insert_with(Default::default);
    if said.len() >= 1024 {
        said.clear();
    }
    if said.insert(format!("{door}: {why}")) {
        tracing::warn!(door, ?remote, "refused a TLS connection: {why}");
    }
}

/// Accepts connections on `listener` (with TLS from `tls`, if given) until the receiver is
/// dropped: at most `max_open` at once (a plain one waits in the listen backlog for its
/// place; a TLS one, handshaken, waits among the handshakes), each handshake within
/// [`HANDSHAKE_TIMEOUT`] and at most [`MAX_HANDSHAKES`] at once.
pub fn accept(
    door: &'static str,
    listener: TcpListener,
    tls: Option<Arc<Credentials>>,
    max_open: usize,
) -> mpsc::Receiver<Conn> {
    let (tx, rx) = mpsc::channel(64);
    let open = Arc::new(Semaphore::new(max_open));
    tokio::spawn(async move {
        // Handshakes under way, oldest first: dropping one's sender ends it.
        let mut handshakes: std::collections::VecDeque<oneshot::Sender<()>> = Default::default();
        loop {
            // A plain connection is open once accepted: it waits for its place first.
            let permit = match tls {
                Some(_) => None,
                None => tokio::select! {
                    permit = open.clone().acquire_owned() => Some(permit.expect("the semaphore is never closed")),
                    () = tx.closed() => return,
                },
            };
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
            let info = ConnInfo { remote: Some(remote), certs: None };
            let Some(tls) = &tls else {
                let permit = permit.expect("a plain connection took its place before it was accepted");
                if tx.send(Conn { io: Io::Plain(stream), info, _open: permit }).await.is_err() {
                    return;
                }
                continue;
            };
            handshakes.retain(|h| !h.is_closed());
            if handshakes.len() >= MAX_HANDSHAKES {
                handshakes.pop_front();
            }
            let (cancel, cancelled) = oneshot::channel::<()>();
            handshakes.push_back(cancel);
            let (tx, open) = (tx.clone(), open.clone());
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.server_config());
            tokio::spawn(async move {
                // Handshaken, it waits for its place while still counted as a handshake.
                let handshake = async {
                    let stream = acceptor.accept(stream).await.map_err(|e| e.to_string())?;
                    let permit = open.acquire_owned().await.map_err(|e| e.to_string())?;
                    Ok::<_, String>((stream, permit))
                };
                let (stream, permit) = tokio::select! {
                    done = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake) => match done {
                        Ok(Ok(done)) => done,
                        Ok(Err(e)) => return log_refused(door, Some(remote), e),
                        Err(_) => return log_refused(door, Some(remote), "no handshake within 10 s".into()),
                    },
                    _ = cancelled => {
                        return log_refused(door, Some(remote), format!("ended by a newer one: over {MAX_HANDSHAKES} handshakes at once"));
                    }
                };
                let certs = stream.get_ref().1.peer_certificates().map(|c| Arc::new(c.to_vec()));
                let info = ConnInfo { remote: Some(remote), certs };
                let _ = tx.send(Conn { io: Io::Tls(Box::new(stream)), info, _open: permit }).await;
            });
        }
    });
    rx
}
