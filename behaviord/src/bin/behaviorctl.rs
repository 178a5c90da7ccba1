//! behaviorctl: the administration and evaluation command line of behaviord.

use behaviord::evaluate::{self, EvaluateArgs};
use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "behaviorctl", version, about = "Manage and evaluate behaviord")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Offline accuracy of the matcher on a sample file (no daemon, no root).
    Evaluate(EvaluateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Evaluate(args) => evaluate::run(args).map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("behaviorctl: {e}");
            ExitCode::FAILURE
        }
    }
}
