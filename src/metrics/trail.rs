//! Metric families of the trail area (SPEC.md, "Metrics"): records written per kind, fsync
//! latency, queue depth, bytes, head seq, time of the last checkpoint and write failures.
//! Registered once; the writer thread gets a clone.

use prometheus::{Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts};

/// Every `kind` label value, so each series exists before the first record of that kind.
/// (Same list as `trail::record::KINDS`; metrics is a leaf and imports nothing of ours.)
pub const RECORD_KINDS: [&str; 9] = [
    "segment_start",
    "config",
    "session_start",
    "statement",
    "result",
    "session_end",
    "anomaly",
    "checkpoint",
    "prune",
];

/// fsync takes from tens of microseconds (tmpfs, NVMe with PLP) to tens of milliseconds
/// (spinning disks, network volumes); buckets span that range.
const FSYNC_BUCKETS: [f64; 12] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5,
];

#[derive(Clone, Debug)]
pub struct TrailMetrics {
    /// `trailmask_audit_records_total{kind}`.
    pub records: IntCounterVec,
    /// `trailmask_audit_fsync_seconds`.
    pub fsync_seconds: Histogram,
    /// `trailmask_audit_queue_depth`: records waiting for the writer thread.
    pub queue_depth: IntGauge,
    /// `trailmask_audit_bytes_total`: bytes written to segments (before compression).
    pub bytes: IntCounter,
    /// `trailmask_audit_head_seq`: seq of the newest record written.
    pub head_seq: IntGauge,
    /// `trailmask_audit_last_checkpoint_timestamp_seconds`: Unix time of the newest durable checkpoint.
    pub last_checkpoint_timestamp: Gauge,
    /// `trailmask_audit_write_failures_total`.
    pub write_failures: IntCounter,
}

impl TrailMetrics {
    /// Creates the families and registers them in `registry`. A family already registered
    /// (a second call on the same registry) is logged and left out of that registry.
    pub fn register(registry: &prometheus::Registry) -> Self {
        let m = TrailMetrics::unregistered();
        let collectors: [Box<dyn prometheus::core::Collector>; 7] = [
            Box::new(m.records.clone()),
            Box::new(m.fsync_seconds.clone()),
            Box::new(m.queue_depth.clone()),
            Box::new(m.bytes.clone()),
            Box::new(m.head_seq.clone()),
            Box::new(m.last_checkpoint_timestamp.clone()),
            Box::new(m.write_failures.clone()),
        ];
        for c in collectors {
            if let Err(e) = registry.register(c) {
                tracing::warn!(error = %e, "trail metric not registered");
            }
        }
        m
    }

    /// The families without a registry (tests, benches).
    pub fn unregistered() -> Self {
        // The names, help texts and buckets below are constants that satisfy prometheus's
        // rules, so construction cannot fail; `expect` documents that invariant.
        let records = IntCounterVec::new(
            Opts::new(
                "trailmask_audit_records_total",
                "Trail records written, by kind.",
            ),
            &["kind"],
        )
        .expect("static metric definition");
        for kind in RECORD_KINDS {
            records.with_label_values(&[kind]);
        }
        TrailMetrics {
            records,
            fsync_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "trailmask_audit_fsync_seconds",
                    "Time spent in each fsync of a trail segment.",
                )
                .buckets(FSYNC_BUCKETS.to_vec()),
            )
            .expect("static metric definition"),
            queue_depth: IntGauge::new(
                "trailmask_audit_queue_depth",
                "Records waiting for the trail writer.",
            )
            .expect("static metric definition"),
            bytes: IntCounter::new(
                "trailmask_audit_bytes_total",
                "Bytes written to trail segments.",
            )
            .expect("static metric definition"),
            head_seq: IntGauge::new(
                "trailmask_audit_head_seq",
                "Sequence number of the newest trail record written.",
            )
            .expect("static metric definition"),
            last_checkpoint_timestamp: Gauge::new(
                "trailmask_audit_last_checkpoint_timestamp_seconds",
                "Unix time of the newest durable checkpoint.",
            )
            .expect("static metric definition"),
            write_failures: IntCounter::new(
                "trailmask_audit_write_failures_total",
                "Failed trail writes or fsyncs.",
            )
            .expect("static metric definition"),
        }
    }
}

#[cfg(test)]
mod tests {
    use prometheus::Encoder;

    use super::*;

    #[test]
    fn every_kind_series_exists_at_zero() {
        let registry = prometheus::Registry::new();
        let m = TrailMetrics::register(&registry);
        m.records.with_label_values(&["statement"]).inc();
        let mut out = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&registry.gather(), &mut out)
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("trailmask_audit_records_total{kind=\"prune\"} 0\n"));
        assert!(text.contains("trailmask_audit_records_total{kind=\"statement\"} 1\n"));
        assert!(text.contains("trailmask_audit_fsync_seconds_count 0\n"));
        assert!(text.contains("trailmask_audit_write_failures_total 0\n"));
        assert!(text.contains("trailmask_audit_last_checkpoint_timestamp_seconds 0\n"));
    }
}
