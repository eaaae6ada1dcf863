//! acd-loadgen: load generator for acd. Sends traffic to 127.0.0.1 only, bounded in count and
//! time, and reports latency percentiles from hdrhistogram.
//!
//! Subcommands:
//! - `admin-create`: durable agent creates with N concurrent clients (closed loop).
//! - `admin-get`: GETs at a fixed rate (open loop, latency from the scheduled send time).

mod admin;

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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    match cli.command {
        Command::AdminCreate(args) => runtime.block_on(admin::create(args)),
        Command::AdminGet(args) => runtime.block_on(admin::get(args)),
    }
}
