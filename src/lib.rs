//! wsdiag: diagnose broken WebSocket upgrades behind reverse proxies from packets.
//!
//! The code is a pipeline, one module per stage, data flowing one way:
//! `source` (pcap/pcapng packets) -> `decode` (link/IP/TCP views) -> `tcp` (reassembly) ->
//! `http` (HTTP/1.x messages) -> `diagnose` (handshakes, verdicts, fixes) -> `report`.
//! `analyze` routes data between the stages; `cli` owns the flags.

pub mod analyze;
pub mod cli;
pub mod common;
pub mod decode;
pub mod diagnose;
pub mod http;
pub mod report;
pub mod source;
pub mod tcp;
pub mod ws;

use std::io::{self, Write};

use cli::{Command, FormatArg};

/// Exit status: no broken or rejected handshake.
pub const EXIT_OK: u8 = 0;
/// Exit status: some handshake was broken or rejected.
pub const EXIT_FOUND: u8 = 1;
/// Exit status: bad usage or unreadable input.
pub const EXIT_ERROR: u8 = 2;

/// Runs a parsed command, writing the report to stdout. Returns the exit status.
pub fn run(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Analyze {
            files,
            format,
            all,
            config,
        } => {
            let analysis = analyze::analyze(&files, &config, &mut |_| {})?;
            let stdout = io::stdout();
            let mut out = io::BufWriter::new(stdout.lock());
            let written = match format {
                FormatArg::Table => report::table::write(&mut out, &analysis, all),
                FormatArg::Json => report::json::write(&mut out, &analysis, all),
            }
            .and_then(|()| out.flush());
            match written {
                // A closed stdout (`| head`) is not an error.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
                Err(e) => return Err(e.into()),
                Ok(()) => {}
            }
            Ok(if analysis.has_failures() {
                EXIT_FOUND
            } else {
                EXIT_OK
            })
        }
    }
}
