//! One module per subcommand.

pub mod bench;
mod bench_run;
mod bench_train;
pub mod cache;
pub mod compare;
pub mod eval;
mod fetch;
mod generate;
mod inspect;
pub mod judge;
pub mod mri;
pub mod report;
pub mod run;
mod score;
pub mod sweep;
pub mod train;

use crate::cli::{Cli, Command};

pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Generate(a) => generate::run(a),
        Command::Score(a) => score::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Cache(a) => cache::run(a),
        Command::Fetch(a) => fetch::run(a),
        Command::Train(a) => train::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Judge(a) => judge::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Run(a) => run::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Sweep(a) => sweep::run(a),
        Command::Mri(a) => mri::run(a),
        Command::Report(a) => report::run(a),
    }
}
