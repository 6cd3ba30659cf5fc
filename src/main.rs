//! wsdiag's entry point: parse flags, run, map the result to an exit status
//! (0 nothing broken, 1 broken or rejected handshakes found, 2 bad usage or unreadable input).

use std::process::ExitCode;

fn main() -> ExitCode {
    let command = wsdiag::cli::parse();
    match wsdiag::run(command) {
        Ok(status) => ExitCode::from(status),
        Err(e) => {
            eprintln!("wsdiag: {e}");
            ExitCode::from(2)
        }
    }
}
