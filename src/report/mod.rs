//! Reports: the only stage that formats. Takes an [`Analysis`] and writes it as a terminal
//! table, a JSON document or JSON Lines, or a Markdown or HTML report (both rendered from one
//! [`doc::Doc`], so they say the same). Nothing upstream prints.

pub mod doc;
pub mod html;
pub mod json;
pub mod markdown;
pub mod nginx;
pub mod probe;
pub mod table;

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;

use serde::Serialize;

use crate::common::{Timestamp, Warning};
use crate::diagnose::{Fix, Handshake, PlainRequest, SessionFinding};

/// Report formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Jsonl,
    Markdown,
    Html,
}

/// How to report, whatever the input.
#[derive(Clone, Debug)]
pub struct Output {
    pub format: Format,
    /// List plain requests too.
    pub all: bool,
    /// Write the report to this file instead of stdout.
    pub path: Option<PathBuf>,
    /// The arguments wsdiag was run with (after the program name), for reports that say how
    /// they were made.
    pub command_line: Vec<String>,
    /// Where the table goes: colour and width. Plain and unbounded unless set.
    pub terminal: Terminal,
    /// Secrets are redacted (false with `--no-redact`, which every format says first).
    pub redacted: bool,
}

/// What the terminal the table is written to can show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Terminal {
    /// Colour verdicts with ANSI escapes.
    pub color: bool,
    /// Columns available; the table shortens targets to fit.
    pub width: Option<usize>,
}

impl Terminal {
    /// For standard output: colour only on a terminal and without `NO_COLOR`; the width from
    /// `COLUMNS`, else from the terminal itself.
    pub fn for_stdout() -> Terminal {
        use std::io::IsTerminal;
        let stdout = io::stdout();
        let tty = stdout.is_terminal();
        Terminal::decide(
            tty,
            std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            std::env::var("COLUMNS").ok().as_deref(),
            if tty {
                terminal_size::terminal_size_of(&stdout).map(|(w, _)| usize::from(w.0))
            } else {
                None
            },
        )
    }

    /// The decision itself, from what was found out.
    pub fn decide(
        tty: bool,
        no_color: bool,
        columns: Option<&str>,
        tty_width: Option<usize>,
    ) -> Terminal {
        let columns = columns
            .and_then(|c| c.trim().parse::<usize>().ok())
            .filter(|&c| c > 0);
        Terminal {
            color: tty && !no_color,
            width: columns.or(tty_width),
        }
    }
}

/// Writes a report: each finding as it is judged when the output is live (a line in table
/// format, an object in JSON Lines), and the rest at the end.
pub struct Reporter<'w> {
    out: &'w mut dyn Write,
    output: Output,
    /// Table format prints a line per finding as it happens instead of one table at the end.
    live: bool,
    /// Something was written (the `--no-redact` note goes first).
    started: bool,
}

/// The `--no-redact` note, for the formats that have no header of their own.
pub const NOT_REDACTED: &str = "Secrets are NOT redacted in this report (--no-redact).";

impl<'w> Reporter<'w> {
    pub fn new(out: &'w mut dyn Write, output: Output, live: bool) -> Reporter<'w> {
        Reporter {
            out,
            output,
            live,
            started: false,
        }
    }

    /// Says first that secrets are shown, in the formats that stream (the others say it in
    /// their header).
    fn start(&mut self) -> io::Result<()> {
        if std::mem::replace(&mut self.started, true) || self.output.redacted {
            return Ok(());
        }
        match self.output.format {
            Format::Table => writeln!(self.out, "{NOT_REDACTED}\n"),
            Format::Jsonl => json::lines::not_redacted(self.out),
            _ => Ok(()),
        }
    }

    pub fn live(&mut self, item: Live<'_>) -> io::Result<()> {
        self.start()?;
        match (self.output.format, item) {
            (Format::Table, _) if !self.live => Ok(()),
            (Format::Table, Live::Handshake(f)) => {
                table::write_line(self.out, f, self.output.terminal)?;
                self.out.flush()
            }
            (Format::Table, Live::Session(s)) => {
                table::write_session_line(self.out, s)?;
                self.out.flush()
            }
            (Format::Jsonl, Live::Handshake(f)) => json::lines::handshake(self.out, f),
            (Format::Jsonl, Live::Session(s)) => json::lines::session(self.out, s),
            (Format::Json | Format::Markdown | Format::Html, _) => Ok(()),
        }
    }

    pub fn finish(&mut self, a: &Analysis) -> io::Result<()> {
        self.start()?;
        match self.output.format {
            Format::Table if self.live => table::write_summary(self.out, a),
            Format::Table => table::write(self.out, a, self.output.all, self.output.terminal),
            Format::Json => json::write(self.out, a, self.output.all),
            Format::Jsonl => json::lines::end(self.out, a),
            Format::Markdown => markdown::write(self.out, &doc::build(a, &self.output)),
            Format::Html => html::write(self.out, &doc::build(a, &self.output)),
        }?;
        self.out.flush()
    }
}

/// One input file and what was in it.
#[derive(Clone, Debug, Serialize)]
pub struct InputInfo {
    pub path: String,
    pub format: String,
    pub link_types: Vec<String>,
    pub bytes: u64,
    pub packets: u64,
}

/// Counts over all inputs.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub packets: u64,
    pub tcp_packets: u64,
    pub connections: u64,
    pub http_requests: u64,
    pub http_responses: u64,
    pub handshakes: u64,
    pub by_verdict: BTreeMap<&'static str, u64>,
    pub by_problem: BTreeMap<&'static str, u64>,
    /// Request heads cut by a gap in the capture: what they were is unknown.
    pub requests_not_captured_whole: u64,
    /// WebSocket sessions seen after a 101 (or decoded on request).
    pub sessions: u64,
    /// Requests upgrading to other protocols (h2c, TLS/1.2, tcp), by protocol: not judged.
    pub other_upgrades: BTreeMap<String, u64>,
    pub warnings: u64,
    /// Warnings by code, listed or not: what was dropped (`connection_limit`,
    /// `reassembly_limit`) and how often.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_warning: BTreeMap<&'static str, u64>,
    pub first_packet_ts: Option<Timestamp>,
    pub last_packet_ts: Option<Timestamp>,
}

/// A warning with the input it came from.
#[derive(Clone, Debug, Serialize)]
pub struct InputWarning {
    pub input: String,
    pub packet: Option<u64>,
    pub code: &'static str,
    pub message: String,
}

impl InputWarning {
    pub fn new(input: &str, w: Warning) -> InputWarning {
        InputWarning {
            input: input.to_string(),
            packet: w.packet,
            code: w.code,
            message: w.message,
        }
    }
}

/// A handshake with the input it came from.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub input: String,
    #[serde(flatten)]
    pub handshake: Box<Handshake>,
    /// The nginx location that served it (`--nginx-config`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nginx: Option<crate::nginx::NginxMatch>,
}

impl Finding {
    /// Broken or rejected.
    pub fn is_failure(&self) -> bool {
        matches!(
            self.handshake.verdict,
            crate::diagnose::Verdict::Broken | crate::diagnose::Verdict::Rejected
        )
    }
}

/// A WebSocket session with the input it came from.
#[derive(Clone, Debug, Serialize)]
pub struct SessionRecord {
    pub input: String,
    #[serde(flatten)]
    pub session: SessionFinding,
}

/// A long-polling fallback with the input it came from.
#[derive(Clone, Debug, Serialize)]
pub struct StuckRecord {
    pub input: String,
    #[serde(flatten)]
    pub stuck: crate::diagnose::polling::StuckOnPolling,
}

/// Something a live report shows as soon as it is known.
#[derive(Clone, Copy, Debug)]
pub enum Live<'a> {
    Handshake(&'a Finding),
    Session(&'a SessionRecord),
}

/// Everything a report shows.
#[derive(Clone, Debug, Default)]
pub struct Analysis {
    pub inputs: Vec<InputInfo>,
    pub summary: Summary,
    pub handshakes: Vec<Finding>,
    pub sessions: Vec<SessionRecord>,
    /// Clients stuck on long polling (socket.io, SignalR).
    pub stuck_on_polling: Vec<StuckRecord>,
    pub plain: Vec<PlainRequest>,
    pub warnings: Vec<InputWarning>,
    /// Warnings not listed (beyond the per-code cap), by code.
    pub warnings_not_listed: BTreeMap<&'static str, u64>,
    pub redacted: bool,
    /// Set for a live capture.
    pub capture: Option<CaptureInfo>,
}

/// What a live capture was and what it lost.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CaptureInfo {
    pub interface: String,
    pub filter: String,
    pub link_type: String,
    /// Packets dropped because the capture buffer was full (libpcap `ps_drop`).
    pub dropped: u64,
    /// Packets dropped by the interface or its driver (libpcap `ps_ifdrop`).
    pub if_dropped: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved_to: Option<String>,
}

impl Analysis {
    /// Each distinct fix once, in problem order.
    pub fn distinct_fixes(&self) -> Vec<&Fix> {
        let mut fixes: Vec<&Fix> = self
            .handshakes
            .iter()
            .flat_map(|f| f.handshake.fix.iter())
            .chain(self.sessions.iter().flat_map(|s| s.session.fix.iter()))
            .chain(
                self.stuck_on_polling
                    .iter()
                    .flat_map(|s| s.stuck.fix.iter()),
            )
            .collect();
        fixes.sort();
        fixes.dedup();
        fixes
    }

    /// True when some handshake was broken or rejected, or a session had a problem: exit
    /// status 1.
    pub fn has_failures(&self) -> bool {
        self.handshakes.iter().any(|f| f.is_failure())
            || self.sessions.iter().any(|s| !s.session.problems.is_empty())
            || !self.stuck_on_polling.is_empty()
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.rfc3339())
    }
}
