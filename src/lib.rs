//! wsdiag: diagnose broken WebSocket upgrades behind reverse proxies from packets.
//!
//! The code is a pipeline, one module per stage, data flowing one way:
//! `source` (pcap/pcapng packets) -> `decode` (link/IP/TCP views) -> `tcp` (reassembly) ->
//! `http` (HTTP/1.x messages) -> `diagnose` (handshakes, verdicts, fixes) -> `report`.
//! `analyze` routes data between the stages; `cli` owns the flags. Beside the pipeline,
//! `nginx` reads the nginx configuration (`wsdiag nginx`) and routes handshakes to their
//! location (`analyze --nginx-config`).

pub mod analyze;
pub mod cli;
pub mod common;
pub mod decode;
pub mod diagnose;
pub mod fuzzing;
pub mod http;
pub mod nginx;
pub mod probe;
pub mod report;
pub mod source;
pub mod tcp;
pub mod ws;

use std::io;
#[cfg(feature = "capture")]
use std::io::Write;

use analyze::AnalyzeError;
use cli::Command;
use report::{Analysis, Finding, Format, Live, Output, Reporter, Terminal};

/// Exit status: no broken or rejected handshake.
pub const EXIT_OK: u8 = 0;
/// Exit status: some handshake was broken or rejected.
pub const EXIT_FOUND: u8 = 1;
/// Exit status: bad usage or unreadable input.
pub const EXIT_ERROR: u8 = 2;

/// How the build was made without live capture, and what to do instead.
#[cfg(not(feature = "capture"))]
const NO_CAPTURE: &str = "this wsdiag was built without live capture: build it with `cargo install --path . --features capture` (needs libpcap-dev), or capture with tcpdump and analyse the stream: `sudo tcpdump -i lo -U -w - tcp port 8080 | wsdiag analyze -`";

/// `probe --capture` in a build without live capture.
#[cfg(not(feature = "capture"))]
pub const NO_CAPTURE_PROBE: &str = "--capture needs live capture, and this wsdiag was built without it: build it with `cargo install --path . --features capture` (needs libpcap-dev), or run `sudo tcpdump -i lo -U -w - tcp port 8080 | wsdiag analyze -` beside the probe";

/// Runs a parsed command, writing the report to stdout and notes to stderr. Returns the exit
/// status.
pub fn run(command: Command) -> anyhow::Result<u8> {
    // Broken or rejected handshakes already handed out, for the exit status when stdout closes
    // before the end.
    let mut seen_failure = false;
    let result = match command {
        Command::Analyze {
            files,
            jobs,
            mut output,
            config,
            nginx,
        } => {
            let routing = load_routing(nginx.as_ref())?;
            let mut out = open_output(&mut output)?;
            // Findings are printed as they happen when reading a stream; JSON Lines always
            // streams.
            let live = files.iter().any(|f| f == "-");
            let mut reporter = Reporter::new(&mut *out, output, live);
            analyze::analyze(&files, &config, jobs, &mut |item| {
                seen_failure |= is_failure(item);
                reporter.live(located(routing.as_ref(), item).as_live())
            })
            .and_then(|a| finish(&mut reporter, locate_all(routing.as_ref(), a)))
        }
        Command::Capture {
            spec,
            #[allow(unused_mut)]
            mut output,
            config,
            nginx,
        } => {
            #[cfg(feature = "capture")]
            {
                let routing = load_routing(nginx.as_ref())?;
                let mut out = open_output(&mut output)?;
                let mut reporter = Reporter::new(&mut *out, output, true);
                analyze::capture(
                    &spec,
                    &config,
                    &mut |msg| eprintln!("wsdiag: {msg}"),
                    &mut |item| {
                        seen_failure |= is_failure(item);
                        reporter.live(located(routing.as_ref(), item).as_live())
                    },
                )
                .and_then(|a| finish(&mut reporter, locate_all(routing.as_ref(), a)))
            }
            #[cfg(not(feature = "capture"))]
            {
                let _ = (spec, output, config, nginx);
                anyhow::bail!(NO_CAPTURE)
            }
        }
        Command::Nginx { options, format } => {
            let report = nginx::check(&options)?;
            let mut out = io::BufWriter::new(io::stdout().lock());
            let written = match format {
                report::Format::Json => report::nginx::write_json(&mut out, &report),
                report::Format::Markdown => report::nginx::write_markdown(&mut out, &report),
                _ => report::nginx::write_table(&mut out, &report),
            }
            .and_then(|()| io::Write::flush(&mut out));
            match written {
                Err(e) if e.kind() != io::ErrorKind::BrokenPipe => return Err(e.into()),
                _ => {}
            }
            return Ok(if report.needs_fixing() {
                EXIT_FOUND
            } else {
                EXIT_OK
            });
        }
        Command::Probe {
            spec,
            format,
            nginx,
        } => {
            let routing = load_routing(nginx.as_ref())?;
            let mut run = probe::run(&spec).map_err(|e| anyhow::anyhow!(e))?;
            if let Some(r) = &routing {
                probe::locate(&mut run, r);
            }
            let mut out = io::BufWriter::new(io::stdout().lock());
            let written = match format {
                Format::Json => report::probe::write_json(&mut out, &run),
                Format::Markdown => report::probe::write_markdown(&mut out, &run),
                _ => report::probe::write_table(&mut out, &run),
            }
            .and_then(|()| io::Write::flush(&mut out));
            match written {
                Err(e) if e.kind() != io::ErrorKind::BrokenPipe => return Err(e.into()),
                _ => {}
            }
            return Ok(run.exit_status());
        }
        Command::ListInterfaces => {
            #[cfg(feature = "capture")]
            {
                let mut out = io::BufWriter::new(io::stdout().lock());
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

fn is_failure(item: Live<'_>) -> bool {
    match item {
        Live::Handshake(f) => f.is_failure(),
        Live::Session(s) => !s.session.problems.is_empty(),
    }
}

/// Loads `--nginx-config` once, before any packet is read (a bad config is a usage error).
fn load_routing(arg: Option<&cli::NginxConfigArg>) -> anyhow::Result<Option<nginx::Routing>> {
    arg.map(|a| nginx::Routing::load(&a.path, a.version.as_deref()))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--nginx-config: {e}"))
}

/// A live item, its handshake with the nginx location that served it when a config was given.
#[allow(clippy::large_enum_variant)]
enum Located<'f> {
    Handshake(std::borrow::Cow<'f, Finding>),
    // (Boxing the owned finding would allocate per handshake for nothing: this lives for one
    // call.)
    Session(&'f report::SessionRecord),
}

impl Located<'_> {
    fn as_live(&self) -> Live<'_> {
        match self {
            Located::Handshake(f) => Live::Handshake(f),
            Located::Session(s) => Live::Session(s),
        }
    }
}

/// Where the report goes: the `--output` file, or stdout (whose terminal decides the table's
/// colour and width).
fn open_output(output: &mut Output) -> anyhow::Result<Box<dyn io::Write>> {
    match &output.path {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(|e| {
                anyhow::anyhow!("cannot write the report to {}: {e}", path.display())
            })?;
            Ok(Box::new(io::BufWriter::new(file)))
        }
        None => {
            if output.format == Format::Table {
                output.terminal = Terminal::for_stdout();
            }
            Ok(Box::new(io::BufWriter::new(io::stdout().lock())))
        }
    }
}

/// The item with the nginx location that served it, when a config was given. A post-pass over
/// finished handshakes keeps `diagnose` a pure function of the packets.
fn located<'f>(routing: Option<&nginx::Routing>, item: Live<'f>) -> Located<'f> {
    match (routing, item) {
        (Some(r), Live::Handshake(f)) => {
            let mut f = f.clone();
            f.nginx = Some(r.locate(&f.handshake));
            Located::Handshake(std::borrow::Cow::Owned(f))
        }
        (None, Live::Handshake(f)) => Located::Handshake(std::borrow::Cow::Borrowed(f)),
        (_, Live::Session(s)) => Located::Session(s),
    }
}

fn locate_all(routing: Option<&nginx::Routing>, mut a: Analysis) -> Analysis {
    if let Some(r) = routing {
        for f in &mut a.handshakes {
            f.nginx = Some(r.locate(&f.handshake));
        }
    }
    a
}

/// Writes the end of the report; true when some handshake was broken or rejected.
fn finish(reporter: &mut Reporter<'_>, a: Analysis) -> Result<bool, AnalyzeError> {
    match reporter.finish(&a) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        r => r?,
    }
    Ok(a.has_failures())
}
