//! The report of `wsdiag nginx`: a table of the proxying locations with their effective
//! settings, then each finding with its file:line, the sites layout, and each distinct fix
//! once; or the [`NginxReport`] as one JSON document (field names are an interface).

use std::io::{self, Write};

use comfy_table::{presets, Cell, ContentArrangement, Table};
use serde::Serialize;

use crate::nginx::{Level, NginxReport};

pub fn write_json(out: &mut dyn Write, r: &NginxReport) -> io::Result<()> {
    #[derive(Serialize)]
    struct Document<'a> {
        wsdiag_version: &'static str,
        #[serde(flatten)]
        report: &'a NginxReport,
    }
    serde_json::to_writer_pretty(
        &mut *out,
        &Document {
            wsdiag_version: env!("CARGO_PKG_VERSION"),
            report: r,
        },
    )
    .map_err(io::Error::other)?;
    writeln!(out)
}

pub fn write_table(out: &mut dyn Write, r: &NginxReport) -> io::Result<()> {
    let version = r
        .nginx_version
        .as_deref()
        .map(|v| format!(", nginx {v}"))
        .unwrap_or_default();
    writeln!(
        out,
        "Configuration from {}{version}: {} file{}, {} proxying location{}.",
        r.source,
        r.files.len(),
        if r.files.len() == 1 { "" } else { "s" },
        r.locations.len(),
        if r.locations.len() == 1 { "" } else { "s" },
    )?;
    if !r.locations.is_empty() {
        let mut t = Table::new();
        t.load_style(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Disabled);
        t.set_header(vec![
            "location",
            "file:line",
            "WebSocket",
            "http_version",
            "Upgrade",
            "Connection",
            "read_timeout",
        ]);
        let unset = |v: &Option<String>, default: &str| match v {
            Some(v) if v.is_empty() => "\"\"".to_string(),
            Some(v) => v.clone(),
            None => default.to_string(),
        };
        for l in &r.locations {
            t.add_row(vec![
                Cell::new(&l.location),
                Cell::new(format!("{}:{}", l.file, l.line)),
                Cell::new(if l.websocket { "yes" } else { "no" }),
                Cell::new(unset(&l.proxy_http_version, "(default)")),
                Cell::new(unset(&l.upgrade, "(not set)")),
                Cell::new(unset(&l.connection, "(not set)")),
                Cell::new(unset(&l.proxy_read_timeout, "(60s)")),
            ]);
        }
        writeln!(out, "{t}")?;
    }
    for layout in &r.sites {
        writeln!(out, "\nSites in {}:", layout.root)?;
        for e in &layout.enabled {
            let how = match (&e.link, e.dangling) {
                (Some(l), true) => format!(" -> {l} (DANGLING)"),
                (Some(l), false) => format!(" -> {l}"),
                (None, _) => " (a file, not a link)".into(),
            };
            writeln!(out, "  enabled: sites-enabled/{}{how}", e.name)?;
        }
        for n in &layout.not_enabled {
            writeln!(out, "  not enabled: sites-available/{n}")?;
        }
    }
    if r.findings.is_empty() {
        writeln!(out, "\nNo problems found.")?;
    }
    for level in [Level::Error, Level::Warning, Level::Advice] {
        let of_level: Vec<_> = r.findings.iter().filter(|f| f.level == level).collect();
        if of_level.is_empty() {
            continue;
        }
        let title = level_title(level);
        writeln!(out, "\n{title}:")?;
        for f in of_level {
            let loc = f
                .location
                .as_deref()
                .map(|l| format!(" `{l}`"))
                .unwrap_or_default();
            writeln!(out, "  [{}] {}{loc}: {}", f.code, place(f), f.message)?;
        }
    }
    let fixes = distinct_fixes(r);
    if !fixes.is_empty() {
        writeln!(out, "\nFix:")?;
        for (code, fix) in fixes {
            writeln!(out, "  [{code}]")?;
            for line in fix.lines() {
                writeln!(out, "      {line}")?;
            }
        }
    }
    if !r.warnings.is_empty() {
        writeln!(out, "\nNotes:")?;
        for w in &r.warnings {
            writeln!(out, "  - {w}")?;
        }
    }
    Ok(())
}

/// The same report as Markdown, for an incident writeup: locations as a table, findings by
/// level with file:line, the sites layout, each distinct fix once as an nginx snippet.
pub fn write_markdown(out: &mut dyn Write, r: &NginxReport) -> io::Result<()> {
    // Text from a config goes into code spans; a backtick or `|` inside one is replaced.
    let code = |s: &str| format!("`{}`", s.replace('`', "'").replace('|', "\\|"));
    writeln!(out, "# nginx configuration check\n")?;
    writeln!(
        out,
        "Configuration from {}{}: {} file{}, {} proxying location{}. wsdiag {}.\n",
        code(&r.source),
        r.nginx_version
            .as_deref()
            .map(|v| format!(", nginx {v}"))
            .unwrap_or_default(),
        r.files.len(),
        if r.files.len() == 1 { "" } else { "s" },
        r.locations.len(),
        if r.locations.len() == 1 { "" } else { "s" },
        env!("CARGO_PKG_VERSION"),
    )?;
    if !r.locations.is_empty() {
        writeln!(out, "## Proxying locations\n")?;
        writeln!(
            out,
            "| location | file:line | WebSocket | http_version | Upgrade | Connection | read_timeout |"
        )?;
        writeln!(out, "|---|---|---|---|---|---|---|")?;
        let unset = |v: &Option<String>, default: &str| match v {
            Some(v) if v.is_empty() => code("\"\""),
            Some(v) => code(v),
            None => default.to_string(),
        };
        for l in &r.locations {
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                code(&l.location),
                code(&format!("{}:{}", l.file, l.line)),
                if l.websocket { "yes" } else { "no" },
                unset(&l.proxy_http_version, "(default)"),
                unset(&l.upgrade, "(not set)"),
                unset(&l.connection, "(not set)"),
                unset(&l.proxy_read_timeout, "(60s)"),
            )?;
        }
        writeln!(out)?;
    }
    for layout in &r.sites {
        writeln!(out, "## Sites in {}\n", code(&layout.root))?;
        for e in &layout.enabled {
            let how = match (&e.link, e.dangling) {
                (Some(l), true) => format!(" -> {} (**dangling**)", code(l)),
                (Some(l), false) => format!(" -> {}", code(l)),
                (None, _) => " (a file, not a link)".into(),
            };
            writeln!(
                out,
                "- enabled: {}{how}",
                code(&format!("sites-enabled/{}", e.name))
            )?;
        }
        for n in &layout.not_enabled {
            writeln!(
                out,
                "- not enabled: {}",
                code(&format!("sites-available/{n}"))
            )?;
        }
        writeln!(out)?;
    }
    writeln!(out, "## Findings\n")?;
    if r.findings.is_empty() {
        writeln!(out, "No problems found.\n")?;
    }
    for level in [Level::Error, Level::Warning, Level::Advice] {
        let of_level: Vec<_> = r.findings.iter().filter(|f| f.level == level).collect();
        if of_level.is_empty() {
            continue;
        }
        let title = level_title(level);
        writeln!(out, "### {title}\n")?;
        for f in of_level {
            let loc = f
                .location
                .as_deref()
                .map(|l| format!(" {}", code(l)))
                .unwrap_or_default();
            writeln!(
                out,
                "- `{}` {}{loc}: {}",
                f.code,
                code(&place(f)),
                f.message.replace('<', "&lt;")
            )?;
        }
        writeln!(out)?;
    }
    let fixes = distinct_fixes(r);
    if !fixes.is_empty() {
        writeln!(out, "## Fix\n")?;
        for (c, fix) in fixes {
            writeln!(out, "`{c}`:\n\n```nginx\n{fix}\n```\n")?;
        }
    }
    if !r.warnings.is_empty() {
        writeln!(out, "## Notes\n")?;
        for w in &r.warnings {
            writeln!(out, "- {w}")?;
        }
    }
    Ok(())
}

/// Where a finding is: `file:line`, or the file alone for file-level findings.
fn place(f: &crate::nginx::ConfigFinding) -> String {
    if f.line > 0 {
        format!("{}:{}", f.file, f.line)
    } else {
        f.file.clone()
    }
}

/// Each distinct (code, fix) of the errors and warnings once, in code order.
fn distinct_fixes(r: &NginxReport) -> Vec<(&'static str, &str)> {
    let mut fixes: Vec<(&str, &str)> = r
        .findings
        .iter()
        .filter(|f| f.level != Level::Advice)
        .filter_map(|f| f.fix.as_deref().map(|x| (f.code, x)))
        .collect();
    fixes.sort();
    fixes.dedup();
    fixes
}

fn level_title(level: Level) -> &'static str {
    match level {
        Level::Error => "Errors (break WebSocket handshakes)",
        Level::Warning => "Warnings",
        Level::Advice => "Advice",
    }
}
