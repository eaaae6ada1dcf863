//! The media io layer: the shard threads, their UDP sockets and their clocks, around the
//! sans-IO [`Shard`].
//!
//! Owns: one thread per shard (`acd-media-N`), each with its own `mio` [`Poll`], the RTP and
//! RTCP sockets of the legs it owns, a bounded command queue fed by [`MediaHandle`] and woken
//! by a [`Waker`], and the per-shard counters. Does not own any media rule (relay, latching,
//! playback, DTMF, timeouts: all in [`crate::media::shard`]) nor the port pool (the call flow
//! allocates ports; the io layer only binds what it is told to open).
//!
//! Loop of a shard thread: wait for readiness or the shard's next timer; read the clock once;
//! apply queued commands (binding sockets for `Open`, closing them for `Release`); for each
//! readable socket, `recv_from` into one fixed buffer until `WouldBlock` or its turn of 64
//! datagrams is over (a socket left unfinished is read again next turn, so one flooded port
//! cannot starve the others), hand each datagram to the shard and send what it answers from the destination leg's socket; run due timers;
//! drain the shard's transmits and events. Nothing on the per-packet path allocates or locks:
//! the buffer is reused, the socket table is a map read in place, counters are relaxed atomics.
//!
//! Batched syscalls (`recvmmsg`/`sendmmsg`) are not used: each socket carries one call leg at
//! 50 packets/s (20 ms ptime), so a readiness event almost always finds one datagram and a
//! batch would hold one message; the cost per packet is the syscall pair either way.
//!
//! Events go to the SIP side through a bounded tokio channel with `try_send`: a full queue
//! drops the event and counts it, so a slow call flow never stalls the audio of other calls.

use crate::media::shard::{Shard, ShardConfig, Transmit};
use crate::media::{Command, Event, MediaLeg, ShardMap};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;
use thiserror::Error;
use tokio::sync::mpsc;

/// The largest datagram read; longer ones are truncated by the kernel (RTP over UDP stays
/// under the path MTU, 1,500 bytes on Ethernet).
const MAX_DATAGRAM: usize = 2048;
/// Readiness events handled per `poll` call.
const EVENTS_PER_POLL: usize = 1024;
/// Datagrams read from one socket before the others get their turn: a peer flooding one
/// port cannot keep the shard from every other leg. A socket left unfinished is read again
/// on the next turn of the loop (the poll is edge-triggered, so it would not fire again).
const READS_PER_TURN: usize = 64;
/// The waker's token; sockets use their port number as token, which never reaches it.
const WAKER: Token = Token(1 << 20);

/// Media io settings.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// Address the legs' sockets bind (the advertised IP is for SDP; this is local).
    pub bind_ip: IpAddr,
    /// Port-to-shard mapping of the call flow's [`crate::media::PortPool`]; one thread per
    /// shard.
    pub shards: ShardMap,
    /// Settings of every shard (each gets `seed + shard index` as its seed).
    pub shard: ShardConfig,
    /// Depth of each shard's command queue.
    pub command_depth: usize,
    /// Depth of the event queue toward the call flow.
    pub event_depth: usize,
}

/// Why the media plane could not start, or a command could not be queued.
#[derive(Debug, Error)]
pub enum MediaIoError {
    /// A shard's poller or waker could not be created.
    #[error("cannot create the media poller: {0}")]
    Poll(std::io::Error),
    /// A shard thread could not be started.
    #[error("cannot start a media thread: {0}")]
    Thread(std::io::Error),
    /// The shard's command queue is full: the shard is behind (the command is dropped).
    #[error("media shard {shard} is overloaded: its command queue is full")]
    Full {
        /// The shard.
        shard: usize,
    },
    /// The shard has stopped.
    #[error("media shard {shard} has stopped")]
    Stopped {
        /// The shard.
        shard: usize,
    },
}

/// Counters of one shard, written by its thread and read by anyone.
#[derive(Debug, Default)]
pub struct ShardCounters {
    /// Legs with bound sockets now.
    pub legs_open: AtomicU64,
    /// Datagrams received (RTP and RTCP).
    pub packets_in: AtomicU64,
    /// Datagrams sent on as the answer to a received one (relay).
    pub packets_relayed: AtomicU64,
    /// Datagrams the shard produced itself (playback, RTCP reports).
    pub packets_generated: AtomicU64,
    /// Datagrams that could not be sent (socket buffer full, destination leg gone).
    pub packets_dropped: AtomicU64,
    /// Events dropped because the call flow's queue was full.
    pub events_dropped: AtomicU64,
    /// Commands dropped because the shard's queue was full.
    pub commands_dropped: AtomicU64,
    /// Legs whose sockets could not be bound.
    pub open_failures: AtomicU64,
}

/// A copy of the counters (summed over shards, or of one shard).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaCounters {
    /// Legs with bound sockets now.
    pub legs_open: u64,
    /// Datagrams received.
    pub packets_in: u64,
    /// Datagrams relayed.
    pub packets_relayed: u64,
    /// Datagrams generated by the shards.
    pub packets_generated: u64,
    /// Datagrams not sent.
    pub packets_dropped: u64,
    /// Events dropped.
    pub events_dropped: u64,
    /// Commands dropped.
    pub commands_dropped: u64,
    /// Legs that failed to open.
    pub open_failures: u64,
}

impl ShardCounters {
    fn snapshot(&self) -> MediaCounters {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        MediaCounters {
            legs_open: r(&self.legs_open),
            packets_in: r(&self.packets_in),
            packets_relayed: r(&self.packets_relayed),
            packets_generated: r(&self.packets_generated),
            packets_dropped: r(&self.packets_dropped),
            events_dropped: r(&self.events_dropped),
            commands_dropped: r(&self.commands_dropped),
            open_failures: r(&self.open_failures),
        }
    }
}

impl std::ops::Add for MediaCounters {
    type Output = MediaCounters;
    fn add(self, o: MediaCounters) -> MediaCounters {
        MediaCounters {
            legs_open: self.legs_open + o.legs_open,
            packets_in: self.packets_in + o.packets_in,
            packets_relayed: self.packets_relayed + o.packets_relayed,
            packets_generated: self.packets_generated + o.packets_generated,
            packets_dropped: self.packets_dropped + o.packets_dropped,
            events_dropped: self.events_dropped + o.events_dropped,
            commands_dropped: self.commands_dropped + o.commands_dropped,
            open_failures: self.open_failures + o.open_failures,
        }
    }
}

/// What `GET /api/v1/stats/media` reports: port pool counts and calls (kept by the SIP
/// bridge, which sees every `Open`/`Release` the call flow sends) and legs open (kept by the
/// shards).
#[derive(Debug)]
pub struct MediaStats {
    /// RTP/RTCP port pairs in the pool.
    pub ports_total: AtomicU64,
    /// Port pairs not held by a leg.
    pub ports_free: AtomicU64,
    /// Calls the call flow carries.
    pub calls: AtomicU64,
    shards: Vec<Arc<ShardCounters>>,
}

/// A copy of [`MediaStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MediaStatsSnapshot {
    /// RTP/RTCP port pairs in the pool.
    pub ports_total: u64,
    /// Port pairs free.
    pub ports_free: u64,
    /// Legs with bound sockets.
    pub legs_open: u64,
    /// Calls carried.
    pub calls: u64,
}

impl MediaStats {
    /// Stats of a plane whose pool holds `ports_total` pairs, all free.
    pub fn new(ports_total: u64, shards: Vec<Arc<ShardCounters>>) -> MediaStats {
        MediaStats {
            ports_total: AtomicU64::new(ports_total),
            ports_free: AtomicU64::new(ports_total),
            calls: AtomicU64::new(0),
            shards,
        }
    }

    /// The numbers now.
    pub fn snapshot(&self) -> MediaStatsSnapshot {
        MediaStatsSnapshot {
            ports_total: self.ports_total.load(Ordering::Relaxed),
            ports_free: self.ports_free.load(Ordering::Relaxed),
            legs_open: self
                .shards
                .iter()
                .map(|c| c.legs_open.load(Ordering::Relaxed))
                .sum(),
            calls: self.calls.load(Ordering::Relaxed),
        }
    }
}

struct ShardLink {
    commands: Sender<Command>,
    waker: Arc<Waker>,
    counters: Arc<ShardCounters>,
}

/// Sends commands to the shard owning their leg. Cheap to clone; never blocks.
#[derive(Clone)]
pub struct MediaHandle {
    map: ShardMap,
    links: Arc<[ShardLink]>,
}

impl std::fmt::Debug for MediaHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaHandle")
            .field("shards", &self.links.len())
            .finish()
    }
}

impl MediaHandle {
    /// Queues `cmd` on the shard of `cmd.leg()` and wakes it. A full queue drops the command
    /// (and counts it): the caller must not wait on audio.
    pub fn send(&self, cmd: Command) -> Result<(), MediaIoError> {
        let shard = self.map.shard_of(cmd.leg());
        let link = &self.links[shard];
        match link.commands.try_send(cmd) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                link.counters
                    .commands_dropped
                    .fetch_add(1, Ordering::Relaxed);
                return Err(MediaIoError::Full { shard });
            }
            Err(TrySendError::Disconnected(_)) => return Err(MediaIoError::Stopped { shard }),
        }
        link.waker
            .wake()
            .map_err(|_| MediaIoError::Stopped { shard })
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.links.len()
    }

    /// One shard's counters.
    pub fn shard_counters(&self, shard: usize) -> Option<MediaCounters> {
        self.links.get(shard).map(|l| l.counters.snapshot())
    }

    /// Counters summed over the shards.
    pub fn counters(&self) -> MediaCounters {
        self.links
            .iter()
            .map(|l| l.counters.snapshot())
            .fold(MediaCounters::default(), |a, b| a + b)
    }

    /// The counters themselves, one per shard (for [`MediaStats`]).
    pub fn shard_counter_cells(&self) -> Vec<Arc<ShardCounters>> {
        self.links.iter().map(|l| l.counters.clone()).collect()
    }
}

/// The running shard threads.
pub struct MediaPlane {
    handle: MediaHandle,
    events: Option<mpsc::Receiver<Event>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl MediaPlane {
    /// Raises the open-files limit, then starts one thread per shard of `cfg.shards`.
    pub fn start(cfg: MediaConfig) -> Result<MediaPlane, MediaIoError> {
        raise_nofile_limit();
        let (event_tx, event_rx) = mpsc::channel(cfg.event_depth.max(1));
        let stop = Arc::new(AtomicBool::new(false));
        let mut links = Vec::with_capacity(cfg.shards.shards());
        let mut threads = Vec::with_capacity(cfg.shards.shards());
        let plane_stop = |threads: Vec<JoinHandle<()>>, links: &[ShardLink]| {
            stop.store(true, Ordering::Relaxed);
            for l in links {
                let _ = l.waker.wake();
            }
            for t in threads {
                let _ = t.join();
            }
        };
        for i in 0..cfg.shards.shards() {
            let started = (|| {
                let poll = Poll::new().map_err(MediaIoError::Poll)?;
                let waker =
                    Arc::new(Waker::new(poll.registry(), WAKER).map_err(MediaIoError::Poll)?);
                let (tx, rx) = crossbeam_channel::bounded(cfg.command_depth.max(1));
                let counters = Arc::new(ShardCounters::default());
                let mut shard_cfg = cfg.shard.clone();
                shard_cfg.seed = shard_cfg.seed.wrapping_add(i as u64);
                let io = ShardIo {
                    index: i,
                    bind_ip: cfg.bind_ip,
                    poll,
                    commands: rx,
                    events: event_tx.clone(),
                    counters: counters.clone(),
                    stop: stop.clone(),
                    sockets: HashMap::new(),
                };
                let thread = std::thread::Builder::new()
                    .name(format!("acd-media-{i}"))
                    .spawn(move || io.run(shard_cfg))
                    .map_err(MediaIoError::Thread)?;
                Ok::<_, MediaIoError>((
                    ShardLink {
                        commands: tx,
                        waker,
                        counters,
                    },
                    thread,
                ))
            })();
            match started {
                Ok((link, thread)) => {
                    links.push(link);
                    threads.push(thread);
                }
                Err(e) => {
                    plane_stop(threads, &links);
                    return Err(e);
                }
            }
        }
        tracing::debug!(shards = links.len(), "media shards started");
        Ok(MediaPlane {
            handle: MediaHandle {
                map: cfg.shards,
                links: links.into(),
            },
            events: Some(event_rx),
            stop,
            threads,
        })
    }

    /// A handle for sending commands.
    pub fn handle(&self) -> MediaHandle {
        self.handle.clone()
    }

    /// The events of every shard (once: the call flow's owner takes them).
    pub fn take_events(&mut self) -> Option<mpsc::Receiver<Event>> {
        self.events.take()
    }

    /// Stops the shard threads (their sockets close with them) and waits for them.
    pub fn shutdown(mut self) {
        self.stop_threads();
    }

    fn stop_threads(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for l in self.handle.links.iter() {
            let _ = l.waker.wake();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for MediaPlane {
    fn drop(&mut self) {
        self.stop_threads();
    }
}

/// Each leg holds two descriptors; thousands of calls need more than the usual soft limit
/// of 1,024, so take what the hard limit allows.
fn raise_nofile_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(
            limit,
            legs = limit / 2,
            "open files soft limit set to the hard limit (each media leg uses 2)"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open files limit"),
    }
}

/// The sockets of one leg.
struct LegSockets {
    rtp: UdpSocket,
    rtcp: UdpSocket,
}

/// What one shard thread owns.
struct ShardIo {
    index: usize,
    bind_ip: IpAddr,
    poll: Poll,
    commands: Receiver<Command>,
    events: mpsc::Sender<Event>,
    counters: Arc<ShardCounters>,
    stop: Arc<AtomicBool>,
    sockets: HashMap<u16, LegSockets>,
}

impl ShardIo {
    fn run(mut self, cfg: ShardConfig) {
        let mut now = Instant::now();
        let mut shard = Shard::new(cfg, now);
        let mut ready = Events::with_capacity(EVENTS_PER_POLL);
        // One buffer for every datagram in and out: nothing on the packet path allocates.
        let mut buf = [0u8; MAX_DATAGRAM];
        // Sockets that still had datagrams when their turn ended (two lists swapped each
        // turn, so nothing allocates once they have grown).
        let mut unfinished: Vec<u16> = Vec::with_capacity(EVENTS_PER_POLL);
        let mut resume: Vec<u16> = Vec::with_capacity(EVENTS_PER_POLL);
        loop {
            let timeout = if unfinished.is_empty() {
                shard
                    .poll_timeout()
                    .map(|t| t.saturating_duration_since(now))
            } else {
                Some(std::time::Duration::ZERO)
            };
            if let Err(e) = self.poll.poll(&mut ready, timeout) {
                if e.kind() != ErrorKind::Interrupted {
                    tracing::error!(shard = self.index, error = %e, "media poll failed; the shard stops");
                    break;
                }
            }
            now = Instant::now();
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            // Commands first (also when the wake was coalesced with socket readiness), so a
            // leg's sockets exist before its packets are looked up.
            while let Ok(cmd) = self.commands.try_recv() {
                self.handle_command(&mut shard, now, cmd);
            }
            std::mem::swap(&mut unfinished, &mut resume);
            for port in resume.drain(..) {
                if !self.read_socket(&mut shard, now, port, &mut buf) {
                    unfinished.push(port);
                }
            }
            for ev in ready.iter() {
                let token = ev.token();
                if token == WAKER || token.0 > u16::MAX as usize {
                    continue;
                }
                let port = token.0 as u16;
                if !unfinished.contains(&port) && !self.read_socket(&mut shard, now, port, &mut buf)
                {
                    unfinished.push(port);
                }
            }
            if shard.poll_timeout().is_some_and(|t| t <= now) {
                shard.handle_timeout(now);
            }
            while let Some(t) = shard.poll_transmit(&mut buf) {
                if self.send(t, &buf) {
                    self.counters
                        .packets_generated
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
            while let Some(ev) = shard.poll_event() {
                self.emit(ev);
            }
        }
        // The sockets close with `self`.
        self.counters.legs_open.store(0, Ordering::Relaxed);
    }

    fn handle_command(&mut self, shard: &mut Shard, now: Instant, cmd: Command) {
        match &cmd {
            Command::Open { leg, .. } => {
                if let Err(reason) = self.open(*leg) {
                    self.counters.open_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(shard = self.index, leg = leg.0, %reason, "media leg cannot open");
                    self.emit(Event::Failed { leg: *leg, reason });
                    return;
                }
            }
            Command::Release { leg } => self.close(*leg),
            _ => {}
        }
        shard.handle_command(now, cmd);
    }

    /// Binds RTP on the leg's port and RTCP on the next, and registers both.
    fn open(&mut self, leg: MediaLeg) -> Result<(), String> {
        if self.sockets.contains_key(&leg.0) {
            return Err(format!("port {} is already open", leg.0));
        }
        let bind = |port: u16| -> Result<UdpSocket, String> {
            let addr = SocketAddr::new(self.bind_ip, port);
            let s =
                std::net::UdpSocket::bind(addr).map_err(|e| format!("cannot bind {addr}: {e}"))?;
            s.set_nonblocking(true)
                .map_err(|e| format!("cannot make {addr} non-blocking: {e}"))?;
            Ok(UdpSocket::from_std(s))
        };
        let rtcp_port = leg
            .0
            .checked_add(1)
            .ok_or_else(|| format!("port {} has no RTCP port above it", leg.0))?;
        let mut rtp = bind(leg.0)?;
        let mut rtcp = bind(rtcp_port)?;
        let registry = self.poll.registry();
        registry
            .register(&mut rtp, Token(leg.0 as usize), Interest::READABLE)
            .map_err(|e| format!("cannot poll port {}: {e}", leg.0))?;
        if let Err(e) = registry.register(&mut rtcp, Token(rtcp_port as usize), Interest::READABLE)
        {
            let _ = registry.deregister(&mut rtp);
            return Err(format!("cannot poll port {rtcp_port}: {e}"));
        }
        self.sockets.insert(leg.0, LegSockets { rtp, rtcp });
        self.counters
            .legs_open
            .store(self.sockets.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn close(&mut self, leg: MediaLeg) {
        if let Some(mut s) = self.sockets.remove(&leg.0) {
            let _ = self.poll.registry().deregister(&mut s.rtp);
            let _ = self.poll.registry().deregister(&mut s.rtcp);
        }
        self.counters
            .legs_open
            .store(self.sockets.len() as u64, Ordering::Relaxed);
    }

    /// Reads the socket bound on `port` until it would block (true) or its turn of
    /// [`READS_PER_TURN`] datagrams is over (false: read it again next turn), relaying what
    /// the shard says.
    fn read_socket(&self, shard: &mut Shard, now: Instant, port: u16, buf: &mut [u8]) -> bool {
        // The RTP port is even: an odd token is the RTCP socket of the leg below it.
        let rtcp = port & 1 == 1;
        let leg = MediaLeg(if rtcp { port - 1 } else { port });
        let Some(sockets) = self.sockets.get(&leg.0) else {
            return true;
        };
        let socket = if rtcp { &sockets.rtcp } else { &sockets.rtp };
        for _ in 0..READS_PER_TURN {
            let (len, from) = match socket.recv_from(buf) {
                Ok(r) => r,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // An ICMP error from an earlier send (port unreachable) surfaces here on
                // some systems; it concerns one datagram, not the socket.
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => continue,
                Err(e) => {
                    tracing::debug!(port, error = %e, "media receive failed");
                    return true;
                }
            };
            self.counters.packets_in.fetch_add(1, Ordering::Relaxed);
            if let Some(t) = shard.handle_packet(now, leg, rtcp, from, buf, len) {
                if self.send(t, buf) {
                    self.counters
                        .packets_relayed
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        false
    }

    /// Sends `buf[..t.len]` from `t.leg`'s socket; false (and counted) when it could not.
    fn send(&self, t: Transmit, buf: &[u8]) -> bool {
        let sent = self.sockets.get(&t.leg.0).is_some_and(|s| {
            let socket = if t.rtcp { &s.rtcp } else { &s.rtp };
            let len = t.len.min(buf.len());
            socket.send_to(&buf[..len], t.to).is_ok()
        });
        if !sent {
            self.counters
                .packets_dropped
                .fetch_add(1, Ordering::Relaxed);
        }
        sent
    }

    fn emit(&self, ev: Event) {
        if self.events.try_send(ev).is_err() {
            self.counters.events_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}
