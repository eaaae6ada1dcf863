//! Runtime settings of `acd serve`: the embedded defaults, the `acd.toml` file format, and the
//! layering of file, environment and command-line values into one validated [`Config`].
//!
//! Owns: the settings table ([`SETTINGS`]: key, flag, environment variable, help), the default
//! TOML, merging and type-checking of overrides. Does not own: command-line parsing (the `acd`
//! binary builds its flags from [`SETTINGS`]) nor reading the environment (the binary's argument
//! parser resolves `--flag` over `ACD_*`, then hands both here as overrides).
//!
//! Precedence, highest first: flag, environment variable, `--config` file, embedded default.
//!
//! Adding a section (e.g. `[sip]`): add a struct with `#[serde(deny_unknown_fields)]`, a field on
//! [`Config`], its defaults in [`DEFAULT_TOML`] and one [`Setting`] row per key. The flag, the
//! `ACD_*` variable and the `--help` text then follow from the row.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The embedded default configuration; also the reference for the type of every key.
pub const DEFAULT_TOML: &str = r#"# acd configuration (embedded defaults)
# Directory holding the store, the admin token and the instance lock.
data_dir = "./acd-data"
# Log filter in tracing-subscriber EnvFilter syntax (RUST_LOG overrides it when set).
log = "info"

[admin]
# Address of the admin HTTP API (port 0 picks a free port; the bound address is logged).
listen = "127.0.0.1:8080"
# Seconds in-flight admin requests get to finish at shutdown before connections are dropped.
shutdown_grace_secs = 10
# token: the bearer token; when unset, one is generated at first start and kept in the data dir.

[routing]
# How an agent's channels limit each other: "independent" (each channel only against its own
# capacity) or "voice_blocks_others" (a live voice call blocks new chats and emails).
cross_channel = "independent"
# Seed of the router's RNG (random strategy, tie-breaks), so a run can be replayed.
seed = 44203

[sip]
# SIP address for UDP and TCP (port 0 picks a free port; the bound address is logged).
listen = "0.0.0.0:5060"
# Also listen on TCP (same port).
tcp = true
# The address acd names in Via, Contact and SDP: what carriers and phones send to (an IP, or
# IP:port when a NAT maps another port). Empty: the listen address; for a wildcard listen
# (0.0.0.0) that is 127.0.0.1, which only local peers can use; set it for remote peers.
advertise = ""
# Voicemail server (host or host:port). A direct call to an agent who has a voicemail box and
# is unavailable or does not answer is redirected there (302, user part = the agent's
# extension). Empty: such callers get busy (486) or unavailable (480).
voicemail = ""
# Digest algorithms the registrar challenges with, one WWW-Authenticate each, in this order:
# "MD5" and/or "SHA-256". MD5 alone by default: Debian 12's baresip (libre 1.x) and many
# deployed phones abort on a challenge whose algorithm they do not know.
digest_algorithms = ["MD5"]

[media]
# RTP port range, "FIRST-LAST": each call leg takes an even port for RTP and the odd port above
# it for RTCP. Each leg also holds 2 open files; acd raises its open-files limit at start.
ports = "20000-29999"
# The IP acd names in SDP for audio (c=). Empty: the SIP advertised IP.
advertise = ""
# Seconds without RTP from a party that should be sending before its call is ended.
timeout_secs = 60
# Media threads, each owning a shard of the legs. 0: one per CPU core.
threads = 0

[toolbar]
# Address of the engine API: agent toolbars (HTTP + WebSocket) and chat/email ingest.
listen = "127.0.0.1:8081"
# Seconds a toolbar session lasts from login.
session_ttl_secs = 28800
"#;

/// One setting: its dotted key in `acd.toml`, its flag, its environment variable and its help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// Dotted key in `acd.toml`, e.g. `admin.listen`.
    pub key: &'static str,
    /// Long flag without dashes, e.g. `admin-listen`.
    pub flag: &'static str,
    /// Environment variable, e.g. `ACD_ADMIN_LISTEN`.
    pub env: &'static str,
    /// One line for `acd serve --help`.
    pub help: &'static str,
}

/// Every setting `acd serve` understands; flags and env vars are derived from the key
/// (`admin.listen` → `--admin-listen`, `ACD_ADMIN_LISTEN`), checked by a unit test.
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "data_dir",
        flag: "data-dir",
        env: "ACD_DATA_DIR",
        help: "Directory for the store, admin token and instance lock [default: ./acd-data]",
    },
    Setting {
        key: "log",
        flag: "log",
        env: "ACD_LOG",
        help: "Log filter, e.g. info or acd_sidecar=debug [default: info]",
    },
    Setting {
        key: "admin.listen",
        flag: "admin-listen",
        env: "ACD_ADMIN_LISTEN",
        help: "Admin HTTP API address; port 0 picks a free port [default: 127.0.0.1:8080]",
    },
    Setting {
        key: "admin.token",
        flag: "admin-token",
        env: "ACD_ADMIN_TOKEN",
        help: "Admin bearer token; generated and stored in the data dir when unset",
    },
    Setting {
        key: "admin.shutdown_grace_secs",
        flag: "admin-shutdown-grace-secs",
        env: "ACD_ADMIN_SHUTDOWN_GRACE_SECS",
        help: "Seconds in-flight admin requests get to finish at shutdown [default: 10]",
    },
    Setting {
        key: "routing.cross_channel",
        flag: "routing-cross-channel",
        env: "ACD_ROUTING_CROSS_CHANNEL",
        help: "independent | voice_blocks_others [default: independent]",
    },
    Setting {
        key: "routing.seed",
        flag: "routing-seed",
        env: "ACD_ROUTING_SEED",
        help: "Seed of the router's RNG, for replayable runs [default: 44203]",
    },
    Setting {
        key: "sip.listen",
        flag: "sip-listen",
        env: "ACD_SIP_LISTEN",
        help: "SIP UDP/TCP address; port 0 picks a free port [default: 0.0.0.0:5060]",
    },
    Setting {
        key: "sip.tcp",
        flag: "sip-tcp",
        env: "ACD_SIP_TCP",
        help: "Also listen for SIP over TCP on the same port [default: true]",
    },
    Setting {
        key: "sip.advertise",
        flag: "sip-advertise",
        env: "ACD_SIP_ADVERTISE",
        help: "Address named in Via/Contact/SDP: IP or IP:port [default: the listen address; 127.0.0.1 for 0.0.0.0]",
    },
    Setting {
        key: "sip.voicemail",
        flag: "sip-voicemail",
        env: "ACD_SIP_VOICEMAIL",
        help: "Voicemail server host[:port] unanswered direct calls are redirected to (302) [default: none]",
    },
    Setting {
        key: "sip.digest_algorithms",
        flag: "sip-digest-algorithms",
        env: "ACD_SIP_DIGEST_ALGORITHMS",
        help: "Digest algorithms challenged, in order, comma-separated: MD5, SHA-256 [default: MD5]",
    },
    Setting {
        key: "media.ports",
        flag: "media-ports",
        env: "ACD_MEDIA_PORTS",
        help: "RTP port range FIRST-LAST (even RTP, odd RTCP) [default: 20000-29999]",
    },
    Setting {
        key: "media.advertise",
        flag: "media-advertise",
        env: "ACD_MEDIA_ADVERTISE",
        help: "IP named in SDP for audio [default: the SIP advertised IP]",
    },
    Setting {
        key: "media.timeout_secs",
        flag: "media-timeout-secs",
        env: "ACD_MEDIA_TIMEOUT_SECS",
        help: "Seconds of silence from a sending party before its call ends [default: 60]",
    },
    Setting {
        key: "media.threads",
        flag: "media-threads",
        env: "ACD_MEDIA_THREADS",
        help: "Media threads (shards of the legs); 0 = one per CPU core [default: 0]",
    },
    Setting {
        key: "toolbar.listen",
        flag: "toolbar-listen",
        env: "ACD_TOOLBAR_LISTEN",
        help:
            "Engine API (toolbar, WebSocket, chat/email ingest) address [default: 127.0.0.1:8081]",
    },
    Setting {
        key: "toolbar.session_ttl_secs",
        flag: "toolbar-session-ttl-secs",
        env: "ACD_TOOLBAR_SESSION_TTL_SECS",
        help: "Seconds a toolbar session lasts from login [default: 28800]",
    },
];

/// Where an override came from, so an error can name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A command-line flag (without dashes).
    Flag(String),
    /// An environment variable.
    Env(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Flag(flag) => write!(f, "flag --{flag}"),
            Origin::Env(var) => write!(f, "environment variable {var}"),
        }
    }
}

/// Why a configuration could not be built.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The `--config` file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The `--config` file is not valid TOML.
    #[error("config file {path} is not valid TOML: {source}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        source: toml::de::Error,
    },
    /// An override names a key that is not in [`SETTINGS`].
    #[error("{origin}: unknown setting `{key}`")]
    UnknownKey {
        /// Where the override came from.
        origin: Origin,
        /// The key.
        key: String,
    },
    /// An override's value does not have the key's type.
    #[error("{origin}: `{value}` is not a valid {expected} for `{key}`")]
    BadValue {
        /// Where the override came from.
        origin: Origin,
        /// The key.
        key: String,
        /// The value given.
        value: String,
        /// What the key takes, e.g. "integer".
        expected: &'static str,
    },
    /// The merged settings do not form a valid configuration (unknown key, wrong type, bad
    /// address); the message names the key.
    #[error("invalid configuration: {0}")]
    Invalid(toml::de::Error),
}

/// The admin HTTP sidecar's settings (`[admin]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Address the admin API binds; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Bearer token; `None` means "generate at first start and keep it in the data dir".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Seconds in-flight requests get to finish at shutdown.
    pub shutdown_grace_secs: u64,
}

/// How an agent's channels limit each other (`[routing] cross_channel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrossChannel {
    /// Each channel only counts against its own capacity.
    Independent,
    /// A live voice call blocks new chats and emails.
    VoiceBlocksOthers,
}

/// The routing core's settings (`[routing]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    /// The cross-channel rule.
    pub cross_channel: CrossChannel,
    /// Seed of the router's RNG.
    pub seed: u64,
}

/// The SIP listeners' settings (`[sip]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipListenConfig {
    /// Address for UDP (and TCP); port 0 picks a free one.
    pub listen: SocketAddr,
    /// Also listen on TCP.
    pub tcp: bool,
    /// The address named in Via, Contact and SDP.
    pub advertise: Advertise,
    /// Voicemail server `host[:port]`; empty for none.
    pub voicemail: String,
    /// The digest algorithms challenged, in order.
    pub digest_algorithms: DigestAlgorithms,
}

/// `sip.digest_algorithms`: a non-empty ordered list of `MD5` / `SHA-256` (any case, no
/// repeats). Anything else is refused when the configuration is built, naming the key and
/// the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct DigestAlgorithms(pub Vec<crate::sip::digest::Algorithm>);

impl TryFrom<Vec<String>> for DigestAlgorithms {
    type Error = String;
    fn try_from(v: Vec<String>) -> Result<Self, String> {
        use crate::sip::digest::Algorithm;
        let mut out = Vec::with_capacity(v.len());
        for name in &v {
            let a = match name.trim() {
                n if n.eq_ignore_ascii_case("MD5") => Algorithm::Md5,
                n if n.eq_ignore_ascii_case("SHA-256") => Algorithm::Sha256,
                other => {
                    return Err(format!(
                        "sip.digest_algorithms: unsupported digest algorithm {other:?}; \
                         use MD5 and/or SHA-256"
                    ))
                }
            };
            if out.contains(&a) {
                return Err(format!(
                    "sip.digest_algorithms: {:?} is listed twice",
                    name.trim()
                ));
            }
            out.push(a);
        }
        if out.is_empty() {
            return Err("sip.digest_algorithms: name at least one of MD5, SHA-256".into());
        }
        Ok(DigestAlgorithms(out))
    }
}

impl From<DigestAlgorithms> for Vec<String> {
    fn from(a: DigestAlgorithms) -> Vec<String> {
        a.0.iter().map(|a| a.as_str().to_owned()).collect()
    }
}

/// `sip.advertise`: empty, an IP, or IP:port. Anything else is refused when the configuration
/// is built, with the value in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Advertise(pub Option<(std::net::IpAddr, Option<u16>)>);

impl TryFrom<String> for Advertise {
    type Error = String;
    fn try_from(v: String) -> Result<Self, String> {
        let v = v.trim();
        if v.is_empty() {
            return Ok(Advertise(None));
        }
        if let Ok(ip) = v.parse::<std::net::IpAddr>() {
            return Ok(Advertise(Some((ip, None))));
        }
        match v.parse::<SocketAddr>() {
            Ok(a) if a.port() != 0 => Ok(Advertise(Some((a.ip(), Some(a.port()))))),
            _ => Err(format!(
                "sip.advertise must be an IP address or IP:port (port 1-65535), got {v:?}"
            )),
        }
    }
}

impl From<Advertise> for String {
    fn from(a: Advertise) -> String {
        match a.0 {
            None => String::new(),
            Some((ip, None)) => ip.to_string(),
            Some((ip, Some(port))) => SocketAddr::new(ip, port).to_string(),
        }
    }
}

impl Advertise {
    /// The address to name for a stack bound to `bound`.
    pub fn resolve(self, bound: SocketAddr) -> SocketAddr {
        match self.0 {
            Some((ip, port)) => SocketAddr::new(ip, port.unwrap_or(bound.port())),
            None if bound.ip().is_unspecified() => SocketAddr::from(([127, 0, 0, 1], bound.port())),
            None => bound,
        }
    }
}

/// `media.ports`: an inclusive port range written `FIRST-LAST`. A malformed or reversed range
/// is refused when the configuration is built, with the key and the value in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PortRange {
    /// First port.
    pub first: u16,
    /// Last port (included).
    pub last: u16,
}

impl TryFrom<String> for PortRange {
    type Error = String;
    fn try_from(v: String) -> Result<Self, String> {
        let bad = || {
            format!(
                "media.ports must be FIRST-LAST with 1 <= FIRST < LAST <= 65535 (e.g. \"20000-29999\"), got {v:?}"
            )
        };
        let (first, last) = v.trim().split_once('-').ok_or_else(bad)?;
        let first: u16 = first.trim().parse().map_err(|_| bad())?;
        let last: u16 = last.trim().parse().map_err(|_| bad())?;
        if first == 0 || first >= last {
            return Err(bad());
        }
        Ok(PortRange { first, last })
    }
}

impl From<PortRange> for String {
    fn from(r: PortRange) -> String {
        format!("{}-{}", r.first, r.last)
    }
}

/// `media.advertise`: empty or an IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MediaAdvertise(pub Option<std::net::IpAddr>);

impl TryFrom<String> for MediaAdvertise {
    type Error = String;
    fn try_from(v: String) -> Result<Self, String> {
        let v = v.trim();
        if v.is_empty() {
            return Ok(MediaAdvertise(None));
        }
        v.parse()
            .map(|ip| MediaAdvertise(Some(ip)))
            .map_err(|_| format!("media.advertise must be an IP address or empty, got {v:?}"))
    }
}

impl From<MediaAdvertise> for String {
    fn from(a: MediaAdvertise) -> String {
        a.0.map(|ip| ip.to_string()).unwrap_or_default()
    }
}

/// The media plane's settings (`[media]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaSettings {
    /// RTP/RTCP ports.
    pub ports: PortRange,
    /// The IP named in SDP; `None`: the SIP advertised IP.
    pub advertise: MediaAdvertise,
    /// Seconds of silence before a call ends.
    pub timeout_secs: u64,
    /// Media threads; 0: one per core.
    pub threads: usize,
}

impl MediaSettings {
    /// The number of media threads: `threads`, or the number of cores when 0 (then never
    /// more than the range has port pairs, so a small range still starts).
    pub fn thread_count(&self) -> usize {
        match self.threads {
            0 => {
                let first = self.ports.first + (self.ports.first & 1);
                let pairs = usize::from(self.ports.last.saturating_sub(first)).div_ceil(2);
                std::thread::available_parallelism()
                    .map_or(1, usize::from)
                    .min(pairs.max(1))
            }
            n => n,
        }
    }
}

/// The engine API's settings (`[toolbar]`): agent toolbars and chat/email ingest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolbarConfig {
    /// Address the engine API binds; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Seconds a session lasts from login.
    pub session_ttl_secs: u64,
}

/// The whole runtime configuration of `acd serve`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Directory for the store, the admin token file and the instance lock.
    pub data_dir: PathBuf,
    /// Log filter (tracing-subscriber `EnvFilter` syntax).
    pub log: String,
    /// The admin HTTP sidecar.
    pub admin: AdminConfig,
    /// The routing core.
    pub routing: RoutingConfig,
    /// The SIP listeners.
    pub sip: SipListenConfig,
    /// The media plane.
    pub media: MediaSettings,
    /// The engine API (toolbar and ingest).
    pub toolbar: ToolbarConfig,
}

impl Default for Config {
    fn default() -> Self {
        ConfigBuilder::new()
            .build()
            .expect("the embedded default configuration is valid")
    }
}

impl Config {
    /// Starts from the embedded defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::new()
    }

    /// The effective configuration as TOML, with secrets replaced by `"<redacted>"`.
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        if shown.admin.token.is_some() {
            shown.admin.token = Some("<redacted>".to_owned());
        }
        toml::to_string(&shown).unwrap_or_default()
    }
}

/// Layers a file and overrides over the embedded defaults, then validates once.
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    defaults: toml::Table,
    merged: toml::Table,
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ConfigBuilder {
    /// A builder holding only the embedded defaults.
    pub fn new() -> Self {
        let defaults: toml::Table = DEFAULT_TOML
            .parse()
            .expect("the embedded default configuration is valid TOML");
        ConfigBuilder {
            merged: defaults.clone(),
            defaults,
        }
    }

    /// Merges an `acd.toml` file over what is there (tables merge key by key).
    pub fn file(self, path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        self.toml_str(path, &text)
    }

    /// Merges TOML text (named `path` in errors) over what is there.
    pub fn toml_str(mut self, path: &Path, text: &str) -> Result<Self, ConfigError> {
        let table: toml::Table = text.parse().map_err(|source| ConfigError::Syntax {
            path: path.to_owned(),
            source,
        })?;
        merge(&mut self.merged, table);
        Ok(self)
    }

    /// Sets one key from a flag or environment variable. The value is read as the type of the
    /// key's default (integer, boolean, otherwise string).
    pub fn set(mut self, origin: Origin, key: &str, value: &str) -> Result<Self, ConfigError> {
        if !SETTINGS.iter().any(|s| s.key == key) {
            return Err(ConfigError::UnknownKey {
                origin,
                key: key.to_owned(),
            });
        }
        let bad = |expected| ConfigError::BadValue {
            origin: origin.clone(),
            key: key.to_owned(),
            value: value.to_owned(),
            expected,
        };
        let typed = match lookup(&self.defaults, key) {
            Some(toml::Value::Integer(_)) => {
                toml::Value::Integer(value.trim().parse().map_err(|_| bad("integer"))?)
            }
            Some(toml::Value::Boolean(_)) => {
                toml::Value::Boolean(value.trim().parse().map_err(|_| bad("boolean"))?)
            }
            // Lists come comma-separated from flags and the environment.
            Some(toml::Value::Array(_)) => toml::Value::Array(
                value
                    .split(',')
                    .map(|v| toml::Value::String(v.trim().to_owned()))
                    .collect(),
            ),
            _ => toml::Value::String(value.to_owned()),
        };
        insert(&mut self.merged, key, typed);
        Ok(self)
    }

    /// Validates the merged settings.
    pub fn build(self) -> Result<Config, ConfigError> {
        toml::Value::Table(self.merged)
            .try_into()
            .map_err(ConfigError::Invalid)
    }
}

fn merge(into: &mut toml::Table, from: toml::Table) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(toml::Value::Table(dst)), toml::Value::Table(src)) => merge(dst, src),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

fn lookup<'a>(table: &'a toml::Table, key: &str) -> Option<&'a toml::Value> {
    let mut parts = key.split('.');
    let mut value = table.get(parts.next()?)?;
    for part in parts {
        value = value.as_table()?.get(part)?;
    }
    Some(value)
}

fn insert(table: &mut toml::Table, key: &str, value: toml::Value) {
    match key.split_once('.') {
        None => {
            table.insert(key.to_owned(), value);
        }
        Some((head, rest)) => {
            let entry = table
                .entry(head.to_owned())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            if let toml::Value::Table(sub) = entry {
                insert(sub, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(f: &str) -> Origin {
        Origin::Flag(f.to_owned())
    }

    #[test]
    fn embedded_defaults_match_the_documented_values() {
        let config = Config::default();
        assert_eq!(config.data_dir, PathBuf::from("./acd-data"));
        assert_eq!(config.admin.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.admin.token, None);
        assert_eq!(config.admin.shutdown_grace_secs, 10);
    }

    #[test]
    fn flags_and_env_vars_are_derived_from_the_key() {
        for s in SETTINGS {
            assert_eq!(s.flag, s.key.replace(['.', '_'], "-"), "{s:?}");
            assert_eq!(
                s.env,
                format!("ACD_{}", s.key.replace('.', "_").to_uppercase()),
                "{s:?}"
            );
        }
    }

    #[test]
    fn every_setting_key_is_a_valid_override() {
        for s in SETTINGS {
            let value = match lookup(&ConfigBuilder::new().defaults, s.key) {
                Some(toml::Value::Integer(_)) => "7".to_owned(),
                Some(toml::Value::Boolean(_)) => "false".to_owned(),
                _ if s.key.ends_with("listen") => "127.0.0.1:0".to_owned(),
                _ if s.key == "sip.advertise" => "192.0.2.1".to_owned(),
                _ if s.key == "sip.digest_algorithms" => "sha-256, MD5".to_owned(),
                _ if s.key == "media.advertise" => "192.0.2.1".to_owned(),
                _ if s.key == "media.ports" => "30000-30999".to_owned(),
                // Enumerated strings: their default is one valid value.
                Some(toml::Value::String(d)) if s.key == "routing.cross_channel" => d.clone(),
                _ => "x".to_owned(),
            };
            Config::builder()
                .set(flag(s.flag), s.key, &value)
                .unwrap()
                .build()
                .unwrap_or_else(|e| panic!("{}: {e}", s.key));
        }
    }

    #[test]
    fn file_values_override_defaults_and_keep_the_rest() {
        let config = Config::builder()
            .toml_str(
                Path::new("acd.toml"),
                "[admin]\nlisten = \"0.0.0.0:9000\"\n",
            )
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(config.admin.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(config.admin.shutdown_grace_secs, 10);
        assert_eq!(config.data_dir, PathBuf::from("./acd-data"));
    }

    #[test]
    fn later_overrides_win_over_the_file() {
        let config = Config::builder()
            .toml_str(Path::new("acd.toml"), "data_dir = \"/from/file\"\n")
            .unwrap()
            .set(Origin::Env("ACD_DATA_DIR".into()), "data_dir", "/from/env")
            .unwrap()
            .set(flag("data-dir"), "data_dir", "/from/flag")
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/from/flag"));
    }

    #[test]
    fn token_that_looks_like_a_number_stays_a_string() {
        let config = Config::builder()
            .set(flag("admin-token"), "admin.token", "12345")
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(config.admin.token.as_deref(), Some("12345"));
    }

    #[test]
    fn non_integer_override_for_an_integer_key_is_rejected() {
        let err = Config::builder()
            .set(
                Origin::Env("ACD_ADMIN_SHUTDOWN_GRACE_SECS".into()),
                "admin.shutdown_grace_secs",
                "soon",
            )
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("ACD_ADMIN_SHUTDOWN_GRACE_SECS"), "{msg}");
        assert!(msg.contains("integer"), "{msg}");
    }

    #[test]
    fn unknown_key_in_file_is_rejected_by_name() {
        let err = Config::builder()
            .toml_str(Path::new("acd.toml"), "[admin]\nlisen = \"x\"\n")
            .unwrap()
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
    }

    #[test]
    fn bad_listen_address_is_rejected() {
        let err = Config::builder()
            .set(flag("admin-listen"), "admin.listen", "localhost")
            .unwrap()
            .build()
            .unwrap_err();
        assert!(matches!(err, ConfigError::Invalid(_)), "{err}");
    }

    #[test]
    fn sip_advertise_takes_an_ip_or_ip_and_port_and_nothing_else() {
        let set = |v: &str| {
            Config::builder()
                .set(flag("sip-advertise"), "sip.advertise", v)
                .unwrap()
                .build()
        };
        let bound: SocketAddr = "0.0.0.0:5060".parse().unwrap();
        let a = set("203.0.113.7").unwrap().sip.advertise;
        assert_eq!(a.resolve(bound), "203.0.113.7:5060".parse().unwrap());
        let a = set("203.0.113.7:15060").unwrap().sip.advertise;
        assert_eq!(a.resolve(bound), "203.0.113.7:15060".parse().unwrap());
        let a = set("").unwrap().sip.advertise;
        assert_eq!(a.resolve(bound), "127.0.0.1:5060".parse().unwrap());
        assert_eq!(
            a.resolve("192.0.2.1:5070".parse().unwrap()),
            "192.0.2.1:5070".parse().unwrap()
        );
        for bad in ["acd.example.com", "203.0.113.7:0", "1.2.3"] {
            let err = set(bad).unwrap_err().to_string();
            assert!(err.contains("sip.advertise"), "{bad}: {err}");
        }
    }

    #[test]
    fn media_defaults_are_the_documented_values() {
        let m = Config::default().media;
        assert_eq!(
            m.ports,
            PortRange {
                first: 20_000,
                last: 29_999
            }
        );
        assert_eq!(m.advertise, MediaAdvertise(None));
        assert_eq!(m.timeout_secs, 60);
        assert_eq!(m.threads, 0);
        assert!(m.thread_count() >= 1);
    }

    #[test]
    fn media_ports_take_a_range_and_refuse_a_malformed_or_reversed_one() {
        let set = |v: &str| {
            Config::builder()
                .set(Origin::Env("ACD_MEDIA_PORTS".into()), "media.ports", v)
                .unwrap()
                .build()
        };
        let r = set(" 40000 - 40099 ").unwrap().media.ports;
        assert_eq!((r.first, r.last), (40_000, 40_099));
        for bad in ["40000", "40099-40000", "a-b", "0-100", "40000-70000", "5-5"] {
            let err = set(bad).unwrap_err().to_string();
            assert!(err.contains("media.ports"), "{bad}: {err}");
            assert!(err.contains(bad), "{bad}: {err}");
        }
    }

    #[test]
    fn media_advertise_takes_an_ip_or_nothing() {
        let set = |v: &str| {
            Config::builder()
                .set(flag("media-advertise"), "media.advertise", v)
                .unwrap()
                .build()
        };
        assert_eq!(
            set("203.0.113.9").unwrap().media.advertise,
            MediaAdvertise(Some([203, 0, 113, 9].into()))
        );
        let err = set("203.0.113.9:4000").unwrap_err().to_string();
        assert!(err.contains("media.advertise"), "{err}");
    }

    #[test]
    fn invalid_toml_file_names_the_file() {
        let err = Config::builder()
            .toml_str(Path::new("broken.toml"), "data_dir = \n")
            .unwrap_err();
        assert!(err.to_string().contains("broken.toml"), "{err}");
    }

    #[test]
    fn redacted_toml_hides_the_token_and_round_trips() {
        let config = Config::builder()
            .set(flag("admin-token"), "admin.token", "s3cret")
            .unwrap()
            .build()
            .unwrap();
        let shown = config.to_redacted_toml();
        assert!(!shown.contains("s3cret"), "{shown}");
        let back: Config = toml::from_str(&shown).unwrap();
        assert_eq!(back.admin.listen, config.admin.listen);
    }

    #[test]
    fn digest_algorithms_default_to_md5_alone() {
        use crate::sip::digest::Algorithm;
        assert_eq!(
            Config::default().sip.digest_algorithms.0,
            vec![Algorithm::Md5]
        );
    }

    #[test]
    fn digest_algorithms_keep_their_order_from_a_flag_or_the_file() {
        use crate::sip::digest::Algorithm;
        let config = Config::builder()
            .set(
                flag("sip-digest-algorithms"),
                "sip.digest_algorithms",
                "SHA-256,md5",
            )
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(
            config.sip.digest_algorithms.0,
            vec![Algorithm::Sha256, Algorithm::Md5]
        );
        let config = Config::builder()
            .toml_str(
                Path::new("acd.toml"),
                "[sip]\ndigest_algorithms = [\"sha-256\"]\n",
            )
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(config.sip.digest_algorithms.0, vec![Algorithm::Sha256]);
    }

    #[test]
    fn unknown_or_empty_digest_algorithms_are_refused_by_key_and_value() {
        for bad in ["SHA-512", "MD5,MD5-sess", "", "MD5,md5"] {
            let err = Config::builder()
                .set(
                    Origin::Env("ACD_SIP_DIGEST_ALGORITHMS".into()),
                    "sip.digest_algorithms",
                    bad,
                )
                .unwrap()
                .build()
                .unwrap_err()
                .to_string();
            assert!(err.contains("sip.digest_algorithms"), "{bad}: {err}");
        }
        let err = Config::builder()
            .set(flag("x"), "sip.digest_algorithms", "SHA-512")
            .unwrap()
            .build()
            .unwrap_err()
            .to_string();
        assert!(err.contains("SHA-512"), "{err}");
    }
}
