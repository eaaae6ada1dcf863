//! `rtp-bench`: relayed G.711 calls through acd or rtpengine, stepping the number of
//! concurrent calls; per step: relayed packets/s, loss, one-way delay p50/p99 through the
//! relay, the relay's CPU (% of one core, from /proc/PID/stat) and µs of CPU per relayed
//! packet.
//!
//! Owns call set-up for both relays (acd: SIP through its queue with registered agents;
//! rtpengine: ng offer/answer), the paced senders (50 packets/s per leg and direction, each
//! call in its own 1 ms slot of the 20 ms period so the load is smooth), the receiver (mio
//! poll over every leg's socket) and the report. Every packet carries a [`Stamp`] (stream
//! id and send time), so loss and delay need no per-packet table and survive the relay's
//! rewriting of SSRC and sequence numbers. Only 127.0.0.1 is used; each step is bounded.

use acd_loadgen::rtp::{self, Stamp, HEADER, STAMP_LEN};
use acd_loadgen::sipua::{sdp_body, Dialog, Sdp, SipUa};
use acd_loadgen::tone::{Law, Tone, FRAME};
use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use mio::{Events, Interest, Poll, Token};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Which relay to measure.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Relay {
    /// acd: calls through SIP (a queue DID, registered agents).
    Acd,
    /// rtpengine: calls through the ng protocol.
    Rtpengine,
}

/// `rtp-bench` options.
#[derive(clap::Args)]
pub(crate) struct BenchArgs {
    /// The relay under test.
    #[arg(long, value_enum)]
    relay: Relay,
    /// The relay's process id (its CPU is read from /proc/PID/stat).
    #[arg(long)]
    pid: u32,
    /// Concurrent calls per step, comma-separated (at most 5,000).
    #[arg(long, default_value = "250,500,1000,1500,2000,3000")]
    steps: String,
    /// Seconds measured per step (at most 120).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seconds streamed before each measurement (not counted).
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Sender threads.
    #[arg(long, default_value_t = 1)]
    senders: usize,
    /// acd: its SIP address.
    #[arg(long, default_value = "127.0.0.1:5060")]
    sip: SocketAddr,
    /// acd: admin API base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    admin_url: String,
    /// acd: admin bearer token.
    #[arg(long, env = "ACD_ADMIN_TOKEN", default_value = "")]
    token: String,
    /// rtpengine: its ng listener.
    #[arg(long, default_value = "127.0.0.1:2223")]
    ng: SocketAddr,
    /// Print one TSV header line before the rows (the script passes it for the first relay).
    #[arg(long)]
    header: bool,
    /// Set the calls up but stream nothing: the relay's cost of idle allocated legs (its
    /// CPU over the window and its resident memory).
    #[arg(long)]
    idle: bool,
}

/// One relayed call: the two loadgen sockets and where each sends.
struct Call {
    caller: UdpSocket,
    caller_to: SocketAddr,
    agent: UdpSocket,
    agent_to: SocketAddr,
}

fn local(addr: SocketAddr, what: &str) -> anyhow::Result<()> {
    if addr.ip() != IpAddr::from([127, 0, 0, 1]) {
        bail!("{what} {addr} is not on 127.0.0.1: load is only sent to this machine");
    }
    Ok(())
}

fn bind() -> anyhow::Result<UdpSocket> {
    let s = rtp::bind_even([127, 0, 0, 1].into())?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// CPU ticks (utime + stime) of a process.
/// Resident memory of `pid` in KiB (VmRSS), 0 when unreadable.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("read /proc/{pid}/stat (is the relay running?)"))?;
    // Fields after the command name (which may contain spaces) start at ") ".
    let rest = stat.rsplit_once(") ").context("odd /proc stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = f.get(11).context("utime")?.parse()?;
    let stime: u64 = f.get(12).context("stime")?.parse()?;
    Ok(utime + stime)
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Set-up for acd: a queue on a DID, `agents` registered agents (one SIP socket as every
/// agent's Contact), and a thread answering acd's INVITEs.
struct AcdSide {
    caller: SipUa,
    dialogs: Vec<Dialog>,
    answered: Arc<Mutex<Vec<(UdpSocket, SocketAddr)>>>,
    stop: Arc<AtomicBool>,
    answerer: Option<std::thread::JoinHandle<anyhow::Result<SipUa>>>,
    number: String,
}

const DID: &str = "4629000";

impl AcdSide {
    fn new(args: &BenchArgs, agents: usize) -> anyhow::Result<AcdSide> {
        local(args.sip, "--sip")?;
        if !args.admin_url.starts_with("http://127.0.0.1:") {
            bail!("--admin-url must be http://127.0.0.1:PORT");
        }
        let http = reqwest::blocking::Client::new();
        let post = |path: &str, body: serde_json::Value| -> anyhow::Result<serde_json::Value> {
            let r = http
                .post(format!("{}{path}", args.admin_url))
                .bearer_auth(&args.token)
                .json(&body)
                .send()?;
            let status = r.status();
            let v: serde_json::Value = r.json().unwrap_or_default();
            if !status.is_success() {
                bail!("POST {path}: {status} {v}");
            }
            Ok(v)
        };
        let q = post(
            "/api/v1/queues",
            serde_json::json!({"name": "rtp-bench", "wrap_up_seconds": 0,
                               "reject_delay_seconds": 0, "max_wait_seconds": 3600}),
        )
        .or_else(|_| {
            post(
                "/api/v1/queues",
                serde_json::json!({"name": "rtp-bench", "wrap_up_seconds": 0,
                                   "reject_delay_seconds": 0}),
            )
        })?;
        let q = q["id"].as_u64().context("queue id")?;
        post(
            "/api/v1/numbers",
            serde_json::json!({"number": DID, "target": {"type": "queue", "queue": q}}),
        )?;
        let mut agent_ua = SipUa::bind([127, 0, 0, 1].into(), args.sip)?;
        let started = Instant::now();
        for i in 0..agents {
            let a = post(
                "/api/v1/agents",
                serde_json::json!({"username": format!("rtpbench{i}"), "first_name": "Rtp",
                                   "last_name": "Bench", "typology": "sip_phone"}),
            )?;
            let id = a["id"].as_u64().context("agent id")?;
            let r = http
                .put(format!("{}/api/v1/queues/{q}/members/{id}", args.admin_url))
                .bearer_auth(&args.token)
                .json(&serde_json::json!({"penalty": 0}))
                .send()?;
            if !r.status().is_success() {
                bail!("membership: {}", r.status());
            }
            let ext = a["extension"].as_str().context("extension")?;
            let pw = a["sip_password"].as_str().context("sip_password")?;
            agent_ua
                .register(ext, pw, 3600, "")
                .with_context(|| format!("register agent {i}"))?;
        }
        eprintln!(
            "acd: {agents} agents created and registered in {:.1}s",
            started.elapsed().as_secs_f64()
        );
        let answered = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let answerer = {
            let (answered, stop) = (answered.clone(), stop.clone());
            std::thread::spawn(move || -> anyhow::Result<SipUa> {
                while !stop.load(Ordering::Relaxed) {
                    let inc = match agent_ua.wait_invite(Duration::from_millis(100)) {
                        Ok(i) => i,
                        Err(acd_loadgen::sipua::SipError::Timeout(_)) => continue,
                        Err(e) => return Err(e.into()),
                    };
                    let offer = inc.offer.clone().context("INVITE without SDP")?;
                    let to = offer.rtp_addr();
                    local(to, "acd's agent-leg SDP address")?;
                    let sock = bind()?;
                    let sdp = sdp_body(
                        [127, 0, 0, 1].into(),
                        sock.local_addr()?.port(),
                        &[Law::Pcmu],
                        "sendrecv",
                        1,
                    );
                    agent_ua.answer(&inc, &sdp)?;
                    answered.lock().unwrap().push((sock, to));
                }
                Ok(agent_ua)
            })
        };
        Ok(AcdSide {
            caller: SipUa::bind([127, 0, 0, 1].into(), args.sip)?,
            dialogs: Vec::new(),
            answered,
            stop,
            answerer: Some(answerer),
            number: DID.to_owned(),
        })
    }

    /// Places calls until `total` are up; returns the new ones.
    fn grow(&mut self, total: usize) -> anyhow::Result<Vec<Call>> {
        let mut callers = Vec::new();
        while self.dialogs.len() < total {
            let sock = bind()?;
            let sdp = sdp_body(
                [127, 0, 0, 1].into(),
                sock.local_addr()?.port(),
                &[Law::Pcmu],
                "sendrecv",
                1,
            );
            let placed = self
                .caller
                .invite(&self.number, "bench", &sdp, Duration::from_secs(10))
                .with_context(|| format!("call {}", self.dialogs.len()))?;
            let to = placed
                .dialog
                .remote_sdp
                .as_ref()
                .map(Sdp::rtp_addr)
                .context("200 without SDP")?;
            local(to, "acd's caller-leg SDP address")?;
            callers.push((sock, to));
            self.dialogs.push(placed.dialog);
        }
        let want = callers.len();
        let deadline = Instant::now() + Duration::from_secs(60);
        let agents = loop {
            {
                let mut a = self.answered.lock().unwrap();
                if a.len() >= want {
                    break a.drain(..want).collect::<Vec<_>>();
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "only {} of {want} agent legs answered within 60 s",
                    self.answered.lock().unwrap().len()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Ok(callers
            .into_iter()
            .zip(agents)
            .map(|((caller, caller_to), (agent, agent_to))| Call {
                caller,
                caller_to,
                agent,
                agent_to,
            })
            .collect())
    }

    fn finish(mut self) -> anyhow::Result<()> {
        let mut failed = 0;
        for d in &mut self.dialogs {
            if self.caller.bye(d).map(|c| c != 200).unwrap_or(true) {
                failed += 1;
            }
        }
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.answerer.take() {
            t.join()
                .map_err(|_| anyhow::anyhow!("answerer panicked"))??;
        }
        if failed > 0 {
            eprintln!("acd: {failed} BYEs not answered 200");
        }
        Ok(())
    }
}

/// Set-up for rtpengine: offer/answer over ng per call.
struct RtpengineSide {
    ng: crate::ng::NgClient,
    calls: usize,
}

impl RtpengineSide {
    fn grow(&mut self, total: usize) -> anyhow::Result<Vec<Call>> {
        let mut out = Vec::new();
        while self.calls < total {
            let i = self.calls;
            let (caller, agent) = (bind()?, bind()?);
            let lo: IpAddr = [127, 0, 0, 1].into();
            let c_sdp = sdp_body(lo, caller.local_addr()?.port(), &[Law::Pcmu], "sendrecv", 1);
            let a_sdp = sdp_body(lo, agent.local_addr()?.port(), &[Law::Pcmu], "sendrecv", 1);
            let (cid, ft, tt) = (format!("bench{i}"), format!("f{i}"), format!("t{i}"));
            let to_agent = self.ng.offer(&cid, &ft, &c_sdp)?;
            let to_caller = self.ng.answer(&cid, &ft, &tt, &a_sdp)?;
            // The offer's result is what the agent is told: where the agent sends.
            let agent_to = Sdp::parse(to_agent.as_bytes())?.rtp_addr();
            let caller_to = Sdp::parse(to_caller.as_bytes())?.rtp_addr();
            local(agent_to, "rtpengine's SDP address")?;
            local(caller_to, "rtpengine's SDP address")?;
            out.push(Call {
                caller,
                caller_to,
                agent,
                agent_to,
            });
            self.calls += 1;
        }
        Ok(out)
    }

    fn finish(mut self) -> anyhow::Result<()> {
        for i in 0..self.calls {
            self.ng.delete(&format!("bench{i}"), &format!("f{i}"))?;
        }
        Ok(())
    }
}

/// Counters shared by senders, receiver and the main thread.
struct Shared {
    epoch: Instant,
    /// Measurement window [start, end) in ns since `epoch`; packets *sent* in it count.
    window: (AtomicU64, AtomicU64),
    sent: AtomicU64,
    received: AtomicU64,
    foreign: AtomicU64,
    hist: Mutex<Histogram<u64>>,
    stop: AtomicBool,
}

impl Shared {
    fn in_window(&self, ns: u64) -> bool {
        ns >= self.window.0.load(Ordering::Relaxed) && ns < self.window.1.load(Ordering::Relaxed)
    }
}

/// One stream a sender owns: socket (shared with the receiver via the fd), target, state.
struct Stream {
    socket: UdpSocket,
    to: SocketAddr,
    id: u32,
    seq: u16,
    ts: u32,
}

/// `streams[slot]`: the streams sending in that 1 ms slot of the 20 ms period.
fn sender(streams: Arc<Mutex<Vec<Vec<Stream>>>>, shared: Arc<Shared>) {
    let mut buf = [0u8; HEADER + FRAME];
    let mut payload = [0u8; FRAME];
    Tone::new(1000.0, 0.3).fill(Law::Pcmu, &mut payload);
    let tick = Duration::from_millis(1);
    let mut next = Instant::now();
    let mut slot = 0u32;
    while !shared.stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        next += tick;
        // Late slots are caught up (a short burst); only a stall of more than 100 ms (the
        // box overloaded) is skipped, and shows as a lower sent_pps.
        if Instant::now() > next + Duration::from_millis(100) {
            next = Instant::now();
        }
        let mut streams = streams.lock().unwrap();
        for s in streams[slot as usize].iter_mut() {
            let ns = shared.epoch.elapsed().as_nanos() as u64;
            Stamp {
                stream: s.id,
                sent_ns: ns,
            }
            .write(&mut payload[..STAMP_LEN]);
            let Some(n) = rtp::write_packet(&mut buf, false, 0, s.seq, s.ts, s.id, &payload) else {
                continue;
            };
            s.seq = s.seq.wrapping_add(1);
            s.ts = s.ts.wrapping_add(FRAME as u32);
            if s.socket.send_to(&buf[..n], s.to).is_ok() && shared.in_window(ns) {
                shared.sent.fetch_add(1, Ordering::Relaxed);
            }
        }
        drop(streams);
        slot = (slot + 1) % 20;
    }
}

fn receiver(new: mpsc::Receiver<mio::net::UdpSocket>, shared: Arc<Shared>) -> anyhow::Result<()> {
    let mut poll = Poll::new()?;
    let mut sockets: Vec<mio::net::UdpSocket> = Vec::new();
    let mut events = Events::with_capacity(1024);
    let mut buf = [0u8; 2048];
    while !shared.stop.load(Ordering::Relaxed) {
        while let Ok(mut s) = new.try_recv() {
            poll.registry()
                .register(&mut s, Token(sockets.len()), Interest::READABLE)?;
            sockets.push(s);
        }
        if poll
            .poll(&mut events, Some(Duration::from_millis(20)))
            .is_err()
        {
            continue;
        }
        let mut hist = shared.hist.lock().unwrap();
        for ev in events.iter() {
            let Some(sock) = sockets.get(ev.token().0) else {
                continue;
            };
            loop {
                let n = match sock.recv(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => continue,
                };
                let now = shared.epoch.elapsed().as_nanos() as u64;
                let stamp = rtp::parse(&buf[..n])
                    .and_then(|h| Stamp::read(&buf[h.payload_start..h.payload_end]));
                let Some(st) = stamp else {
                    shared.foreign.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                if shared.in_window(st.sent_ns) {
                    shared.received.fetch_add(1, Ordering::Relaxed);
                    let us = now.saturating_sub(st.sent_ns) / 1000;
                    let _ = hist.record(us.max(1));
                }
            }
        }
    }
    Ok(())
}

/// Runs the bench: prints one TSV row per step on stdout.
pub(crate) fn run(args: BenchArgs) -> anyhow::Result<()> {
    let steps: Vec<usize> = args
        .steps
        .split([',', ' '])
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().context("--steps: numbers separated by commas"))
        .collect::<anyhow::Result<_>>()?;
    let max = *steps.iter().max().context("--steps is empty")?;
    if max > 5000 || args.seconds > 120 || args.warmup > 60 {
        bail!("bounded run: at most 5000 calls, --seconds 120, --warmup 60");
    }
    local(args.ng, "--ng")?;
    let hz = clock_ticks();
    let relay_name = match args.relay {
        Relay::Acd => "acd",
        Relay::Rtpengine => "rtpengine",
    };
    let mut acd = None;
    let mut rtpe = None;
    match args.relay {
        Relay::Acd => acd = Some(AcdSide::new(&args, max)?),
        Relay::Rtpengine => {
            rtpe = Some(RtpengineSide {
                ng: crate::ng::NgClient::new(args.ng)?,
                calls: 0,
            })
        }
    }
    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        window: (AtomicU64::new(u64::MAX), AtomicU64::new(u64::MAX)),
        sent: AtomicU64::new(0),
        received: AtomicU64::new(0),
        foreign: AtomicU64::new(0),
        hist: Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3)?),
        stop: AtomicBool::new(false),
    });
    let senders: Vec<Arc<Mutex<Vec<Vec<Stream>>>>> = (0..args.senders.max(1))
        .map(|_| Arc::new(Mutex::new((0..20).map(|_| Vec::new()).collect())))
        .collect();
    let mut threads = Vec::new();
    for s in &senders {
        let (s, sh) = (s.clone(), shared.clone());
        threads.push(std::thread::spawn(move || sender(s, sh)));
    }
    let (to_receiver, new_sockets) = mpsc::channel();
    let rx_thread = {
        let sh = shared.clone();
        std::thread::spawn(move || receiver(new_sockets, sh))
    };
    if args.header {
        println!("relay\tcalls\tsent_pps\trelayed_pps\tloss_pct\tdelay_p50_us\tdelay_p99_us\tdelay_max_us\trelay_cpu_pct\tcpu_us_per_pkt\tloadgen_cpu_pct\tforeign_pkts\trelay_rss_kib");
    }
    let self_pid = std::process::id();
    let mut streams = 0u32;
    let mut idle_calls: Vec<Call> = Vec::new();
    for &n in &steps {
        let set_up = Instant::now();
        let calls = match (&mut acd, &mut rtpe) {
            (Some(a), _) => a.grow(n)?,
            (_, Some(r)) => r.grow(n)?,
            _ => unreachable!("one relay"),
        };
        eprintln!(
            "{relay_name}: {} new calls set up in {:.1}s ({n} in all)",
            calls.len(),
            set_up.elapsed().as_secs_f64()
        );
        if args.idle {
            // Keep the sockets open (the legs stay allocated) but send nothing.
            idle_calls.extend(calls);
        } else {
            for c in calls {
                for (sock, to) in [(c.caller, c.caller_to), (c.agent, c.agent_to)] {
                    to_receiver
                        .send(mio::net::UdpSocket::from_std(sock.try_clone()?))
                        .map_err(|_| anyhow::anyhow!("the receiver stopped"))?;
                    let slot = streams % 20;
                    let stream = Stream {
                        socket: sock,
                        to,
                        id: streams,
                        seq: streams as u16,
                        ts: streams.wrapping_mul(7919),
                    };
                    senders[streams as usize % senders.len()].lock().unwrap()[slot as usize]
                        .push(stream);
                    streams += 1;
                }
            }
        }
        std::thread::sleep(Duration::from_secs(args.warmup));
        shared.sent.store(0, Ordering::Relaxed);
        shared.received.store(0, Ordering::Relaxed);
        shared.foreign.store(0, Ordering::Relaxed);
        shared.hist.lock().unwrap().reset();
        let t0 = shared.epoch.elapsed().as_nanos() as u64;
        let (cpu0, self0) = (cpu_ticks(args.pid)?, cpu_ticks(self_pid)?);
        shared.window.1.store(u64::MAX, Ordering::Relaxed);
        shared.window.0.store(t0, Ordering::Relaxed);
        let started = Instant::now();
        std::thread::sleep(Duration::from_secs(args.seconds));
        let t1 = shared.epoch.elapsed().as_nanos() as u64;
        shared.window.1.store(t1, Ordering::Relaxed);
        let wall = started.elapsed().as_secs_f64();
        let (cpu1, self1) = (cpu_ticks(args.pid)?, cpu_ticks(self_pid)?);
        // Let packets sent just before the end of the window arrive: a packet still missing
        // 2 s after the window is lost (an overloaded relay queues for seconds; see p99).
        std::thread::sleep(Duration::from_secs(2));
        let sent = shared.sent.load(Ordering::Relaxed);
        let received = shared.received.load(Ordering::Relaxed);
        let hist = shared.hist.lock().unwrap().clone();
        let cpu_s = (cpu1 - cpu0) as f64 / hz;
        let loss = if sent > 0 {
            100.0 * (sent.saturating_sub(received)) as f64 / sent as f64
        } else {
            100.0
        };
        let us_per_pkt = if received > 0 {
            cpu_s * 1e6 / received as f64
        } else {
            f64::NAN
        };
        println!(
            "{relay_name}\t{n}\t{:.0}\t{:.0}\t{loss:.3}\t{}\t{}\t{}\t{:.1}\t{us_per_pkt:.2}\t{:.1}\t{}\t{}",
            sent as f64 / wall,
            received as f64 / wall,
            hist.value_at_quantile(0.5),
            hist.value_at_quantile(0.99),
            hist.max(),
            100.0 * cpu_s / wall,
            100.0 * (self1 - self0) as f64 / hz / wall,
            shared.foreign.load(Ordering::Relaxed),
            rss_kib(args.pid),
        );
    }
    shared.stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    rx_thread
        .join()
        .map_err(|_| anyhow::anyhow!("receiver panicked"))??;
    drop(idle_calls);
    match (acd, rtpe) {
        (Some(a), _) => a.finish()?,
        (_, Some(r)) => r.finish()?,
        _ => {}
    }
    Ok(())
}
