//! `trailmask keygen --out DIR`: writes a new Ed25519 trail-signing key pair (SPEC.md,
//! "Commands"). The key files' format lives in `trail::checkpoint`.

use std::path::PathBuf;

use crate::error::{Error, Kind, Result, Source};
use crate::trail::checkpoint::{self, KeyError};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory for trail-signing.key and trail-signing.pub; created if missing.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

pub fn run(args: Args) -> Result<u8> {
    match checkpoint::keygen(&args.out) {
        Ok(files) => {
            println!(
                "wrote {} (keep it secret, mode 0600) and {} (key_id {})",
                files.secret.display(),
                files.public.display(),
                files.key_id
            );
            Ok(0)
        }
        Err(e @ KeyError::Exists { .. }) => Err(Error::usage(e.to_string())),
        Err(e) => Err(Error::new(Kind::Io, Source::Client, e.to_string())),
    }
}
