//! The SIP io layer: UDP and TCP sockets, the clock and the RNG seed (from the OS) around
//! the sans-IO [`Endpoint`].
//!
//! Owns the sockets, the bounded queues between them and the one task that owns the endpoint,
//! TCP connection reuse (one writer per peer address, used for requests and responses) and
//! TCP limits: a cap on accepted connections, a first-message and an idle timeout, framing
//! that never buffers more than [`MAX_MESSAGE`].
//! When the endpoint's inbound queue is full, a receiving task answers new INVITEs itself
//! with `503` + `Retry-After` (nothing already accepted is touched) and drops other
//! datagrams, which their senders retransmit. It does not own any SIP logic.

use crate::sip::build::build_response;
use crate::sip::endpoint::{
    Endpoint, EndpointConfig, EndpointEvent, LegId, OutgoingInvite, Transport, TxnId,
};
use crate::sip::parse::{frame_len, parse, parse_head, HeaderName, ParseError, MAX_MESSAGE};
use crate::sip::registrar::Directory;
use rand::RngCore;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// SIP io settings.
#[derive(Debug, Clone)]
pub struct SipConfig {
    /// Listen address for UDP and TCP (default `0.0.0.0:5060`; tests use `127.0.0.1:0`).
    pub bind: SocketAddr,
    /// Listen on TCP too (same port as UDP).
    pub tcp: bool,
    /// The address named in Via, Contact (and by the call flow in SDP).
    pub advertise: crate::config::Advertise,
    /// Depth of the bounded queue from the sockets to the endpoint task.
    pub queue_depth: usize,
    /// Seed for tags, branches and Call-IDs; drawn from the OS by default, so no two
    /// processes share it (a constant seed let any acd accept another's nonces, issue 13 H2).
    /// The nonce secret is drawn from the OS separately (256 bits) unless
    /// `endpoint.registrar.nonce_secret` is set.
    pub seed: u64,
    /// The digest algorithms the registrar challenges with, in order (`sip.digest_algorithms`;
    /// sets `endpoint.registrar.challenge_algorithms`).
    pub digest_algorithms: Vec<crate::sip::digest::Algorithm>,
    /// UDP socket receive/send buffer in bytes (the kernel caps it at rmem_max/wmem_max).
    /// SIPp sends in per-millisecond bursts; the 208 KiB default overflows at a few thousand
    /// messages per second (the same pitfall as Kamailio's, see shared/bench/kamailio).
    pub socket_buffer: usize,
    /// The sans-IO endpoint settings.
    pub endpoint: EndpointConfig,
    /// Accepted TCP connections open at once; past it a new connection is closed at once
    /// (issue 13 M1: without a cap, idle connections exhausted the file descriptors).
    pub tcp_max_connections: usize,
    /// An accepted TCP connection that has not sent one complete message by then is closed.
    pub tcp_first_message_timeout: Duration,
    /// A TCP connection that receives nothing (not even a CRLF keep-alive) for this long is
    /// closed. Long, because a registered phone may only refresh its registration on it.
    pub tcp_idle_timeout: Duration,
}

/// Default for [`SipConfig::tcp_max_connections`].
pub const TCP_MAX_CONNECTIONS: usize = 4096;
/// Default for [`SipConfig::tcp_first_message_timeout`].
pub const TCP_FIRST_MESSAGE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default for [`SipConfig::tcp_idle_timeout`].
pub const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(1800);

/// How long the accept loop waits after an accept error (e.g. out of file descriptors)
/// instead of retrying at once and spinning a core.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The time limits of one TCP connection.
#[derive(Debug, Clone, Copy)]
struct TcpLimits {
    first_message: Duration,
    idle: Duration,
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            bind: SocketAddr::from(([0, 0, 0, 0], 5060)),
            tcp: true,
            advertise: crate::config::Advertise::default(),
            queue_depth: 4096,
            seed: rand::rngs::OsRng.next_u64(),
            digest_algorithms: vec![crate::sip::digest::Algorithm::Md5],
            socket_buffer: 4 << 20,
            endpoint: EndpointConfig::default(),
            tcp_max_connections: TCP_MAX_CONNECTIONS,
            tcp_first_message_timeout: TCP_FIRST_MESSAGE_TIMEOUT,
            tcp_idle_timeout: TCP_IDLE_TIMEOUT,
        }
    }
}

/// Errors starting the SIP listeners.
#[derive(Debug, Error)]
pub enum SipIoError {
    /// The UDP socket could not be bound.
    #[error("cannot bind SIP UDP on {addr}: {source}")]
    BindUdp {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TCP listener could not be bound.
    #[error("cannot bind SIP TCP on {addr}: {source}")]
    BindTcp {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Commands from the TU (routing core) to the endpoint task.
#[derive(Debug)]
pub enum SipCommand {
    /// Answer an INVITE handed out in [`EndpointEvent::Invite`].
    Respond {
        /// The transaction.
        txn: TxnId,
        /// Status code.
        code: u16,
        /// Reason phrase.
        reason: String,
        /// Extra headers.
        headers: Vec<(String, String)>,
        /// Body (SDP).
        body: Vec<u8>,
    },
    /// Place an INVITE to an agent.
    Invite(Box<OutgoingInvite>),
    /// End an agent leg (CANCEL or BYE as its state needs).
    EndLeg(LegId),
    /// Send the caller of this INVITE a BYE.
    HangupCaller(TxnId),
}

/// Counters readable while running (for tests and `/metrics`).
#[derive(Debug, Default)]
pub struct SipStats {
    /// Messages handed to the endpoint.
    pub received: AtomicU64,
    /// Messages sent.
    pub sent: AtomicU64,
    /// Datagrams dropped because the endpoint queue was full.
    pub dropped_overload: AtomicU64,
    /// INVITEs answered 503 by a receiving task because the queue was full.
    pub rejected_overload: AtomicU64,
    /// UDP responses not sent because their address had used up its amplification credit
    /// (see [`UDP_AMPLIFICATION`]).
    pub dropped_amplification: AtomicU64,
    /// TCP connections closed on accept because [`SipConfig::tcp_max_connections`] were open.
    pub tcp_refused: AtomicU64,
    /// TCP connections closed for sending no message in time or going idle.
    pub tcp_timed_out: AtomicU64,
}

/// A running SIP stack.
pub struct SipHandle {
    /// The bound UDP address (its port is the TCP port too).
    pub local_addr: SocketAddr,
    /// The address acd names in Via and Contact (`SipConfig::advertise` resolved).
    pub contact: SocketAddr,
    /// Endpoint events (registrations, INVITEs, legs). Bounded; when the reader falls behind,
    /// new INVITEs are answered 480 by the endpoint task so callers are not left hanging, and
    /// events of calls already accepted wait in a backlog (never dropped).
    pub events: mpsc::Receiver<EndpointEvent>,
    /// Commands to the endpoint task.
    pub commands: mpsc::Sender<SipCommand>,
    /// Counters.
    pub stats: Arc<SipStats>,
    /// Completes when the stack has stopped.
    pub join: JoinHandle<()>,
}

enum Inbound {
    Datagram(SocketAddr, Vec<u8>),
    Stream(SocketAddr, Vec<u8>),
    TcpOpen(SocketAddr, mpsc::Sender<Vec<u8>>),
    TcpClosed(SocketAddr),
}

/// Binds UDP, then TCP on the same port. With port 0 the kernel picks the UDP port, which may
/// be taken on TCP by an unrelated socket: then another UDP port is tried (a few times).
async fn bind_sockets(
    bind: SocketAddr,
    with_tcp: bool,
    buffer: usize,
) -> Result<(UdpSocket, SocketAddr, Option<TcpListener>), SipIoError> {
    let attempts = if bind.port() == 0 { 16 } else { 1 };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let udp =
            bind_udp(bind, buffer).map_err(|source| SipIoError::BindUdp { addr: bind, source })?;
        let local_addr = udp
            .local_addr()
            .map_err(|source| SipIoError::BindUdp { addr: bind, source })?;
        if !with_tcp {
            return Ok((udp, local_addr, None));
        }
        match TcpListener::bind(local_addr).await {
            Ok(tcp) => return Ok((udp, local_addr, Some(tcp))),
            Err(_) if attempt < attempts => continue,
            Err(source) => {
                return Err(SipIoError::BindTcp {
                    addr: local_addr,
                    source,
                })
            }
        }
    }
}

/// Binds UDP (and TCP) on `cfg.bind` and runs the SIP stack until `shutdown` turns true.
pub async fn run_sip(
    cfg: SipConfig,
    directory: Arc<dyn Directory + Send + Sync>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<SipHandle, SipIoError> {
    let (udp, local_addr, tcp) = bind_sockets(cfg.bind, cfg.tcp, cfg.socket_buffer).await?;
    let udp = Arc::new(udp);
    let stats = Arc::new(SipStats::default());
    let (in_tx, mut in_rx) = mpsc::channel::<Inbound>(cfg.queue_depth);
    let (ev_tx, ev_rx) = mpsc::channel::<EndpointEvent>(cfg.queue_depth);
    let (cmd_tx, mut cmd_rx) = mpsc::channel::<SipCommand>(cfg.queue_depth);

    let retry_after = cfg.endpoint.retry_after_secs.to_string();
    let udp_rx_task = {
        let udp = udp.clone();
        let in_tx = in_tx.clone();
        let stats = stats.clone();
        let retry_after = retry_after.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65_535];
            loop {
                tokio::select! {
                    r = udp.recv_from(&mut buf) => {
                        let Ok((n, src)) = r else { continue };
                        let data = buf[..n].to_vec();
                        match in_tx.try_send(Inbound::Datagram(src, data)) {
                            Ok(()) => {}
                            Err(mpsc::error::TrySendError::Full(Inbound::Datagram(src, data))) => {
                                if let Some(resp) = overload_503(&data, &retry_after) {
                                    stats.rejected_overload.fetch_add(1, Ordering::Relaxed);
                                    let _ = udp.send_to(&resp, src).await;
                                } else {
                                    stats.dropped_overload.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            Err(_) => break,
                        }
                    }
                    _ = shutdown.changed() => break,
                }
            }
        })
    };

    let limits = TcpLimits {
        first_message: cfg.tcp_first_message_timeout,
        idle: cfg.tcp_idle_timeout,
    };
    let tcp_task = tcp.map(|listener| {
        let in_tx = in_tx.clone();
        let mut shutdown = shutdown.clone();
        let retry_after = retry_after.clone();
        let stats = stats.clone();
        let slots = Arc::new(tokio::sync::Semaphore::new(cfg.tcp_max_connections));
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    r = listener.accept() => {
                        let (stream, peer) = match r {
                            Ok(x) => x,
                            Err(e) => {
                                // Out of descriptors and the like: back off, do not spin.
                                tracing::debug!(error = %e, "SIP TCP accept failed");
                                tokio::time::sleep(ACCEPT_BACKOFF).await;
                                continue;
                            }
                        };
                        let Ok(slot) = slots.clone().try_acquire_owned() else {
                            stats.tcp_refused.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(peer = %peer, "SIP TCP connection limit reached: closing a new connection");
                            drop(stream);
                            continue;
                        };
                        let _ = stream.set_nodelay(true);
                        let conn = tcp_conn(stream, peer, in_tx.clone(), retry_after.clone(), stats.clone(), None, limits);
                        tokio::spawn(async move {
                            conn.await;
                            drop(slot);
                        });
                    }
                    _ = shutdown.changed() => break,
                }
            }
        })
    });
    // The endpoint task keeps a sender for the connections it opens itself.
    let connect = cfg.tcp.then(|| Connector {
        in_tx: in_tx.clone(),
        retry_after: retry_after.clone(),
        stats: stats.clone(),
        limits,
    });
    drop(in_tx);

    let stats2 = stats.clone();
    // What acd names in Via and Contact: the advertised address, else the bound one (a wildcard
    // bind has no address a peer could answer to: loopback stands in).
    let contact = cfg.advertise.resolve(local_addr);
    let join = tokio::spawn(async move {
        let mut endpoint_cfg = cfg.endpoint.clone();
        endpoint_cfg.contact = contact;
        endpoint_cfg.registrar.challenge_algorithms = cfg.digest_algorithms.clone();
        endpoint_cfg.registrar.nonce_secret.get_or_insert_with(|| {
            let mut secret = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut secret);
            secret
        });
        let mut ep = Endpoint::new(endpoint_cfg, cfg.seed, Instant::now());
        let mut writers: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>> = HashMap::new();
        let mut ledger = UdpLedger::default();
        let mut batch = Vec::with_capacity(64);
        let mut commands = Vec::with_capacity(64);
        let mut commands_open = true;
        let mut backlog: std::collections::VecDeque<EndpointEvent> =
            std::collections::VecDeque::new();
        loop {
            let deadline = ep.poll_timeout();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                n = in_rx.recv_many(&mut batch, 64) => {
                    if n == 0 { break; }
                    let now = Instant::now();
                    for item in batch.drain(..) {
                        match item {
                            Inbound::Datagram(src, data) => {
                                stats2.received.fetch_add(1, Ordering::Relaxed);
                                ledger.handle_received(now, src, data.len());
                                ep.handle_datagram(now, src, &data, &*directory);
                            }
                            Inbound::Stream(src, data) => {
                                stats2.received.fetch_add(1, Ordering::Relaxed);
                                let _ = ep.handle_stream(now, src, &data, &*directory);
                            }
                            Inbound::TcpOpen(peer, w) => { writers.insert(peer, w); }
                            Inbound::TcpClosed(peer) => { writers.remove(&peer); }
                        }
                    }
                }
                n = cmd_rx.recv_many(&mut commands, 64), if commands_open => {
                    // Nobody left to give commands: the stack still answers on its own.
                    commands_open = n > 0;
                    let now = Instant::now();
                    for cmd in commands.drain(..) {
                        match cmd {
                            SipCommand::Respond { txn, code, reason, headers, body } => {
                                let h: Vec<(&str, &str)> = headers.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
                                ep.respond(now, txn, code, &reason, &h, &body);
                            }
                            SipCommand::Invite(invite) => ep.invite(now, *invite),
                            SipCommand::EndLeg(leg) => ep.end_leg(now, leg),
                            SipCommand::HangupCaller(txn) => ep.hangup_caller(now, txn),
                        }
                    }
                }
                _ = sleep => ep.handle_timeout(Instant::now()),
                permit = ev_tx.reserve(), if !backlog.is_empty() => {
                    match permit {
                        Ok(permit) => {
                            if let Some(e) = backlog.pop_front() {
                                permit.send(e);
                            }
                        }
                        Err(_) => backlog.clear(),
                    }
                }
                _ = shutdown.changed() => break,
            }
            transmit(
                &mut ep,
                &udp,
                &mut writers,
                &mut ledger,
                connect.as_ref(),
                &stats2,
            );
            while let Some(e) = ep.poll_event() {
                // Events of calls already accepted wait in the backlog when the bridge is
                // behind (never dropped); a new INVITE is shed with 480 instead.
                let e = if backlog.is_empty() {
                    match ev_tx.try_send(e) {
                        Ok(()) => continue,
                        Err(mpsc::error::TrySendError::Full(e)) => e,
                        Err(mpsc::error::TrySendError::Closed(e)) => e,
                    }
                } else {
                    e
                };
                match e {
                    EndpointEvent::Invite { txn, .. } => {
                        ep.respond(
                            Instant::now(),
                            txn,
                            480,
                            "Temporarily Unavailable",
                            &[],
                            b"",
                        );
                        transmit(
                            &mut ep,
                            &udp,
                            &mut writers,
                            &mut ledger,
                            connect.as_ref(),
                            &stats2,
                        );
                    }
                    other if !ev_tx.is_closed() => backlog.push_back(other),
                    _ => {}
                }
            }
        }
        udp_rx_task.abort();
        if let Some(t) = tcp_task {
            t.abort();
        }
    });
    Ok(SipHandle {
        local_addr,
        contact,
        events: ev_rx,
        commands: cmd_tx,
        stats,
        join,
    })
}

fn bind_udp(addr: SocketAddr, buffer: usize) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: a smaller kernel limit is not an error.
    let _ = s.set_recv_buffer_size(buffer);
    let _ = s.set_send_buffer_size(buffer);
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

/// Sends everything the endpoint has queued. The endpoint task never waits on a socket: a
/// full UDP buffer drops like the network would, and the peer retransmits.
fn transmit(
    ep: &mut Endpoint,
    udp: &UdpSocket,
    writers: &mut HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
    ledger: &mut UdpLedger,
    connect: Option<&Connector>,
    stats: &SipStats,
) {
    while let Some(t) = ep.poll_transmit() {
        match t.transport {
            Transport::Udp => {
                // A response (and its retransmissions) only within what its address sent.
                if t.bytes.starts_with(b"SIP/2.0 ") && !ledger.handle_response(t.to, t.bytes.len())
                {
                    stats.dropped_amplification.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                stats.sent.fetch_add(1, Ordering::Relaxed);
                let _ = udp.try_send_to(&t.bytes, t.to);
            }
            Transport::Tcp => {
                stats.sent.fetch_add(1, Ordering::Relaxed);
                send_tcp(writers, connect, t.to, t.bytes)
            }
        }
    }
}

/// UDP responses to an address may total at most this many times the bytes received from it
/// (issue 13 M5: a source address is spoofable, and one 267-byte INVITE never ACKed drew
/// 9,761 bytes of responses and retransmissions). Real requests carry SDP or credentials and
/// are answered well within it; a response over the credit is dropped as the network would
/// drop it (the transaction layer still retransmits or times out as usual).
pub const UDP_AMPLIFICATION: usize = 4;
/// The most credit one address can hold (bytes).
const UDP_CREDIT_CAP: usize = 64 * 1024;
/// An address that sent nothing for this long is forgotten (its responses' retransmissions
/// end within 64·T1 = 32 s).
const UDP_LEDGER_IDLE: Duration = Duration::from_secs(64);
/// Addresses remembered at most; when full, stale ones are swept (at most once a second) and
/// a new address is not recorded, so nothing is sent to it (fail closed under a flood).
const UDP_LEDGER_MAX: usize = 65_536;

/// Per-address response credit for UDP (anti-amplification, like QUIC's limit before address
/// validation). Requests acd sends itself are not limited.
#[derive(Default)]
struct UdpLedger {
    credit: HashMap<SocketAddr, (usize, Instant)>,
    last_sweep: Option<Instant>,
}

impl UdpLedger {
    fn handle_received(&mut self, now: Instant, src: SocketAddr, len: usize) {
        if self.credit.len() >= UDP_LEDGER_MAX && !self.credit.contains_key(&src) {
            if self
                .last_sweep
                .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1))
            {
                self.last_sweep = Some(now);
                self.credit
                    .retain(|_, (_, seen)| now.saturating_duration_since(*seen) < UDP_LEDGER_IDLE);
            }
            if self.credit.len() >= UDP_LEDGER_MAX {
                return;
            }
        }
        let e = self.credit.entry(src).or_insert((0, now));
        if now.saturating_duration_since(e.1) >= UDP_LEDGER_IDLE {
            e.0 = 0;
        }
        e.0 =
            e.0.saturating_add(len.saturating_mul(UDP_AMPLIFICATION))
                .min(UDP_CREDIT_CAP);
        e.1 = now;
    }

    /// Spends `len` bytes of `to`'s credit; false (send nothing) when it has not that much.
    fn handle_response(&mut self, to: SocketAddr, len: usize) -> bool {
        match self.credit.get_mut(&to) {
            Some((credit, _)) if *credit >= len => {
                *credit -= len;
                true
            }
            _ => false,
        }
    }
}

/// The queue of bytes to write on one TCP connection: the endpoint's end and the writer's.
type WriterQueue = (mpsc::Sender<Vec<u8>>, mpsc::Receiver<Vec<u8>>);

/// What the endpoint task needs to open a TCP connection itself.
struct Connector {
    in_tx: mpsc::Sender<Inbound>,
    retry_after: String,
    stats: Arc<SipStats>,
    limits: TcpLimits,
}

/// Sends `bytes` over the TCP connection to `to`; with none (a phone whose Contact asks for
/// TCP, or whose connection closed), opens one (RFC 3261 §18.1.1) and queues the bytes for
/// it. If the connection cannot be made the bytes are lost and the transaction times out,
/// as over a lossy network.
fn send_tcp(
    writers: &mut HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
    connect: Option<&Connector>,
    to: SocketAddr,
    bytes: Vec<u8>,
) {
    if let Some(w) = writers.get(&to) {
        let _ = w.try_send(bytes);
        return;
    }
    let Some(c) = connect else { return };
    let (w_tx, w_rx) = mpsc::channel::<Vec<u8>>(256);
    let _ = w_tx.try_send(bytes);
    writers.insert(to, w_tx.clone());
    let (in_tx, retry_after, stats) = (c.in_tx.clone(), c.retry_after.clone(), c.stats.clone());
    let limits = c.limits;
    tokio::spawn(async move {
        let stream =
            tokio::time::timeout(std::time::Duration::from_secs(5), TcpStream::connect(to)).await;
        match stream {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                tcp_conn(
                    stream,
                    to,
                    in_tx,
                    retry_after,
                    stats,
                    Some((w_tx, w_rx)),
                    limits,
                )
                .await;
            }
            _ => {
                tracing::debug!(peer = %to, "SIP TCP connection could not be opened");
                let _ = in_tx.send(Inbound::TcpClosed(to)).await;
            }
        }
    });
}

/// A cheap overload answer: if `data` is an INVITE request, the 503 to send back.
fn overload_503(data: &[u8], retry_after: &str) -> Option<Vec<u8>> {
    if !data.starts_with(b"INVITE ") {
        return None;
    }
    let m = parse(data).ok()?;
    m.header(HeaderName::Via)?;
    Some(build_response(
        &m,
        503,
        "Service Unavailable",
        None,
        &[("Retry-After", retry_after)],
        b"",
    ))
}

/// The answer to a request on a stream whose framing failed: `413` when its Content-Length
/// is over [`MAX_MESSAGE`], `400` when it is not a number. Nothing for responses, or when the
/// header block itself cannot be read.
fn unframeable_response(buf: &[u8], e: ParseError) -> Option<Vec<u8>> {
    let (code, reason) = match e {
        ParseError::BodyTooLarge => (413, "Request Entity Too Large"),
        ParseError::BadFraming => (400, "Bad Request (Content-Length is not a number)"),
        _ => return None,
    };
    let m = parse_head(buf).ok()?;
    if !m.is_request() || m.header(HeaderName::Via).is_none() {
        return None;
    }
    Some(build_response(&m, code, reason, None, &[], b""))
}

/// Serves one TCP connection: frames what it reads for the endpoint, writes what the endpoint
/// sends to `peer`. `writer` is the queue the endpoint already writes to when acd opened the
/// connection itself; for an accepted connection a new one is announced with `TcpOpen`.
async fn tcp_conn(
    stream: TcpStream,
    peer: SocketAddr,
    in_tx: mpsc::Sender<Inbound>,
    retry_after: String,
    stats: Arc<SipStats>,
    writer: Option<WriterQueue>,
    limits: TcpLimits,
) {
    let (mut rd, mut wr) = stream.into_split();
    let (w_tx, mut w_rx) = match writer {
        Some(pair) => pair,
        None => {
            let (w_tx, w_rx) = mpsc::channel::<Vec<u8>>(256);
            if in_tx
                .send(Inbound::TcpOpen(peer, w_tx.clone()))
                .await
                .is_err()
            {
                return;
            }
            (w_tx, w_rx)
        }
    };
    let writer = tokio::spawn(async move {
        while let Some(b) = w_rx.recv().await {
            if wr.write_all(&b).await.is_err() {
                break;
            }
        }
    });
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 16384];
    // A first complete message must arrive by a fixed deadline (a connection that never
    // speaks SIP, or trickles bytes, must not hold a slot); after it, each read may wait
    // up to the idle limit.
    let mut first_deadline = Some(tokio::time::Instant::now() + limits.first_message);
    'conn: loop {
        let until = first_deadline.unwrap_or_else(|| tokio::time::Instant::now() + limits.idle);
        let n = match tokio::time::timeout_at(until, rd.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => n,
            Err(_) => {
                stats.tcp_timed_out.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(peer = %peer, first_message = first_deadline.is_some(), "SIP TCP connection timed out: closing it");
                break;
            }
        };
        buf.extend_from_slice(&chunk[..n]);
        loop {
            match frame_len(&buf) {
                Ok(len) => {
                    first_deadline = None;
                    let msg: Vec<u8> = buf.drain(..len).collect();
                    match in_tx.try_send(Inbound::Stream(peer, msg)) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(Inbound::Stream(_, msg))) => {
                            if let Some(resp) = overload_503(&msg, &retry_after) {
                                stats.rejected_overload.fetch_add(1, Ordering::Relaxed);
                                let _ = w_tx.try_send(resp);
                            } else {
                                stats.dropped_overload.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Err(_) => break 'conn,
                    }
                }
                Err(ParseError::Incomplete) if buf.len() < MAX_MESSAGE => break,
                // The parser never waits past the cap; should it, the buffer still stops here.
                Err(ParseError::Incomplete) => break 'conn,
                Err(ParseError::Empty) => {
                    buf.clear();
                    break;
                }
                // A stream that cannot be framed cannot be resynchronised: answer what can be
                // answered from the headers (RFC 3261 §18.3, §21.4.11), then close without
                // reading the rest.
                Err(e) => {
                    if let Some(resp) = unframeable_response(&buf, e) {
                        let _ = w_tx.send(resp).await;
                    }
                    tracing::debug!(peer = %peer, error = %e, "SIP TCP stream cannot be framed: closing it");
                    break 'conn;
                }
            }
        }
    }
    let _ = in_tx.send(Inbound::TcpClosed(peer)).await;
    drop(w_tx);
    let _ = writer.await;
}
