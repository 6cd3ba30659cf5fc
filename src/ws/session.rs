//! One WebSocket session after its 101: frames in both directions (through [`FrameParser`]),
//! turned into per-session facts — messages and bytes each way, pings and pongs, the longest
//! silence, the close handshake, how the TCP connection ended, and RFC 6455 violations. Hands a
//! [`SessionFacts`] to the diagnosis, which judges it.

use serde::Serialize;

use super::frame::{FrameEvent, FrameHeader, FrameParser};
use crate::common::{Direction, PacketRef, Timestamp};

/// Violations listed per session; more are counted.
const VIOLATIONS_LISTED: usize = 20;
/// Longest close reason kept (RFC 6455 allows 123 bytes).
const REASON_MAX: usize = 123;

/// Who sent something on a WebSocket connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Client,
    Server,
}

impl Side {
    pub fn of(dir: Direction) -> Side {
        match dir {
            Direction::ToServer => Side::Client,
            Direction::ToClient => Side::Server,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }
}

/// Traffic one side sent.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Traffic {
    pub frames: u64,
    /// Complete messages (text or binary, however fragmented).
    pub messages: u64,
    /// Messages sent compressed (permessage-deflate, RSV1 on the first frame).
    pub compressed_messages: u64,
    /// Payload bytes of data frames (as on the wire, compressed or not).
    pub payload_bytes: u64,
    pub pings: u64,
    pub pongs: u64,
}

/// A close frame.
#[derive(Clone, Debug, Serialize)]
pub struct Close {
    pub from: Side,
    /// The status code, when the frame carried one.
    pub code: Option<u16>,
    pub reason: String,
    pub packet: u64,
    pub ts: Timestamp,
}

/// How the TCP connection under the session ended.
#[derive(Clone, Debug, Serialize)]
pub struct TcpEnd {
    /// The side whose FIN or RST came first.
    pub by: Side,
    /// `fin` or `rst`.
    pub how: &'static str,
    pub packet: u64,
    pub ts: Timestamp,
}

/// A breach of RFC 6455, with the packet that carried it.
#[derive(Clone, Debug, Serialize)]
pub struct Violation {
    /// Stable name: `unmasked_client_frame`, `masked_server_frame`, `bad_opcode`,
    /// `control_frame_too_long`, `fragmented_control_frame`, `reserved_bits`,
    /// `unexpected_continuation`, `interleaved_message`, `data_after_close`.
    pub kind: &'static str,
    pub from: Side,
    pub packet: u64,
    pub detail: String,
}

/// What the wire showed about one session.
#[derive(Clone, Debug, Serialize)]
pub struct SessionFacts {
    /// When the 101 was captured (or the first frame, when the handshake was not captured).
    pub start: Timestamp,
    /// The last frame, or the end of the TCP connection, whichever came later.
    pub last_activity: Timestamp,
    pub from_client: Traffic,
    pub from_server: Traffic,
    /// Longest time with no frame in either direction, in seconds.
    pub longest_silence: f64,
    /// The first close frame, and the answer to it.
    pub close: Option<Close>,
    pub close_reply: Option<Close>,
    /// The first FIN or RST; None when the capture ended with the connection open.
    pub tcp_end: Option<TcpEnd>,
    /// Seconds from the last frame to the end of the TCP connection.
    pub silence_before_end: Option<f64>,
    /// permessage-deflate was negotiated in the 101.
    pub deflate: bool,
    /// A gap in the capture made the framing unknowable in some direction: counts after it
    /// are incomplete.
    pub framing_lost: bool,
    pub violations: Vec<Violation>,
    pub violations_not_listed: u64,
}

impl SessionFacts {
    pub fn traffic(&self, side: Side) -> &Traffic {
        match side {
            Side::Client => &self.from_client,
            Side::Server => &self.from_server,
        }
    }
}

#[derive(Debug, Default)]
struct DirState {
    parser: FrameParser,
    /// Inside a fragmented data message.
    in_message: bool,
    /// This side sent a close frame.
    closed: bool,
}

/// A session being analysed.
#[derive(Debug)]
pub struct Session {
    dirs: [DirState; 2],
    facts: SessionFacts,
    last_frame: Timestamp,
}

impl Session {
    /// A session that starts at `at` (the 101), with permessage-deflate negotiated or not.
    pub fn new(at: PacketRef, deflate: bool) -> Session {
        Session {
            dirs: [DirState::default(), DirState::default()],
            facts: SessionFacts {
                start: at.ts,
                last_activity: at.ts,
                from_client: Traffic::default(),
                from_server: Traffic::default(),
                longest_silence: 0.0,
                close: None,
                close_reply: None,
                tcp_end: None,
                silence_before_end: None,
                deflate,
                framing_lost: false,
                violations: Vec::new(),
                violations_not_listed: 0,
            },
            last_frame: at.ts,
        }
    }

    /// Stream bytes after the 101 in `dir`, delivered while packet `at` was processed.
    pub fn data(&mut self, dir: Direction, bytes: &[u8], at: PacketRef) {
        let d = dir.index();
        let mut parser = std::mem::take(&mut self.dirs[d].parser);
        parser.feed(bytes, &mut |ev| self.frame_event(dir, ev, at));
        self.dirs[d].parser = parser;
    }

    /// Bytes in `dir` that were not captured.
    pub fn gap(&mut self, dir: Direction, len: u64) {
        let p = &mut self.dirs[dir.index()].parser;
        p.gap(len);
        if p.is_lost() {
            self.facts.framing_lost = true;
        }
    }

    /// The TCP connection ended in `dir` by FIN or RST (`how`).
    pub fn tcp_end(&mut self, dir: Direction, how: &'static str, at: PacketRef) {
        if self.facts.tcp_end.is_none() {
            self.facts.tcp_end = Some(TcpEnd {
                by: Side::of(dir),
                how,
                packet: at.number,
                ts: at.ts,
            });
            self.facts.silence_before_end = Some(secs(at.ts, self.last_frame));
            self.facts.last_activity = self.facts.last_activity.max(at.ts);
        }
    }

    /// The facts so far.
    pub fn facts(&self) -> &SessionFacts {
        &self.facts
    }

    pub fn into_facts(self) -> SessionFacts {
        self.facts
    }

    fn frame_event(&mut self, dir: Direction, ev: FrameEvent<'_>, at: PacketRef) {
        match ev {
            FrameEvent::Header(h) => self.header(dir, h, at),
            FrameEvent::Control { header, payload } => {
                if header.opcode == 8 {
                    self.close_frame(dir, payload, at);
                }
            }
        }
    }

    fn header(&mut self, dir: Direction, h: FrameHeader, at: PacketRef) {
        let side = Side::of(dir);
        self.facts.longest_silence = self.facts.longest_silence.max(secs(at.ts, self.last_frame));
        self.last_frame = self.last_frame.max(at.ts);
        self.facts.last_activity = self.facts.last_activity.max(at.ts);
        let deflate = self.facts.deflate;
        let state = &mut self.dirs[dir.index()];
        let mut found: Vec<(&'static str, String)> = Vec::new();
        if state.closed {
            found.push((
                "data_after_close",
                format!("opcode {} after this side's close frame", h.opcode),
            ));
        }
        match (side, h.masked) {
            (Side::Client, false) => found.push((
                "unmasked_client_frame",
                format!("opcode {} without a mask", h.opcode),
            )),
            (Side::Server, true) => found.push((
                "masked_server_frame",
                format!("opcode {} with a mask", h.opcode),
            )),
            _ => {}
        }
        if h.rsv2 || h.rsv3 || (h.rsv1 && (!deflate || h.opcode == 0 || h.is_control())) {
            found.push((
                "reserved_bits",
                format!(
                    "RSV1={} RSV2={} RSV3={} on opcode {}{}",
                    u8::from(h.rsv1),
                    u8::from(h.rsv2),
                    u8::from(h.rsv3),
                    h.opcode,
                    if deflate {
                        ""
                    } else {
                        " with no extension negotiated"
                    }
                ),
            ));
        }
        let traffic = match side {
            Side::Client => &mut self.facts.from_client,
            Side::Server => &mut self.facts.from_server,
        };
        traffic.frames += 1;
        match h.opcode {
            0 => {
                if !state.in_message {
                    found.push((
                        "unexpected_continuation",
                        "continuation frame with no message started".into(),
                    ));
                }
                // A header may claim up to 2^63 bytes: the sum saturates.
                traffic.payload_bytes = traffic.payload_bytes.saturating_add(h.len);
                if h.fin && state.in_message {
                    state.in_message = false;
                    traffic.messages += 1;
                }
            }
            1 | 2 => {
                if state.in_message {
                    found.push((
                        "interleaved_message",
                        "a new data message before the fragmented one ended".into(),
                    ));
                }
                // A header may claim up to 2^63 bytes: the sum saturates.
                traffic.payload_bytes = traffic.payload_bytes.saturating_add(h.len);
                if h.rsv1 && deflate {
                    traffic.compressed_messages += 1;
                }
                if h.fin {
                    traffic.messages += 1;
                    state.in_message = false;
                } else {
                    state.in_message = true;
                }
            }
            8..=10 => {
                if h.len > 125 {
                    found.push((
                        "control_frame_too_long",
                        format!("opcode {} with {} bytes (at most 125)", h.opcode, h.len),
                    ));
                }
                if !h.fin {
                    found.push((
                        "fragmented_control_frame",
                        format!("opcode {} without FIN", h.opcode),
                    ));
                }
                match h.opcode {
                    9 => traffic.pings += 1,
                    10 => traffic.pongs += 1,
                    _ => {}
                }
            }
            op => found.push(("bad_opcode", format!("opcode {op} is reserved"))),
        }
        for (kind, detail) in found {
            self.violation(kind, side, at, detail);
        }
    }

    fn close_frame(&mut self, dir: Direction, payload: &[u8], at: PacketRef) {
        let (code, reason) = match payload {
            [a, b, rest @ ..] => (
                Some(u16::from_be_bytes([*a, *b])),
                String::from_utf8_lossy(&rest[..rest.len().min(REASON_MAX)]).into_owned(),
            ),
            _ => (None, String::new()),
        };
        let close = Close {
            from: Side::of(dir),
            code,
            reason,
            packet: at.number,
            ts: at.ts,
        };
        self.dirs[dir.index()].closed = true;
        match &self.facts.close {
            None => self.facts.close = Some(close),
            Some(first) if first.from != close.from && self.facts.close_reply.is_none() => {
                self.facts.close_reply = Some(close)
            }
            _ => {}
        }
    }

    fn violation(&mut self, kind: &'static str, from: Side, at: PacketRef, detail: String) {
        if self.facts.violations.len() < VIOLATIONS_LISTED {
            self.facts.violations.push(Violation {
                kind,
                from,
                packet: at.number,
                detail,
            });
        } else {
            self.facts.violations_not_listed += 1;
        }
    }
}

fn secs(later: Timestamp, earlier: Timestamp) -> f64 {
    later.secs_since(earlier).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::Direction::{ToClient as S, ToServer as C};

    fn frame(fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut v = vec![(u8::from(fin) << 7) | opcode];
        let m = if mask.is_some() { 0x80 } else { 0 };
        assert!(payload.len() < 126);
        v.push(m | payload.len() as u8);
        match mask {
            Some(k) => {
                v.extend_from_slice(&k);
                v.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
            }
            None => v.extend_from_slice(payload),
        }
        v
    }

    const K: Option<[u8; 4]> = Some([9, 8, 7, 6]);

    fn at(n: u64, secs: i64) -> PacketRef {
        PacketRef {
            number: n,
            ts: Timestamp::from_parts(1_700_000_000 + secs, 0),
        }
    }

    fn close_payload(code: u16, reason: &str) -> Vec<u8> {
        let mut v = code.to_be_bytes().to_vec();
        v.extend_from_slice(reason.as_bytes());
        v
    }

    #[test]
    fn a_normal_session_counts_messages_pings_and_the_close_handshake() {
        let mut s = Session::new(at(1, 0), false);
        s.data(C, &frame(true, 1, b"hello", K), at(2, 1));
        s.data(S, &frame(true, 1, b"echo hello", None), at(3, 1));
        // A fragmented message: three frames, one message.
        let mut frag = frame(false, 2, b"ab", K);
        frag.extend(frame(false, 0, b"cd", K));
        frag.extend(frame(true, 0, b"ef", K));
        s.data(C, &frag, at(4, 5));
        s.data(S, &frame(true, 9, b"", None), at(5, 30));
        s.data(C, &frame(true, 10, b"", K), at(6, 30));
        s.data(
            C,
            &frame(true, 8, &close_payload(1000, "bye"), K),
            at(7, 31),
        );
        s.data(
            S,
            &frame(true, 8, &close_payload(1000, ""), None),
            at(8, 31),
        );
        s.tcp_end(S, "fin", at(9, 31));
        let f = s.into_facts();
        assert_eq!(
            (
                f.from_client.messages,
                f.from_client.frames,
                f.from_client.payload_bytes
            ),
            (2, 6, 11)
        );
        assert_eq!(
            (
                f.from_server.messages,
                f.from_server.pings,
                f.from_client.pongs
            ),
            (1, 1, 1)
        );
        let close = f.close.unwrap();
        assert_eq!(
            (close.from, close.code, close.reason.as_str()),
            (Side::Client, Some(1000), "bye")
        );
        assert_eq!(f.close_reply.unwrap().from, Side::Server);
        assert_eq!(f.longest_silence, 25.0);
        assert_eq!(f.silence_before_end, Some(0.0));
        assert!(f.violations.is_empty(), "{:?}", f.violations);
    }

    #[test]
    fn each_violation_is_named_with_its_packet() {
        let cases: Vec<(Direction, Vec<u8>, &str)> = vec![
            (C, frame(true, 1, b"x", None), "unmasked_client_frame"),
            (S, frame(true, 1, b"x", K), "masked_server_frame"),
            (S, frame(true, 3, b"", None), "bad_opcode"),
            (S, frame(false, 9, b"", None), "fragmented_control_frame"),
            (S, frame(true, 0, b"x", None), "unexpected_continuation"),
            (S, vec![0xc1, 0x00], "reserved_bits"),
        ];
        for (dir, bytes, kind) in cases {
            let mut s = Session::new(at(1, 0), false);
            s.data(dir, &bytes, at(7, 1));
            let f = s.into_facts();
            assert_eq!(f.violations.len(), 1, "{kind}: {:?}", f.violations);
            assert_eq!((f.violations[0].kind, f.violations[0].packet), (kind, 7));
        }
        // A ping of 126 bytes (16-bit length form).
        let mut big = vec![0x89, 126, 0, 126];
        big.extend([0u8; 126]);
        let mut s = Session::new(at(1, 0), false);
        s.data(S, &big, at(2, 1));
        assert_eq!(s.facts().violations[0].kind, "control_frame_too_long");
        // Data after close.
        let mut s = Session::new(at(1, 0), false);
        s.data(S, &frame(true, 8, &close_payload(1001, ""), None), at(2, 1));
        s.data(S, &frame(true, 1, b"late", None), at(3, 2));
        assert_eq!(s.facts().violations[0].kind, "data_after_close");
        // A second data message inside a fragmented one.
        let mut s = Session::new(at(1, 0), false);
        s.data(S, &frame(false, 1, b"a", None), at(2, 1));
        s.data(S, &frame(true, 1, b"b", None), at(3, 1));
        assert_eq!(s.facts().violations[0].kind, "interleaved_message");
    }

    #[test]
    fn rsv1_counts_as_compression_only_when_deflate_was_negotiated() {
        let compressed = [0xc1, 0x80, 1, 2, 3, 4];
        let mut s = Session::new(at(1, 0), true);
        s.data(C, &compressed, at(2, 1));
        assert_eq!(s.facts().from_client.compressed_messages, 1);
        assert!(s.facts().violations.is_empty());
        let mut s = Session::new(at(1, 0), false);
        s.data(C, &compressed, at(2, 1));
        assert_eq!(s.facts().from_client.compressed_messages, 0);
        assert_eq!(s.facts().violations[0].kind, "reserved_bits");
    }

    #[test]
    fn lengths_near_2_pow_63_saturate_the_byte_count() {
        // Found by the ws_frames fuzzer: two frames claiming 2^63 - 1 bytes each overflowed.
        let mut huge = vec![0x02, 0x7f];
        huge.extend_from_slice(&(u64::MAX >> 1).to_be_bytes());
        let mut s = Session::new(at(1, 0), false);
        for n in 0..3 {
            s.data(S, &huge, at(2 + n, 1));
            s.gap(S, u64::MAX >> 1);
        }
        assert_eq!(s.facts().from_server.payload_bytes, u64::MAX);
        assert_eq!(s.facts().from_server.frames, 3);
    }

    #[test]
    fn an_rst_after_silence_is_the_end_and_no_close_frame_is_recorded() {
        let mut s = Session::new(at(1, 0), false);
        s.data(C, &frame(true, 1, b"hi", K), at(2, 1));
        s.tcp_end(S, "rst", at(3, 61));
        s.tcp_end(C, "fin", at(4, 62));
        let f = s.into_facts();
        let end = f.tcp_end.unwrap();
        assert_eq!((end.by, end.how, end.packet), (Side::Server, "rst", 3));
        assert_eq!(f.silence_before_end, Some(60.0));
        assert!(f.close.is_none());
    }
}
