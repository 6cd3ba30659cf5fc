//! The JSON report: one document with `inputs`, `summary`, `handshakes` and `warnings`.
//! Field names are an interface: scripts rely on them (see README, "JSON output").

use std::io::{self, Write};

use serde::Serialize;

use super::{Analysis, Finding, InputInfo, InputWarning, Summary};
use crate::diagnose::PlainRequest;

#[derive(Serialize)]
struct Document<'a> {
    wsdiag_version: &'static str,
    redacted: bool,
    inputs: &'a [InputInfo],
    summary: &'a Summary,
    handshakes: &'a [Finding],
    #[serde(skip_serializing_if = "Option::is_none")]
    requests: Option<&'a [PlainRequest]>,
    warnings: &'a [InputWarning],
}

pub fn write(out: &mut dyn Write, a: &Analysis, all: bool) -> io::Result<()> {
    let doc = Document {
        wsdiag_version: env!("CARGO_PKG_VERSION"),
        redacted: a.redacted,
        inputs: &a.inputs,
        summary: &a.summary,
        handshakes: &a.handshakes,
        requests: all.then_some(a.plain.as_slice()),
        warnings: &a.warnings,
    };
    serde_json::to_writer_pretty(&mut *out, &doc).map_err(io::Error::other)?;
    writeln!(out)
}
