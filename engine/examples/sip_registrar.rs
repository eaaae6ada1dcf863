//! A standalone acd SIP registrar for load tests: `run_sip` with N synthetic agents
//! (extensions 1000001.., one shared SIP password), until Ctrl-C or `--seconds` elapse.
//!
//! cargo run --release -p acd-engine --example sip_registrar -- \
//!     --bind 127.0.0.1:5060 --agents 10000 --password pw --seconds 120
//!
//! Used by `loadgen/sipp/register_bench.sh`; prints the io counters when it stops.

use acd_engine::common::AgentId;
use acd_engine::model::{Codec, Nat};
use acd_engine::runtime::sip_io::{run_sip, SipConfig};
use acd_engine::sip::registrar::SipAgent;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut bind = "127.0.0.1:5060".to_owned();
    let mut agents = 10_000u64;
    let mut password = "pw".to_owned();
    let mut seconds = 3600u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().ok_or_else(|| format!("{a} needs a value"))?;
        match a.as_str() {
            "--bind" => bind = v,
            "--agents" => agents = v.parse()?,
            "--password" => password = v,
            "--seconds" => seconds = v.parse()?,
            _ => return Err(format!("unknown option {a}").into()),
        }
    }
    let dir: HashMap<String, SipAgent> = (0..agents)
        .map(|i| {
            let ext = (1_000_001 + i).to_string();
            let agent = SipAgent {
                id: AgentId(1_000_001 + i),
                extension: ext.clone(),
                sip_password: password.clone(),
                expires_max: 3600,
                nat: Nat::No,
                allowed_codecs: vec![Codec::Ulaw, Codec::Alaw],
                webrtc: false,
                enabled: true,
            };
            (ext, agent)
        })
        .collect();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let cfg = SipConfig {
        bind: bind.parse()?,
        ..SipConfig::default()
    };
    let mut h = run_sip(cfg, Arc::new(dir), stop_rx).await?;
    eprintln!(
        "acd sip_registrar listening on {} (udp+tcp), {agents} agents",
        h.local_addr
    );
    // Registration events would go to the routing core; here they are counted and dropped.
    let events = tokio::spawn(async move {
        let mut n = 0u64;
        while h.events.recv().await.is_some() {
            n += 1;
        }
        n
    });
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = tokio::time::sleep(std::time::Duration::from_secs(seconds)) => {}
    }
    let _ = stop_tx.send(true);
    let _ = h.join.await;
    let s = &h.stats;
    eprintln!(
        "received={} sent={} dropped_overload={} rejected_overload={} events={}",
        s.received.load(Ordering::Relaxed),
        s.sent.load(Ordering::Relaxed),
        s.dropped_overload.load(Ordering::Relaxed),
        s.rejected_overload.load(Ordering::Relaxed),
        events.await.unwrap_or(0)
    );
    Ok(())
}
