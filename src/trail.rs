//! The access trail: a BLAKE3 hash-chained, Ed25519-signed log of sessions and statements on
//! local disk (SPEC.md, "Trail").
//!
//! * [`record`] — record kinds, the canonical JSON line and its hash; pure.
//! * [`checkpoint`] — Ed25519 key files, `key_id`, the signed checkpoint message.
//! * [`verify`] — the offline chain check over bytes; pure, no tokio, no proxy code.
//! * [`archive`] — reads a trail directory (chains, segments, zstd) for `verify` and the
//!   auditor's other commands; plain `std::fs`, no tokio.
//! * [`segment`] — segment file naming, creation, sealing, compression and fsync of files and
//!   directories; used only by the writer thread.
//! * [`writer`] — the single writer thread and the [`writer::TrailHandle`] sessions append through.

pub mod archive;
pub mod checkpoint;
pub mod record;
pub mod segment;
pub mod verify;
pub mod writer;
