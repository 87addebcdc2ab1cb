//! Command-line interface: one file per command, each with its clap `Args` and a `run` that
//! returns the exit status. This is the only module that prints to stdout.

pub mod demo;
pub mod keygen;
pub mod policy;
pub mod proxy;
pub mod trail;
pub mod verify;

use clap::{Parser, Subcommand};

use crate::error::Result;

/// PostgreSQL proxy that masks personal data per role and keeps a signed, hash-chained trail.
#[derive(Debug, Parser)]
#[command(name = "trailmask", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the proxy until SIGINT/SIGTERM.
    Proxy(proxy::Args),
    /// Verify the hash chain and signatures of a trail directory.
    Verify(verify::Args),
    /// Write a new Ed25519 trail-signing key pair.
    Keygen(keygen::Args),
    /// Validate the config and print the role x personal-column matrix.
    Policy(policy::Args),
    /// Search the trail and print reports.
    Trail(trail::Args),
    /// Start a throwaway PostgreSQL with demo hotel data and the proxy in front of it.
    Demo(demo::Args),
}

/// Runs one command and returns its exit status.
pub fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Proxy(args) => proxy::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Keygen(args) => keygen::run(args),
        Command::Policy(args) => policy::run(args),
        Command::Trail(args) => trail::run(args),
        Command::Demo(args) => demo::run(args),
    }
}

/// Structured logs to stderr; `RUST_LOG` overrides the default `info` level.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
