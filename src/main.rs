//! The `trailmask` binary: parse arguments, start tracing, run the command, map the outcome to an
//! exit status. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = trailmask::cli::Cli::parse();
    trailmask::cli::init_tracing();
    match trailmask::cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("trailmask: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
