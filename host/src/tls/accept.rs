//! Accepting connections on a door within limits that hold before any work is done for the
//! other side: how many connections are open at once (more wait in the listen backlog) and
//! how long a TLS handshake may take. Handshakes run apart from the accept loop, so a client
//! that stalls one holds up no one else.

use super::Credentials;
use rustls_pki_types::CertificateDer;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_rustls::server::TlsStream;

/// A TLS handshake must finish within this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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
/// dropped: at most `max_open` at once, each handshake within [`HANDSHAKE_TIMEOUT`].
pub fn accept(
    door: &'static str,
    listener: TcpListener,
    tls: Option<Arc<Credentials>>,
    max_open: usize,
) -> mpsc::Receiver<Conn> {
    let (tx, rx) = mpsc::channel(64);
    let open = Arc::new(Semaphore::new(max_open));
    tokio::spawn(async move {
        loop {
            let permit = tokio::select! {
                permit = open.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
                () = tx.closed() => return,
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
                if tx.send(Conn { io: Io::Plain(stream), info, _open: permit }).await.is_err() {
                    return;
                }
                continue;
            };
            let (tx, acceptor) = (tx.clone(), tokio_rustls::TlsAcceptor::from(tls.server_config()));
            tokio::spawn(async move {
                let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => return log_refused(door, Some(remote), e.to_string()),
                    Err(_) => return log_refused(door, Some(remote), "no handshake within 10 s".into()),
                };
                let certs = stream.get_ref().1.peer_certificates().map(|c| Arc::new(c.to_vec()));
                let info = ConnInfo { remote: Some(remote), certs };
                let _ = tx.send(Conn { io: Io::Tls(Box::new(stream)), info, _open: permit }).await;
            });
        }
    });
    rx
}
