//! Prometheus metric families, one struct per area, registered once at start-up and handed to
//! the code that updates them (no global lookups), plus the HTTP endpoint that serves them:
//! `/metrics`, `/healthz`, `/readyz` and `/checkpoint`. Names are the ones SPEC.md fixes.
//! This module is a leaf: it imports nothing of ours, so readiness and the checkpoint come in
//! through the [`Probes`] trait.

pub mod policy;
pub mod proxy;
pub mod server;
pub mod trail;

use prometheus::{Encoder, Registry, TextEncoder};

/// Renders every family in the Prometheus text format.
pub fn render(registry: &Registry) -> String {
    let mut out = Vec::new();
    // The text encoder writes into a Vec and fails only on a broken registry; render what we have.
    let _ = TextEncoder::new().encode(&registry.gather(), &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// What `/readyz` and `/checkpoint` ask of the running proxy.
pub trait Probes: Send + Sync + 'static {
    /// Whether the upstream answers and the trail can be written.
    fn ready(&self) -> impl std::future::Future<Output = Result<(), String>> + Send;
    /// The newest checkpoint record exactly as written, if any.
    fn latest_checkpoint(&self) -> Option<String>;
}
