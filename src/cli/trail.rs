//! `trailmask trail` (see SPEC.md, "Commands").

use crate::error::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> Result<u8> {
    Err(Error::usage("`trailmask trail` is not built yet"))
}
