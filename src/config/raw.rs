//! Serde mirror of the configuration file. Unknown keys are errors; every default is a named
//! constant beside its key. Values are checked in `validate`, not here.

use std::collections::BTreeMap;

use serde::Deserialize;

pub const DEFAULT_LISTEN_ADDRESS: &str = "0.0.0.0:6432";
pub const DEFAULT_UPSTREAM_ADDRESS: &str = "127.0.0.1:5432";
/// Long enough for a database across a WAN, short enough that a dead host does not hang clients.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5000;
pub const DEFAULT_METRICS_ADDRESS: &str = "127.0.0.1:9930";
/// How long a stopping proxy lets sessions finish before it closes them.
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 30;
/// No connection limit by default would let one client exhaust file descriptors.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1000;
/// PostgreSQL's own limit for one message (PQ_LARGE_MESSAGE_LIMIT is 1 GiB - 1).
pub const DEFAULT_MAX_FRAME_BYTES: u32 = 0x3fff_ffff;
pub const DEFAULT_CATALOG_USER: &str = "trailmask";
pub const DEFAULT_CATALOG_PASSWORD_ENV: &str = "TRAILMASK_CATALOG_PASSWORD";
pub const DEFAULT_CATALOG_REFRESH_SECS: u64 = 60;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub listen: RawListen,
    #[serde(default)]
    pub upstream: RawUpstream,
    pub catalog: Option<RawCatalog>,
    pub audit: Option<RawAudit>,
    #[serde(default)]
    pub metrics: RawMetrics,
    #[serde(default)]
    pub policy: RawPolicy,
    /// `"schema.table"` -> its personal columns.
    #[serde(default)]
    pub personal_data: BTreeMap<String, RawPersonalTable>,
    /// trailmask role name -> who belongs to it and what it sees.
    #[serde(default)]
    pub roles: BTreeMap<String, RawRole>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListen {
    /// host:port the proxy accepts clients on. Default `0.0.0.0:6432`.
    #[serde(default = "default_listen_address")]
    pub address: String,
    /// Client-side TLS. Default `{ mode = "disable" }`.
    #[serde(default)]
    pub tls: RawListenTls,
    /// Most clients served at once; more are refused with 53300. Default 1000.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Seconds a stopping proxy lets sessions finish. Default 30.
    #[serde(default = "default_shutdown_grace_secs")]
    pub shutdown_grace_secs: u64,
    /// Largest message accepted from either side, in bytes. Default 1 GiB - 1 (PostgreSQL's own).
    #[serde(default = "default_max_frame_bytes")]
    pub max_frame_bytes: u32,
    /// Threads sessions run on. Default: half the machine's cores (trailmask is a sidecar: the
    /// database needs the rest), but two on 2-3 cores (see `validate::default_threads`).
    #[serde(default)]
    pub threads: Option<usize>,
}

impl Default for RawListen {
    fn default() -> Self {
        RawListen {
            address: default_listen_address(),
            tls: RawListenTls::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            shutdown_grace_secs: DEFAULT_SHUTDOWN_GRACE_SECS,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            threads: None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListenTls {
    /// disable | allow | require. Default disable.
    pub mode: Option<String>,
    /// PEM certificate chain file (required unless mode = disable).
    pub cert: Option<String>,
    /// PEM private key file (required unless mode = disable).
    pub key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    /// host:port of PostgreSQL. Default `127.0.0.1:5432`.
    #[serde(default = "default_upstream_address")]
    pub address: String,
    /// Upstream TLS. Default `{ mode = "prefer" }`.
    #[serde(default)]
    pub tls: RawUpstreamTls,
    /// Milliseconds to wait for the TCP connect and TLS handshake. Default 5000.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
}

impl Default for RawUpstream {
    fn default() -> Self {
        RawUpstream {
            address: default_upstream_address(),
            tls: RawUpstreamTls::default(),
            connect_timeout_ms: DEFAULT_CONNECT_TIMEOUT_MS,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstreamTls {
    /// disable | prefer | require | verify-full. Default prefer.
    pub mode: Option<String>,
    /// PEM CA bundle that signs the server certificate (verify-full).
    pub ca: Option<String>,
    /// Name to verify the server certificate against; default the host of `upstream.address`.
    pub server_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCatalog {
    /// trailmask's own login for reading pg_catalog. Default `trailmask`.
    #[serde(default = "default_catalog_user")]
    pub user: String,
    /// Environment variable holding that login's password. Default `TRAILMASK_CATALOG_PASSWORD`.
    #[serde(default = "default_catalog_password_env")]
    pub password_env: String,
    /// Database the catalog login connects to first. Default: the login name.
    pub database: Option<String>,
    /// Seconds between catalog refreshes. Default 60.
    #[serde(default = "default_catalog_refresh_secs")]
    pub refresh_secs: u64,
}

/// `[audit]`: validated in `config/audit.rs`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    pub dir: Option<String>,
    pub chain: Option<String>,
    pub durability: Option<String>,
    pub group_commit_ms: Option<u64>,
    pub segment_max_bytes: Option<u64>,
    pub segment_max_age_secs: Option<u64>,
    pub retention_days: Option<u64>,
    pub allow_short_retention: Option<bool>,
    pub signing_key: Option<String>,
    pub checkpoint_every_records: Option<u64>,
    pub checkpoint_every_secs: Option<u64>,
    pub on_failure: Option<String>,
    pub parameters: Option<String>,
    pub hash_key_env: Option<String>,
    /// Compress sealed segments with zstd. Default true.
    pub compress_sealed: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    /// host:port for /metrics, /healthz, /readyz, /checkpoint. Default `127.0.0.1:9930`.
    #[serde(default = "default_metrics_address")]
    pub address: String,
}

impl Default for RawMetrics {
    fn default() -> Self {
        RawMetrics {
            address: default_metrics_address(),
        }
    }
}

/// `[policy]`: validated in `config/policy.rs`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub default_role: Option<String>,
    pub unparsed: Option<String>,
    pub masked_predicates: Option<String>,
    #[serde(default)]
    pub trusted_functions: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPersonalTable {
    /// Column identifying the data subject (Art. 4 count, subject search).
    pub subject_key: Option<String>,
    /// column -> mask name (`redact`, `keep_last(3)`, …).
    pub columns: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRole {
    /// PostgreSQL roles whose members (recursively) get this role.
    #[serde(default)]
    pub members: Vec<String>,
    /// `schema.table.column` (or `*`) this role sees in clear.
    #[serde(default)]
    pub clear: Vec<String>,
    /// `schema.table.column` this role may not use at all.
    #[serde(default)]
    pub deny: Vec<String>,
}

fn default_listen_address() -> String {
    DEFAULT_LISTEN_ADDRESS.to_owned()
}
fn default_upstream_address() -> String {
    DEFAULT_UPSTREAM_ADDRESS.to_owned()
}
fn default_metrics_address() -> String {
    DEFAULT_METRICS_ADDRESS.to_owned()
}
fn default_connect_timeout_ms() -> u64 {
    DEFAULT_CONNECT_TIMEOUT_MS
}
fn default_max_connections() -> usize {
    DEFAULT_MAX_CONNECTIONS
}
fn default_shutdown_grace_secs() -> u64 {
    DEFAULT_SHUTDOWN_GRACE_SECS
}
fn default_max_frame_bytes() -> u32 {
    DEFAULT_MAX_FRAME_BYTES
}
fn default_catalog_user() -> String {
    DEFAULT_CATALOG_USER.to_owned()
}
fn default_catalog_password_env() -> String {
    DEFAULT_CATALOG_PASSWORD_ENV.to_owned()
}
fn default_catalog_refresh_secs() -> u64 {
    DEFAULT_CATALOG_REFRESH_SECS
}
