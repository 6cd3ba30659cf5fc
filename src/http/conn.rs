//! The per-connection HTTP/1.x state machine: two directions of reassembled bytes in, events out.

use std::collections::VecDeque;

use super::body::{Body, Chunked, Outcome};
use super::head::{
    known_position, parse_request, parse_response, tokens, whole_request, whole_response, Headers,
    RequestHead, ResponseHead, UPGRADE,
};
use super::scan::{HeadScan, Kind, Scan};
use crate::common::Direction;

/// Limits for the parser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpConfig {
    /// Largest head (start line to empty line), and largest trailer section, in bytes. Also caps
    /// the request bytes held while an upgrade request waits for its answer.
    pub max_head_bytes: usize,
    /// Most bytes of unfinished heads (and held request bytes) all connections hold together;
    /// enforced by the caller through [`HttpConn::set_held_cap`].
    pub max_held_total: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_head_bytes: 64 * 1024,
            max_held_total: 32 << 20,
        }
    }
}

/// What the parser saw, in stream order per direction. Request indexes are 0-based per
/// connection. A response-side `index` is the index of the request it answers, or `None` when
/// that cannot be known (see [`HttpConn`] on pairing).
#[derive(Debug)]
pub enum HttpEvent<'a> {
    Request {
        index: u64,
        head: &'a RequestHead,
    },
    /// A final response (including 101).
    Response {
        index: Option<u64>,
        head: &'a ResponseHead,
    },
    /// A 1xx other than 101: the request still waits for its final response.
    Interim {
        index: Option<u64>,
        head: &'a ResponseHead,
    },
    /// The body of the last request (`ToServer`) or response (`ToClient`) ended.
    MessageEnd {
        dir: Direction,
        index: Option<u64>,
    },
    /// 101, or 2xx to CONNECT: no more HTTP in either direction; later bytes come as
    /// `TunnelData` / `TunnelGap`.
    Tunnel {
        index: Option<u64>,
    },
    /// The first bytes of a response body (at most [`BODY_START`] per response, possibly in
    /// several pieces), as on the wire.
    BodyStart {
        index: Option<u64>,
        bytes: &'a [u8],
    },
    /// Bytes inside the tunnel (e.g. WebSocket frames), in order per direction.
    TunnelData {
        dir: Direction,
        bytes: &'a [u8],
    },
    /// Bytes inside the tunnel that were not captured.
    TunnelGap {
        dir: Direction,
        len: u64,
    },
    /// A head cut by a gap (or by the end of the stream): the captured prefix of it. A lost
    /// request takes a request index; a lost response names the request it would answer.
    Lost {
        dir: Direction,
        index: Option<u64>,
        partial: &'a [u8],
    },
    /// The framing is lost in `dir`; nothing is parsed there until `Resync`.
    Desync {
        dir: Direction,
        reason: &'static str,
    },
    /// A message start was found again after `skipped` bytes (captured or gap) that were not
    /// parsed: counted from the `Desync` point, or from the end of a `Lost` prefix.
    Resync {
        dir: Direction,
        skipped: u64,
    },
    /// Something odd about a message; the parse goes on. Follows the event of its message.
    Anomaly {
        dir: Direction,
        code: &'static str,
        detail: String,
    },
}

/// Headers whose repetition is worth a `duplicate_header` anomaly.
const NO_REPEAT: [&str; 6] = [
    "upgrade",
    "connection",
    "content-length",
    "sec-websocket-key",
    "sec-websocket-accept",
    "sec-websocket-version",
];

/// [`NO_REPEAT`] as positions in `KNOWN`, in the same order.
const NO_REPEAT_KNOWN: [usize; NO_REPEAT.len()] = {
    let mut out = [0; NO_REPEAT.len()];
    let mut i = 0;
    while i < NO_REPEAT.len() {
        out[i] = known_position(NO_REPEAT[i]);
        i += 1;
    }
    out
};
/// [`NO_REPEAT`] as a mask of bits for [`Headers::repeats_any`].
const NO_REPEAT_MASK: u16 = {
    let mut mask = 0;
    let mut i = 0;
    while i < NO_REPEAT_KNOWN.len() {
        mask |= 1 << NO_REPEAT_KNOWN[i];
        i += 1;
    }
    mask
};
const CONTENT_LENGTH: usize = known_position("content-length");
const TRANSFER_ENCODING: usize = known_position("transfer-encoding");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Head,
    Connect,
    Other,
    /// The head was lost: assume an ordinary method.
    Unknown,
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    index: u64,
    method: Method,
}

#[derive(Debug)]
enum State {
    /// Reading a head (or the blank lines before one).
    Head,
    Body(Body),
    /// Looking for the next start line.
    Desync,
    Tunnel,
    /// The stream ended.
    Closed,
}

/// One direction.
#[derive(Debug)]
struct Side {
    dir: Direction,
    state: State,
    /// The current head so far (or the candidate start line while desynchronised).
    buf: Vec<u8>,
    scan: HeadScan,
    /// Desync: bytes not parsed so far.
    skipped: u64,
    /// Desync: the next byte starts a line.
    line_start: bool,
    /// Index of the message whose body is being read.
    msg: Option<u64>,
    /// Request side: the current request asks to switch protocols.
    upgrade: bool,
    /// Body bytes of the current message already handed on as `BodyStart`.
    body_shown: usize,
}

impl Side {
    fn new(dir: Direction) -> Side {
        Side {
            dir,
            state: State::Head,
            buf: Vec::new(),
            scan: HeadScan::new(kind(dir)),
            skipped: 0,
            line_start: false,
            msg: None,
            upgrade: false,
            body_shown: 0,
        }
    }
}

fn kind(dir: Direction) -> Kind {
    match dir {
        Direction::ToServer => Kind::Request,
        Direction::ToClient => Kind::Response,
    }
}

/// Request-side input held while an upgrade request waits for its answer, in arrival order.
#[derive(Debug, Default)]
struct Hold {
    bytes: Vec<u8>,
    items: Vec<Held>,
}

#[derive(Debug)]
enum Held {
    Data(usize),
    Gap(u64),
    End,
}

/// One HTTP/1.x connection.
///
/// Pairing: responses answer requests first in, first out. Requests hidden in a request-side
/// desync cannot be counted, and responses hidden in a response-side desync cannot either, so
/// after either the queue is *sealed*: requests already queued keep their place (after a
/// request-side desync) or are dropped (after a response-side desync, since their answers may
/// have been skipped), no later request is queued, and every later response gets `index: None`
/// with an `unpaired_response` anomaly. Wrong pairs are never made; the price is that a
/// connection stays unpaired after its first desync.
///
/// Upgrade: after a request asking to switch protocols (`Upgrade` plus `Connection: upgrade`,
/// or CONNECT) the request side holds its input until a final response: 101 (or 2xx to CONNECT)
/// makes it tunnel bytes, anything else replays it as HTTP. Holding beyond `max_head_bytes`
/// gives up and replays.
/// Bytes of each response body handed on with [`HttpEvent::BodyStart`].
pub const BODY_START: usize = 256;

/// Requests of one connection that may wait for their responses. Past this many the
/// connection's queue is sealed (a `pipeline_limit` anomaly): real pipelining is a handful
/// deep, and an endless queue means the responses are not in the capture (one direction
/// captured, or the other lost), where waiting would hold memory for every request until the
/// connection ends.
pub const MAX_PENDING: usize = 1024;

#[derive(Debug)]
pub struct HttpConn {
    max_head: usize,
    /// Most bytes this connection may hold in unfinished heads and held request bytes, set by
    /// the caller from a budget shared by all connections ([`HttpConn::set_held_cap`]).
    held_cap: usize,
    sides: [Side; 2],
    next_request: u64,
    pending: VecDeque<Pending>,
    sealed: bool,
    hold: Option<Hold>,
    tunnel: bool,
    tunnel_bytes: [u64; 2],
    tunnel_gap_bytes: [u64; 2],
}

/// The buffers heads are parsed into, lent to [`HttpConn::data`] and [`HttpConn::end`] by the
/// caller: a head is handed on by reference and is not needed once its events are out, so one
/// set serves every connection. An idle connection then holds no head memory, and the set,
/// refilled for each message, stays in cache and allocates nothing once it has grown.
#[derive(Debug, Default)]
pub struct HeadBuffers {
    request: RequestHead,
    response: ResponseHead,
}

impl HttpConn {
    pub fn new(cfg: &HttpConfig) -> Self {
        HttpConn {
            max_head: cfg.max_head_bytes.max(1),
            held_cap: usize::MAX,
            sides: [
                Side::new(Direction::ToServer),
                Side::new(Direction::ToClient),
            ],
            next_request: 0,
            pending: VecDeque::new(),
            sealed: false,
            hold: None,
            tunnel: false,
            tunnel_bytes: [0; 2],
            tunnel_gap_bytes: [0; 2],
        }
    }

    /// Bytes held right now: unfinished heads (or start-line candidates after a desync) and
    /// request bytes held while an upgrade waits for its answer.
    pub fn held(&self) -> usize {
        self.sides.iter().map(|s| s.buf.len()).sum::<usize>()
            + self.hold.as_ref().map_or(0, |h| h.bytes.len())
    }

    /// Caps [`HttpConn::held`] for the calls that follow: a head that would grow past it is
    /// skipped (`head_buffer_limit`), held request bytes are let go. The caller sets it from
    /// what all connections hold together, so that many connections each holding an
    /// unfinished head up to `max_head_bytes` stay within one budget.
    pub fn set_held_cap(&mut self, cap: usize) {
        self.held_cap = cap;
    }

    /// What the buffer of side `dir` may hold under [`HttpConn::set_held_cap`], given what
    /// the rest of the connection holds.
    fn side_cap(&self, dir: Direction) -> usize {
        let elsewhere = self.held() - self.sides[dir.index()].buf.len();
        self.held_cap.saturating_sub(elsewhere)
    }

    /// True once a 101 (or 2xx to CONNECT) was seen.
    pub fn is_tunnel(&self) -> bool {
        self.tunnel
    }

    /// Captured bytes that flowed in `dir` inside the tunnel.
    pub fn tunnel_bytes(&self, dir: Direction) -> u64 {
        self.tunnel_bytes[dir.index()]
    }

    /// Bytes that flowed in `dir` inside the tunnel but were not captured.
    pub fn tunnel_gap_bytes(&self, dir: Direction) -> u64 {
        self.tunnel_gap_bytes[dir.index()]
    }

    /// Stream bytes in `dir`, in order; heads are parsed into `heads`.
    pub fn data(
        &mut self,
        dir: Direction,
        bytes: &[u8],
        heads: &mut HeadBuffers,
        out: &mut impl FnMut(HttpEvent<'_>),
    ) {
        let d = dir.index();
        let mut pos = 0;
        while pos < bytes.len() {
            let rest = &bytes[pos..];
            if dir == Direction::ToServer {
                if let Some(hold) = &mut self.hold {
                    hold.bytes.extend_from_slice(rest);
                    hold.items.push(Held::Data(rest.len()));
                    if hold.bytes.len() > self.max_head || self.held() > self.held_cap {
                        self.release(heads, out);
                    }
                    return;
                }
            }
            match &mut self.sides[d].state {
                State::Closed => return,
                State::Tunnel => {
                    self.tunnel_bytes[d] += rest.len() as u64;
                    out(HttpEvent::TunnelData { dir, bytes: rest });
                    return;
                }
                State::Body(body) => match body.feed(rest) {
                    Outcome::More => {
                        self.body_start(dir, rest, out);
                        return;
                    }
                    Outcome::End(n) => {
                        self.body_start(dir, &rest[..n], out);
                        pos += n;
                        self.message_end(dir, out);
                    }
                    Outcome::Bad(n, reason) => {
                        // The bytes before the one that broke the framing are body, as they
                        // would have been had they come in a chunk of their own.
                        self.body_start(dir, &rest[..n - 1], out);
                        pos += n;
                        let line_start = rest[n - 1] == b'\n';
                        // A body that breaks its own framing (a chunk size past 2^64, a missing
                        // CRLF) is worth a warning: it is how smuggling and broken proxies look.
                        out(HttpEvent::Anomaly {
                            dir,
                            code: "invalid_chunked_body",
                            detail: format!("{reason}; the rest of this stream is skipped until a message start"),
                        });
                        self.desync(dir, reason, 0, line_start, out);
                    }
                },
                State::Head => pos += self.head_bytes(dir, rest, heads, out),
                State::Desync => pos += self.desync_bytes(dir, rest, out),
            }
        }
    }

    /// `len` bytes in `dir` that were on the wire but not captured.
    pub fn gap(&mut self, dir: Direction, len: u64, out: &mut impl FnMut(HttpEvent<'_>)) {
        if len == 0 {
            return;
        }
        if dir == Direction::ToServer {
            if let Some(hold) = &mut self.hold {
                hold.items.push(Held::Gap(len));
                return;
            }
        }
        let d = dir.index();
        let side = &mut self.sides[d];
        match &mut side.state {
            State::Closed => {}
            State::Tunnel => {
                self.tunnel_gap_bytes[d] = self.tunnel_gap_bytes[d].saturating_add(len);
                out(HttpEvent::TunnelGap { dir, len });
            }
            State::Desync => {
                side.skipped = side
                    .skipped
                    .saturating_add(side.buf.len() as u64)
                    .saturating_add(len);
                side.buf.clear();
                side.scan = HeadScan::new(kind(dir));
                side.line_start = true;
            }
            State::Head => self.lost_head(dir, len, out),
            State::Body(body) => match body.gap(len) {
                Ok(None) => {}
                Ok(Some(rest)) => {
                    self.message_end(dir, out);
                    if rest > 0 {
                        self.gap(dir, rest, out);
                    }
                }
                Err(reason) => {
                    if let Body::UntilClose { gapped } = body {
                        // The message still ends at the close; say once that it has holes.
                        if !*gapped {
                            *gapped = true;
                            out(HttpEvent::Desync { dir, reason });
                        }
                    } else {
                        self.desync(dir, reason, len, true, out);
                    }
                }
            },
        }
    }

    /// The stream in `dir` ended (FIN, RST or end of capture). Held request bytes, if any, are
    /// then parsed into `heads`.
    pub fn end(
        &mut self,
        dir: Direction,
        heads: &mut HeadBuffers,
        out: &mut impl FnMut(HttpEvent<'_>),
    ) {
        if dir == Direction::ToServer {
            if let Some(hold) = &mut self.hold {
                hold.items.push(Held::End);
                return;
            }
        }
        let d = dir.index();
        let side = &mut self.sides[d];
        match &side.state {
            State::Closed | State::Tunnel => return,
            State::Head if !side.buf.is_empty() => {
                let index = self.take_index(dir, out);
                out(HttpEvent::Lost {
                    dir,
                    index,
                    partial: &self.sides[d].buf,
                });
            }
            State::Head | State::Desync => {}
            State::Body(Body::UntilClose { .. }) => self.message_end(dir, out),
            State::Body(body) => {
                let detail = match body {
                    Body::Length(n) => format!("{n} bytes of the body missing at end of stream"),
                    _ => "chunked body unfinished at end of stream".to_string(),
                };
                out(HttpEvent::Anomaly {
                    dir,
                    code: "truncated_body",
                    detail,
                });
            }
        }
        let side = &mut self.sides[d];
        side.state = State::Closed;
        side.buf = Vec::new();
        if dir == Direction::ToClient {
            // No answer will come: let held request bytes be parsed.
            self.release(heads, out);
        }
    }

    /// The request index a head in `dir` takes (requests) or answers (responses).
    fn take_index(&mut self, dir: Direction, out: &mut impl FnMut(HttpEvent<'_>)) -> Option<u64> {
        match dir {
            Direction::ToServer => {
                let index = self.next_request;
                self.next_request += 1;
                self.queue(
                    Pending {
                        index,
                        method: Method::Unknown,
                    },
                    out,
                );
                Some(index)
            }
            Direction::ToClient => self.pending.front().map(|p| p.index),
        }
    }

    /// Queues a request for pairing, unless the queue is sealed or this would make it longer
    /// than [`MAX_PENDING`] (which seals it).
    fn queue(&mut self, p: Pending, out: &mut impl FnMut(HttpEvent<'_>)) {
        if self.sealed {
            return;
        }
        if self.pending.len() >= MAX_PENDING {
            out(HttpEvent::Anomaly {
                dir: Direction::ToServer,
                code: "pipeline_limit",
                detail: format!(
                    "more than {MAX_PENDING} requests waiting for a response (are the responses in the capture?): later responses are not paired"
                ),
            });
            self.pending.clear();
            self.sealed = true;
            return;
        }
        self.pending.push_back(p);
    }

    /// A gap where a head was (or was about to start).
    fn lost_head(&mut self, dir: Direction, len: u64, out: &mut impl FnMut(HttpEvent<'_>)) {
        let index = self.take_index(dir, out);
        out(HttpEvent::Lost {
            dir,
            index,
            partial: &self.sides[dir.index()].buf,
        });
        self.desync(dir, "gap in head", len, true, out);
    }

    fn desync(
        &mut self,
        dir: Direction,
        reason: &'static str,
        skipped: u64,
        line_start: bool,
        out: &mut impl FnMut(HttpEvent<'_>),
    ) {
        out(HttpEvent::Desync { dir, reason });
        let side = &mut self.sides[dir.index()];
        side.state = State::Desync;
        side.skipped = skipped;
        side.line_start = line_start;
        side.buf.clear();
        side.scan = HeadScan::new(kind(dir));
        side.msg = None;
        side.upgrade = false;
        if dir == Direction::ToClient {
            // Answers to these may be among the skipped bytes.
            self.pending.clear();
        }
        self.sealed = true;
    }

    /// Hands on the first [`BODY_START`] bytes of a response body (as on the wire: chunked
    /// framing included), for naming the backend from its answer. Bodies are otherwise skipped.
    fn body_start(&mut self, dir: Direction, bytes: &[u8], out: &mut impl FnMut(HttpEvent<'_>)) {
        let side = &mut self.sides[dir.index()];
        if dir != Direction::ToClient || side.body_shown >= BODY_START || bytes.is_empty() {
            return;
        }
        let n = bytes.len().min(BODY_START - side.body_shown);
        side.body_shown += n;
        out(HttpEvent::BodyStart {
            index: side.msg,
            bytes: &bytes[..n],
        });
    }

    fn message_end(&mut self, dir: Direction, out: &mut impl FnMut(HttpEvent<'_>)) {
        let side = &mut self.sides[dir.index()];
        side.body_shown = 0;
        let index = side.msg.take();
        let upgrade = std::mem::take(&mut side.upgrade);
        side.state = State::Head;
        side.scan = HeadScan::new(kind(dir));
        out(HttpEvent::MessageEnd { dir, index });
        if upgrade && !self.tunnel {
            let answered = !self.sealed && !self.pending.iter().any(|p| Some(p.index) == index);
            if !answered {
                self.hold = Some(Hold::default());
            }
        }
    }

    /// Bytes in `Head` state; returns how many were used.
    fn head_bytes(
        &mut self,
        dir: Direction,
        bytes: &[u8],
        heads: &mut HeadBuffers,
        out: &mut impl FnMut(HttpEvent<'_>),
    ) -> usize {
        let max = self.max_head;
        let side = &mut self.sides[dir.index()];
        let mut i = 0;
        if side.buf.is_empty() && side.scan.at_start() {
            // Blank lines between messages are allowed.
            i = bytes
                .iter()
                .position(|&b| b != b'\r' && b != b'\n')
                .unwrap_or(bytes.len());
            if i == bytes.len() {
                return i;
            }
        }
        let avail = &bytes[i..];
        let lim = avail.len().min(max - side.buf.len());
        if side.buf.is_empty() && side.scan.at_start() {
            // The usual case, a plain head whole in this chunk: checked, split and parsed in
            // one pass, with no scan before it.
            let whole = match dir {
                Direction::ToServer => whole_request(&avail[..lim], &mut heads.request),
                Direction::ToClient => whole_response(&avail[..lim], &mut heads.response),
            };
            if let Some(n) = whole {
                match dir {
                    Direction::ToServer => self.request_parsed(&heads.request, false, out),
                    Direction::ToClient => self.response_parsed(heads, false, out),
                }
                return i + n;
            }
        }
        // What this side may hold, given what the rest of the connection holds.
        let cap = self.side_cap(dir);
        let side = &mut self.sides[dir.index()];
        match side.scan.feed(&avail[..lim], false) {
            Scan::Found(n) => {
                if side.buf.is_empty() {
                    // Whole head inside this chunk: parse in place.
                    self.on_head(dir, &avail[..n], heads, out);
                } else {
                    side.buf.extend_from_slice(&avail[..n]);
                    let buf = std::mem::take(&mut side.buf);
                    self.on_head(dir, &buf, heads, out);
                    // Keep the allocation for the next head.
                    let side = &mut self.sides[dir.index()];
                    if side.buf.is_empty() {
                        side.buf = buf;
                        side.buf.clear();
                    }
                }
                i + n
            }
            Scan::Fail(n) => {
                let skipped = (side.buf.len() + n) as u64;
                let line_start = avail[n - 1] == b'\n';
                self.desync(dir, "invalid start line", skipped, line_start, out);
                i + n
            }
            Scan::NeedMore if lim < avail.len() => {
                let skipped = (side.buf.len() + lim) as u64;
                out(HttpEvent::Anomaly {
                    dir,
                    code: "head_too_large",
                    detail: format!("no end of head within {max} bytes"),
                });
                self.desync(dir, "head too large", skipped, false, out);
                i + lim
            }
            Scan::NeedMore if side.buf.len() + avail.len() > cap => {
                let skipped = (side.buf.len() + avail.len()) as u64;
                out(HttpEvent::Anomaly {
                    dir,
                    code: "head_buffer_limit",
                    detail: format!(
                        "unfinished heads held across connections reached their limit (--max-head-total): this one ({skipped} bytes so far) is skipped"
                    ),
                });
                self.desync(dir, "head buffer limit", skipped, false, out);
                bytes.len()
            }
            Scan::NeedMore => {
                side.buf.extend_from_slice(avail);
                bytes.len()
            }
        }
    }

    /// Bytes in `Desync` state: look for a start line at a line start.
    fn desync_bytes(
        &mut self,
        dir: Direction,
        bytes: &[u8],
        out: &mut impl FnMut(HttpEvent<'_>),
    ) -> usize {
        let max = self.max_head;
        let cap = self.side_cap(dir);
        let side = &mut self.sides[dir.index()];
        let mut i = 0;
        while i < bytes.len() {
            let candidate = !side.buf.is_empty() || !side.scan.at_start();
            if !candidate && !side.line_start {
                match bytes[i..].iter().position(|&b| b == b'\n') {
                    Some(p) => {
                        side.skipped = side.skipped.saturating_add(p as u64 + 1);
                        i += p + 1;
                        side.line_start = true;
                        continue;
                    }
                    None => {
                        side.skipped = side.skipped.saturating_add((bytes.len() - i) as u64);
                        return bytes.len();
                    }
                }
            }
            let avail = &bytes[i..];
            let lim = avail.len().min(max - side.buf.len());
            match side.scan.feed(&avail[..lim], true) {
                Scan::Found(n) => {
                    side.buf.extend_from_slice(&avail[..n]);
                    side.state = State::Head;
                    let skipped = std::mem::take(&mut side.skipped);
                    out(HttpEvent::Resync { dir, skipped });
                    return i + n;
                }
                Scan::Fail(n) => {
                    side.skipped = side.skipped.saturating_add((side.buf.len() + n) as u64);
                    side.buf.clear();
                    side.scan = HeadScan::new(kind(dir));
                    side.line_start = avail[n - 1] == b'\n';
                    i += n;
                }
                Scan::NeedMore if lim < avail.len() => {
                    side.skipped = side.skipped.saturating_add((side.buf.len() + lim) as u64);
                    side.buf.clear();
                    side.scan = HeadScan::new(kind(dir));
                    side.line_start = false;
                    i += lim;
                }
                Scan::NeedMore if side.buf.len() + avail.len() > cap => {
                    // No room to keep a candidate start line: skipped like the rest.
                    side.skipped = side
                        .skipped
                        .saturating_add((side.buf.len() + avail.len()) as u64);
                    side.buf.clear();
                    side.scan = HeadScan::new(kind(dir));
                    side.line_start = false;
                    return bytes.len();
                }
                Scan::NeedMore => {
                    side.buf.extend_from_slice(avail);
                    return bytes.len();
                }
            }
        }
        bytes.len()
    }

    fn on_head(
        &mut self,
        dir: Direction,
        raw: &[u8],
        heads: &mut HeadBuffers,
        out: &mut impl FnMut(HttpEvent<'_>),
    ) {
        match dir {
            Direction::ToServer => {
                let lenient = parse_request(raw, &mut heads.request);
                self.request_parsed(&heads.request, lenient, out);
            }
            Direction::ToClient => {
                let lenient = parse_response(raw, &mut heads.response);
                self.response_parsed(heads, lenient, out);
            }
        }
    }

    /// What follows a parsed request head: its event, framing and state.
    fn request_parsed(
        &mut self,
        head: &RequestHead,
        lenient: bool,
        out: &mut impl FnMut(HttpEvent<'_>),
    ) {
        let dir = Direction::ToServer;
        let index = self.next_request;
        self.next_request += 1;
        let method = match head.method.as_str() {
            "HEAD" => Method::Head,
            "CONNECT" => Method::Connect,
            _ => Method::Other,
        };
        self.queue(Pending { index, method }, out);
        let upgrade = method == Method::Connect
            || (head.headers.has_known(UPGRADE) && head.has_token("connection", "upgrade"));
        out(HttpEvent::Request { index, head });
        let framing = framing_anomalies(dir, &head.headers, lenient, out);
        let side = &mut self.sides[dir.index()];
        side.msg = Some(index);
        side.upgrade = upgrade;
        match framing {
            Framing::Chunked => {
                side.state = State::Body(Body::Chunked(Chunked::new(self.max_head)))
            }
            Framing::Length(n) if n > 0 => side.state = State::Body(Body::Length(n)),
            Framing::Length(_) | Framing::None => self.message_end(dir, out),
            Framing::OtherCoding => self.desync(
                dir,
                "request Transfer-Encoding without final chunked",
                0,
                true,
                out,
            ),
            Framing::Bad(reason) => self.desync(dir, reason, 0, true, out),
        }
    }

    /// What follows a response head parsed into `heads.response` (see `request_parsed`);
    /// `heads` is lent on to the held request bytes replayed after it.
    fn response_parsed(
        &mut self,
        heads: &mut HeadBuffers,
        lenient: bool,
        out: &mut impl FnMut(HttpEvent<'_>),
    ) {
        let dir = Direction::ToClient;
        let head = &heads.response;
        let status = head.status;
        if (100..200).contains(&status) && status != 101 {
            let index = self.pending.front().map(|p| p.index);
            out(HttpEvent::Interim { index, head });
            if index.is_none() {
                self.unpaired(status, out);
            }
            framing_anomalies(dir, &head.headers, lenient, out);
            // The final response follows: a new head, its start line checked afresh.
            self.sides[dir.index()].scan = HeadScan::new(kind(dir));
            return;
        }
        let paired = self.pending.pop_front();
        let index = paired.map(|p| p.index);
        let method = paired.map_or(Method::Unknown, |p| p.method);
        out(HttpEvent::Response { index, head });
        if index.is_none() {
            self.unpaired(status, out);
        }
        let framing = framing_anomalies(dir, &head.headers, lenient, out);
        if status == 101 || (method == Method::Connect && (200..300).contains(&status)) {
            self.start_tunnel(index, out);
            return;
        }
        let side = &mut self.sides[dir.index()];
        side.msg = index;
        let no_body = method == Method::Head || status == 204 || status == 304;
        match framing {
            _ if no_body => self.message_end(dir, out),
            Framing::Chunked => {
                side.state = State::Body(Body::Chunked(Chunked::new(self.max_head)))
            }
            Framing::Length(0) => self.message_end(dir, out),
            Framing::Length(n) => side.state = State::Body(Body::Length(n)),
            Framing::None | Framing::OtherCoding => {
                side.state = State::Body(Body::UntilClose { gapped: false })
            }
            Framing::Bad(reason) => self.desync(dir, reason, 0, true, out),
        }
        self.release(heads, out);
    }

    fn unpaired(&self, status: u16, out: &mut impl FnMut(HttpEvent<'_>)) {
        let detail = if self.sealed {
            format!("{status} response after a desync: the request it answers is unknown")
        } else {
            format!("{status} response with no request waiting")
        };
        out(HttpEvent::Anomaly {
            dir: Direction::ToClient,
            code: "unpaired_response",
            detail,
        });
    }

    fn start_tunnel(&mut self, index: Option<u64>, out: &mut impl FnMut(HttpEvent<'_>)) {
        self.tunnel = true;
        out(HttpEvent::Tunnel { index });
        for side in &mut self.sides {
            let d = side.dir.index();
            // Bytes already buffered towards a head belong to the tunnel.
            let buf = std::mem::take(&mut side.buf);
            if !buf.is_empty() {
                self.tunnel_bytes[d] += buf.len() as u64;
                out(HttpEvent::TunnelData {
                    dir: side.dir,
                    bytes: &buf,
                });
            }
            if !matches!(side.state, State::Closed) {
                side.state = State::Tunnel;
            }
        }
        if let Some(hold) = self.hold.take() {
            let dir = Direction::ToServer;
            let d = dir.index();
            let mut off = 0;
            for item in hold.items {
                match item {
                    Held::Data(n) => {
                        self.tunnel_bytes[d] += n as u64;
                        out(HttpEvent::TunnelData {
                            dir,
                            bytes: &hold.bytes[off..off + n],
                        });
                        off += n;
                    }
                    Held::Gap(n) => {
                        self.tunnel_gap_bytes[d] = self.tunnel_gap_bytes[d].saturating_add(n);
                        out(HttpEvent::TunnelGap { dir, len: n });
                    }
                    Held::End => self.sides[d].state = State::Closed,
                }
            }
        }
    }

    /// Replay held request-side input as HTTP (it may start a new hold).
    fn release(&mut self, heads: &mut HeadBuffers, out: &mut impl FnMut(HttpEvent<'_>)) {
        let Some(hold) = self.hold.take() else {
            return;
        };
        let dir = Direction::ToServer;
        let mut off = 0;
        for item in hold.items {
            match item {
                Held::Data(n) => {
                    self.data(dir, &hold.bytes[off..off + n], heads, out);
                    off += n;
                }
                Held::Gap(n) => self.gap(dir, n, out),
                Held::End => self.end(dir, heads, out),
            }
        }
    }
}

/// How a message's body is delimited, as its headers say.
enum Framing {
    None,
    Length(u64),
    Chunked,
    /// Transfer-Encoding whose last coding is not chunked.
    OtherCoding,
    Bad(&'static str),
}

/// A Content-Length value that is one plain number: digits only, at least one, within u64.
fn plain_number(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |n, &d| {
        if d.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        } else {
            None
        }
    })
}

/// The framing a Transfer-Encoding gives: chunked when its last coding is.
fn transfer_coding(headers: &Headers) -> Framing {
    let last = tokens(headers, "transfer-encoding").last();
    if last.is_some_and(|c| c.eq_ignore_ascii_case(b"chunked")) {
        Framing::Chunked
    } else {
        Framing::OtherCoding
    }
}

/// Report header anomalies of one head and work out its framing.
fn framing_anomalies(
    dir: Direction,
    headers: &Headers,
    lenient: bool,
    out: &mut impl FnMut(HttpEvent<'_>),
) -> Framing {
    // The usual head, read strictly, with no Transfer-Encoding and no repeated header that
    // matters: framed by its one plain Content-Length or by none, found without a walk over
    // the fields. Anything else takes the full walk below.
    if !lenient && !headers.repeats_any(NO_REPEAT_MASK) {
        match (
            headers.has_known(TRANSFER_ENCODING),
            headers.has_known(CONTENT_LENGTH),
        ) {
            (false, false) => return Framing::None,
            (false, true) => {
                if let Some(n) = headers.known_value(CONTENT_LENGTH).and_then(plain_number) {
                    return Framing::Length(n);
                }
            }
            (true, false) => return transfer_coding(headers),
            (true, true) => {}
        }
    }
    let mut anomaly =
        |code: &'static str, detail: String| out(HttpEvent::Anomaly { dir, code, detail });
    if lenient {
        anomaly(
            "invalid_header",
            "some header lines are invalid; read leniently".to_string(),
        );
    }
    // One pass over the headers: most heads repeat nothing and carry no Transfer-Encoding.
    let mut repeats = [0usize; NO_REPEAT.len()];
    let (mut has_te, mut has_cl) = (false, false);
    // The Content-Length value when there is exactly one such header.
    let mut single_cl: Option<&[u8]> = None;
    for (known, value) in headers.known_indexed() {
        // (Positions in `KNOWN`: numbers compared, not names.)
        if let Some(i) = NO_REPEAT_KNOWN.iter().position(|&n| n == known) {
            repeats[i] += 1;
            if known == CONTENT_LENGTH {
                has_cl = true;
                single_cl = (repeats[i] == 1).then_some(value);
            }
        }
        has_te |= known == TRANSFER_ENCODING;
    }
    for (name, n) in NO_REPEAT.iter().zip(repeats) {
        if n > 1 {
            anomaly("duplicate_header", format!("{name} appears {n} times"));
        }
    }
    let lengths = || tokens(headers, "content-length");
    if has_te {
        if let Some(first) = lengths().next() {
            let codings: Vec<&[u8]> = tokens(headers, "transfer-encoding").collect();
            anomaly(
                "cl_and_chunked",
                format!(
                    "Content-Length {} and Transfer-Encoding {} both present; Transfer-Encoding wins",
                    String::from_utf8_lossy(first),
                    String::from_utf8_lossy(&codings.join(&b", "[..])),
                ),
            );
        }
        return transfer_coding(headers);
    }
    if !has_cl {
        return Framing::None;
    }
    // The usual case, one plain number, without the token split below.
    if let Some(n) = single_cl
        .filter(|v| !v.is_empty() && v.iter().all(u8::is_ascii_digit))
        .and_then(|v| std::str::from_utf8(v).ok()?.parse::<u64>().ok())
    {
        return Framing::Length(n);
    }
    let mut value: Option<u64> = None;
    for l in lengths() {
        let parsed = std::str::from_utf8(l)
            .ok()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u64>().ok());
        match (parsed, value) {
            (None, _) => {
                anomaly(
                    "invalid_content_length",
                    format!("Content-Length {:?}", String::from_utf8_lossy(l)),
                );
                return Framing::Bad("invalid Content-Length");
            }
            (Some(v), Some(prev)) if v != prev => {
                anomaly(
                    "conflicting_content_length",
                    format!("expected {prev}, found {v}"),
                );
                return Framing::Bad("conflicting Content-Length");
            }
            (Some(v), _) => value = Some(v),
        }
    }
    match value {
        Some(n) => Framing::Length(n),
        // An empty `Content-Length:` has no elements: treat as absent.
        None => Framing::None,
    }
}
