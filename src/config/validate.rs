//! Raw config -> typed options for each module. Every key and value is checked and each problem
//! is recorded as one sentence naming the key and value; the caller fails once with the list.

use std::path::Path;
use std::time::Duration;

use super::audit::{self, AuditOptions};
use super::catalog::{self, CatalogOptions};
use super::policy::{self, PolicyOptions};
use super::raw::{RawConfig, RawListen, RawUpstream};
use crate::listener::tls::{self as listen_tls, ListenTls};
use crate::listener::ListenerOptions;
use crate::upstream::tls::{self as upstream_tls, UpstreamTls};
use crate::upstream::UpstreamOptions;

/// The validated configuration: one options value per module.
#[derive(Debug)]
pub struct Config {
    pub listen: ListenerOptions,
    pub upstream: UpstreamOptions,
    /// `host:port` of the metrics endpoint.
    pub metrics_address: String,
    pub audit: Option<AuditOptions>,
    pub catalog: Option<CatalogOptions>,
    pub policy: PolicyOptions,
}

pub(super) fn validate(raw: RawConfig) -> Result<Config, Vec<String>> {
    let mut problems = Vec::new();
    let listen = listen(&raw.listen, &mut problems);
    let upstream = upstream(&raw.upstream, &mut problems);
    check_address("metrics.address", &raw.metrics.address, &mut problems);
    let policy = policy::validate(&raw, &mut problems);
    let audit = audit::validate(raw.audit, &mut problems);
    let catalog = catalog::validate(raw.catalog, &mut problems);
    match (listen, upstream) {
        (Some(listen), Some(upstream)) if problems.is_empty() => Ok(Config {
            listen,
            upstream,
            metrics_address: raw.metrics.address,
            audit,
            catalog,
            policy,
        }),
        _ => Err(problems),
    }
}

/// `host:port` with a numeric port; host names are resolved when used.
fn check_address(key: &str, value: &str, problems: &mut Vec<String>) -> bool {
    let ok = value
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if !ok {
        problems.push(format!(
            "{key} = {value:?} is not host:port (for example \"127.0.0.1:6432\")"
        ));
    }
    ok
}

fn listen(raw: &RawListen, problems: &mut Vec<String>) -> Option<ListenerOptions> {
    let before = problems.len();
    check_address("listen.address", &raw.address, problems);
    if raw.threads == Some(0) {
        problems.push("listen.threads = 0 leaves no thread to run sessions; use 1 or more, or leave it out (half the cores; 2 on 2-3 cores)".into());
    }
    if raw.max_connections == 0 {
        problems.push("listen.max_connections = 0 would refuse every client; use 1 or more".into());
    }
    if raw.max_frame_bytes < 8192 {
        problems.push(format!(
            "listen.max_frame_bytes = {} is below 8192, too small for ordinary messages",
            raw.max_frame_bytes
        ));
    }
    let mode = raw.tls.mode.as_deref().unwrap_or("disable");
    let tls = match mode {
        "disable" => Some(ListenTls::Disable),
        "allow" | "require" => match (&raw.tls.cert, &raw.tls.key) {
            (Some(cert), Some(key)) => {
                match listen_tls::server_config(Path::new(cert), Path::new(key)) {
                    Ok(c) if mode == "allow" => Some(ListenTls::Allow(c)),
                    Ok(c) => Some(ListenTls::Require(c)),
                    Err(e) => {
                        problems.push(format!("listen.tls: {e}"));
                        None
                    }
                }
            }
            _ => {
                problems.push(format!(
                    "listen.tls.mode = {mode:?} needs both listen.tls.cert and listen.tls.key"
                ));
                None
            }
        },
        other => {
            problems.push(format!(
                "listen.tls.mode = {other:?} is not one of \"disable\", \"allow\", \"require\""
            ));
            None
        }
    };
    if problems.len() > before {
        return None;
    }
    Some(ListenerOptions {
        address: raw.address.clone(),
        tls: tls?,
        max_connections: raw.max_connections,
        shutdown_grace: Duration::from_secs(raw.shutdown_grace_secs),
        max_frame_bytes: raw.max_frame_bytes,
        threads: raw.threads.unwrap_or_else(|| {
            default_threads(std::thread::available_parallelism().map_or(1, usize::from))
        }),
    })
}

/// `listen.threads` when the config leaves it out: half the cores, but two where there are two
/// or three, and one on a single core. On a small host a single session thread is the one
/// point every session passes through: measured with pgbench -S -c 8 -j 2 on 2 cores (database
/// on the same host), one thread ran at 0.92-1.00x pgbouncer's TPS, two at 1.03-1.09x, for
/// 8-16% more proxy CPU per transaction. The database shares the host and still got more done,
/// so the default buys throughput; `threads = 1` buys back the CPU.
fn default_threads(cores: usize) -> usize {
    (cores / 2).max(2).min(cores.max(1))
}

fn upstream(raw: &RawUpstream, problems: &mut Vec<String>) -> Option<UpstreamOptions> {
    let before = problems.len();
    check_address("upstream.address", &raw.address, problems);
    if raw.connect_timeout_ms == 0 {
        problems.push(
            "upstream.connect_timeout_ms = 0 would fail every connection; use 1 or more".into(),
        );
    }
    let mode = raw.tls.mode.as_deref().unwrap_or("prefer");
    let tls = match mode {
        "disable" => Some(UpstreamTls::Disable),
        "prefer" | "require" => match upstream_tls::unverified_config() {
            Ok(c) if mode == "prefer" => Some(UpstreamTls::Prefer(c)),
            Ok(c) => Some(UpstreamTls::Require(c)),
            Err(e) => {
                problems.push(format!("upstream.tls: {e}"));
                None
            }
        },
        "verify-full" => match &raw.tls.ca {
            Some(ca) => {
                let host = raw
                    .address
                    .rsplit_once(':')
                    .map_or(raw.address.as_str(), |(h, _)| h);
                let name = raw
                    .tls
                    .server_name
                    .clone()
                    .unwrap_or_else(|| host.trim_matches(['[', ']']).to_owned());
                match (
                    upstream_tls::verified_config(Path::new(ca)),
                    rustls::pki_types::ServerName::try_from(name.clone()),
                ) {
                    (Ok(c), Ok(n)) => Some(UpstreamTls::VerifyFull(c, n)),
                    (Err(e), _) => {
                        problems.push(format!("upstream.tls.ca: {e}"));
                        None
                    }
                    (_, Err(_)) => {
                        problems.push(format!("upstream.tls.server_name = {name:?} is not a valid DNS name or IP address"));
                        None
                    }
                }
            }
            None => {
                problems.push(
                    "upstream.tls.mode = \"verify-full\" needs upstream.tls.ca (a PEM CA file)"
                        .into(),
                );
                None
            }
        },
        other => {
            problems.push(format!(
                "upstream.tls.mode = {other:?} is not one of \"disable\", \"prefer\", \"require\", \"verify-full\""
            ));
            None
        }
    };
    if problems.len() > before {
        return None;
    }
    Some(UpstreamOptions {
        address: raw.address.clone(),
        tls: tls?,
        connect_timeout: Duration::from_millis(raw.connect_timeout_ms),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn default_threads_is_half_the_cores_but_two_on_small_hosts() {
        let got: Vec<usize> = [1, 2, 3, 4, 5, 8, 16]
            .into_iter()
            .map(super::default_threads)
            .collect();
        assert_eq!(got, [1, 2, 2, 2, 2, 4, 8]);
    }

    #[test]
    fn defaults_are_valid() {
        let c = crate::config::parse("", Path::new("t.toml")).unwrap();
        assert_eq!(c.listen.address, "0.0.0.0:6432");
        assert_eq!(c.upstream.address, "127.0.0.1:5432");
        assert_eq!(c.metrics_address, "127.0.0.1:9930");
    }

    #[test]
    fn every_problem_is_listed() {
        let text = r#"
[listen]
address = "nowhere"
tls = { mode = "sometimes" }
[upstream]
tls = { mode = "verify-full" }
connect_timeout_ms = 0
"#;
        let err = crate::config::parse(text, Path::new("bad.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("bad.toml has 4 problem(s):"), "{err}");
        assert!(err.contains("listen.address = \"nowhere\""), "{err}");
        assert!(err.contains("listen.tls.mode = \"sometimes\""), "{err}");
        assert!(err.contains("upstream.connect_timeout_ms = 0"), "{err}");
        assert!(err.contains("verify-full\" needs upstream.tls.ca"), "{err}");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = crate::config::parse("[listen]\nadress = \"x:1\"\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("adress"), "{err}");
        assert!(err.contains("c.toml"), "{err}");
    }

    #[test]
    fn missing_tls_files_are_named() {
        let text = "[listen]\ntls = { mode = \"require\", cert = \"/nonexistent/c.pem\", key = \"/nonexistent/k.pem\" }\n";
        let err = crate::config::parse(text, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/c.pem"), "{err}");
    }
}
