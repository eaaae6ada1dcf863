//! The `acd` binary: `acd serve` runs the engine with the admin sidecar mounted; `acd config`
//! prints the effective configuration.
//!
//! Thin on purpose: settings come from `acd_engine::config` (flags are generated from its
//! settings table), everything that runs is started by `acd_engine::runtime::engine::Engine`,
//! and the HTTP front ends come from this crate's library. Owns: process concerns
//! only (argument parsing, logging set-up, OS signals, exit codes and the start-up lines on
//! stdout that scripts and tests parse).

use acd_engine::admin::{Admin, AdminOptions};
use acd_engine::config::{Config, Origin, SETTINGS};
use acd_engine::runtime::engine::{Engine, EngineConfig};
use acd_engine::store::{SledStore, Store};
use acd_sidecar::api::AppState;
use acd_sidecar::auth::{AdminToken, TokenSource};
use acd_sidecar::server::AdminServer;
use acd_sidecar::shutdown::Shutdown;
use acd_sidecar::toolbar::{ToolbarServer, ToolbarState};
use anyhow::Context;
use clap::parser::ValueSource;
use clap::{Arg, ArgMatches, Command};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

fn settings_args(cmd: Command) -> Command {
    let cmd = cmd.arg(
        Arg::new("config")
            .long("config")
            .env("ACD_CONFIG")
            .value_name("FILE")
            .value_parser(clap::value_parser!(PathBuf))
            .help("TOML configuration file (keys as in the embedded default; see `acd config`)"),
    );
    SETTINGS.iter().fold(cmd, |cmd, s| {
        cmd.arg(
            Arg::new(s.key)
                .long(s.flag)
                .env(s.env)
                // `--help` must never print a secret such as ACD_ADMIN_TOKEN's value.
                .hide_env_values(true)
                .value_name("VALUE")
                // Repeating a flag is allowed; the last one wins (as scripts append overrides).
                .overrides_with(s.key)
                .help(s.help),
        )
    })
}

fn cli() -> Command {
    Command::new("acd")
        .version(env!("CARGO_PKG_VERSION"))
        .about("acd: automatic call distribution engine with an admin HTTP sidecar")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(settings_args(
            Command::new("serve")
                .about("Run the engine and the admin API until Ctrl-C or SIGTERM")
                .after_help(
                    "Precedence: flag > ACD_* environment variable > --config file > embedded \
                     default.\nOn start, stdout gets `sip listening on ADDR`, `media listening on \
                     IP ports A-B`, `toolbar listening on ADDR` and `admin listening on ADDR` (the \
                     bound addresses, also for port 0).",
                ),
        ))
        .subcommand(settings_args(
            Command::new("config").about("Print the effective configuration (token redacted)"),
        ))
}

fn load_config(matches: &ArgMatches) -> anyhow::Result<Config> {
    let mut builder = Config::builder();
    if let Some(path) = matches.get_one::<PathBuf>("config") {
        builder = builder.file(path)?;
    }
    for s in SETTINGS {
        if let Some(value) = matches.get_one::<String>(s.key) {
            let origin = match matches.value_source(s.key) {
                Some(ValueSource::EnvVariable) => Origin::Env(s.env.to_owned()),
                _ => Origin::Flag(s.flag.to_owned()),
            };
            builder = builder.set(origin, s.key, value)?;
        }
    }
    Ok(builder.build()?)
}

fn main() -> std::process::ExitCode {
    let matches = cli().get_matches();
    let result = match matches.subcommand() {
        Some(("serve", m)) => load_config(m).and_then(serve),
        Some(("config", m)) => load_config(m).map(|c| print!("{}", c.to_redacted_toml())),
        _ => unreachable!("clap requires a subcommand"),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn serve(config: Config) -> anyhow::Result<()> {
    init_logging(&config.log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(run(config))
}

async fn run(config: Config) -> anyhow::Result<()> {
    let signals = Signals::install()?;
    let data_dir = config.data_dir.clone();
    // Opening the store takes the data-dir lock, so a second `acd serve` stops here.
    let store = {
        let dir = data_dir.clone();
        tokio::task::spawn_blocking(move || SledStore::open(dir)).await??
    };
    let store = Arc::new(store);
    let admin = {
        let store: Arc<dyn Store> = store.clone();
        Arc::new(
            tokio::task::spawn_blocking(move || Admin::open(store, AdminOptions::default()))
                .await??,
        )
    };
    let (token, source, secret) = AdminToken::resolve(config.admin.token.as_deref(), &data_dir)?;
    match (&source, secret) {
        (TokenSource::Generated(path), Some(secret)) => println!(
            "admin token generated (shown once, stored in {}): {secret}",
            path.display()
        ),
        (TokenSource::Stored(path), _) => println!("admin token: read from {}", path.display()),
        _ => println!("admin token: from the configuration"),
    }

    let engine = {
        let store: Arc<dyn Store> = store.clone();
        Engine::start(admin.clone(), store, EngineConfig::from_config(&config))
            .await
            .context("cannot start the engine")?
    };
    if let Some(sip) = engine.sip_addr() {
        println!("sip listening on {sip}");
    }
    let (first, last) = engine.media_ports();
    println!(
        "media listening on {} ports {first}-{last}",
        engine.media_bind_ip()
    );
    let toolbar = engine
        .toolbar()
        .context("the engine started without its toolbar service")?;
    let toolbar_server = ToolbarServer::bind(
        config.toolbar.listen,
        Arc::new(ToolbarState::new(toolbar, token.clone())),
    )
    .await
    .with_context(|| format!("cannot bind the engine API to {}", config.toolbar.listen))?;
    println!("toolbar listening on {}", toolbar_server.local_addr());

    let state = Arc::new(
        AppState::new(token, admin.clone(), engine.router()).with_media_stats(engine.media_stats()),
    );
    let server = AdminServer::bind(config.admin.listen, state)
        .await
        .with_context(|| format!("cannot bind the admin API to {}", config.admin.listen))?;
    let addr = server.local_addr();
    tracing::info!(%addr, data_dir = %data_dir.display(), agents = admin.agent_count(), "acd serving");
    println!("admin listening on {addr}");

    let shutdown = Shutdown::new();
    tokio::spawn(toolbar_server.run(
        shutdown.subscribe(),
        Duration::from_secs(config.admin.shutdown_grace_secs),
        shutdown.guard(),
    ));
    tokio::spawn(server.run(
        shutdown.subscribe(),
        Duration::from_secs(config.admin.shutdown_grace_secs),
        shutdown.guard(),
    ));

    signals.recv().await?;
    tracing::info!("shutting down: finishing in-flight requests");
    shutdown.trigger();
    shutdown.wait().await;
    engine.shutdown().await;
    // Every acknowledged write was flushed already; this covers anything else sled buffered.
    drop(admin);
    tokio::task::spawn_blocking(move || store.flush())
        .await?
        .context("flushing the store at shutdown")?;
    println!("acd stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM. Installed before the listening line is printed, so a supervisor (or a
/// test) that signals right after reading it never hits the default "terminate" action.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        Ok(Signals {
            #[cfg(unix)]
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .context("cannot listen for SIGTERM")?,
            #[cfg(unix)]
            int: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                .context("cannot listen for Ctrl-C")?,
        })
    }

    async fn recv(mut self) -> anyhow::Result<()> {
        #[cfg(unix)]
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c()
            .await
            .context("cannot listen for Ctrl-C")?;
        Ok(())
    }
}
