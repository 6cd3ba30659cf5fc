//! The terminal report: one row per handshake, then the summary, the evidence for each kind of
//! finding, and each distinct fix once.

use std::io::{self, Write};

use comfy_table::{presets, Cell, CellAlignment, ContentArrangement, Table};

use super::Analysis;
use crate::diagnose::{Handshake, Problem, Verdict};

/// Longest target shown in the table; longer ones are shortened in the middle.
const TARGET_WIDTH: usize = 48;

pub fn write(out: &mut dyn Write, a: &Analysis, all: bool) -> io::Result<()> {
    if a.handshakes.is_empty() {
        writeln!(out, "No WebSocket handshake attempts found.")?;
    } else {
        let multi = a.inputs.len() > 1;
        let mut t = new_table();
        let mut header = vec![
            "#",
            "time (UTC)",
            "conn",
            "request",
            "version",
            "Upgrade",
            "Connection",
            "status",
            "verdict",
            "problems",
        ];
        if multi {
            header.insert(1, "input");
        }
        t.set_header(header);
        for (i, f) in a.handshakes.iter().enumerate() {
            let h = &f.handshake;
            let mut row = vec![
                Cell::new(i + 1).set_alignment(CellAlignment::Right),
                Cell::new(time_of_day(h)),
                Cell::new(h.connection).set_alignment(CellAlignment::Right),
                Cell::new(format!(
                    "{} {}",
                    h.request.method,
                    shorten(&h.request.target, TARGET_WIDTH)
                )),
                Cell::new(&h.request.version),
                Cell::new(header_cell(&h.request.upgrade, h.request.head_complete)),
                Cell::new(header_cell(&h.request.connection, h.request.head_complete)),
                Cell::new(
                    h.response
                        .as_ref()
                        .map_or_else(|| "-".to_string(), |r| r.status.to_string()),
                ),
                Cell::new(h.verdict.name()),
                // One per line keeps the table narrow.
                Cell::new(
                    h.problems
                        .iter()
                        .map(|p| p.code())
                        .collect::<Vec<_>>()
                        .join("\n"),
                ),
            ];
            if multi {
                row.insert(1, Cell::new(&f.input));
            }
            t.add_row(row);
        }
        writeln!(out, "{t}")?;
    }
    if all && !a.plain.is_empty() {
        writeln!(out, "\nPlain HTTP requests:")?;
        let mut t = new_table();
        t.set_header(vec!["packet", "conn", "request", "version", "status"]);
        for p in &a.plain {
            t.add_row(vec![
                Cell::new(p.request_packet),
                Cell::new(p.connection),
                Cell::new(format!("{} {}", p.method, shorten(&p.target, TARGET_WIDTH))),
                Cell::new(&p.version),
                Cell::new(p.status.map_or_else(|| "-".to_string(), |s| s.to_string())),
            ]);
        }
        writeln!(out, "{t}")?;
    }
    if !a.sessions.is_empty() {
        writeln!(out, "\nWebSocket sessions:")?;
        let mut t = new_table();
        t.set_header(vec![
            "conn",
            "target",
            "duration",
            "messages c>s",
            "messages s>c",
            "pings",
            "close",
            "TCP end",
            "problems",
        ]);
        for r in &a.sessions {
            let s = &r.session;
            let f = &s.facts;
            t.add_row(vec![
                Cell::new(s.connection).set_alignment(CellAlignment::Right),
                Cell::new(
                    s.target
                        .as_deref()
                        .map_or_else(|| "(handshake not captured)".into(), |t| shorten(t, 32)),
                ),
                Cell::new(format!("{:.3} s", s.duration)),
                Cell::new(f.client.messages),
                Cell::new(f.server.messages),
                Cell::new(format!(
                    "{}/{}",
                    f.client.pings + f.server.pings,
                    f.client.pongs + f.server.pongs
                )),
                Cell::new(close_cell(s)),
                Cell::new(f.tcp_end.as_ref().map_or_else(
                    || "open at end".into(),
                    |e| format!("{} by {}", e.how.to_uppercase(), e.by.name()),
                )),
                Cell::new(
                    s.problems
                        .iter()
                        .map(|p| p.code())
                        .collect::<Vec<_>>()
                        .join("\n"),
                ),
            ]);
        }
        writeln!(out, "{t}")?;
    }
    write_summary(out, a)
}

fn close_cell(s: &crate::diagnose::SessionFinding) -> String {
    match &s.facts.close {
        None => "none".into(),
        Some(c) => format!(
            "{} from {}{}",
            c.code.map_or_else(|| "no code".into(), |c| c.to_string()),
            c.from.name(),
            if s.close_completed { ", answered" } else { "" }
        ),
    }
}

/// One line for a WebSocket session that just ended (live output).
pub fn write_session_line(out: &mut dyn Write, r: &super::SessionRecord) -> io::Result<()> {
    let s = &r.session;
    let problems = if s.problems.is_empty() {
        String::new()
    } else {
        format!(": {}", problems(&s.problems))
    };
    writeln!(
        out,
        "session  conn {}  {}  {:.3} s  messages {}/{}  close: {}{}",
        s.connection,
        s.target.as_deref().unwrap_or("(handshake not captured)"),
        s.duration,
        s.facts.client.messages,
        s.facts.server.messages,
        close_cell(s),
        problems
    )
}

/// Everything after the rows: summary, evidence for each kind of finding, fixes, warnings.
/// Live output prints this at the end, after a line per handshake.
pub fn write_summary(out: &mut dyn Write, a: &Analysis) -> io::Result<()> {
    summary(out, a)?;
    evidence(out, a)?;
    session_evidence(out, a)?;
    fixes(out, a)?;
    warnings(out, a)
}

/// One line for a handshake whose verdict just became known (live output).
pub fn write_line(out: &mut dyn Write, f: &super::Finding) -> io::Result<()> {
    let h = &f.handshake;
    let status = h
        .response
        .as_ref()
        .map_or_else(|| "no response".to_string(), |r| r.status.to_string());
    let problems = if h.problems.is_empty() {
        String::new()
    } else {
        format!(": {}", problems(&h.problems))
    };
    writeln!(
        out,
        "{}  conn {}  {} {} {}  Upgrade: {}  Connection: {}  -> {}  {}{}  (packets {})",
        time_of_day(h),
        h.connection,
        h.request.method,
        shorten(&h.request.target, TARGET_WIDTH),
        h.request.version,
        header_cell(&h.request.upgrade, h.request.head_complete),
        header_cell(&h.request.connection, h.request.head_complete),
        status,
        h.verdict.name().to_uppercase(),
        problems,
        match h.response_packet {
            Some(r) => format!("{}, {r}", h.request_packet),
            None => h.request_packet.to_string(),
        }
    )
}

fn new_table() -> Table {
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled);
    t
}

fn summary(out: &mut dyn Write, a: &Analysis) -> io::Result<()> {
    let s = &a.summary;
    writeln!(out)?;
    writeln!(
        out,
        "Summary: {}, {}, {}, {}{}",
        plural(s.packets, "packet"),
        plural(s.connections, "TCP connection"),
        plural(s.http_requests, "HTTP request"),
        plural(s.handshakes, "WebSocket handshake"),
        by_verdict(a)
    )?;
    if s.sessions > 0 {
        let with_problems = a
            .sessions
            .iter()
            .filter(|r| !r.session.problems.is_empty())
            .count();
        writeln!(
            out,
            "{}, {with_problems} with problems",
            plural(s.sessions, "WebSocket session")
        )?;
    }
    if !s.other_upgrades.is_empty() {
        let list: Vec<String> = s
            .other_upgrades
            .iter()
            .map(|(p, n)| format!("{p} ({n})"))
            .collect();
        writeln!(
            out,
            "Upgrades to other protocols, not WebSocket (not judged): {}",
            list.join(", ")
        )?;
    }
    if s.requests_not_captured_whole > 0 {
        writeln!(
            out,
            "{} not captured whole (a gap in the capture): what they were is unknown",
            plural(s.requests_not_captured_whole, "request head")
        )?;
    }
    if let Some(c) = &a.capture {
        writeln!(
            out,
            "Captured on {} ({}, {}): {} dropped by libpcap, {} by the interface{}",
            c.interface,
            c.filter,
            c.link_type,
            c.dropped,
            c.if_dropped,
            c.saved_to
                .as_ref()
                .map(|p| format!("; packets saved to {p}"))
                .unwrap_or_default()
        )?;
    }
    if s.warnings > 0 {
        writeln!(out, "Warnings: {} (listed below)", s.warnings)?;
    }
    if !a.redacted {
        writeln!(
            out,
            "Secrets are NOT redacted in this report (--no-redact)."
        )?;
    }
    Ok(())
}

fn by_verdict(a: &Analysis) -> String {
    let parts: Vec<String> = Verdict::ALL
        .iter()
        .filter_map(|v| {
            a.summary
                .by_verdict
                .get(v.name())
                .map(|n| format!("{n} {}", v.name()))
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(": {}", parts.join(", "))
    }
}

/// For each distinct (verdict, problems) kind, how many and the evidence of the first one.
fn evidence(out: &mut dyn Write, a: &Analysis) -> io::Result<()> {
    let mut kinds: Vec<(&super::Finding, usize)> = Vec::new();
    for f in &a.handshakes {
        let h = &f.handshake;
        if h.verdict == Verdict::Ok {
            continue;
        }
        match kinds
            .iter_mut()
            .find(|(k, _)| k.handshake.verdict == h.verdict && k.handshake.problems == h.problems)
        {
            Some(entry) => entry.1 += 1,
            None => kinds.push((f, 1)),
        }
    }
    for (f, n) in kinds {
        let h = &f.handshake;
        writeln!(out)?;
        let problems = problems(&h.problems);
        let what = if problems.is_empty() {
            String::new()
        } else {
            format!(" ({problems})")
        };
        let example = if n > 1 { ", the first one" } else { "" };
        let place = if a.inputs.len() > 1 {
            format!(" in {}", f.input)
        } else {
            String::new()
        };
        writeln!(
            out,
            "{} {} handshake{}{what}{example}{place}:",
            n,
            h.verdict.name(),
            if n == 1 { "" } else { "s" }
        )?;
        for e in &h.evidence {
            writeln!(out, "  - {e}")?;
        }
        if let Some(m) = &f.nginx {
            match (&m.file, m.line, &m.location) {
                (Some(file), Some(line), Some(loc)) => {
                    writeln!(out, "  - location: {file}:{line} `{loc}`")?
                }
                _ => writeln!(out, "  - location: none matched")?,
            }
            for c in &m.causes {
                writeln!(out, "      {c}")?;
            }
            if let Some(note) = &m.note {
                writeln!(out, "      note: {note}")?;
            }
        }
    }
    Ok(())
}

/// For each distinct set of session problems, how many and the evidence of the first one.
fn session_evidence(out: &mut dyn Write, a: &Analysis) -> io::Result<()> {
    let mut kinds: Vec<(&crate::diagnose::SessionFinding, usize)> = Vec::new();
    for r in &a.sessions {
        let s = &r.session;
        if s.problems.is_empty() {
            continue;
        }
        match kinds.iter_mut().find(|(k, _)| k.problems == s.problems) {
            Some(entry) => entry.1 += 1,
            None => kinds.push((s, 1)),
        }
    }
    for (s, n) in kinds {
        writeln!(out)?;
        writeln!(
            out,
            "{} WebSocket session{} ({}){}:",
            n,
            if n == 1 { "" } else { "s" },
            problems(&s.problems),
            if n > 1 { ", the first one" } else { "" }
        )?;
        writeln!(
            out,
            "  - connection {}, {}",
            s.connection,
            match (s.handshake_packet, &s.target) {
                (Some(p), Some(t)) => format!("opened by `GET {t}` (packet {p})"),
                _ => "handshake not captured".into(),
            }
        )?;
        for e in &s.evidence {
            writeln!(out, "  - {e}")?;
        }
    }
    Ok(())
}

fn fixes(out: &mut dyn Write, a: &Analysis) -> io::Result<()> {
    let fixes = a.distinct_fixes();
    if fixes.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nFix:")?;
    for f in fixes {
        writeln!(out, "  [{}] {}", f.problem.code(), f.advice)?;
        if let Some(nginx) = &f.nginx {
            for line in nginx.lines() {
                writeln!(out, "      {line}")?;
            }
        }
    }
    Ok(())
}

fn warnings(out: &mut dyn Write, a: &Analysis) -> io::Result<()> {
    if a.warnings.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nWarnings:")?;
    for w in &a.warnings {
        let place = match w.packet {
            Some(p) => format!("packet {p}: "),
            None => String::new(),
        };
        writeln!(out, "  [{}] {}{}", w.code, place, w.message)?;
    }
    for (code, n) in &a.warnings_not_listed {
        writeln!(out, "  [{code}] ... and {n} more")?;
    }
    Ok(())
}

fn time_of_day(h: &Handshake) -> String {
    // `2026-11-26T11:10:46.123456Z` -> `11:10:46.123`
    let s = h.ts.rfc3339();
    s.get(11..23).unwrap_or(&s).to_string()
}

fn header_cell(v: &Option<String>, complete: bool) -> String {
    match v {
        Some(v) => v.clone(),
        None if complete => "(missing)".into(),
        None => "(not captured)".into(),
    }
}

fn problems(p: &[Problem]) -> String {
    p.iter().map(|p| p.code()).collect::<Vec<_>>().join(", ")
}

fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Shortens `s` to at most `max` characters by cutting its middle.
fn shorten(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let keep = max.saturating_sub(3);
    let head: String = s.chars().take(keep / 2).collect();
    let tail: String = s.chars().skip(n - (keep - keep / 2)).collect();
    format!("{head}...{tail}")
}
