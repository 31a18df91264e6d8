//! One module per subcommand.

mod fetch;
mod generate;
mod inspect;
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
    }
}
