//! `spillover`: measure and explain the alignment tax of a safety intervention on a language model.

mod adapters;
mod cli;
mod commands;
mod exit;
mod models;
mod out;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // Before any tensor work: one thread for candle's memory-bound elementwise ops (see the docs).
    spillover_engine::threads::configure();
    let cli = cli::Cli::parse();
    match commands::dispatch(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => exit::report(&e),
    }
}
