//! The incident report as a document: headings, paragraphs, tables, code blocks and a
//! timeline, built once from an [`Analysis`] and rendered by `markdown` and `html`, so both
//! formats say the same thing. All wording of the report lives here; the renderers only
//! escape and lay out.

use super::{Analysis, Finding, Output};
use crate::common::plural;
use crate::common::Timestamp;
use crate::diagnose::{Fix, Handshake, Problem, Verdict};

/// Handshakes listed in the timeline table; the rest are counted (the JSON report lists all).
pub const TIMELINE_ROWS: usize = 50;
/// Plain requests listed with `--all`.
pub const PLAIN_ROWS: usize = 50;

/// A run of text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inline {
    Text(String),
    /// Literal text from the wire or the command line, shown as code.
    Code(String),
    Strong(String),
    /// A verdict name, coloured where the format can.
    Verdict(Verdict),
}

/// A paragraph's, list item's or table cell's content.
pub type Line = Vec<Inline>;

#[derive(Clone, Debug)]
pub enum Block {
    /// Level 2 or 3 (the title is [`Doc::title`]).
    Heading(u8, String),
    Para(Line),
    /// Something the reader must not miss (the report is not redacted).
    Alert(Line),
    List(Vec<Line>),
    Table {
        header: Vec<&'static str>,
        /// Right-aligned columns (numbers).
        right: Vec<bool>,
        rows: Vec<Vec<Line>>,
    },
    Code {
        lang: &'static str,
        text: String,
    },
    /// A picture of the handshakes over time; formats without pictures skip it.
    Timeline(Timeline),
}

/// One mark per handshake, placed by time and coloured by verdict, and one bar per WebSocket
/// session from open to close.
#[derive(Clone, Debug)]
pub struct Timeline {
    pub marks: Vec<Mark>,
    pub bars: Vec<Bar>,
}

/// A WebSocket session's span.
#[derive(Clone, Debug)]
pub struct Bar {
    pub start: Timestamp,
    pub end: Timestamp,
    /// The session had a problem (drawn in the broken colour).
    pub problem: bool,
    pub label: String,
}

#[derive(Clone, Debug)]
pub struct Mark {
    pub ts: Timestamp,
    pub verdict: Verdict,
    /// What a tooltip says about it.
    pub label: String,
}

#[derive(Clone, Debug)]
pub struct Doc {
    pub title: String,
    pub blocks: Vec<Block>,
}

/// Prose with `backtick` spans: the spans become [`Inline::Code`].
pub fn prose(s: &str) -> Line {
    s.split('`')
        .enumerate()
        .filter(|(_, part)| !part.is_empty())
        .map(|(i, part)| {
            if i % 2 == 1 {
                Inline::Code(part.to_string())
            } else {
                Inline::Text(part.to_string())
            }
        })
        .collect()
}

fn text(s: impl Into<String>) -> Inline {
    Inline::Text(s.into())
}

fn code(s: impl Into<String>) -> Inline {
    Inline::Code(s.into())
}

/// The report of `a`, made by the command line in `out`.
pub fn build(a: &Analysis, out: &Output) -> Doc {
    let mut b = Vec::new();
    if !a.redacted {
        b.push(Block::Alert(prose(
            "Secrets are NOT redacted in this report (`--no-redact`): it shows cookies, credentials and tokens as they were captured. Do not attach it to a ticket or share it.",
        )));
    }
    b.push(Block::Heading(2, "Verdict".into()));
    b.push(Block::Para(prose(&verdict_paragraph(a))));
    analysed(&mut b, a, out);
    by_kind(&mut b, a);
    findings(&mut b, a);
    sessions(&mut b, a);
    timeline(&mut b, a);
    if out.all {
        plain(&mut b, a);
    }
    warnings(&mut b, a);
    Doc {
        title: title(a),
        blocks: b,
    }
}

fn title(a: &Analysis) -> String {
    let what = match a.inputs.as_slice() {
        [] => String::new(),
        [one] => format!(": {}", one.path),
        [first, rest @ ..] => format!(": {} and {} more", first.path, rest.len()),
    };
    format!("WebSocket handshake report{what}")
}

/// `were` or `was`.
fn were(n: usize) -> &'static str {
    if n == 1 {
        "was"
    } else {
        "were"
    }
}

/// How the backend answered a group of handshakes: `404`, `404 and 403`, `nothing`.
fn answers(hs: &[&Handshake]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for h in hs {
        let s = match &h.response {
            Some(r) if r.status == 101 && r.accept_valid == Some(false) => {
                "101 with a wrong Sec-WebSocket-Accept".to_string()
            }
            Some(r) => r.status.to_string(),
            None => "nothing".to_string(),
        };
        if !seen.contains(&s) {
            seen.push(s);
        }
    }
    join_and(&seen)
}

fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The one paragraph someone who was not there reads first.
fn verdict_paragraph(a: &Analysis) -> String {
    let all: Vec<&Handshake> = a.handshakes.iter().map(|f| &*f.handshake).collect();
    let total = all.len();
    if total == 0 {
        return format!(
            "No WebSocket handshake attempts were found among {} in {}. Check that the capture covers the hop between the proxy and the backend while a connection attempt failed.",
            plural(a.summary.http_requests, "HTTP request"),
            plural(a.summary.packets, "packet")
        );
    }
    let of = |v: Verdict| -> Vec<&Handshake> {
        all.iter().copied().filter(|h| h.verdict == v).collect()
    };
    let noun = if total == 1 {
        "WebSocket handshake"
    } else {
        "WebSocket handshakes"
    };
    let mut sentences = Vec::new();
    let broken = of(Verdict::Broken);
    if !broken.is_empty() {
        let has = |p: Problem| broken.iter().any(|h| h.problems.contains(&p));
        let mut how = String::new();
        if has(Problem::Http10Downgrade) {
            how.push_str(" as HTTP/1.0");
        }
        let mut without = Vec::new();
        if has(Problem::UpgradeStripped) {
            without.push("`Upgrade: websocket`");
        }
        if has(Problem::ConnectionNotUpgrade) {
            without.push("`Connection: upgrade`");
        }
        if !without.is_empty() {
            how.push_str(" without ");
            how.push_str(&without.join(" or "));
        }
        sentences.push(format!(
            "{} of {total} {noun} {} broken by the proxy: it forwarded {}{how}, and the backend answered {}.",
            broken.len(),
            were(broken.len()),
            if broken.len() == 1 { "it" } else { "them" },
            answers(&broken)
        ));
    }
    let rejected = of(Verdict::Rejected);
    if !rejected.is_empty() {
        sentences.push(format!(
            "{} of {total} {} rejected by the backend although the proxy passed {} on intact: the backend answered {}.",
            rejected.len(),
            were(rejected.len()),
            if rejected.len() == 1 { "it" } else { "them" },
            answers(&rejected)
        ));
    }
    let incomplete = of(Verdict::Incomplete);
    if !incomplete.is_empty() {
        sentences.push(format!(
            "{} of {total} could not be judged: no response was captured, or the request was not captured whole.",
            incomplete.len()
        ));
    }
    let ok = of(Verdict::Ok);
    if !ok.is_empty() {
        if ok.len() == total {
            sentences.push(format!(
                "{} {noun} succeeded: the backend answered 101 Switching Protocols with a valid Sec-WebSocket-Accept.",
                if total == 1 {
                    "The".to_string()
                } else {
                    format!("All {total}")
                }
            ));
        } else {
            sentences.push(format!(
                "{} of {total} succeeded (101 Switching Protocols, valid accept).",
                ok.len()
            ));
        }
    }
    if !broken.is_empty() {
        sentences.push("The nginx lines that fix it are under Findings below.".into());
    }
    sentences.join(" ")
}

fn analysed(b: &mut Vec<Block>, a: &Analysis, out: &Output) {
    b.push(Block::Heading(2, "What was analysed".into()));
    b.push(Block::Table {
        header: vec!["file", "format", "link type", "size", "packets"],
        right: vec![false, false, false, true, true],
        rows: a
            .inputs
            .iter()
            .map(|i| {
                vec![
                    vec![code(&i.path)],
                    vec![text(&i.format)],
                    vec![text(i.link_types.join(", "))],
                    vec![text(size(i.bytes))],
                    vec![text(i.packets.to_string())],
                ]
            })
            .collect(),
    });
    let s = &a.summary;
    let mut items = Vec::new();
    if let (Some(first), Some(last)) = (s.first_packet_ts, s.last_packet_ts) {
        items.push(vec![
            text("Capture time (UTC): "),
            text(first.rfc3339()),
            text(" to "),
            text(last.rfc3339()),
            text(format!(" ({})", duration(last.nanos_since(first)))),
        ]);
    }
    items.push(vec![text(format!(
        "{} ({} TCP), {}, {} and {}",
        plural(s.packets, "packet"),
        s.tcp_packets,
        plural(s.connections, "TCP connection"),
        plural(s.http_requests, "HTTP request"),
        plural(s.http_responses, "response"),
    ))]);
    items.push(vec![text(format!(
        "{} attempted",
        plural(s.handshakes, "WebSocket handshake")
    ))]);
    if s.requests_not_captured_whole > 0 {
        items.push(vec![text(format!(
            "{} not captured whole (a gap in the capture)",
            plural(s.requests_not_captured_whole, "request head")
        ))]);
    }
    if let Some(c) = &a.capture {
        items.push(prose(&format!(
            "Live capture on `{}` with filter `{}` ({}): {} packets dropped by libpcap, {} by the interface",
            c.interface, c.filter, c.link_type, c.dropped, c.if_dropped
        )));
    }
    if s.warnings > 0 {
        items.push(vec![text(format!(
            "{} (listed at the end)",
            plural(s.warnings, "warning")
        ))]);
    }
    items.push(vec![
        text(format!("wsdiag {}, run as ", env!("CARGO_PKG_VERSION"))),
        code(command_line(&out.command_line)),
    ]);
    items.push(if a.redacted {
        prose("Secrets redacted: Cookie, Set-Cookie, Authorization, Proxy-Authorization and X-Api-Key values show only their length, and query parameters named like `token`, `key`, `password`, `secret` or `session` show `<redacted>`")
    } else {
        prose("Secrets NOT redacted (`--no-redact`)")
    });
    b.push(Block::List(items));
}

/// `wsdiag` and the arguments, quoted for a POSIX shell where needed.
fn command_line(args: &[String]) -> String {
    let mut parts = vec!["wsdiag".to_string()];
    for a in args {
        let plain = !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
        parts.push(if plain {
            a.clone()
        } else {
            format!("'{}'", a.replace('\'', "'\\''"))
        });
    }
    parts.join(" ")
}

fn size(bytes: u64) -> String {
    if bytes < 10 * 1024 {
        format!("{bytes} bytes")
    } else if bytes < 10 * 1024 * 1024 {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{} MiB", bytes / (1024 * 1024))
    }
}

fn duration(nanos: i64) -> String {
    let secs = nanos as f64 / 1e9;
    if secs < 1.0 {
        format!("{:.1} ms", secs * 1000.0)
    } else if secs < 120.0 {
        format!("{secs:.1} s")
    } else {
        format!("{:.1} min", secs / 60.0)
    }
}

/// Handshakes grouped by what happened to them, in order of first appearance, worst first.
fn kinds(a: &Analysis) -> Vec<(Verdict, Vec<Problem>, Vec<&Finding>)> {
    let mut kinds: Vec<(Verdict, Vec<Problem>, Vec<&Finding>)> = Vec::new();
    for f in &a.handshakes {
        let h = &f.handshake;
        match kinds
            .iter_mut()
            .find(|(v, p, _)| *v == h.verdict && *p == h.problems)
        {
            Some(k) => k.2.push(f),
            None => kinds.push((h.verdict, h.problems.clone(), vec![f])),
        }
    }
    let rank = |v: Verdict| match v {
        Verdict::Broken => 0,
        Verdict::Rejected => 1,
        Verdict::Incomplete => 2,
        Verdict::Ok => 3,
    };
    kinds.sort_by_key(|k| rank(k.0));
    kinds
}

fn problem_list(problems: &[Problem]) -> Line {
    if problems.is_empty() {
        return vec![text("none")];
    }
    let mut line = Vec::new();
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            line.push(text(", "));
        }
        line.push(code(p.code()));
    }
    line
}

fn by_kind(b: &mut Vec<Block>, a: &Analysis) {
    if a.handshakes.is_empty() {
        return;
    }
    b.push(Block::Heading(
        2,
        "Handshakes by verdict and problem".into(),
    ));
    let rows = kinds(a)
        .into_iter()
        .map(|(v, problems, fs)| {
            let hs: Vec<&Handshake> = fs.iter().map(|f| &*f.handshake).collect();
            vec![
                vec![Inline::Verdict(v)],
                problem_list(&problems),
                vec![text(fs.len().to_string())],
                vec![text(answers(&hs))],
            ]
        })
        .collect();
    b.push(Block::Table {
        header: vec!["verdict", "problems", "handshakes", "backend answered"],
        right: vec![false, false, true, false],
        rows,
    });
}

/// What each problem means, for someone who has not read the README.
fn explanation(p: Problem) -> &'static str {
    match p {
        Problem::Http10Downgrade => "The proxy sent the request upstream as HTTP/1.0. HTTP/1.0 has no protocol upgrade, so the backend must ignore one (RFC 9110, section 7.8). nginx speaks HTTP/1.0 to upstreams unless told `proxy_http_version 1.1` (the default before nginx 1.29.7).",
        Problem::UpgradeStripped => "The request carries WebSocket headers (`Sec-WebSocket-Key`, `Sec-WebSocket-Version`) but no `Upgrade: websocket`. Upgrade is a hop-by-hop header: a proxy drops it unless configured to pass it on, and without it the backend sees a plain GET.",
        Problem::ConnectionNotUpgrade => "The `Connection` header is missing or lacks the `upgrade` token, so no upgrade is requested on this hop and the backend cannot switch protocols.",
        Problem::BackendRejected => "The handshake reached the backend intact, and the backend answered with a status other than 101 Switching Protocols: the cause is in the backend (its routes, an Origin check, authentication), not in how the proxy forwarded the request.",
        Problem::BadAccept => "The backend answered 101, but its `Sec-WebSocket-Accept` does not match the request's key: something rewrote the key or the response, and browsers close such a connection.",
        Problem::NoResponse => "No response was captured before the connection or the capture ended: the backend may be slow or stuck, or the capture stopped too early.",
        Problem::PathRewritten => "The proxy sent a different path upstream than the client asked for. A `proxy_pass` with a URI part (such as a trailing slash) replaces the matched location prefix, so the backend looks up a route that may not exist.",
        Problem::NotForwarded => "The client sent a handshake and no upstream request followed: the proxy answered it by itself, because the location serving this path does not proxy it (a wrong location, a site file that is not enabled, or another server block).",
        Problem::ClosedWithoutCloseFrame => "The WebSocket session's TCP connection ended without a close frame in either direction: something dropped it, most often a proxy's idle timeout (nginx `proxy_read_timeout`, 60 s by default) on a session without pings.",
        Problem::StuckOnPolling => "A socket.io/engine.io or SignalR client kept long-polling and never got a working WebSocket upgrade: these libraries fall back silently when the upgrade fails, so the application works, slowly, and nobody sees the broken upgrade.",
        Problem::ProtocolViolation => "A side broke RFC 6455 after the handshake (masking, opcodes, control frames, data after close); browsers and proxies drop such connections.",
    }
}

fn time_of_day(ts: Timestamp) -> String {
    let s = ts.rfc3339();
    s.get(11..23).unwrap_or(&s).to_string()
}

fn findings(b: &mut Vec<Block>, a: &Analysis) {
    // Every kind, ok ones too: a working handshake's head is the reference to compare with.
    let kinds = kinds(a);
    if kinds.is_empty() {
        return;
    }
    b.push(Block::Heading(2, "Findings".into()));
    let multi = a.inputs.len() > 1;
    let mut shown: Vec<&Fix> = Vec::new();
    for (verdict, problems, fs) in kinds {
        let n = fs.len();
        let codes: Vec<&str> = problems.iter().map(|p| p.code()).collect();
        b.push(Block::Heading(
            3,
            format!(
                "{n} {} handshake{}{}",
                verdict.name(),
                if n == 1 { "" } else { "s" },
                if codes.is_empty() {
                    String::new()
                } else {
                    format!(": {}", codes.join(", "))
                }
            ),
        ));
        if verdict == Verdict::Ok {
            b.push(Block::Para(prose(
                "The backend switched protocols: the handshake arrived intact (`Upgrade: websocket`, `Connection: upgrade`) and the `Sec-WebSocket-Accept` in the 101 matched the key.",
            )));
        } else if problems.is_empty() {
            b.push(Block::Para(prose(
                "The request head was not captured whole (a gap in the capture), so nothing is claimed about its headers.",
            )));
        } else {
            b.push(Block::List(
                problems
                    .iter()
                    .map(|p| {
                        let mut l = vec![code(p.code()), text(": ")];
                        l.extend(prose(explanation(*p)));
                        l
                    })
                    .collect(),
            ));
        }
        let first = fs[0];
        let h = &first.handshake;
        let mut intro = format!(
            "Evidence{} ({} UTC, connection {}, packet {}",
            if n == 1 {
                ""
            } else {
                " from the first of them"
            },
            time_of_day(h.ts),
            h.connection,
            h.request_packet
        );
        if multi {
            intro.push_str(&format!(", `{}`", first.input));
        }
        intro.push_str("):");
        b.push(Block::Para(prose(&intro)));
        b.push(Block::List(h.evidence.iter().map(|e| prose(e)).collect()));
        b.push(Block::Para(prose(&format!(
            "The request head as {} received it{}:",
            h.server,
            if a.redacted { ", secrets redacted" } else { "" }
        ))));
        let mut head = format!(
            "{} {} {}\n",
            h.request.method, h.request.target, h.request.version
        );
        for l in &h.request.head {
            head.push_str(l);
            head.push('\n');
        }
        if !h.request.head_complete {
            head.push_str("(the rest was not captured)\n");
        }
        b.push(Block::Code {
            lang: "http",
            text: head,
        });
        match (&h.response, h.response_packet) {
            (Some(r), Some(p)) => {
                b.push(Block::Para(prose(&format!(
                    "The response status line (packet {p}{}):",
                    h.response_delay
                        .map(|d| format!(", {:.1} ms later", d * 1000.0))
                        .unwrap_or_default()
                ))));
                b.push(Block::Code {
                    lang: "http",
                    text: format!("{} {} {}\n", r.version, r.status, r.reason),
                });
            }
            _ => b.push(Block::Para(prose("No response was captured."))),
        }
        let fixes: Vec<&Fix> = h.fix.iter().collect();
        if fixes.is_empty() {
            continue;
        }
        b.push(Block::Para(vec![Inline::Strong("Fix".into())]));
        for f in fixes {
            let mut l = vec![code(f.problem.code()), text(": ")];
            l.extend(prose(&f.advice));
            match &f.nginx {
                Some(_) if shown.contains(&f) => {
                    l.push(text(" (the nginx lines are shown above)"));
                    b.push(Block::Para(l));
                }
                Some(nginx) => {
                    l.push(text(":"));
                    b.push(Block::Para(l));
                    b.push(Block::Code {
                        lang: "nginx",
                        text: format!("{nginx}\n"),
                    });
                    shown.push(f);
                }
                None => b.push(Block::Para(l)),
            }
        }
    }
}

fn status(h: &Handshake) -> String {
    h.response
        .as_ref()
        .map_or_else(|| "-".to_string(), |r| r.status.to_string())
}

/// Sessions listed shown in the sessions table and as bars; the JSON has them all.
const SESSION_ROWS: usize = 50;

/// The WebSocket sessions: a table, then the evidence of each one with a problem.
fn sessions(b: &mut Vec<Block>, a: &Analysis) {
    if a.sessions.is_empty() {
        return;
    }
    b.push(Block::Heading(2, "WebSocket sessions".into()));
    let rows = a
        .sessions
        .iter()
        .take(SESSION_ROWS)
        .map(|r| {
            let s = &r.session;
            let f = &s.facts;
            let close = match &f.close {
                None => "none".to_string(),
                Some(c) => format!(
                    "{} from the {}{}",
                    c.code.map_or_else(|| "no code".into(), |c| c.to_string()),
                    c.from.name(),
                    if s.close_completed { ", answered" } else { "" }
                ),
            };
            vec![
                vec![text(s.connection.to_string())],
                vec![match &s.target {
                    Some(t) => code(t.clone()),
                    None => text("(handshake not captured)"),
                }],
                vec![text(format!("{:.3} s", s.duration))],
                vec![text(format!(
                    "{} / {}",
                    f.from_client.messages, f.from_server.messages
                ))],
                vec![text(format!(
                    "{} / {}",
                    f.from_client.pings + f.from_server.pings,
                    f.from_client.pongs + f.from_server.pongs
                ))],
                vec![text(close)],
                vec![text(f.tcp_end.as_ref().map_or_else(
                    || "open at the end".to_string(),
                    |e| format!("{} from the {}", e.how.to_uppercase(), e.by.name()),
                ))],
                problem_list(&s.problems),
            ]
        })
        .collect();
    b.push(Block::Table {
        header: vec![
            "conn",
            "target",
            "duration",
            "messages c>s / s>c",
            "pings / pongs",
            "close frame",
            "TCP end",
            "problems",
        ],
        right: vec![true, false, true, true, true, false, false, false],
        rows,
    });
    if a.sessions.len() > SESSION_ROWS {
        b.push(Block::Para(prose(&format!(
            "... and {} more sessions (the JSON report lists them all).",
            a.sessions.len() - SESSION_ROWS
        ))));
    }
    for r in a
        .sessions
        .iter()
        .filter(|r| !r.session.problems.is_empty())
        .take(10)
    {
        let s = &r.session;
        let codes: Vec<&str> = s.problems.iter().map(|p| p.code()).collect();
        b.push(Block::Heading(
            3,
            format!(
                "Session on connection {}: {}",
                s.connection,
                codes.join(", ")
            ),
        ));
        b.push(Block::List(
            s.problems
                .iter()
                .map(|p| {
                    let mut l = vec![code(p.code()), text(": ")];
                    l.extend(prose(explanation(*p)));
                    l
                })
                .collect(),
        ));
        b.push(Block::List(s.evidence.iter().map(|e| prose(e)).collect()));
        for f in &s.fix {
            b.push(Block::Para(prose(&format!(
                "`{}`: {}",
                f.problem.code(),
                f.advice
            ))));
            if let Some(n) = &f.nginx {
                b.push(Block::Code {
                    lang: "nginx",
                    text: n.to_string(),
                });
            }
        }
    }
}

fn timeline(b: &mut Vec<Block>, a: &Analysis) {
    if a.handshakes.is_empty() && a.sessions.is_empty() {
        return;
    }
    b.push(Block::Heading(2, "Timeline".into()));
    b.push(Block::Timeline(Timeline {
        bars: a
            .sessions
            .iter()
            .take(SESSION_ROWS)
            .map(|r| {
                let s = &r.session;
                Bar {
                    start: s.facts.start,
                    end: s.facts.last_activity,
                    problem: !s.problems.is_empty(),
                    label: format!(
                        "session on connection {}: {} {:.3} s, {} / {} messages{}",
                        s.connection,
                        s.target.as_deref().unwrap_or("(handshake not captured)"),
                        s.duration,
                        s.facts.from_client.messages,
                        s.facts.from_server.messages,
                        if s.problems.is_empty() {
                            String::new()
                        } else {
                            format!(
                                ", {}",
                                s.problems
                                    .iter()
                                    .map(|p| p.code())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        }
                    ),
                }
            })
            .collect(),
        marks: a
            .handshakes
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let h = &f.handshake;
                Mark {
                    ts: h.ts,
                    verdict: h.verdict,
                    label: format!(
                        "#{} {} UTC, connection {}: {} {} -> {} {}",
                        i + 1,
                        time_of_day(h.ts),
                        h.connection,
                        h.request.method,
                        h.request.target,
                        status(h),
                        h.verdict.name()
                    ),
                }
            })
            .collect(),
    }));
    let multi = a.inputs.len() > 1;
    let mut header = vec!["#", "time (UTC)", "conn", "request", "status", "verdict"];
    let mut right = vec![true, false, true, false, false, false];
    if multi {
        header.insert(1, "input");
        right.insert(1, false);
    }
    let rows = a
        .handshakes
        .iter()
        .take(TIMELINE_ROWS)
        .enumerate()
        .map(|(i, f)| {
            let h = &f.handshake;
            let mut row = vec![
                vec![text((i + 1).to_string())],
                vec![text(time_of_day(h.ts))],
                vec![text(h.connection.to_string())],
                vec![code(format!("{} {}", h.request.method, h.request.target))],
                vec![text(status(h))],
                vec![Inline::Verdict(h.verdict)],
            ];
            if multi {
                row.insert(1, vec![code(&f.input)]);
            }
            row
        })
        .collect();
    b.push(Block::Table {
        header,
        right,
        rows,
    });
    if a.handshakes.len() > TIMELINE_ROWS {
        b.push(Block::Para(prose(&format!(
            "... and {} more (the JSON report, `--format json`, lists them all).",
            a.handshakes.len() - TIMELINE_ROWS
        ))));
    }
}

fn plain(b: &mut Vec<Block>, a: &Analysis) {
    if a.plain.is_empty() {
        return;
    }
    b.push(Block::Heading(2, "Plain HTTP requests".into()));
    let rows = a
        .plain
        .iter()
        .take(PLAIN_ROWS)
        .map(|p| {
            vec![
                vec![text(time_of_day(p.ts))],
                vec![text(p.connection.to_string())],
                vec![text(p.request_packet.to_string())],
                vec![code(format!("{} {} {}", p.method, p.target, p.version))],
                vec![text(
                    p.status.map_or_else(|| "-".to_string(), |s| s.to_string()),
                )],
            ]
        })
        .collect();
    b.push(Block::Table {
        header: vec!["time (UTC)", "conn", "packet", "request", "status"],
        right: vec![false, true, true, false, false],
        rows,
    });
    if a.plain.len() > PLAIN_ROWS {
        b.push(Block::Para(prose(&format!(
            "... and {} more.",
            a.plain.len() - PLAIN_ROWS
        ))));
    }
}

fn warnings(b: &mut Vec<Block>, a: &Analysis) {
    if a.warnings.is_empty() {
        return;
    }
    b.push(Block::Heading(2, "Warnings".into()));
    let multi = a.inputs.len() > 1;
    let mut items: Vec<Line> = a
        .warnings
        .iter()
        .map(|w| {
            let mut l = vec![code(w.code), text(": ")];
            if multi {
                l.push(text(format!("{}, ", w.input)));
            }
            if let Some(p) = w.packet {
                l.push(text(format!("packet {p}: ")));
            }
            l.push(text(&w.message));
            l
        })
        .collect();
    for (c, n) in &a.warnings_not_listed {
        items.push(vec![code(*c), text(format!(": ... and {n} more"))]);
    }
    b.push(Block::List(items));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_turns_backtick_spans_into_code() {
        assert_eq!(prose("a `b` c"), vec![text("a "), code("b"), text(" c")]);
        assert_eq!(prose("`x`"), vec![code("x")]);
    }

    #[test]
    fn command_line_is_quoted_for_a_shell() {
        assert_eq!(
            command_line(&["analyze".into(), "my file.pcap".into(), "it's".into()]),
            "wsdiag analyze 'my file.pcap' 'it'\\''s'"
        );
    }
}
