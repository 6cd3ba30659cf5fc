//! Reports: the only stage that formats. Takes an [`Analysis`] and writes it as a terminal
//! table or a JSON document. Nothing upstream prints.

pub mod json;
pub mod table;

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::common::{Timestamp, Warning};
use crate::diagnose::{Fix, Handshake, PlainRequest};

/// Report formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Jsonl,
}

/// How to report, whatever the input.
#[derive(Clone, Debug)]
pub struct Output {
    pub format: Format,
    /// List plain requests too.
    pub all: bool,
}

/// Writes a report: each finding as it is judged when the output is live (a line in table
/// format, an object in JSON Lines), and the rest at the end.
pub struct Reporter<'w> {
    out: &'w mut dyn Write,
    output: Output,
    /// Table format prints a line per finding as it happens instead of one table at the end.
    live: bool,
}

impl<'w> Reporter<'w> {
    pub fn new(out: &'w mut dyn Write, output: Output, live: bool) -> Reporter<'w> {
        Reporter { out, output, live }
    }

    pub fn finding(&mut self, f: &Finding) -> io::Result<()> {
        match self.output.format {
            Format::Table if self.live => {
                table::write_line(self.out, f)?;
                self.out.flush()
            }
            Format::Jsonl => json::lines::handshake(self.out, f),
            _ => Ok(()),
        }
    }

    pub fn finish(&mut self, a: &Analysis) -> io::Result<()> {
        match self.output.format {
            Format::Table if self.live => table::write_summary(self.out, a),
            Format::Table => table::write(self.out, a, self.output.all),
            Format::Json => json::write(self.out, a, self.output.all),
            Format::Jsonl => json::lines::end(self.out, a),
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
    pub handshake: Handshake,
}

/// Everything a report shows.
#[derive(Clone, Debug, Default)]
pub struct Analysis {
    pub inputs: Vec<InputInfo>,
    pub summary: Summary,
    pub handshakes: Vec<Finding>,
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
            .collect();
        fixes.sort();
        fixes.dedup();
        fixes
    }

    /// True when some handshake was broken or rejected: exit status 1.
    pub fn has_failures(&self) -> bool {
        self.handshakes.iter().any(|f| {
            matches!(
                f.handshake.verdict,
                crate::diagnose::Verdict::Broken | crate::diagnose::Verdict::Rejected
            )
        })
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.rfc3339())
    }
}
