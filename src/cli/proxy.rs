//! `trailmask proxy --config FILE` (see SPEC.md, "Commands").

use std::path::PathBuf;

use crate::error::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Path of the TOML configuration file.
    #[arg(long)]
    pub config: PathBuf,
}

pub fn run(_args: Args) -> Result<u8> {
    Err(Error::usage("`trailmask proxy` is not built yet"))
}
