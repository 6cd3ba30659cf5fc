//! `wsdiag probe`'s reports: a terminal table, one JSON document, or Markdown. One probe is a
//! list of what happened; `--compare` puts two side by side; `--capture` puts the client's view
//! and the backend's view of the same handshake side by side.

use std::io::{self, Write};

use comfy_table::{presets, Cell, ContentArrangement, Table};

use crate::probe::{comparison_rows, shorten, ProbeReport, ProbeRun, ProbeVerdict, Upstream};

/// One JSON document.
pub fn write_json(out: &mut dyn Write, run: &ProbeRun) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, run)?;
    writeln!(out)
}

fn ms(seconds: f64) -> String {
    format!("{:.1} ms", seconds * 1000.0)
}

/// The details of one probe as (label, lines).
fn details(p: &ProbeReport) -> Vec<(&'static str, Vec<String>)> {
    let mut rows: Vec<(&'static str, Vec<String>)> = Vec::new();
    if let Some(e) = &p.error {
        rows.push(("error", vec![e.clone()]));
    }
    if let (Some(a), Some(c)) = (&p.address, p.connect_seconds) {
        rows.push(("connected", vec![format!("{a} in {}", ms(c))]));
    }
    if let Some(t) = &p.tls {
        rows.push((
            "TLS",
            vec![format!(
                "{} {}{}, {}, {}",
                t.version,
                t.cipher,
                t.alpn
                    .as_deref()
                    .map(|a| format!(", ALPN {a}"))
                    .unwrap_or_default(),
                if t.verified {
                    "certificate verified"
                } else {
                    "certificate NOT verified (--insecure)"
                },
                ms(t.seconds)
            )],
        ));
    }
    let mut sent = vec![p.sent.request_line.clone()];
    sent.extend(p.sent.headers.iter().cloned());
    rows.push(("sent", sent));
    if let Some(r) = &p.response {
        let mut answer = vec![format!(
            "{} {} {} ({})",
            r.version,
            r.status,
            r.reason,
            ms(r.seconds)
        )];
        answer.extend(r.headers.iter().cloned());
        rows.push(("answer", answer));
        if let Some(b) = &r.body_start {
            rows.push(("body", vec![format!("{:?}", shorten(b, 200))]));
        }
        if let Some(s) = r.server {
            rows.push(("answered by", vec![s.to_string()]));
        }
        if let Some(v) = r.accept_valid {
            rows.push((
                "accept",
                vec![if v { "valid" } else { "WRONG" }.to_string()],
            ));
        }
        if r.status == 101 {
            rows.push((
                "extensions",
                vec![r.extensions.clone().unwrap_or_else(|| "none".into())],
            ));
            rows.push((
                "subprotocol",
                vec![r.subprotocol.clone().unwrap_or_else(|| "none".into())],
            ));
        }
    }
    if let Some(m) = &p.message {
        rows.push((
            "message",
            vec![match (&m.received, m.seconds) {
                (Some(r), Some(s)) => format!("{:?} -> {r:?} ({})", m.sent, ms(s)),
                _ => format!("{:?} -> (no reply)", m.sent),
            }],
        ));
    }
    if let Some(c) = &p.close {
        let sent = c.sent.map_or("none".to_string(), |s| s.to_string());
        let received = match c.received {
            Some(code) => format!(
                "{code}{}{}",
                if code == 1000 { " (normal)" } else { "" },
                c.reason
                    .as_deref()
                    .map(|r| format!(" {r:?}"))
                    .unwrap_or_default()
            ),
            None => "none".into(),
        };
        rows.push((
            "close",
            vec![if c.server_first {
                format!("server closed first with {received}; answered {sent}")
            } else {
                format!("sent {sent}, received {received}")
            }],
        ));
    }
    rows
}

fn new_table() -> Table {
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled);
    t
}

/// The terminal report.
pub fn write_table(out: &mut dyn Write, run: &ProbeRun) -> io::Result<()> {
    if let (Some(diffs), [a, b]) = (&run.differences, run.probes.as_slice()) {
        let mut t = new_table();
        t.set_header(vec![
            Cell::new(""),
            Cell::new(&a.url),
            Cell::new(&b.url),
            Cell::new(""),
        ]);
        for (field, x, y) in comparison_rows(a, b) {
            let mark = if diffs.iter().any(|d| d.field == field) {
                "differs"
            } else {
                ""
            };
            t.add_row(vec![
                field.to_string(),
                shorten(&x, 60),
                shorten(&y, 60),
                mark.into(),
            ]);
        }
        writeln!(out, "{t}")?;
        writeln!(out)?;
        for (i, p) in run.probes.iter().enumerate() {
            writeln!(out, "{}. {}: {}", i + 1, p.url, p.summary)?;
            if let Some(u) = &p.upstream {
                writeln!(out, "   upstream: {}", u.summary)?;
            }
        }
        for p in &run.probes {
            writeln!(out)?;
            probe_text(out, p)?;
        }
        return Ok(());
    }
    for p in &run.probes {
        probe_text(out, p)?;
    }
    Ok(())
}

fn probe_text(out: &mut dyn Write, p: &ProbeReport) -> io::Result<()> {
    writeln!(out, "Probe {}", p.url)?;
    for (label, lines) in details(p) {
        for (i, l) in lines.iter().enumerate() {
            writeln!(out, "  {:<12} {l}", if i == 0 { label } else { "" })?;
        }
    }
    if let Some(u) = &p.upstream {
        writeln!(out)?;
        upstream_table(out, p, u)?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "Verdict: {}. {}",
        p.verdict.name().to_uppercase(),
        p.summary
    )?;
    // A refusal's one note is already in the summary.
    if p.verdict != ProbeVerdict::Refused {
        for n in &p.notes {
            writeln!(out, "  - {n}")?;
        }
    }
    if let Some(m) = &p.nginx {
        for line in nginx_lines(m) {
            writeln!(out, "{line}")?;
        }
    }
    if let Some(u) = &p.upstream {
        writeln!(out, "Upstream: {}", u.summary)?;
        if !u.problems.is_empty() {
            writeln!(out, "Problems: {}", u.problems.join(", "))?;
        }
        if let Some(h) = &u.handshake {
            if !h.fix.is_empty() {
                writeln!(out, "Fix:")?;
                for f in &h.fix {
                    writeln!(out, "  [{}] {}", f.problem.code(), f.advice)?;
                    if let Some(n) = &f.nginx {
                        for l in n.lines() {
                            writeln!(out, "      {l}")?;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Rows of the side by side: (what, client side, backend side).
fn side_by_side(p: &ProbeReport, u: &Upstream) -> Vec<(String, String, String)> {
    let sent = |name: &str| {
        p.sent
            .headers
            .iter()
            .find_map(|h| {
                let (n, v) = h.split_once(": ")?;
                n.eq_ignore_ascii_case(name).then(|| v.to_string())
            })
            .unwrap_or_else(|| "(missing)".into())
    };
    let missing = |v: &Option<String>| v.clone().unwrap_or_else(|| "(missing)".into());
    let mut rows = Vec::new();
    match &u.handshake {
        Some(h) => {
            let r = &h.request;
            rows.push((
                "request line".into(),
                p.sent.request_line.clone(),
                format!("{} {} {}", r.method, r.target, r.version),
            ));
            rows.push(("Host".into(), sent("host"), missing(&r.host)));
            rows.push(("Upgrade".into(), sent("upgrade"), missing(&r.upgrade)));
            rows.push((
                "Connection".into(),
                sent("connection"),
                missing(&r.connection),
            ));
            rows.push((
                "Sec-WebSocket-Key".into(),
                p.sent.key.clone(),
                "the same key".into(),
            ));
            rows.push((
                "Sec-WebSocket-Version".into(),
                sent("sec-websocket-version"),
                missing(&r.sec_websocket_version),
            ));
            rows.push(("Origin".into(), sent("origin"), missing(&r.origin)));
            let proxy = p
                .response
                .as_ref()
                .map(|a| format!("{} {} {}", a.version, a.status, a.reason))
                .unwrap_or_else(|| "(no answer)".into());
            let backend = h
                .response
                .as_ref()
                .map(|a| format!("{} {} {}", a.version, a.status, a.reason))
                .unwrap_or_else(|| "(no answer)".into());
            rows.push((
                "answer".into(),
                format!("{proxy} (proxy returned)"),
                format!("{backend} (backend answered)"),
            ));
            let body = |b: Option<&String>| {
                b.map(|b| format!("{:?}", shorten(b, 50)))
                    .unwrap_or_else(|| "-".into())
            };
            rows.push((
                "body".into(),
                body(p.response.as_ref().and_then(|a| a.body_start.as_ref())),
                body(h.response.as_ref().and_then(|a| a.body_start.as_ref())),
            ));
        }
        None => {
            rows.push((
                "request line".into(),
                p.sent.request_line.clone(),
                "(none: not forwarded)".into(),
            ));
            rows.push((
                "answer".into(),
                p.response
                    .as_ref()
                    .map(|a| format!("{} {} {} (proxy returned)", a.version, a.status, a.reason))
                    .unwrap_or_else(|| "(no answer)".into()),
                "-".into(),
            ));
        }
    }
    rows
}

fn upstream_table(out: &mut dyn Write, p: &ProbeReport, u: &Upstream) -> io::Result<()> {
    let mut t = new_table();
    t.set_header(vec![
        "".to_string(),
        "probe (client side)".to_string(),
        format!("backend ({}, {})", u.interface, u.filter),
    ]);
    for (a, b, c) in side_by_side(p, u) {
        t.add_row(vec![a, b, c]);
    }
    writeln!(out, "{t}")
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Markdown, for tickets and incident writeups.
pub fn write_markdown(out: &mut dyn Write, run: &ProbeRun) -> io::Result<()> {
    writeln!(out, "# WebSocket probe\n")?;
    writeln!(out, "wsdiag {}\n", run.wsdiag_version)?;
    if let (Some(diffs), [a, b]) = (&run.differences, run.probes.as_slice()) {
        writeln!(out, "## Comparison\n")?;
        writeln!(out, "| | `{}` | `{}` | |", md_cell(&a.url), md_cell(&b.url))?;
        writeln!(out, "|---|---|---|---|")?;
        for (field, x, y) in comparison_rows(a, b) {
            let mark = if diffs.iter().any(|d| d.field == field) {
                "**differs**"
            } else {
                ""
            };
            writeln!(
                out,
                "| {field} | {} | {} | {mark} |",
                md_cell(&x),
                md_cell(&y)
            )?;
        }
        writeln!(out)?;
    }
    for p in &run.probes {
        writeln!(out, "## `{}`\n", md_cell(&p.url))?;
        writeln!(
            out,
            "**{}.** {}\n",
            p.verdict.name().to_uppercase(),
            p.summary
        )?;
        let notes = if p.verdict == ProbeVerdict::Refused {
            &[][..]
        } else {
            &p.notes[..]
        };
        for n in notes {
            writeln!(out, "- {n}")?;
        }
        if !notes.is_empty() {
            writeln!(out)?;
        }
        writeln!(out, "| | |\n|---|---|")?;
        for (label, lines) in details(p) {
            let cell: Vec<String> = lines
                .iter()
                .map(|l| format!("`{}`", md_cell(l).replace('`', "'")))
                .collect();
            writeln!(out, "| {label} | {} |", cell.join("<br>"))?;
        }
        writeln!(out)?;
        if let Some(m) = &p.nginx {
            writeln!(out, "### Where nginx sent it\n")?;
            for line in nginx_lines(m) {
                writeln!(out, "- {}", md_cell(&line))?;
            }
            writeln!(out)?;
        }
        if let Some(u) = &p.upstream {
            writeln!(out, "### What the backend received\n")?;
            writeln!(
                out,
                "| | probe (client side) | backend ({}, {}) |",
                u.interface, u.filter
            )?;
            writeln!(out, "|---|---|---|")?;
            for (a, b, c) in side_by_side(p, u) {
                writeln!(
                    out,
                    "| {a} | `{}` | `{}` |",
                    md_cell(&b).replace('`', "'"),
                    md_cell(&c).replace('`', "'")
                )?;
            }
            writeln!(out)?;
            writeln!(out, "{}\n", u.summary)?;
            if !u.problems.is_empty() {
                writeln!(
                    out,
                    "Problems: {}\n",
                    u.problems
                        .iter()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )?;
            }
            if let Some(h) = &u.handshake {
                for f in &h.fix {
                    writeln!(out, "- **{}**: {}", f.problem.code(), f.advice)?;
                    if let Some(n) = &f.nginx {
                        writeln!(out, "\n  ```nginx")?;
                        for l in n.lines() {
                            writeln!(out, "  {l}")?;
                        }
                        writeln!(out, "  ```")?;
                    }
                }
                if !h.fix.is_empty() {
                    writeln!(out)?;
                }
            }
        }
    }
    Ok(())
}

/// The nginx location that served a probe (`--nginx-config`), in lines.
fn nginx_lines(m: &crate::nginx::NginxMatch) -> Vec<String> {
    let mut lines = Vec::new();
    match (&m.file, m.line, &m.location) {
        (Some(file), Some(line), Some(loc)) => {
            lines.push(format!("nginx location: {file}:{line} `{loc}`"))
        }
        _ => lines.push("nginx location: none matched".into()),
    }
    if let Some(server) = &m.server {
        lines.push(format!("  server: {server}"));
    }
    for c in &m.causes {
        lines.push(format!("  {c}"));
    }
    if let Some(note) = &m.note {
        lines.push(format!("  note: {note}"));
    }
    lines
}
