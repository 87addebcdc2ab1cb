//! trailmask: a PostgreSQL wire-protocol proxy that masks personal columns per role and keeps a
//! BLAKE3 hash-chained, Ed25519-signed access trail.
//!
//! # Map
//!
//! A client connects to the [`listener`], which answers SSLRequest/GSSENCRequest (TLS in
//! `listener::tls`), admits the connection and hands it to a [`session`]. A session is one task
//! that owns the client socket and one [`upstream`] connection to PostgreSQL; authentication is
//! relayed so the database stays the judge of passwords. Every frame crosses the session as raw
//! bytes split by [`protocol::frame`]; only the message types a rule acts on are decoded (views in
//! [`protocol::frontend`] and [`protocol::backend`]).
//!
//! Before a statement goes upstream the session asks [`sql`] for its analysis (parsed once per
//! distinct normalised text and cached), resolves names against the [`catalog`] snapshot, and asks
//! [`policy`] for a decision: refuse, or a plan that says which result fields to mask with which
//! [`mask`]. The session writes `statement` and `result` records through the single
//! [`trail`] writer (group commit, durability modes, checkpoints); the auditor's side of the trail
//! (`verify`, `search`, reports) never touches the proxy code. [`metrics`] holds the Prometheus
//! families every area updates and serves `/metrics`, `/healthz`, `/readyz` and `/checkpoint`;
//! [`anomaly`] turns per-login counters into alerts.
//!
//! [`config`] turns the TOML file into each module's own options type, reporting every problem at
//! once; [`cli`] holds one file per command and is the only place that prints. [`cluster`] starts a
//! throwaway PostgreSQL (Debian's binaries) for the integration tests and `trailmask demo`.

#![forbid(unsafe_code)]

pub mod anomaly;
pub mod catalog;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod error;
pub mod listener;
pub mod mask;
pub mod metrics;
pub mod policy;
pub mod protocol;
pub mod session;
pub mod sql;
pub mod stream;
pub mod trail;
pub mod upstream;
