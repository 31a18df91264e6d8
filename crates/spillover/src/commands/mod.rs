//! One module per subcommand.

pub mod bench;
mod bench_train;
mod fetch;
mod generate;
mod inspect;
pub mod judge;
mod score;
pub mod train;

use crate::cli::{Cli, Command};

pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Generate(a) => generate::run(a),
        Command::Score(a) => score::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Fetch(a) => fetch::run(a),
        Command::Train(a) => train::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Judge(a) => judge::run(a),
    }
}
