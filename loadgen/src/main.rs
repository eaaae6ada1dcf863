//! acd-loadgen: load generator for acd. Sends traffic to 127.0.0.1 only, bounded in count and
//! time, and reports latency percentiles from hdrhistogram.
//!
//! Subcommands:
//! - `admin-create`: durable agent creates with N concurrent clients (closed loop).
//! - `admin-get`: GETs at a fixed rate (open loop, latency from the scheduled send time).
//! - `toolbar-ingest`: durable chat ingest rate and ingest → offer-pushed latency with many
//!   agents connected over WebSocket.
//! - `rtp-bench`: relayed RTP calls through acd or rtpengine, stepping concurrent calls
//!   (see `loadgen/rtp_bench.sh`).

mod admin;
mod ng;
mod rtp_bench;
mod toolbar;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "acd-loadgen", version, about = "acd load generator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create agents over the admin API with N concurrent clients.
    AdminCreate(admin::CreateArgs),
    /// GET an admin API path at a fixed request rate.
    AdminGet(admin::GetArgs),
    /// Ingest chats with N agents connected over WebSocket: durable ingest rate and
    /// ingest → offer-pushed latency.
    ToolbarIngest(toolbar::IngestArgs),
    /// Relayed G.711 calls through acd or rtpengine at 50 packets/s per leg and direction,
    /// stepping concurrent calls: packets/s, loss, delay, the relay's CPU.
    RtpBench(rtp_bench::BenchArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Blocking clients and threads: run before (and without) the tokio runtime.
    let cli = match cli.command {
        Command::ToolbarIngest(args) => return toolbar::run(args),
        Command::RtpBench(args) => return rtp_bench::run(args),
        other => Cli { command: other },
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    match cli.command {
        Command::AdminCreate(args) => runtime.block_on(admin::create(args)),
        Command::AdminGet(args) => runtime.block_on(admin::get(args)),
        Command::ToolbarIngest(_) | Command::RtpBench(_) => {
            unreachable!("handled before the runtime starts")
        }
    }
}
