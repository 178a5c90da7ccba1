//! `behaviord`: the system daemon. Everything is in the library (`behaviord::daemon`).

use std::path::PathBuf;
use std::process::ExitCode;

use behaviord::config;
use behaviord::daemon::{self, Options, DEFAULT_STATE_DIR};
use clap::Parser;

/// Keystroke-dynamics authentication daemon (D-Bus system service).
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Policy file.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Check a policy file (default: --config or the default path), print "ok" or the file,
    /// line and reason, and exit 0 or 1.
    #[arg(long, value_name = "PATH", num_args = 0..=1)]
    check_config: Option<Option<PathBuf>>,
    /// Directory of the database (created 0700).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_STATE_DIR)]
    state_dir: PathBuf,
    /// Syslog socket (default /dev/log).
    #[arg(long, value_name = "PATH")]
    syslog_socket: Option<PathBuf>,
    /// Export org.behaviord.Test1 to inject key timings instead of reading keyboards.
    /// For tests only.
    #[arg(long)]
    test_input: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(path) = cli.check_config {
        let path = path
            .or(cli.config)
            .unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
        return match config::load(&path, &[]) {
            Ok(_) => {
                println!("ok");
                ExitCode::SUCCESS
            }
            Err(e) => {
                println!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    let opts = Options {
        config_given: cli.config.is_some(),
        config: cli
            .config
            .unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH)),
        state_dir: cli.state_dir,
        syslog_socket: cli.syslog_socket,
        test_input: cli.test_input,
    };
    match daemon::run(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("behaviord: {e}");
            ExitCode::FAILURE
        }
    }
}
