//! Metric families of the connection layer: sessions, upstream errors, per-statement timing.

use crate::metrics::policy::Op;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

/// How a client connection ended up, the `outcome` label of `connections_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionOutcome {
    /// Authenticated and served.
    Ok,
    /// The database refused the login.
    AuthFailed,
    /// Refused by trailmask (TLS required, too many connections, trail unavailable, bad startup).
    Refused,
    /// The upstream could not be reached.
    UpstreamError,
    /// A cancel request (not a session).
    Cancel,
}

impl ConnectionOutcome {
    pub const ALL: [ConnectionOutcome; 5] = [
        ConnectionOutcome::Ok,
        ConnectionOutcome::AuthFailed,
        ConnectionOutcome::Refused,
        ConnectionOutcome::UpstreamError,
        ConnectionOutcome::Cancel,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionOutcome::Ok => "ok",
            ConnectionOutcome::AuthFailed => "auth_failed",
            ConnectionOutcome::Refused => "refused",
            ConnectionOutcome::UpstreamError => "upstream_error",
            ConnectionOutcome::Cancel => "cancel",
        }
    }
}

/// Latency buckets from 20 µs to 10 s: proxy overhead lives at the low end, statements anywhere.
const LATENCY_BUCKETS: &[f64] = &[
    0.00002, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
    0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The `op` labels of `statement_duration_seconds`, in [`ProxyMetrics::statement_duration`]'s
/// order.
const DURATION_OPS: [&str; 7] = [
    "SELECT", "INSERT", "UPDATE", "DELETE", "COPY", "DDL", "OTHER",
];

/// The connection layer's families. Cheap to clone: each field is an `Arc` inside.
#[derive(Clone)]
pub struct ProxyMetrics {
    pub connections_active: IntGauge,
    connections_total: IntCounterVec,
    pub upstream_errors_total: IntCounter,
    /// `statement_duration_seconds`, one series per [`DURATION_OPS`] label, resolved at
    /// registration (a label lookup hashes its values; this is observed for every statement).
    statement_durations: [Histogram; DURATION_OPS.len()],
    pub proxy_overhead_seconds: Histogram,
}

impl ProxyMetrics {
    /// Registers the families, every `op` series of the duration histogram included.
    pub fn register(registry: &Registry) -> prometheus::Result<ProxyMetrics> {
        let connections_active = IntGauge::new(
            "trailmask_connections_active",
            "Client connections currently open.",
        )?;
        let connections_total = IntCounterVec::new(
            Opts::new(
                "trailmask_connections_total",
                "Client connections accepted, by outcome.",
            ),
            &["outcome"],
        )?;
        let upstream_errors_total = IntCounter::new(
            "trailmask_upstream_errors_total",
            "Failures to reach or keep the upstream database.",
        )?;
        let statement_duration_seconds = HistogramVec::new(
            HistogramOpts::new(
                "trailmask_statement_duration_seconds",
                "Time from a statement leaving trailmask to its completion, by operation.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["op"],
        )?;
        let proxy_overhead_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "trailmask_proxy_overhead_seconds",
                "Time a statement spends inside trailmask before it goes upstream.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )?;
        registry.register(Box::new(connections_active.clone()))?;
        registry.register(Box::new(connections_total.clone()))?;
        registry.register(Box::new(upstream_errors_total.clone()))?;
        registry.register(Box::new(statement_duration_seconds.clone()))?;
        registry.register(Box::new(proxy_overhead_seconds.clone()))?;
        for outcome in ConnectionOutcome::ALL {
            connections_total.with_label_values(&[outcome.as_str()]);
        }
        let statement_durations =
            DURATION_OPS.map(|op| statement_duration_seconds.with_label_values(&[op]));
        Ok(ProxyMetrics {
            connections_active,
            connections_total,
            upstream_errors_total,
            statement_durations,
            proxy_overhead_seconds,
        })
    }

    /// The `statement_duration_seconds` series of a statement of kind `op` (`None`: not
    /// decided, as when trailmask only relays).
    pub fn statement_duration(&self, op: Option<Op>) -> &Histogram {
        let i = match op {
            Some(Op::Select) => 0,
            Some(Op::Insert) => 1,
            Some(Op::Update) => 2,
            Some(Op::Delete) => 3,
            Some(Op::Copy) => 4,
            Some(Op::Ddl) => 5,
            Some(Op::Merge | Op::Transaction | Op::Other) | None => 6,
        };
        let [first, ..] = &self.statement_durations;
        self.statement_durations.get(i).unwrap_or(first)
    }

    pub fn connection(&self, outcome: ConnectionOutcome) {
        self.connections_total
            .with_label_values(&[outcome.as_str()])
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_exist_before_the_first_event() {
        let registry = Registry::new();
        let m = ProxyMetrics::register(&registry).unwrap();
        m.connection(ConnectionOutcome::Ok);
        let text = crate::metrics::render(&registry);
        assert!(
            text.contains("trailmask_connections_total{outcome=\"ok\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("trailmask_connections_total{outcome=\"auth_failed\"} 0\n"));
        assert!(text.contains("trailmask_connections_active 0\n"));
        assert!(text.contains("trailmask_statement_duration_seconds_count{op=\"SELECT\"} 0\n"));
        m.statement_duration(Some(Op::Copy)).observe(0.5);
        m.statement_duration(Some(Op::Transaction)).observe(0.5);
        m.statement_duration(None).observe(0.5);
        let text = crate::metrics::render(&registry);
        assert!(text.contains("trailmask_statement_duration_seconds_count{op=\"COPY\"} 1\n"));
        assert!(text.contains("trailmask_statement_duration_seconds_count{op=\"OTHER\"} 2\n"));
        assert!(text.contains("trailmask_statement_duration_seconds_count{op=\"SELECT\"} 0\n"));
    }
}
