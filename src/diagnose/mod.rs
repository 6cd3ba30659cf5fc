//! Diagnosis: turns HTTP messages into WebSocket handshake findings. Pure: it sees HTTP events
//! with their connection and packet, never bytes or files, and hands finished [`Handshake`]s
//! (verdict, problems, evidence, fix) and counts to `report`.
//!
//! A request is a handshake attempt when it carries `Upgrade: websocket` or any
//! `Sec-WebSocket-Key` / `Sec-WebSocket-Version` header: nginx forwards those even when it drops
//! `Upgrade`, so a stripped handshake is still recognisable on the upstream hop.

pub mod backend;
mod fix;
pub mod hops;
pub mod polling;
pub mod redact;
pub mod session;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

use serde::Serialize;

use crate::common::{PacketRef, Timestamp, Warning};
use crate::http::{self, HttpEvent, RequestHead, ResponseHead};
use crate::tcp::{ConnId, ConnInfo, ConnMap};
use crate::ws::session::SessionFacts;
pub use session::SessionFinding;

pub use fix::{fixes_for, Fix};

/// What went wrong with one handshake. The names are stable: scripts rely on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// The upstream request line is HTTP/1.0.
    Http10Downgrade,
    /// Handshake evidence but no `Upgrade: websocket`.
    UpgradeStripped,
    /// `Connection` missing or without the `upgrade` token.
    ConnectionNotUpgrade,
    /// An intact handshake answered with a status other than 101.
    BackendRejected,
    /// A 101 whose `Sec-WebSocket-Accept` does not match the key.
    BadAccept,
    /// No response before the connection or the capture ended.
    NoResponse,
    /// A WebSocket session's TCP connection ended (FIN or RST) with no close frame.
    ClosedWithoutCloseFrame,
    /// A WebSocket session broke RFC 6455 (masking, opcodes, control frames, data after close).
    ProtocolViolation,
    /// The proxy sent a different target upstream than the client asked for.
    PathRewritten,
    /// The client sent a handshake and no upstream request followed: the proxy answered it.
    NotForwarded,
    /// socket.io or SignalR long-polls and never got a working WebSocket upgrade.
    StuckOnPolling,
}

impl Problem {
    pub fn code(self) -> &'static str {
        match self {
            Problem::Http10Downgrade => "http10_downgrade",
            Problem::UpgradeStripped => "upgrade_stripped",
            Problem::ConnectionNotUpgrade => "connection_not_upgrade",
            Problem::BackendRejected => "backend_rejected",
            Problem::BadAccept => "bad_accept",
            Problem::NoResponse => "no_response",
            Problem::ClosedWithoutCloseFrame => "closed_without_close_frame",
            Problem::ProtocolViolation => "protocol_violation",
            Problem::PathRewritten => "path_rewritten",
            Problem::NotForwarded => "not_forwarded",
            Problem::StuckOnPolling => "stuck_on_polling",
        }
    }
    /// Problems the proxy causes by how it forwards the request.
    pub fn is_proxy_damage(self) -> bool {
        matches!(
            self,
            Problem::Http10Downgrade
                | Problem::UpgradeStripped
                | Problem::ConnectionNotUpgrade
                | Problem::PathRewritten
                | Problem::NotForwarded
        )
    }
}

/// The overall judgement of one handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// 101 with a valid accept and no problems.
    Ok,
    /// The proxy damaged the handshake.
    Broken,
    /// The backend refused an intact handshake, or answered it wrongly.
    Rejected,
    /// No response, or the handshake's bytes were not all captured.
    Incomplete,
}

impl Verdict {
    pub const ALL: [Verdict; 4] = [
        Verdict::Ok,
        Verdict::Broken,
        Verdict::Rejected,
        Verdict::Incomplete,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Broken => "broken",
            Verdict::Rejected => "rejected",
            Verdict::Incomplete => "incomplete",
        }
    }
}

/// The request as the backend received it, reduced to what the diagnosis needs. Secrets are
/// already redacted here.
#[derive(Clone, Debug, Serialize)]
pub struct RequestSummary {
    pub method: String,
    pub target: String,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: String,
    pub host: Option<String>,
    pub upgrade: Option<String>,
    pub connection: Option<String>,
    pub sec_websocket_key_present: bool,
    pub sec_websocket_version: Option<String>,
    pub origin: Option<String>,
    /// False when a gap in the capture cut the request head: nothing is claimed about the
    /// headers that were not seen.
    pub head_complete: bool,
    /// The header lines as the backend received them (`Name: value`, in order, credentials
    /// redacted), at most [`HEAD_LINES`] lines of at most [`HEAD_VALUE_CHARS`] characters;
    /// for a head cut by a gap, the lines captured whole.
    pub head: Vec<String>,
}

/// Most header lines kept in [`RequestSummary::head`]; a last line says how many more there were.
pub const HEAD_LINES: usize = 40;
/// Longest header value kept in [`RequestSummary::head`]; longer ones are cut, saying so.
pub const HEAD_VALUE_CHARS: usize = 160;

#[derive(Clone, Debug, Serialize)]
pub struct ResponseSummary {
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: String,
    pub status: u16,
    pub reason: String,
    /// Whether `Sec-WebSocket-Accept` matched the key (only for a 101 to a request with a key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accept_valid: Option<bool>,
    /// The first bytes of the body of a non-101 answer (as on the wire, at most 256).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_start: Option<String>,
    /// The backend, when its answer is recognisable (see `diagnose::backend`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<&'static str>,
}

/// One WebSocket handshake attempt and its judgement.
#[derive(Clone, Debug, Serialize)]
pub struct Handshake {
    /// When the request was captured.
    pub ts: Timestamp,
    pub connection: u64,
    /// 1-based position of this request among the requests on its connection.
    pub request_on_connection: u64,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub request: RequestSummary,
    pub response: Option<ResponseSummary>,
    pub request_packet: u64,
    pub response_packet: Option<u64>,
    /// Seconds from request to response.
    pub response_delay: Option<f64>,
    pub verdict: Verdict,
    pub problems: Vec<Problem>,
    /// What the bytes showed, one sentence each.
    pub evidence: Vec<String>,
    /// What to change, one entry per problem that has a cure.
    pub fix: Vec<Fix>,
    /// When the capture holds both hops: which one this is, and its other half.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hop: Option<hops::Hop>,
    /// The Sec-WebSocket-Key, for pairing hops (a nonce, not a secret; not reported).
    #[serde(skip)]
    pub key: Option<String>,
}

/// Counts over the whole input.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Counts {
    pub http_requests: u64,
    pub http_responses: u64,
    pub handshakes: u64,
    pub by_verdict: BTreeMap<&'static str, u64>,
    /// Request heads cut by a gap in the capture, whatever they were.
    pub requests_not_captured_whole: u64,
    /// WebSocket sessions seen after a 101 (or decoded on request).
    pub sessions: u64,
    /// Requests asking to upgrade to something other than WebSocket (`h2c`, `TLS/1.2`, `tcp`),
    /// by protocol: recognised and not judged.
    pub other_upgrades: BTreeMap<String, u64>,
}

/// Options of the diagnosis.
#[derive(Clone, Debug)]
pub struct DiagnoseConfig {
    /// Ports that say which hop is which when the capture holds both.
    pub hops: hops::HopHints,
    /// Show secrets (cookies, tokens) instead of `<redacted>`.
    pub no_redact: bool,
    /// More header names whose values are redacted (`--redact-header`).
    pub redact_headers: Vec<String>,
    /// Also keep plain (non-handshake) requests, for `--all`.
    pub keep_plain: bool,
    /// Most handshakes, sessions and plain requests (each) kept for the report's lists
    /// (`--max-listed`); the rest are counted ([`NotListed`]).
    pub max_listed: usize,
}

/// Protocols counted apart in [`Counts::other_upgrades`]; requests naming any other are
/// counted under [`OTHER_UPGRADES_REST`].
const OTHER_UPGRADES_CAP: usize = 64;
const OTHER_UPGRADES_REST: &str = "(other protocols)";

/// Default of `--max-listed`: at about 3.4 KiB per handshake, 34 MiB of them.
pub const MAX_LISTED: usize = 10_000;

impl Default for DiagnoseConfig {
    fn default() -> DiagnoseConfig {
        DiagnoseConfig {
            hops: hops::HopHints::default(),
            no_redact: false,
            redact_headers: Vec::new(),
            keep_plain: false,
            max_listed: MAX_LISTED,
        }
    }
}

/// What was judged but not kept for the report's lists (past `--max-listed`): counted, so
/// the summary's totals by verdict and problem stay exact while memory stays bounded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotListed {
    pub handshakes: u64,
    pub sessions: u64,
    pub plain: u64,
    pub by_verdict: BTreeMap<&'static str, u64>,
    pub by_problem: BTreeMap<&'static str, u64>,
}

impl NotListed {
    pub fn handshake(&mut self, h: &Handshake) {
        self.handshakes += 1;
        *self.by_verdict.entry(h.verdict.name()).or_default() += 1;
        for p in &h.problems {
            *self.by_problem.entry(p.code()).or_default() += 1;
        }
    }

    pub fn session(&mut self, s: &SessionFinding) {
        self.sessions += 1;
        for p in &s.problems {
            *self.by_problem.entry(p.code()).or_default() += 1;
        }
    }

    pub fn add(&mut self, other: &NotListed) {
        self.handshakes += other.handshakes;
        self.sessions += other.sessions;
        self.plain += other.plain;
        for (k, n) in &other.by_verdict {
            *self.by_verdict.entry(k).or_default() += n;
        }
        for (k, n) in &other.by_problem {
            *self.by_problem.entry(k).or_default() += n;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.handshakes == 0 && self.sessions == 0 && self.plain == 0
    }
}

/// Requests remembered for telling the hops apart: enough for any test capture, bounded for
/// long ones.
const SEEN_CAP: usize = 10_000;

/// A plain request kept for `--all`.
#[derive(Clone, Debug, Serialize)]
pub struct PlainRequest {
    pub ts: Timestamp,
    pub connection: u64,
    pub request_packet: u64,
    pub method: String,
    pub target: String,
    pub version: String,
    pub status: Option<u16>,
}

/// A request waiting for its response.
struct Pending {
    index: u64,
    at: PacketRef,
    kind: PendingKind,
}

enum PendingKind {
    Handshake(Box<Handshake>, Option<Vec<u8>>),
    /// Boxed: kept only with `--all`, and every waiting request pays for this variant's size.
    Plain(Option<Box<PlainRequest>>),
}

/// The diagnosis of a whole input: feed it HTTP events, take the findings at the end.
#[derive(Default)]
pub struct Diagnoser {
    config: DiagnoseConfig,
    redactor: redact::Redactor,
    pending: ConnMap<VecDeque<Pending>>,
    /// The handshake that opened each connection's tunnel (request packet, target).
    tunnels: ConnMap<(u64, String)>,
    /// Boxed, as in `pending`: a report holds thousands, and the lists that gather them move
    /// pointers, not whole handshakes (a `Handshake` is about 600 bytes; unboxed, the copies
    /// of these lists cost 12 MiB of peak RSS on a 10 GiB capture).
    #[allow(clippy::vec_box)]
    done: Vec<Box<Handshake>>,
    /// A refused handshake per connection whose answer's body is still arriving: (request
    /// index, handshake, body so far).
    awaiting: ConnMap<(u64, Box<Handshake>, Vec<u8>)>,
    /// The first requests of the input, for telling the hops apart (see `hops`).
    seen: Vec<hops::Seen>,
    /// Long-polling fallbacks (socket.io, SignalR).
    polling: polling::PollingWatch,
    sessions: Vec<SessionFinding>,
    plain: Vec<PlainRequest>,
    /// Plain requests past `config.max_listed`.
    plain_not_listed: u64,
    counts: Counts,
    warnings: Vec<Warning>,
}

impl Diagnoser {
    pub fn new(config: DiagnoseConfig) -> Diagnoser {
        Diagnoser {
            redactor: redact::Redactor::new(!config.no_redact, &config.redact_headers),
            config,
            ..Diagnoser::default()
        }
    }

    /// One HTTP event on connection `conn`, delivered while packet `at` was processed.
    pub fn http_event(&mut self, conn: &ConnInfo, at: PacketRef, ev: &HttpEvent<'_>) {
        match ev {
            HttpEvent::Request { index, head } => self.request(conn, at, *index, head),
            HttpEvent::Response {
                index: Some(index),
                head,
            } => self.response(conn, at, *index, head),
            // A response whose request cannot be known (after a desync) is counted, not paired.
            HttpEvent::Response { index: None, .. } => self.counts.http_responses += 1,
            HttpEvent::Lost {
                dir: crate::common::Direction::ToServer,
                index,
                partial,
            } => self.lost_request(conn, at, *index, partial),
            HttpEvent::BodyStart {
                index: Some(index),
                bytes,
            } => {
                if let Some((i, _, body)) = self.awaiting.get_mut(&conn.id) {
                    if i == index {
                        body.extend_from_slice(bytes);
                    }
                }
            }
            HttpEvent::MessageEnd {
                dir: crate::common::Direction::ToClient,
                index: Some(index),
            } if self
                .awaiting
                .get(&conn.id)
                .is_some_and(|(i, _, _)| i == index) =>
            {
                self.complete_awaiting(conn.id)
            }
            HttpEvent::Anomaly { code, detail, .. } => self.warnings.push(Warning {
                packet: Some(at.number),
                code,
                message: format!("connection {}: {detail}", conn.id.0),
            }),
            _ => {}
        }
    }

    /// A WebSocket session on `conn` ended (or the capture did); `facts` is what its frames
    /// showed.
    pub fn session_ended(&mut self, conn: &ConnInfo, facts: SessionFacts) {
        let (handshake_packet, target) = match self.tunnels.remove(&conn.id) {
            Some((p, t)) => (Some(p), Some(t)),
            None => (None, None),
        };
        let finding = session::judge(
            session::Opening {
                connection: conn.id.0,
                client: conn.client,
                server: conn.server,
                handshake_packet,
                target,
            },
            facts,
        );
        self.counts.sessions += 1;
        self.sessions.push(finding);
    }

    /// Sessions judged since the last call (for live output).
    pub fn take_finished_sessions(&mut self) -> std::vec::Drain<'_, SessionFinding> {
        self.sessions.drain(..)
    }

    /// The connection ended: whatever still waits for a response got none.
    pub fn connection_closed(&mut self, conn: &ConnInfo) {
        self.tunnels.remove(&conn.id);
        self.complete_awaiting(conn.id);
        if let Some(queue) = self.pending.remove(&conn.id) {
            for p in queue {
                self.finish(p, None, None);
            }
        }
    }

    /// Everything found that was not taken with [`Diagnoser::take_finished`] (in the order the
    /// verdicts became known).
    pub fn finish_all(mut self) -> Findings {
        let waiting: Vec<ConnId> = self.awaiting.keys().copied().collect();
        for id in waiting {
            self.complete_awaiting(id);
        }
        let ids: Vec<ConnId> = self.pending.keys().copied().collect();
        for id in ids {
            if let Some(queue) = self.pending.remove(&id) {
                for p in queue {
                    self.finish(p, None, None);
                }
            }
        }
        self.plain.sort_by_key(|p| p.request_packet);
        Findings {
            stuck_on_polling: Vec::new(),
            polling: self.polling,
            seen: self.seen,
            sessions: self.sessions,
            handshakes: self.done,
            plain: self.plain,
            not_listed: NotListed {
                plain: self.plain_not_listed,
                ..NotListed::default()
            },
            counts: self.counts,
            warnings: self.warnings,
        }
    }

    /// Warnings (HTTP anomalies) recorded since the last call; the rest come with
    /// [`Diagnoser::finish_all`].
    pub fn take_warnings(&mut self) -> Vec<Warning> {
        std::mem::take(&mut self.warnings)
    }

    /// Whether a handshake or a session was judged, or a warning raised, since the last
    /// `take_*` calls.
    pub fn has_output(&self) -> bool {
        !self.done.is_empty() || !self.sessions.is_empty() || !self.warnings.is_empty()
    }

    /// Handshakes whose verdict became known since the last call (for live output).
    pub fn take_finished(&mut self) -> std::vec::Drain<'_, Box<Handshake>> {
        self.done.drain(..)
    }

    fn request(&mut self, conn: &ConnInfo, at: PacketRef, index: u64, head: &RequestHead) {
        self.counts.http_requests += 1;
        if self.seen.len() < SEEN_CAP {
            self.seen.push(hops::Seen {
                ts: at.ts.0,
                server_port: conn.server.port(),
                method: hops::seen_method(&head.method),
                path: head.target
                    [..memchr::memchr(b'?', head.target.as_bytes()).unwrap_or(head.target.len())]
                    .to_string(),
            });
        }
        let kind = if is_handshake(head) {
            let key = head.header("sec-websocket-key").map(|k| k.to_vec());
            let hs = Handshake {
                hop: None,
                key: key
                    .as_deref()
                    .map(|k| String::from_utf8_lossy(k.trim_ascii()).into_owned()),
                ts: at.ts,
                connection: conn.id.0,
                request_on_connection: index + 1,
                client: conn.client,
                server: conn.server,
                request: summarize(head, &self.redactor),
                response: None,
                request_packet: at.number,
                response_packet: None,
                response_delay: None,
                verdict: Verdict::Incomplete,
                problems: Vec::new(),
                evidence: Vec::new(),
                fix: Vec::new(),
            };
            PendingKind::Handshake(Box::new(hs), key)
        } else {
            self.polling.request(&head.target, at);
            if let Some(protocol) = head
                .headers
                .has_known(http::UPGRADE)
                .then(|| head.header("upgrade"))
                .flatten()
            {
                let protocol = String::from_utf8_lossy(protocol.trim_ascii()).to_ascii_lowercase();
                let mut protocol: String = protocol.chars().take(32).collect();
                // A capture of an attack can name a new protocol in every request.
                let upgrades = &mut self.counts.other_upgrades;
                if upgrades.len() >= OTHER_UPGRADES_CAP && !upgrades.contains_key(&protocol) {
                    protocol = OTHER_UPGRADES_REST.to_string();
                }
                *upgrades.entry(protocol).or_default() += 1;
            }
            PendingKind::Plain(self.config.keep_plain.then(|| {
                Box::new(PlainRequest {
                    ts: at.ts,
                    connection: conn.id.0,
                    request_packet: at.number,
                    method: head.method.clone(),
                    target: self.redactor.target(&head.target),
                    version: version_name(head.version),
                    status: None,
                })
            }))
        };
        self.queue(conn.id, Pending { index, at, kind });
    }

    /// Queues a request to wait for its response. A connection can have at most
    /// [`http::MAX_PENDING`] waiting (the HTTP stage stops pairing there too): past that the
    /// oldest is judged as never answered, so a long capture of one direction only holds
    /// bounded memory per connection.
    fn queue(&mut self, conn: ConnId, p: Pending) {
        // (Most connections have one request waiting at a time: room for one to start with.)
        let queue = self
            .pending
            .entry(conn)
            .or_insert_with(|| VecDeque::with_capacity(1));
        queue.push_back(p);
        if queue.len() > http::MAX_PENDING {
            if let Some(oldest) = queue.pop_front() {
                self.finish(oldest, None, None);
            }
        }
    }

    fn lost_request(&mut self, conn: &ConnInfo, at: PacketRef, index: Option<u64>, partial: &[u8]) {
        self.counts.requests_not_captured_whole += 1;
        let lower = partial.to_ascii_lowercase();
        let evidence =
            contains(&lower, b"sec-websocket-") || contains(&lower, b"upgrade: websocket");
        let index = index.unwrap_or(u64::MAX);
        if !evidence {
            // Might have been anything: keep its place in the pairing queue, claim nothing.
            self.queue(
                conn.id,
                Pending {
                    index,
                    at,
                    kind: PendingKind::Plain(None),
                },
            );
            return;
        }
        self.counts.http_requests += 1;
        let (request, key) = summarize_partial(partial, &self.redactor);
        let hs = Handshake {
            hop: None,
            key: key
                .as_deref()
                .map(|k| String::from_utf8_lossy(k.trim_ascii()).into_owned()),
            ts: at.ts,
            connection: conn.id.0,
            request_on_connection: index.saturating_add(1),
            client: conn.client,
            server: conn.server,
            request,
            response: None,
            request_packet: at.number,
            response_packet: None,
            response_delay: None,
            verdict: Verdict::Incomplete,
            problems: Vec::new(),
            evidence: Vec::new(),
            fix: Vec::new(),
        };
        self.queue(
            conn.id,
            Pending {
                index,
                at,
                kind: PendingKind::Handshake(Box::new(hs), key),
            },
        );
    }

    fn response(&mut self, conn: &ConnInfo, at: PacketRef, index: u64, head: &ResponseHead) {
        self.counts.http_responses += 1;
        let Some(queue) = self.pending.get_mut(&conn.id) else {
            return;
        };
        // Requests before `index` that never got an answer are done without one.
        let mut unanswered = Vec::new();
        // (A lost head with no known index cannot be paired: it is done without a response.)
        while queue
            .front()
            .is_some_and(|p| p.index == u64::MAX || p.index < index)
        {
            unanswered.extend(queue.pop_front());
        }
        let answered = if queue.front().is_some_and(|p| p.index == index) {
            queue.pop_front()
        } else {
            None
        };
        // An emptied queue stays until its connection closes: the next request on a keep-alive
        // connection reuses it instead of allocating.
        for p in unanswered {
            self.finish(p, None, None);
        }
        if let Some(p) = answered {
            self.finish(p, Some(head), Some(at));
        }
    }

    fn finish(&mut self, p: Pending, resp: Option<&ResponseHead>, at: Option<PacketRef>) {
        match p.kind {
            PendingKind::Plain(Some(mut plain)) => {
                if self.plain.len() < self.config.max_listed {
                    plain.status = resp.map(|r| r.status);
                    self.plain.push(*plain);
                } else {
                    self.plain_not_listed += 1;
                }
            }
            PendingKind::Plain(None) => {}
            PendingKind::Handshake(mut hs, key) => {
                if let (Some(resp), Some(at)) = (resp, at) {
                    hs.response_packet = Some(at.number);
                    hs.response_delay = Some(at.ts.secs_since(p.at.ts));
                    let accept_valid = match (resp.status, &key) {
                        (101, Some(key)) => {
                            Some(resp.header("sec-websocket-accept").is_some_and(|a| {
                                a.trim_ascii() == crate::ws::accept_for(key).as_bytes()
                            }))
                        }
                        _ => None,
                    };
                    hs.response = Some(ResponseSummary {
                        version: version_name(resp.version),
                        status: resp.status,
                        reason: resp.reason.clone(),
                        accept_valid,
                        body_start: None,
                        backend: None,
                    });
                    judge(&mut hs, resp, key.as_deref());
                    if resp.status == 101 {
                        self.tunnels.insert(
                            ConnId(hs.connection),
                            (hs.request_packet, hs.request.target.clone()),
                        );
                    }
                } else {
                    judge_unanswered(&mut hs);
                }
                self.counts.handshakes += 1;
                *self.counts.by_verdict.entry(hs.verdict.name()).or_default() += 1;
                match hs.response.as_ref().map(|r| r.status) {
                    // A refusal's body names the backend: wait for it.
                    Some(status) if status != 101 => {
                        let conn = ConnId(hs.connection);
                        self.complete_awaiting(conn);
                        self.awaiting.insert(conn, (p.index, hs, Vec::new()));
                    }
                    _ => self.done.push(hs),
                }
            }
        }
    }

    /// The body of a refused handshake's answer ended (or its connection did): name the
    /// backend from it and hand the handshake on.
    fn complete_awaiting(&mut self, conn: ConnId) {
        let Some((_, mut hs, body)) = self.awaiting.remove(&conn) else {
            return;
        };
        if let Some(r) = hs.response.as_mut() {
            if !body.is_empty() {
                r.body_start = Some(String::from_utf8_lossy(&body).into_owned());
            }
            if let Some(sig) = backend::identify(r.status, &r.reason, &body) {
                r.backend = Some(sig.backend);
                hs.evidence.push(format!(
                    "recognised answer: {} ({} {}{}): {}",
                    sig.backend,
                    r.status,
                    r.reason,
                    if body.is_empty() {
                        ", empty body".to_string()
                    } else {
                        format!(", body starts `{}`", printable(&body[..body.len().min(64)]))
                    },
                    sig.meaning
                ));
            } else if !body.is_empty() {
                hs.evidence.push(format!(
                    "the body starts `{}`",
                    printable(&body[..body.len().min(64)])
                ));
            }
        }
        self.done.push(hs);
    }
}

/// What the diagnosis found in a whole input.
pub struct Findings {
    /// Long-polling fallbacks that never upgraded (judged over the handshakes not yet handed
    /// out; `analyze` judges again over all of them).
    pub stuck_on_polling: Vec<polling::StuckOnPolling>,
    /// The polling requests seen, for that judgement.
    pub polling: polling::PollingWatch,
    /// The first requests (capped), for pairing hops.
    pub seen: Vec<hops::Seen>,
    pub handshakes: Vec<Box<Handshake>>,
    pub sessions: Vec<SessionFinding>,
    pub plain: Vec<PlainRequest>,
    /// What the lists above leave out (`--max-listed`).
    pub not_listed: NotListed,
    pub counts: Counts,
    pub warnings: Vec<Warning>,
}

/// Is this request a WebSocket handshake attempt?
pub fn is_handshake(head: &RequestHead) -> bool {
    // Most requests carry none of these fields: three bit tests say so.
    let h = &head.headers;
    if !(h.has_known(http::UPGRADE)
        || h.has_known(http::SEC_WEBSOCKET_KEY)
        || h.has_known(http::SEC_WEBSOCKET_VERSION))
    {
        return false;
    }
    head.has_token("upgrade", "websocket")
        || head.header("sec-websocket-key").is_some()
        || head.header("sec-websocket-version").is_some()
}

fn summarize(head: &RequestHead, redactor: &redact::Redactor) -> RequestSummary {
    let text = |name: &str| {
        head.header(name)
            .map(|v| String::from_utf8_lossy(v).trim().to_string())
    };
    RequestSummary {
        method: head.method.clone(),
        target: redactor.target(&head.target),
        version: version_name(head.version),
        host: text("host"),
        upgrade: text("upgrade"),
        connection: text("connection"),
        sec_websocket_key_present: head.header("sec-websocket-key").is_some(),
        sec_websocket_version: text("sec-websocket-version"),
        origin: text("origin"),
        head_complete: true,
        head: head_lines(
            head.headers
                .iter()
                .map(|h| (h.name, String::from_utf8_lossy(h.value))),
            redactor,
        ),
    }
}

/// What a request head cut by a gap still shows: the request line if it was captured whole,
/// and the header lines captured whole. Headers after the cut are unknown, so nothing is said
/// about them (`head_complete` is false). Also returns the key when its line was captured.
fn summarize_partial(
    partial: &[u8],
    redactor: &redact::Redactor,
) -> (RequestSummary, Option<Vec<u8>>) {
    // Only lines that end before the cut count.
    let whole = partial
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(&partial[..0], |e| &partial[..e + 1]);
    let mut lines = whole
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = lines.next().unwrap_or_default();
    let first = if whole.is_empty() {
        // Not even the request line was captured whole: keep what there is of it.
        partial
    } else {
        first
    };
    let line = String::from_utf8_lossy(first);
    let mut parts = line.splitn(3, ' ');
    let method = parts.next().unwrap_or("").to_string();
    let target = redactor.target(parts.next().unwrap_or(""));
    let version = if whole.is_empty() {
        String::new()
    } else {
        parts.next().unwrap_or("").trim().to_string()
    };
    let mut summary = RequestSummary {
        method,
        target,
        version,
        host: None,
        upgrade: None,
        connection: None,
        sec_websocket_key_present: false,
        sec_websocket_version: None,
        origin: None,
        head_complete: false,
        head: partial_head(partial, redactor),
    };
    let mut key = None;
    for l in lines {
        let Some(colon) = l.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = String::from_utf8_lossy(&l[..colon])
            .trim()
            .to_ascii_lowercase();
        let value = l[colon + 1..].trim_ascii();
        let text = Some(String::from_utf8_lossy(value).into_owned());
        match name.as_str() {
            "host" => summary.host = text,
            "upgrade" => summary.upgrade = text,
            "connection" => summary.connection = text,
            "origin" => summary.origin = text,
            "sec-websocket-version" => summary.sec_websocket_version = text,
            "sec-websocket-key" => {
                summary.sec_websocket_key_present = true;
                key = Some(value.to_vec());
            }
            _ => {}
        }
    }
    (summary, key)
}

/// `Name: value` lines, redacted and capped (see [`HEAD_LINES`]).
fn head_lines<'a, S: AsRef<str>>(
    headers: impl ExactSizeIterator<Item = (&'a str, S)>,
    redactor: &redact::Redactor,
) -> Vec<String> {
    let total = headers.len();
    let mut lines: Vec<String> = headers
        .take(HEAD_LINES)
        .map(|(name, value)| {
            let value = redactor.header_value(name, value.as_ref().trim());
            let n = value.chars().count();
            if n > HEAD_VALUE_CHARS {
                let kept: String = value.chars().take(HEAD_VALUE_CHARS).collect();
                format!(
                    "{name}: {kept}... ({} more characters)",
                    n - HEAD_VALUE_CHARS
                )
            } else {
                format!("{name}: {value}")
            }
        })
        .collect();
    if total > HEAD_LINES {
        lines.push(format!("... and {} more header lines", total - HEAD_LINES));
    }
    lines
}

/// The header lines captured whole of a request head cut by a gap (the request line and a
/// last, cut line are left out).
fn partial_head(partial: &[u8], redactor: &redact::Redactor) -> Vec<String> {
    let text = String::from_utf8_lossy(partial);
    let mut lines: Vec<&str> = text.split('\n').collect();
    lines.pop(); // not ended by a newline: cut (or empty)
    let headers: Vec<(&str, &str)> = lines
        .iter()
        .skip(1)
        .map(|l| l.trim_end_matches('\r'))
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .collect();
    head_lines(headers.into_iter(), redactor)
}

/// Body bytes as one line of text for evidence: line breaks shown as `\r` `\n`, other
/// control characters and backticks as `.`.
fn printable(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for c in String::from_utf8_lossy(b).chars() {
        match c {
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '`' => out.push('.'),
            c if c.is_control() => out.push('.'),
            c => out.push(c),
        }
    }
    out
}

fn version_name(v: u8) -> String {
    format!("HTTP/1.{v}")
}

/// Problems visible in the request alone: what the proxy did to it.
fn request_problems(hs: &Handshake, upgrade_ok: bool, connection_ok: bool) -> Vec<Problem> {
    let mut problems = Vec::new();
    if hs.request.version == "HTTP/1.0" {
        problems.push(Problem::Http10Downgrade);
    }
    // Headers after a cut are unknown: a missing Upgrade or Connection may be among them.
    if !hs.request.head_complete {
        return problems;
    }
    if !upgrade_ok {
        problems.push(Problem::UpgradeStripped);
    }
    if !connection_ok {
        problems.push(Problem::ConnectionNotUpgrade);
    }
    problems
}

fn judge(hs: &mut Handshake, resp: &ResponseHead, key: Option<&[u8]>) {
    let upgrade_ok = hs
        .request
        .upgrade
        .as_deref()
        .is_some_and(|u| has_token(u, "websocket"));
    let connection_ok = hs
        .request
        .connection
        .as_deref()
        .is_some_and(|c| has_token(c, "upgrade"));
    let mut problems = request_problems(hs, upgrade_ok, connection_ok);
    let damaged = !problems.is_empty();
    if resp.status == 101 {
        if key.is_some() && hs.response.as_ref().and_then(|r| r.accept_valid) == Some(false) {
            problems.push(Problem::BadAccept);
        }
    } else if !damaged && hs.request.head_complete {
        problems.push(Problem::BackendRejected);
    }
    hs.problems = problems;
    hs.verdict = verdict_of(&hs.problems, hs.request.head_complete);
    hs.evidence = evidence(hs, Some(resp), key);
    hs.fix = fixes_for(hs);
}

fn judge_unanswered(hs: &mut Handshake) {
    let upgrade_ok = hs
        .request
        .upgrade
        .as_deref()
        .is_some_and(|u| has_token(u, "websocket"));
    let connection_ok = hs
        .request
        .connection
        .as_deref()
        .is_some_and(|c| has_token(c, "upgrade"));
    let mut problems = request_problems(hs, upgrade_ok, connection_ok);
    problems.push(Problem::NoResponse);
    hs.problems = problems;
    hs.verdict = verdict_of(&hs.problems, hs.request.head_complete);
    hs.evidence = evidence(hs, None, None);
    hs.fix = fixes_for(hs);
}

fn verdict_of(problems: &[Problem], head_complete: bool) -> Verdict {
    if problems.iter().any(|p| p.is_proxy_damage()) {
        Verdict::Broken
    } else if problems
        .iter()
        .any(|p| matches!(p, Problem::BackendRejected | Problem::BadAccept))
    {
        Verdict::Rejected
    } else if problems.contains(&Problem::NoResponse) || !head_complete {
        Verdict::Incomplete
    } else {
        Verdict::Ok
    }
}

/// The sentences that say what the bytes showed.
fn evidence(hs: &Handshake, resp: Option<&ResponseHead>, key: Option<&[u8]>) -> Vec<String> {
    let r = &hs.request;
    let mut ev = Vec::new();
    ev.push(format!(
        "request line `{} {} {}` (packet {}, connection {}, request {} on it)",
        r.method, r.target, r.version, hs.request_packet, hs.connection, hs.request_on_connection
    ));
    if !r.head_complete {
        ev.push(
            "the request head was cut by a gap in the capture: headers after the cut are unknown, so no missing header is claimed"
                .into(),
        );
    }
    let absent = if r.head_complete {
        "missing"
    } else {
        "not captured"
    };
    let show = |v: &Option<String>| match v {
        Some(v) => format!("`{v}`"),
        None => absent.into(),
    };
    ev.push(format!(
        "Upgrade: {}; Connection: {}; Sec-WebSocket-Key: {}; Sec-WebSocket-Version: {}",
        show(&r.upgrade),
        show(&r.connection),
        if r.sec_websocket_key_present {
            "present"
        } else {
            absent
        },
        show(&r.sec_websocket_version),
    ));
    match (resp, hs.response_packet) {
        (Some(resp), Some(pkt)) => {
            let delay = hs
                .response_delay
                .map(|d| format!(", {:.1} ms after the request", d * 1000.0))
                .unwrap_or_default();
            ev.push(format!(
                "{} answered `HTTP/1.{} {} {}` (packet {pkt}{delay})",
                hs.server, resp.version, resp.status, resp.reason
            ));
            if resp.status == 101 {
                if let (Some(key), Some(valid)) =
                    (key, hs.response.as_ref().and_then(|r| r.accept_valid))
                {
                    if !valid {
                        let found = resp
                            .header("sec-websocket-accept")
                            .map(|a| String::from_utf8_lossy(a.trim_ascii()).into_owned())
                            .unwrap_or_else(|| "no Sec-WebSocket-Accept".into());
                        ev.push(format!(
                            "expected accept {}, found {found}",
                            crate::ws::accept_for(key)
                        ));
                    }
                }
            }
        }
        _ => ev.push("no response before the connection or the capture ended".into()),
    }
    ev
}

fn has_token(list: &str, token: &str) -> bool {
    list.split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::Direction;
    use crate::http::{HeadBuffers, HttpConfig, HttpConn};

    /// Connection 1, 127.0.0.1:40000 -> 127.0.0.1:8080.
    fn test_conn() -> ConnInfo {
        ConnInfo {
            id: ConnId(1),
            client: "127.0.0.1:40000".parse().unwrap(),
            server: "127.0.0.1:8080".parse().unwrap(),
            first_packet: PacketRef::default(),
        }
    }

    /// Feeds `requests` (client to server) into a fresh diagnoser with `cfg` and returns it.
    fn diagnose_requests(cfg: DiagnoseConfig, requests: &[u8]) -> Diagnoser {
        let mut diag = Diagnoser::new(cfg);
        let info = test_conn();
        let mut conn = HttpConn::new(&HttpConfig::default());
        let mut heads = HeadBuffers::default();
        conn.data(Direction::ToServer, requests, &mut heads, &mut |e| {
            diag.http_event(&info, PacketRef::default(), &e)
        });
        diag.connection_closed(&info);
        diag
    }

    #[test]
    fn other_upgrades_count_a_bounded_number_of_protocols_apart() {
        let requests: Vec<u8> = (0..200)
            .flat_map(|i| {
                format!("GET / HTTP/1.1\r\nUpgrade: proto-{}\r\n\r\n", i % 100).into_bytes()
            })
            .collect();
        let f = diagnose_requests(DiagnoseConfig::default(), &requests).finish_all();
        let upgrades = &f.counts.other_upgrades;
        assert_eq!(upgrades.len(), OTHER_UPGRADES_CAP + 1);
        assert_eq!(upgrades.values().sum::<u64>(), 200);
        // The first 64 protocols named, twice each; the other 36 together.
        assert_eq!(upgrades["proto-0"], 2);
        assert_eq!(upgrades[OTHER_UPGRADES_REST], 72);
    }

    #[test]
    fn plain_requests_kept_for_all_stop_at_max_listed_and_are_counted() {
        let requests = b"GET /poll HTTP/1.1\r\nHost: a\r\n\r\n".repeat(30);
        let cfg = DiagnoseConfig {
            keep_plain: true,
            max_listed: 10,
            ..DiagnoseConfig::default()
        };
        let f = diagnose_requests(cfg, &requests).finish_all();
        assert_eq!((f.plain.len(), f.not_listed.plain), (10, 20));
        assert_eq!(f.counts.http_requests, 30);
        assert_eq!(f.plain[0].target, "/poll");
    }

    #[test]
    fn requests_waiting_on_one_connection_are_bounded() {
        let mut diag = Diagnoser::new(DiagnoseConfig::default());
        let info = test_conn();
        let mut conn = HttpConn::new(&HttpConfig::default());
        let mut heads = HeadBuffers::default();
        let handshake = b"GET /ws HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        let plain = b"GET /poll HTTP/1.1\r\nHost: a\r\n\r\n".repeat(http::MAX_PENDING);
        for bytes in [&handshake[..], &plain] {
            conn.data(Direction::ToServer, bytes, &mut heads, &mut |e| {
                diag.http_event(&info, PacketRef::default(), &e)
            });
        }
        // The handshake was pushed out of the full queue and judged as never answered before
        // the connection ended; the queue holds no more than the limit.
        let done: Vec<_> = diag.take_finished().collect();
        assert_eq!(done.len(), 1);
        assert!(done[0].response.is_none());
        assert_eq!(diag.pending[&ConnId(1)].len(), http::MAX_PENDING);
    }
}
