//! Prometheus metric families, one struct per area, registered once at start-up and handed to
//! the code that updates them (no global lookups), plus the HTTP endpoint that serves them.
//! Names are the ones SPEC.md fixes, prefixed `trailmask_`.

pub mod policy;
pub mod proxy;
pub mod trail;
