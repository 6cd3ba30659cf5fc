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
pub mod fuzzing;
pub mod http;
pub mod report;
pub mod source;
pub mod tcp;
pub mod ws;

use std::io;
#[cfg(feature = "capture")]
use std::io::Write;

use analyze::AnalyzeError;
use cli::Command;
use report::{Analysis, Finding, Reporter};

/// Exit status: no broken or rejected handshake.
pub const EXIT_OK: u8 = 0;
/// Exit status: some handshake was broken or rejected.
pub const EXIT_FOUND: u8 = 1;
/// Exit status: bad usage or unreadable input.
pub const EXIT_ERROR: u8 = 2;

/// How the build was made without live capture, and what to do instead.
#[cfg(not(feature = "capture"))]
const NO_CAPTURE: &str = "this wsdiag was built without live capture: build it with `cargo install --path . --features capture` (needs libpcap-dev), or capture with tcpdump and analyse the stream: `sudo tcpdump -i lo -U -w - tcp port 8080 | wsdiag analyze -`";

/// Runs a parsed command, writing the report to stdout and notes to stderr. Returns the exit
/// status.
pub fn run(command: Command) -> anyhow::Result<u8> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    // Broken or rejected handshakes already handed out, for the exit status when stdout closes
    // before the end.
    let mut seen_failure = false;
    let result = match command {
        Command::Analyze {
            files,
            output,
            config,
        } => {
            // Findings are printed as they happen when reading a stream; JSON Lines always
            // streams.
            let live = files.iter().any(|f| f == "-");
            let mut reporter = Reporter::new(&mut out, output, live);
            analyze::analyze(&files, &config, &mut |f| {
                seen_failure |= is_failure(f);
                reporter.finding(f)
            })
            .and_then(|a| finish(&mut reporter, a))
        }
        Command::Capture {
            spec,
            output,
            config,
        } => {
            #[cfg(feature = "capture")]
            {
                let mut reporter = Reporter::new(&mut out, output, true);
                analyze::capture(
                    &spec,
                    &config,
                    &mut |msg| eprintln!("wsdiag: {msg}"),
                    &mut |f| {
                        seen_failure |= is_failure(f);
                        reporter.finding(f)
                    },
                )
                .and_then(|a| finish(&mut reporter, a))
            }
            #[cfg(not(feature = "capture"))]
            {
                let _ = (spec, output, config);
                anyhow::bail!(NO_CAPTURE)
            }
        }
        Command::ListInterfaces => {
            #[cfg(feature = "capture")]
            {
                let list = source::live::interfaces()?;
                for (name, desc) in list {
                    match desc {
                        Some(d) => writeln!(out, "{name}\t{d}")?,
                        None => writeln!(out, "{name}")?,
                    }
                }
                out.flush()?;
                return Ok(EXIT_OK);
            }
            #[cfg(not(feature = "capture"))]
            anyhow::bail!(NO_CAPTURE)
        }
    };
    let status = |failures: bool| if failures { EXIT_FOUND } else { EXIT_OK };
    match result {
        Ok(failures) => Ok(status(failures)),
        // A closed stdout (`| head`) is not an error: stop quietly, with what was found so far.
        Err(AnalyzeError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
            Ok(status(seen_failure))
        }
        Err(e) => Err(e.into()),
    }
}

fn is_failure(f: &Finding) -> bool {
    matches!(
        f.handshake.verdict,
        diagnose::Verdict::Broken | diagnose::Verdict::Rejected
    )
}

/// Writes the end of the report; true when some handshake was broken or rejected.
fn finish(reporter: &mut Reporter<'_>, a: Analysis) -> Result<bool, AnalyzeError> {
    match reporter.finish(&a) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        r => r?,
    }
    Ok(a.has_failures())
}
