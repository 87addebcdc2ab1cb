//! `trailmask verify`: checks every chain under a trail directory (or one) and prints a summary
//! or the first break (SPEC.md, "Commands"). Exit 0 intact, 1 broken, 2 for input that cannot be
//! examined. The checking lives in `trail::verify`; this file parses flags and prints.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::trail::archive::{self, ArchiveError};
use crate::trail::checkpoint;
use crate::trail::record::Digest;
use crate::trail::verify::{ChainReport, Options};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The trail directory (`audit.dir`).
    #[arg(long, value_name = "DIR")]
    pub trail: PathBuf,
    /// Public key file (`trail-signing.pub`) for checkpoint signatures; may be repeated.
    #[arg(long = "key", value_name = "PUBKEY_FILE")]
    pub keys: Vec<PathBuf>,
    /// Check only this chain.
    #[arg(long, value_name = "NAME")]
    pub chain: Option<String>,
    /// Fail unless the chain holds record SEQ (with hash HASH, if given).
    #[arg(long, value_name = "SEQ[:HASH]", value_parser = parse_expect_head)]
    pub expect_head: Option<(u64, Option<Digest>)>,
    /// Fail when records follow the last checkpoint.
    #[arg(long)]
    pub require_sealed: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_expect_head(s: &str) -> std::result::Result<(u64, Option<Digest>), String> {
    let (seq, hash) = match s.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let seq: u64 = seq
        .parse()
        .map_err(|_| format!("{seq:?} is not a sequence number"))?;
    let hash = match hash {
        Some(h) => Some(
            Digest::from_hex(&h.to_ascii_lowercase())
                .ok_or_else(|| format!("{h:?} is not 64 hex digits"))?,
        ),
        None => None,
    };
    Ok((seq, hash))
}

pub fn run(args: Args) -> Result<u8> {
    let mut keys = Vec::new();
    for path in &args.keys {
        keys.push(checkpoint::load_public_key(path).map_err(|e| Error::input(e.to_string()))?);
    }
    if !args.trail.is_dir() {
        return Err(Error::input(format!(
            "trail directory {} does not exist or is not a directory",
            args.trail.display()
        )));
    }
    if args.expect_head.is_some() && args.chain.is_none() {
        let chains = archive::chains(&args.trail).map_err(input)?;
        if chains.len() > 1 {
            return Err(Error::usage(format!(
                "--expect-head needs --chain: {} holds {} chains ({})",
                args.trail.display(),
                chains.len(),
                chains.join(", ")
            )));
        }
    }
    let opts = Options {
        keys,
        expect_head: args.expect_head,
        require_sealed: args.require_sealed,
    };
    let reports = archive::verify_dir(&args.trail, args.chain.as_deref(), &opts).map_err(input)?;
    let broken = reports.iter().any(|r| r.brk.is_some());
    if args.json {
        print_json(&reports, broken, opts.keys.is_empty())?;
    } else {
        print_text(&reports, opts.keys.is_empty());
    }
    Ok(u8::from(broken))
}

fn input(e: ArchiveError) -> Error {
    Error::input(e.to_string())
}

fn print_json(reports: &[ChainReport], broken: bool, no_keys: bool) -> Result<()> {
    let unchecked: u64 = reports.iter().map(|r| r.signatures_unchecked).sum();
    let doc = serde_json::json!({
        "status": if broken { "broken" } else { "ok" },
        "keys_given": !no_keys,
        "signatures_unchecked": unchecked,
        "chains": reports,
    });
    let text = serde_json::to_string_pretty(&doc)
        .map_err(|e| Error::internal(format!("cannot render the report as JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

fn print_text(reports: &[ChainReport], no_keys: bool) {
    for r in reports {
        for w in &r.warnings {
            println!("warning: chain {}: {w}", r.chain);
        }
        match &r.brk {
            Some(b) => {
                println!("chain {}: BROKEN: {}", r.chain, b.reason);
                println!("  file:     {}", b.file);
                println!("  line:     {}", b.line);
                match b.seq {
                    Some(s) => println!("  seq:      {s}"),
                    None => println!("  seq:      (unreadable)"),
                }
                println!("  expected: {}", b.expected);
                println!("  found:    {}", b.found);
            }
            None => {
                println!(
                    "chain {}: intact: {} records in {} segments, {} .. {}, head seq {} hash {}",
                    r.chain,
                    r.records,
                    r.segments,
                    r.first_ts.as_deref().unwrap_or("-"),
                    r.last_ts.as_deref().unwrap_or("-"),
                    r.head_seq.unwrap_or(0),
                    r.head_hash.as_deref().unwrap_or("-"),
                );
                if no_keys {
                    println!(
                        "  {} signatures not checked (no --key given)",
                        r.signatures_unchecked
                    );
                } else {
                    println!("  {} signatures checked", r.signatures_checked);
                }
            }
        }
    }
    let broken = reports.iter().filter(|r| r.brk.is_some()).count();
    println!(
        "{} chain(s) checked, {} intact, {} broken",
        reports.len(),
        reports.len() - broken,
        broken
    );
}
