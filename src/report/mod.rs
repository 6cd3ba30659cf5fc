//! Reports: the only stage that formats. Takes an [`Analysis`] and writes it as a terminal
//! table or a JSON document. Nothing upstream prints.

pub mod json;
pub mod table;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::common::{Timestamp, Warning};
use crate::diagnose::{Fix, Handshake, PlainRequest};

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
