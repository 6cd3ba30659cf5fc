//! The terminal report: one row per handshake, then the summary, the evidence for each kind of
//! finding, and each distinct fix once. On a terminal, verdicts are coloured and long targets
//! are shortened (in the middle) until the table fits its width.

use crate::common::plural;
use std::io::{self, Write};

use comfy_table::{presets, Cell, CellAlignment, ContentArrangement, Table};

use super::{Analysis, Terminal};
use crate::diagnose::{Handshake, Problem, Verdict};

/// Longest target shown in the table; longer ones are shortened in the middle.
const TARGET_WIDTH: usize = 48;
/// Targets are never shortened below this to fit a narrow terminal.
const TARGET_MIN_WIDTH: usize = 16;

pub fn write(out: &mut dyn Write, a: &Analysis, all: bool, term: Terminal) -> io::Result<()> {
    if a.handshakes.is_empty() {
        writeln!(out, "No WebSocket handshake attempts found.")?;
    } else {
        let mut t = handshake_table(a, TARGET_WIDTH);
        if let Some(width) = term.width {
            // Shorten targets by as much as the table is too wide, once.
            let excess = table_width(&t).saturating_sub(width);
            if excess > 0 {
                let longest = a
                    .handshakes
                    .iter()
                    .map(|f| f.handshake.request.target.chars().count())
                    .max()
                    .unwrap_or(0)
                    .min(TARGET_WIDTH);
                t = handshake_table(a, longest.saturating_sub(excess).max(TARGET_MIN_WIDTH));
            }
        }
        let rendered = t.to_string();
        if term.color {
            writeln!(out, "{}", colorize(&rendered))?;
        } else {
            writeln!(out, "{rendered}")?;
        }
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
                Cell::new(f.from_client.messages),
                Cell::new(f.from_server.messages),
                Cell::new(format!(
                    "{}/{}",
                    f.from_client.pings + f.from_server.pings,
                    f.from_client.pongs + f.from_server.pongs
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
        s.facts.from_client.messages,
        s.facts.from_server.messages,
        close_cell(s),
        problems
    )
}

fn table_width(t: &Table) -> usize {
    t.to_string()
        .lines()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
}

/// The ANSI colour of a verdict.
fn ansi(v: &str) -> Option<&'static str> {
    Some(match v {
        "ok" | "OK" => "\x1b[32m",
        "broken" | "BROKEN" => "\x1b[1;31m",
        "rejected" | "REJECTED" => "\x1b[33m",
        "incomplete" | "INCOMPLETE" => "\x1b[90m",
        _ => return None,
    })
}

const RESET: &str = "\x1b[0m";

/// Colours the verdict column of a rendered table. Columns are found from the header row's
/// separators; a cell whose text is not exactly a verdict name is left alone.
fn colorize(table: &str) -> String {
    let lines: Vec<&str> = table.lines().collect();
    let Some(header) = lines.iter().find(|l| l.contains(" verdict ")) else {
        return table.to_string();
    };
    let bounds: Vec<usize> = header
        .chars()
        .enumerate()
        .filter(|(_, c)| matches!(c, '│' | '┆'))
        .map(|(i, _)| i)
        .collect();
    let col = bounds.windows(2).find(|w| {
        header
            .chars()
            .skip(w[0] + 1)
            .take(w[1] - w[0] - 1)
            .collect::<String>()
            .trim()
            == "verdict"
    });
    let Some(&[start, end]) = col else {
        return table.to_string();
    };
    let mut out = String::with_capacity(table.len() + 64);
    for (n, line) in lines.iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let chars: Vec<char> = line.chars().collect();
        let cell: String = chars
            .get(start + 1..end)
            .map(|c| c.iter().collect())
            .unwrap_or_default();
        match ansi(cell.trim()).filter(|_| !std::ptr::eq(*line, *header)) {
            Some(color) => {
                let word = cell.trim();
                let colored = cell.replacen(word, &format!("{color}{word}{RESET}"), 1);
                out.extend(&chars[..=start]);
                out.push_str(&colored);
                out.extend(&chars[end..]);
            }
            None => out.push_str(line),
        }
    }
    out
}

fn handshake_table(a: &Analysis, target_width: usize) -> Table {
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
                shorten(&h.request.target, target_width)
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
    t
}

/// Everything after the rows: summary, evidence for each kind of finding, fixes, warnings.
/// Live output prints this at the end, after a line per handshake.
pub fn write_summary(out: &mut dyn Write, a: &Analysis) -> io::Result<()> {
    summary(out, a)?;
    evidence(out, a)?;
    session_evidence(out, a)?;
    polling(out, a)?;
    fixes(out, a)?;
    warnings(out, a)
}

/// One line for a handshake whose verdict just became known (live output).
pub fn write_line(out: &mut dyn Write, f: &super::Finding, term: Terminal) -> io::Result<()> {
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
        match ansi(h.verdict.name()).filter(|_| term.color) {
            Some(color) => format!("{color}{}{RESET}", h.verdict.name().to_uppercase()),
            None => h.verdict.name().to_uppercase(),
        },
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
        // Said first too; repeated here, after a long live listing.
        writeln!(out, "{}", super::NOT_REDACTED)?;
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

/// Clients stuck on long polling, each with its evidence.
fn polling(out: &mut dyn Write, a: &Analysis) -> io::Result<()> {
    for r in &a.stuck_on_polling {
        writeln!(out)?;
        writeln!(
            out,
            "{} stuck on long polling (stuck_on_polling):",
            r.stuck.library
        )?;
        for e in &r.stuck.evidence {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_verdict_column_is_coloured() {
        let table = "┌───┬─────────┐\n│ # ┆ verdict │\n╞═══╪═════════╡\n│ 1 ┆ broken  │\n│   ┆         │\n│ 2 ┆ ok      │\n└───┴─────────┘";
        let c = colorize(table);
        assert!(c.contains("│ 1 ┆ \x1b[1;31mbroken\x1b[0m  │"), "{c}");
        assert!(c.contains("│ 2 ┆ \x1b[32mok\x1b[0m      │"), "{c}");
        assert!(c.contains("│ # ┆ verdict │"), "the header stays plain");
        assert_eq!(c.lines().count(), table.lines().count());
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(Terminal::decide(true, false, None, Some(120)).color);
        assert!(!Terminal::decide(true, true, None, Some(120)).color);
        assert!(!Terminal::decide(false, false, None, None).color);
        assert_eq!(
            Terminal::decide(true, false, Some("90"), Some(120)).width,
            Some(90)
        );
        assert_eq!(
            Terminal::decide(true, false, Some("x"), Some(120)).width,
            Some(120)
        );
        assert_eq!(Terminal::decide(false, false, None, None).width, None);
    }

    #[test]
    fn shorten_cuts_the_middle() {
        assert_eq!(shorten("/abcdefghij", 8), "/a...hij");
        assert_eq!(shorten("/short", 8), "/short");
    }
}
