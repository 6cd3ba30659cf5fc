//! The JSON report: one document with `inputs`, `summary`, `handshakes` and `warnings`, and
//! JSON Lines. Field names are an interface: scripts rely on them. Both are specified by
//! `schema/wsdiag-report.schema.json` (tests validate every sample against it); a change that
//! removes or renames a field bumps [`SCHEMA_VERSION`].

use std::io::{self, Write};

use serde::Serialize;

use super::{Analysis, CaptureInfo, Finding, InputInfo, InputWarning, SessionRecord, Summary};
use crate::diagnose::PlainRequest;

/// The version of the documented shape (`schema_version` in the output).
pub const SCHEMA_VERSION: &str = "1";

#[derive(Serialize)]
struct Document<'a> {
    schema_version: &'static str,
    wsdiag_version: &'static str,
    redacted: bool,
    inputs: &'a [InputInfo],
    #[serde(skip_serializing_if = "Option::is_none")]
    capture: Option<&'a CaptureInfo>,
    summary: &'a Summary,
    handshakes: &'a [Finding],
    sessions: &'a [SessionRecord],
    stuck_on_polling: &'a [super::StuckRecord],
    #[serde(skip_serializing_if = "Option::is_none")]
    requests: Option<&'a [PlainRequest]>,
    warnings: &'a [InputWarning],
}

pub fn write(out: &mut dyn Write, a: &Analysis, all: bool) -> io::Result<()> {
    let doc = Document {
        schema_version: SCHEMA_VERSION,
        wsdiag_version: env!("CARGO_PKG_VERSION"),
        redacted: a.redacted,
        inputs: &a.inputs,
        capture: a.capture.as_ref(),
        summary: &a.summary,
        handshakes: &a.handshakes,
        sessions: &a.sessions,
        stuck_on_polling: &a.stuck_on_polling,
        requests: all.then_some(a.plain.as_slice()),
        warnings: &a.warnings,
    };
    serde_json::to_writer_pretty(&mut *out, &doc).map_err(io::Error::other)?;
    writeln!(out)
}

/// JSON Lines for log pipelines: one object per line with a `type` field: `handshake` as each
/// verdict becomes known, then `warning`s and one `summary` at the end.
pub mod lines {
    use std::io::{self, Write};

    use serde::Serialize;

    use super::super::{
        Analysis, CaptureInfo, Finding, InputInfo, InputWarning, SessionRecord, Summary,
    };

    #[derive(Serialize)]
    struct Tagged<'a, T: Serialize> {
        #[serde(rename = "type")]
        kind: &'static str,
        #[serde(flatten)]
        body: &'a T,
    }

    #[derive(Serialize)]
    struct SummaryLine<'a> {
        schema_version: &'static str,
        wsdiag_version: &'static str,
        redacted: bool,
        inputs: &'a [InputInfo],
        #[serde(skip_serializing_if = "Option::is_none")]
        capture: Option<&'a CaptureInfo>,
        #[serde(flatten)]
        summary: &'a Summary,
    }

    fn line<T: Serialize>(out: &mut dyn Write, kind: &'static str, body: &T) -> io::Result<()> {
        serde_json::to_writer(&mut *out, &Tagged { kind, body }).map_err(io::Error::other)?;
        out.write_all(b"\n")?;
        out.flush()
    }

    /// A first `warning` line saying the output holds secrets (`--no-redact`).
    pub fn not_redacted(out: &mut dyn Write) -> io::Result<()> {
        line(
            out,
            "warning",
            &InputWarning {
                input: String::new(),
                packet: None,
                code: "not_redacted",
                message: "secrets are NOT redacted in this output (--no-redact)".into(),
            },
        )
    }

    pub fn handshake(out: &mut dyn Write, f: &Finding) -> io::Result<()> {
        line(out, "handshake", f)
    }

    pub fn session(out: &mut dyn Write, s: &SessionRecord) -> io::Result<()> {
        line(out, "session", s)
    }

    pub fn end(out: &mut dyn Write, a: &Analysis) -> io::Result<()> {
        for w in &a.warnings {
            line::<InputWarning>(out, "warning", w)?;
        }
        line(
            out,
            "summary",
            &SummaryLine {
                schema_version: super::SCHEMA_VERSION,
                wsdiag_version: env!("CARGO_PKG_VERSION"),
                redacted: a.redacted,
                inputs: &a.inputs,
                capture: a.capture.as_ref(),
                summary: &a.summary,
            },
        )
    }
}
