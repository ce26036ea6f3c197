//! A TCP proxy that holds every byte it passes for a random one-way delay, standing in for
//! `tc netem delay MEAN JITTER` where the kernel has no netem (as on the machine these
//! benchmarks were written on): real TCP on both sides, the delay added in userspace.
//!
//! Put in front of each node, with the nodes' `--peers` naming the proxies, it delays every
//! byte between two nodes once in each direction (the request on its way in, the answer on
//! its way out), as netem on each node's interface would: a peer round trip costs two
//! samples. Each chunk read is released at `now + sample`, but never before the chunk read
//! before it on the same connection: TCP under netem reorders nothing either (it holds
//! later segments until the earlier ones arrive). Samples are uniform in MEAN ± JITTER,
//! netem's default distribution.
//!
//! What a proxy cannot copy: the TCP handshake and ACKs are not delayed (each side talks to
//! the proxy at loopback speed), so connecting is instant and no window limits throughput
//! per round trip. For a Raft cluster's small, long-lived streams neither matters much.
//!
//! Chunks are released on the kernel's high-resolution timers (a timerfd): tokio's own
//! timer rounds up to whole milliseconds, which put about a millisecond more on every hop.
//!
//! The proxy runs as a process of its own (this same executable, started with
//! [`PROXY_ARG`]), so that its timers do not share threads with the load a benchmark drives.

use crate::Rng;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The first argument that makes [`serve_if_asked`] run the proxy.
pub const PROXY_ARG: &str = "delay-proxy";
/// Chunks in flight per direction before reading stops (at most 64 KiB each).
const IN_FLIGHT: usize = 256;
const CHUNK: usize = 64 << 10;

/// A one-way delay: uniform in `mean ± jitter`.
#[derive(Debug, Clone, Copy)]
pub struct Delay {
    pub mean: Duration,
    pub jitter: Duration,
}

impl Delay {
    /// `MEAN,JITTER` in milliseconds, e.g. `16.5,7.5` (netem's `delay 16.5ms 7.5ms`).
    pub fn parse(text: &str) -> Result<Delay, String> {
        let (mean, jitter) = text.split_once(',').ok_or_else(|| format!("`{text}` is not MEAN_MS,JITTER_MS"))?;
        let ms = |v: &str| match v.trim().parse::<f64>() {
            Ok(ms) if ms.is_finite() && ms >= 0.0 => Ok(Duration::from_secs_f64(ms / 1e3)),
            _ => Err(format!("`{v}` is not a number of milliseconds")),
        };
        let delay = Delay { mean: ms(mean)?, jitter: ms(jitter)? };
        if delay.jitter > delay.mean {
            return Err(format!("the jitter ({text}) must not exceed the mean: a delay cannot be negative"));
        }
        Ok(delay)
    }

    fn sample(&self, rng: &mut Rng) -> Duration {
        let unit = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        (self.mean - self.jitter) + self.jitter.mul_f64(2.0 * unit)
    }

    fn arg(&self) -> String {
        format!("{},{}", self.mean.as_secs_f64() * 1e3, self.jitter.as_secs_f64() * 1e3)
    }
}

/// The proxy process: killed (and reaped) when dropped, and by the kernel if this process
/// dies first.
pub struct Proxy {
    child: Child,
}

impl Proxy {
    /// Starts this executable as a proxy forwarding each `(listen, target)` address pair
    /// with `delay`; returns once it listens.
    pub fn start(delay: Delay, routes: &[(String, String)]) -> Proxy {
        let exe = std::env::current_exe().expect("this executable's path");
        let mut cmd = Command::new(exe);
        cmd.arg(PROXY_ARG).arg(delay.arg()).args(routes.iter().map(|(listen, target)| format!("{listen}={target}")));
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
        // Safety: prctl is async-signal-safe and touches nothing of the parent.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut proxy = Proxy { child: cmd.spawn().expect("the delay proxy starts") };
        for (listen, _) in routes {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(listen).is_err() {
                if let Ok(Some(status)) = proxy.child.try_wait() {
                    panic!("the delay proxy exited ({status}): see its message above");
                }
                assert!(std::time::Instant::now() < deadline, "the delay proxy does not listen on {listen}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        proxy
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// If this process was started as a proxy (`EXE delay-proxy MEAN,JITTER LISTEN=TARGET...`),
/// runs it and exits; otherwise returns at once. Call it first thing in `main`, outside
/// any runtime.
fn serve_if_asked() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some(PROXY_ARG) {
        return;
    }
    let parsed =
        args.get(1).ok_or_else(|| "no MEAN,JITTER".to_string()).and_then(|d| Delay::parse(d)).and_then(|delay| {
            let routes = args[2..]
                .iter()
                .map(|r| {
                    r.split_once('=')
                        .map(|(l, t)| (l.to_string(), t.to_string()))
                        .ok_or_else(|| format!("`{r}` is not LISTEN=TARGET"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((delay, routes))
        });
    let outcome = parsed.and_then(|(delay, routes)| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(serve(delay, routes))
    });
    if let Err(e) = outcome {
        eprintln!("{PROXY_ARG}: {e}");
        std::process::exit(2);
    }
    std::process::exit(0);
}

/// Forwards connections to each `listen` address to its `target`, delayed, until killed.
pub async fn serve(delay: Delay, routes: Vec<(String, String)>) -> Result<(), String> {
    let mut accepting = Vec::new();
    for (listen, target) in routes {
        let listener = TcpListener::bind(&listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        accepting.push(tokio::spawn(accept(listener, target, delay)));
    }
    for task in accepting {
        task.await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

async fn accept(listener: TcpListener, target: String, delay: Delay) {
    loop {
        // A failed accept (too many open files, say) is passing: try again shortly.
        let Ok((inbound, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let target = target.clone();
        tokio::spawn(async move {
            // A target that refuses drops the inbound connection: to its peer, the node is
            // down, as it would be without the proxy.
            let Ok(outbound) = TcpStream::connect(&target).await else { return };
            // Nagle would hold small writes back for an ACK: a delay of its own.
            let _ = inbound.set_nodelay(true);
            let _ = outbound.set_nodelay(true);
            let (in_read, in_write) = inbound.into_split();
            let (out_read, out_write) = outbound.into_split();
            tokio::join!(pipe(in_read, out_write, delay), pipe(out_read, in_write, delay));
        });
    }
}

/// A seed per direction of every connection: the samples differ between connections.
fn seed() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as u64;
    now ^ (u64::from(std::process::id()) << 32)
        ^ NEXT.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Copies `from` to `to`, each chunk released `delay` after it was read and not before the
/// chunk ahead of it; at the end of `from`, shuts `to` down once everything is written.
async fn pipe(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, delay: Delay) {
    let (queue, mut queued) = mpsc::channel::<(Instant, Vec<u8>)>(IN_FLIGHT);
    let read = async move {
        let (mut rng, mut buf, mut release) = (Rng(seed()), vec![0; CHUNK], Instant::now());
        while let Ok(n @ 1..) = from.read(&mut buf).await {
            release = release.max(Instant::now() + delay.sample(&mut rng));
            if queue.send((release, buf[..n].to_vec())).await.is_err() {
                return;
            }
        }
    };
    let write = async move {
        let timer = Timer::new();
        while let Some((release, chunk)) = queued.recv().await {
            match &timer {
                Ok(timer) => timer.sleep_until(release).await,
                // No timerfd to be had (out of descriptors): tokio's coarser timer will do.
                Err(_) => tokio::time::sleep_until(release).await,
            }
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(read, write);
}

/// A one-shot timer on a timerfd, awaited through the reactor.
struct Timer {
    fd: AsyncFd<OwnedFd>,
}

impl Timer {
    fn new() -> io::Result<Timer> {
        // Safety: timerfd_create takes no pointers; a valid result is a descriptor we own.
        let fd = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // Safety: `fd` was just created and nothing else holds it; the OwnedFd keeps it open
        // for as long as the AsyncFd that owns it.
        let fd = unsafe { AsyncFd::register_with_interest(OwnedFd::from_raw_fd(fd), tokio::io::Interest::READABLE) }?;
        Ok(Timer { fd })
    }

    /// Returns at `at` (tokio's `Instant` reads the same CLOCK_MONOTONIC as the timerfd);
    /// should the timer fail, at once: a chunk goes out early rather than never.
    async fn sleep_until(&self, at: Instant) {
        let wait = at.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            return;
        }
        let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        let value =
            libc::timespec { tv_sec: wait.as_secs() as libc::time_t, tv_nsec: wait.subsec_nanos() as libc::c_long };
        let spec = libc::itimerspec { it_interval: zero, it_value: value };
        // Safety: `spec` outlives the call; the old value is not asked for.
        if unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) } < 0 {
            return;
        }
        loop {
            let Ok(mut ready) = self.fd.readable().await else { return };
            let expired = ready.try_io(|fd| {
                let mut count = [0u8; 8];
                // Safety: reads at most 8 bytes into `count`.
                match unsafe { libc::read(fd.as_raw_fd(), count.as_mut_ptr().cast(), count.len()) } {
                    8 => Ok(()),
                    _ => Err(io::Error::last_os_error()),
                }
            });
            // Would block: not expired yet (the readiness was left from the previous sleep),
            // so wait again. Expired, or failed: go.
            if expired.is_ok() {
                return;
            }
        }
    }
}

/// A cluster of 3 nodes running `modules` (with HTTP), and with a delay, the proxy between
/// its nodes and the address through which each node's peers reach it.
pub struct DelayedCluster {
    pub cluster: crate::cluster::Cluster,
    /// Node id -> its proxy's address; empty without a delay.
    pub doors: std::collections::BTreeMap<u64, String>,
    /// Keep it as long as the cluster runs (`proxy: _proxy`, not `..`, which drops it at
    /// once): dropping it stops the proxy, and the nodes no longer reach each other.
    pub proxy: Option<Proxy>,
}

/// Starts [`DelayedCluster`]: nodes that know each other through the proxy, which forwards
/// to where each listens (the nodes retry their peers until the proxy is up).
pub fn start_cluster(delay: Option<Delay>, modules: &[&str], args: &[&str]) -> DelayedCluster {
    use crate::cluster::Cluster;
    let Some(delay) = delay else {
        let cluster = Cluster::start_routed(3, modules, true, args, |node| node.address.clone());
        return DelayedCluster { cluster, doors: Default::default(), proxy: None };
    };
    let doors: std::collections::BTreeMap<u64, String> =
        (1..=3).map(|id| (id, format!("127.0.0.1:{}", crate::cluster::free_port()))).collect();
    let cluster = Cluster::start_routed(3, modules, true, args, |node| doors[&node.id].clone());
    let routes: Vec<(String, String)> =
        doors.iter().map(|(id, door)| (door.clone(), cluster.peer_address(*id).to_string())).collect();
    let proxy = Proxy::start(delay, &routes);
    DelayedCluster { cluster, doors, proxy: Some(proxy) }
}

/// The `main` of a benchmark that may put a delay between its nodes: this executable is
/// also the delay proxy (started by [`Proxy::start`]); otherwise it runs `bench` with the
/// delay `WASMRAFT_BENCH_DELAY=MEAN_MS,JITTER_MS` names, if any, on 2 worker threads.
pub fn bench_main<F: std::future::Future<Output = ()>>(bench: impl FnOnce(Option<Delay>) -> F) {
    serve_if_asked();
    let delay = std::env::var("WASMRAFT_BENCH_DELAY")
        .ok()
        .map(|d| Delay::parse(&d).unwrap_or_else(|e| panic!("WASMRAFT_BENCH_DELAY: {e}")));
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    runtime.block_on(bench(delay));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_parse_and_sample_within_bounds() {
        let d = Delay::parse("16.5,7.5").unwrap();
        assert_eq!((d.mean, d.jitter), (Duration::from_micros(16_500), Duration::from_micros(7_500)));
        for bad in ["", "16.5", "x,1", "1,2", "-1,0", "1,nan"] {
            assert!(Delay::parse(bad).is_err(), "accepted `{bad}`");
        }
        let mut rng = Rng(1);
        let samples: Vec<Duration> = (0..10_000).map(|_| d.sample(&mut rng)).collect();
        assert!(samples.iter().all(|s| (Duration::from_millis(9)..=Duration::from_millis(24)).contains(s)));
        let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
        assert!((mean.as_secs_f64() * 1e3 - 16.5).abs() < 0.2, "mean {mean:?}");
    }
}
