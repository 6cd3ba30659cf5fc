//! `wsdiag probe`: a real RFC 6455 handshake sent through the proxy, every step reported (the
//! address, connect and TLS times, the exact request, the answer with its headers, the accept
//! check, a message and its reply, the close), and with the `capture` feature the upstream hop
//! watched at the same time, so the backend's view of the very same handshake (found by the
//! probe's own `Sec-WebSocket-Key`) stands beside the client's.
//!
//! Apart from the analysis pipeline: it reads no capture (except through `upstream`, which feeds
//! a live capture to `analyze::InputAnalysis`), and hands a [`ProbeRun`] to `report::probe`.

pub mod frames;
pub mod handshake;
pub mod net;
#[cfg(feature = "capture")]
pub mod upstream;
pub mod url;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::diagnose::redact::Redactor;
use crate::diagnose::Handshake;
use frames::{FrameReader, Read1};
use handshake::{RequestSpec, ResponseHead};
use net::TlsInfo;
use url::{Resolve, WsUrl};

/// Largest response head read.
const MAX_HEAD: usize = 64 * 1024;
/// Body bytes shown of an answer that is not 101.
const BODY_BYTES: usize = 256;

/// What to probe and how, parsed once from the command line.
#[derive(Clone, Debug)]
pub struct ProbeSpec {
    pub url: String,
    /// `--compare URL2`: probed the same way, shown side by side.
    pub compare: Option<String>,
    pub resolve: Vec<Resolve>,
    pub headers: Vec<(String, String)>,
    pub origin: Option<String>,
    pub subprotocols: Vec<String>,
    pub message: Option<String>,
    pub timeout: Duration,
    pub insecure: bool,
    /// `--capture IFACE --port N`: watch the upstream hop during the probe.
    pub capture: Option<CaptureArgs>,
}

/// The upstream hop to watch.
#[derive(Clone, Debug)]
pub struct CaptureArgs {
    pub interface: String,
    pub ports: Vec<u16>,
    /// How long after the proxy's answer to wait for the upstream request.
    pub wait: Duration,
}

/// The overall judgement of one probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeVerdict {
    /// 101 with a valid accept, the message answered (if sent), a proper close.
    Ok,
    /// The answer was not 101.
    Refused,
    /// A 101 that is wrong, no answer at all, or a session that misbehaved.
    Broken,
    /// No connection (DNS, TCP or TLS failed): only in `--compare`, where the other side is
    /// still shown; a single probe says so in one line and exits 2.
    Unreachable,
}

impl ProbeVerdict {
    pub fn name(self) -> &'static str {
        match self {
            ProbeVerdict::Ok => "ok",
            ProbeVerdict::Refused => "refused",
            ProbeVerdict::Broken => "broken",
            ProbeVerdict::Unreachable => "unreachable",
        }
    }
    /// The exit status it calls for.
    pub fn exit_status(self) -> u8 {
        match self {
            ProbeVerdict::Ok => crate::EXIT_OK,
            ProbeVerdict::Refused | ProbeVerdict::Broken => crate::EXIT_FOUND,
            ProbeVerdict::Unreachable => crate::EXIT_ERROR,
        }
    }
}

/// What the probe sent.
#[derive(Clone, Debug, Serialize)]
pub struct Sent {
    pub request_line: String,
    /// `Name: value`, in order, credentials redacted.
    pub headers: Vec<String>,
    /// Not a secret (a nonce), and what finds the upstream request.
    pub key: String,
}

/// What came back.
#[derive(Clone, Debug, Serialize)]
pub struct Answer {
    pub version: String,
    pub status: u16,
    pub reason: String,
    /// `Name: value`, in order, credentials (Set-Cookie, ...) redacted.
    pub headers: Vec<String>,
    /// Seconds from the request sent to the head received.
    pub seconds: f64,
    /// Only for a 101.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accept_valid: Option<bool>,
    pub extensions: Option<String>,
    pub subprotocol: Option<String>,
    /// The first bytes of the body of an answer that is not 101.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_start: Option<String>,
    /// Who answered, when recognisable (nginx's own error page, Starlette, ...), and what it
    /// means.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meaning: Option<&'static str>,
}

/// `--message`: what was sent and what came back.
#[derive(Clone, Debug, Serialize)]
pub struct MessageExchange {
    pub sent: String,
    /// The first data message back (text; `<N bytes binary>` or `<N bytes compressed>`
    /// otherwise).
    pub received: Option<String>,
    pub seconds: Option<f64>,
}

/// How the session ended.
#[derive(Clone, Debug, Serialize)]
pub struct CloseExchange {
    /// The close code the probe sent (1000), if it got to send one.
    pub sent: Option<u16>,
    /// The server's close code; 1005 when its close frame had none.
    pub received: Option<u16>,
    pub reason: Option<String>,
    /// The server closed first (the probe then answered with its close).
    pub server_first: bool,
}

/// One probe, start to end.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeReport {
    /// The URL, its query redacted.
    pub url: String,
    /// The address connected to.
    pub address: Option<String>,
    /// Seconds the TCP connect took.
    pub connect_seconds: Option<f64>,
    pub tls: Option<TlsInfo>,
    /// Why there is no connection (DNS, TCP or TLS), for `unreachable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub sent: Sent,
    pub response: Option<Answer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageExchange>,
    pub close: Option<CloseExchange>,
    pub verdict: ProbeVerdict,
    /// Codes: `refused`, `no_response`, `bad_accept`, `bad_upgrade_headers`,
    /// `unexpected_subprotocol`, `unexpected_extension`, `no_reply`, `no_close_reply`,
    /// `closed_without_close_frame`, `protocol_violation`, `abnormal_close`.
    pub problems: Vec<&'static str>,
    /// The verdict in plain words.
    pub summary: String,
    /// One sentence per problem.
    pub notes: Vec<String>,
    /// The upstream hop (with `--capture`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<Upstream>,
    /// With `--nginx-config`: the location nginx picked for the probe, and what in it
    /// explains the upstream problems.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nginx: Option<crate::nginx::NginxMatch>,
}

/// What the backend received and answered, found on the upstream hop by the probe's key.
#[derive(Clone, Debug, Serialize)]
pub struct Upstream {
    pub interface: String,
    pub filter: String,
    /// The upstream request carrying the probe's key, as `wsdiag analyze` judges it.
    pub handshake: Option<Handshake>,
    /// The analyze vocabulary: the handshake's problems, or `not_forwarded`.
    pub problems: Vec<&'static str>,
    /// What the proxy changed and what the backend answered, in plain words.
    pub summary: String,
}

/// A row of `--compare` whose values differ.
#[derive(Clone, Debug, Serialize)]
pub struct Difference {
    pub field: &'static str,
    pub a: String,
    pub b: String,
}

/// Everything one `wsdiag probe` run found.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeRun {
    pub wsdiag_version: &'static str,
    pub probes: Vec<ProbeReport>,
    /// With `--compare`: the rows where the two probes differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub differences: Option<Vec<Difference>>,
}

impl ProbeRun {
    /// 0 every probe upgraded, 1 one was refused or broken, 2 one could not connect.
    pub fn exit_status(&self) -> u8 {
        self.probes
            .iter()
            .map(|p| p.verdict.exit_status())
            .max()
            .unwrap_or(crate::EXIT_OK)
    }
}

/// Adds to each probe the nginx location that served it (`--nginx-config`): from the upstream
/// request the capture found, or else from what the probe itself asked for.
pub fn locate(run: &mut ProbeRun, routing: &crate::nginx::Routing) {
    for p in &mut run.probes {
        p.nginx = Some(
            match p.upstream.as_ref().and_then(|u| u.handshake.as_ref()) {
                Some(h) => routing.locate(h),
                None => {
                    let Ok(url) = WsUrl::parse(&p.url) else {
                        continue;
                    };
                    routing.locate_client(Some(&url.host), url.port, &url.target)
                }
            },
        );
    }
}

/// Runs the probe (and its comparison, and the upstream capture). `Err` is a one-line reason
/// for exit status 2: bad usage, or a single probe that could not connect.
pub fn run(spec: &ProbeSpec) -> Result<ProbeRun, String> {
    let first = WsUrl::parse(&spec.url)?;
    let second = spec.compare.as_deref().map(WsUrl::parse).transpose()?;
    #[cfg(feature = "capture")]
    let watcher = match &spec.capture {
        Some(c) => Some(upstream::Watcher::start(c)?),
        None => None,
    };
    #[cfg(not(feature = "capture"))]
    if spec.capture.is_some() {
        return Err(crate::NO_CAPTURE_PROBE.into());
    }
    let mut probes = vec![probe_one(&first, spec)];
    if let Some(u) = &second {
        probes.push(probe_one(u, spec));
    }
    #[cfg(feature = "capture")]
    if let Some(w) = watcher {
        let keys: Vec<String> = probes
            .iter()
            .filter(|p| p.response.is_some())
            .map(|p| p.sent.key.clone())
            .collect();
        let found = w.finish(&keys)?;
        for p in &mut probes {
            if p.verdict != ProbeVerdict::Unreachable {
                let hs = found
                    .handshakes
                    .iter()
                    .find(|h| h.key.as_deref() == Some(&p.sent.key));
                p.upstream = Some(upstream::view(p, hs.cloned(), &found));
            }
        }
    }
    if second.is_none() {
        if let Some(e) = &probes[0].error {
            return Err(e.clone());
        }
    }
    let differences = second
        .is_some()
        .then(|| differences(&probes[0], &probes[1]));
    Ok(ProbeRun {
        wsdiag_version: env!("CARGO_PKG_VERSION"),
        probes,
        differences,
    })
}

/// Probes one URL; a connection that cannot be made is an `unreachable` report.
fn probe_one(url: &WsUrl, spec: &ProbeSpec) -> ProbeReport {
    let redactor = Redactor::default();
    let key = handshake::new_key().unwrap_or_else(|_| "AAAAAAAAAAAAAAAAAAAAAA==".into());
    let req = RequestSpec {
        target: url.target.clone(),
        host: url.host_header(),
        key: key.clone(),
        origin: spec.origin.clone(),
        subprotocols: spec.subprotocols.clone(),
        extra: spec.headers.clone(),
    };
    let (line, headers) = handshake::request_headers(&req);
    let redacted_target = redactor.target(&url.target);
    let mut report = ProbeReport {
        url: url.display_with(&redacted_target),
        address: None,
        connect_seconds: None,
        tls: None,
        error: None,
        sent: Sent {
            request_line: format!("GET {redacted_target} HTTP/1.1"),
            headers: headers
                .iter()
                .map(|(n, v)| format!("{n}: {}", redactor.header_value(n, v)))
                .collect(),
            key: key.clone(),
        },
        response: None,
        message: None,
        close: None,
        verdict: ProbeVerdict::Unreachable,
        problems: Vec::new(),
        summary: String::new(),
        notes: Vec::new(),
        upstream: None,
        nginx: None,
    };
    let mut conn = match net::connect(url, &spec.resolve, spec.insecure, spec.timeout) {
        Ok(c) => c,
        Err(e) => {
            report.summary = format!("No connection: {e}.");
            report.error = Some(e);
            return report;
        }
    };
    report.address = Some(conn.addr.to_string());
    report.connect_seconds = Some(conn.connect_seconds);
    report.tls = conn.tls.take();
    let s = &mut conn.stream;

    let offered_extensions = headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-extensions"));
    let sent_at = Instant::now();
    if let Err(e) = s
        .write_all(&handshake::encode_request(&line, &headers))
        .and_then(|()| s.flush())
    {
        return finish(
            report,
            &["no_response"],
            vec![format!("sending the handshake failed: {e}")],
        );
    }
    let (head, leftover) = match read_head(s, sent_at + spec.timeout) {
        Ok(h) => h,
        Err(e) => {
            s.shutdown();
            return finish(report, &["no_response"], vec![e]);
        }
    };
    let seconds = sent_at.elapsed().as_secs_f64();
    let checked = handshake::check(&head, &key, &spec.subprotocols, offered_extensions);
    let mut answer = Answer {
        version: head.version.clone(),
        status: head.status,
        reason: head.reason.clone(),
        headers: head
            .headers
            .iter()
            .map(|(n, v)| format!("{n}: {}", redactor.header_value(n, v)))
            .collect(),
        seconds,
        accept_valid: checked.accept_valid,
        extensions: checked.extensions.clone(),
        subprotocol: checked.subprotocol.clone(),
        body_start: None,
        server: None,
        meaning: None,
    };
    let mut problems = checked.problems.clone();
    let mut notes = checked.notes.clone();
    if head.status != 101 {
        let body = read_body_start(
            s,
            &head,
            leftover,
            Instant::now() + spec.timeout.min(Duration::from_secs(1)),
        );
        if let Some(sig) = crate::diagnose::backend::identify(head.status, &head.reason, &body) {
            answer.server = Some(sig.backend);
            answer.meaning = Some(sig.meaning);
        }
        answer.body_start = (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned());
        report.response = Some(answer);
        s.shutdown();
        return finish(report, &problems, notes);
    }
    report.response = Some(answer);
    // The session: a message and its reply, then the close.
    let mut reader = FrameReader::new(leftover);
    let mut closed: Option<CloseExchange> = None;
    let mut ended = false;
    if let Some(text) = &spec.message {
        let start = Instant::now();
        let mut exchange = MessageExchange {
            sent: text.clone(),
            received: None,
            seconds: None,
        };
        match send(s, frames::OP_TEXT, text.as_bytes()) {
            Err(e) => {
                problems.push("no_reply");
                notes.push(format!("sending the message failed: {e}"));
                ended = true;
            }
            Ok(()) => {
                let deadline = start + spec.timeout;
                loop {
                    match reader.next(s, deadline) {
                        Ok(Read1::Frame(f)) => match f.header.opcode {
                            frames::OP_TEXT | frames::OP_BINARY | 0 => {
                                exchange.seconds = Some(start.elapsed().as_secs_f64());
                                exchange.received = Some(if f.header.rsv1 {
                                    format!("<{} bytes compressed>", f.payload.len())
                                } else if f.header.opcode == frames::OP_BINARY {
                                    format!("<{} bytes binary>", f.payload.len())
                                } else {
                                    String::from_utf8_lossy(&f.payload).into_owned()
                                });
                                if f.header.masked {
                                    problems.push("protocol_violation");
                                    notes.push(
                                        "the server masked its frame (RFC 6455 forbids it)".into(),
                                    );
                                }
                                break;
                            }
                            frames::OP_PING => {
                                let _ = send(s, frames::OP_PONG, &f.payload);
                            }
                            frames::OP_PONG => {}
                            frames::OP_CLOSE => {
                                closed = Some(server_close(s, &f.payload));
                                break;
                            }
                            op => {
                                problems.push("protocol_violation");
                                notes.push(format!("the server sent opcode {op}"));
                                break;
                            }
                        },
                        Ok(Read1::Timeout) => {
                            problems.push("no_reply");
                            notes.push(format!(
                                "no message came back within {:.1} s",
                                spec.timeout.as_secs_f64()
                            ));
                            break;
                        }
                        Ok(Read1::Eof) => {
                            ended = true;
                            break;
                        }
                        Err(e) => {
                            problems.push("protocol_violation");
                            notes.push(e);
                            ended = true;
                            break;
                        }
                    }
                }
            }
        }
        if exchange.received.is_none() && !problems.contains(&"no_reply") {
            problems.push("no_reply");
            notes.push("the server sent no message back".into());
        }
        report.message = Some(exchange);
    }
    let close = match closed {
        Some(c) => c,
        None if ended => CloseExchange {
            sent: None,
            received: None,
            reason: None,
            server_first: true,
        },
        None => {
            let mut c = CloseExchange {
                sent: Some(1000),
                received: None,
                reason: None,
                server_first: false,
            };
            if send(
                s,
                frames::OP_CLOSE,
                &frames::close_payload(1000, "wsdiag probe done"),
            )
            .is_err()
            {
                c.sent = None;
                ended = true;
            } else {
                let deadline = Instant::now() + spec.timeout;
                loop {
                    match reader.next(s, deadline) {
                        Ok(Read1::Frame(f)) if f.header.opcode == frames::OP_CLOSE => {
                            let (code, reason) = close_code(&f.payload);
                            c.received = Some(code);
                            c.reason = reason;
                            break;
                        }
                        Ok(Read1::Frame(_)) => {}
                        Ok(Read1::Timeout) => {
                            problems.push("no_close_reply");
                            notes.push(format!(
                                "the server did not answer the close within {:.1} s",
                                spec.timeout.as_secs_f64()
                            ));
                            break;
                        }
                        Ok(Read1::Eof) | Err(_) => {
                            ended = true;
                            break;
                        }
                    }
                }
            }
            c
        }
    };
    if ended && close.received.is_none() {
        problems.push("closed_without_close_frame");
        notes.push("the connection ended without a close frame from the server".into());
    }
    if let Some(code) = close.received {
        if close.server_first && code != 1000 {
            problems.push("abnormal_close");
            notes.push(format!(
                "the server closed the session with {code}{}",
                close
                    .reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ));
        }
    }
    report.close = Some(close);
    s.shutdown();
    finish(report, &problems, notes)
}

fn send(s: &mut net::Stream, opcode: u8, payload: &[u8]) -> std::io::Result<()> {
    s.write_all(&frames::encode(opcode, payload, frames::random_mask()))?;
    s.flush()
}

/// The server closed first: answer with the same code, as RFC 6455 section 5.5.1 asks.
fn server_close(s: &mut net::Stream, payload: &[u8]) -> CloseExchange {
    let (code, reason) = close_code(payload);
    let echo = if payload.len() >= 2 {
        &payload[..2]
    } else {
        &[][..]
    };
    let sent = send(s, frames::OP_CLOSE, echo).ok().map(|()| code);
    CloseExchange {
        sent,
        received: Some(code),
        reason,
        server_first: true,
    }
}

fn close_code(payload: &[u8]) -> (u16, Option<String>) {
    if payload.len() < 2 {
        return (1005, None);
    }
    let reason = String::from_utf8_lossy(&payload[2..]).into_owned();
    (
        u16::from_be_bytes([payload[0], payload[1]]),
        (!reason.is_empty()).then_some(reason),
    )
}

/// Reads until a whole response head arrived; returns it and the bytes after it.
fn read_head(s: &mut net::Stream, deadline: Instant) -> Result<(ResponseHead, Vec<u8>), String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some((head, len)) = handshake::parse_response(&buf)? {
            return Ok((head, buf[len..].to_vec()));
        }
        if buf.len() > MAX_HEAD {
            return Err(format!("the answer's head is over {MAX_HEAD} bytes"));
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(if buf.is_empty() {
                "no answer to the handshake before the timeout".into()
            } else {
                format!(
                    "the answer's head did not end before the timeout ({} bytes came)",
                    buf.len()
                )
            });
        }
        let _ = s.set_read_timeout(deadline - now);
        match s.read(&mut chunk) {
            Ok(0) => {
                return Err(if buf.is_empty() {
                    "the server closed the connection without answering the handshake".into()
                } else {
                    format!(
                        "the connection ended inside the answer's head ({} bytes)",
                        buf.len()
                    )
                })
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("reading the answer failed: {e}")),
        }
    }
}

/// The first body bytes of a refusal: what came with the head, and more until
/// `Content-Length` (or [`BODY_BYTES`]) is reached, the connection ends or the deadline.
fn read_body_start(
    s: &mut net::Stream,
    head: &ResponseHead,
    mut body: Vec<u8>,
    deadline: Instant,
) -> Vec<u8> {
    let want = head
        .header("content-length")
        .and_then(|l| l.trim().parse::<usize>().ok())
        .map_or(BODY_BYTES, |l| l.min(BODY_BYTES));
    let mut chunk = [0u8; 4096];
    while body.len() < want {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let _ = s.set_read_timeout(deadline - now);
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(BODY_BYTES);
    body
}

/// Sets the verdict and the plain-words summary.
fn finish(mut r: ProbeReport, problems: &[&'static str], notes: Vec<String>) -> ProbeReport {
    r.problems = problems.to_vec();
    r.notes = notes;
    r.verdict = match &r.response {
        Some(a) if a.status != 101 => ProbeVerdict::Refused,
        Some(_) if r.problems.is_empty() => ProbeVerdict::Ok,
        _ => ProbeVerdict::Broken,
    };
    r.summary = summary(&r);
    r
}

fn summary(r: &ProbeReport) -> String {
    let Some(a) = &r.response else {
        return format!("Broken: {}.", r.notes.join("; "));
    };
    if a.status != 101 {
        let who = match (a.server, a.meaning) {
            (Some(s), Some(m)) => format!(" The answer is {s}'s: {m}."),
            _ => String::new(),
        };
        return format!(
            "Refused: the server answered `{} {} {}` instead of `101 Switching Protocols`, so no WebSocket connection was made.{who}",
            a.version, a.status, a.reason
        );
    }
    let mut parts = vec!["101 Switching Protocols with a valid Sec-WebSocket-Accept".to_string()];
    if let Some(m) = &r.message {
        if let Some(rcv) = &m.received {
            parts.push(format!("the message {:?} got the reply {rcv:?}", m.sent));
        }
    }
    if let Some(c) = &r.close {
        if let Some(code) = c.received {
            parts.push(format!(
                "closed with {code}{}",
                if code == 1000 { " (normal)" } else { "" }
            ));
        }
    }
    if r.problems.is_empty() {
        format!("The upgrade worked: {}.", parts.join("; "))
    } else {
        format!("Broken after the 101: {}.", r.notes.join("; "))
    }
}

/// The rows two probes differ in, for `--compare`.
fn differences(a: &ProbeReport, b: &ProbeReport) -> Vec<Difference> {
    comparison_rows(a, b)
        .into_iter()
        .filter(|(_, x, y)| x != y)
        .map(|(field, a, b)| Difference { field, a, b })
        .collect()
}

/// The rows `--compare` shows: (field, first, second). Times are left out of the
/// differences (they always differ), but shown.
pub fn comparison_rows(a: &ProbeReport, b: &ProbeReport) -> Vec<(&'static str, String, String)> {
    let f = |field: &'static str, get: &dyn Fn(&ProbeReport) -> String| (field, get(a), get(b));
    vec![
        f("verdict", &|p| p.verdict.name().to_uppercase()),
        f("tls", &|p| match &p.tls {
            Some(t) => format!(
                "{} {}{}",
                t.version,
                t.cipher,
                if t.verified { "" } else { " (not verified)" }
            ),
            None => "no".into(),
        }),
        f("status", &|p| match &p.response {
            Some(r) => format!("{} {} {}", r.version, r.status, r.reason),
            None => p.error.clone().unwrap_or_else(|| "(no answer)".into()),
        }),
        f("server", &|p| header(p, "server")),
        f("upgrade", &|p| header(p, "upgrade")),
        f("connection", &|p| header(p, "connection")),
        f(
            "accept",
            &|p| match p.response.as_ref().and_then(|r| r.accept_valid) {
                Some(true) => "valid".into(),
                Some(false) => "WRONG".into(),
                None => "-".into(),
            },
        ),
        f("extensions", &|p| {
            p.response
                .as_ref()
                .and_then(|r| r.extensions.clone())
                .unwrap_or_else(|| "-".into())
        }),
        f("subprotocol", &|p| {
            p.response
                .as_ref()
                .and_then(|r| r.subprotocol.clone())
                .unwrap_or_else(|| "-".into())
        }),
        f("body", &|p| {
            p.response
                .as_ref()
                .and_then(|r| r.body_start.clone())
                .map(|b| shorten(&b, 60))
                .unwrap_or_else(|| "-".into())
        }),
        f("reply", &|p| match &p.message {
            Some(m) => m.received.clone().unwrap_or_else(|| "(none)".into()),
            None => "-".into(),
        }),
        f(
            "close",
            &|p| match p.close.as_ref().and_then(|c| c.received) {
                Some(c) => c.to_string(),
                None => "-".into(),
            },
        ),
        f("problems", &|p| {
            if p.problems.is_empty() {
                "-".into()
            } else {
                p.problems.join(", ")
            }
        }),
    ]
}

fn header(p: &ProbeReport, name: &str) -> String {
    p.response
        .as_ref()
        .and_then(|r| {
            r.headers.iter().find_map(|h| {
                let (n, v) = h.split_once(": ")?;
                n.eq_ignore_ascii_case(name).then(|| v.to_string())
            })
        })
        .unwrap_or_else(|| "-".into())
}

/// At most `n` characters, with `...` when cut.
pub fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(n).collect::<String>())
    }
}
