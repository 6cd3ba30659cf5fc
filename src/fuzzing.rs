//! Entry points for the fuzz targets in `fuzz/` and for the regression replay in the tests
//! (`tests/cli/hostile.rs`): each takes arbitrary bytes and drives one part of the pipeline, so
//! the replay runs exactly the code that was fuzzed. None of them may panic, whatever the bytes;
//! [`http_conn`] also panics on purpose when the HTTP stage's output depends on how its input was
//! split (a property the stage promises).
//!
//! The script formats of [`tcp_http`] and [`http_conn`] are described on each function; they are
//! deliberately forgiving (every byte string is a valid script), so the fuzzer spends its time on
//! the code under test rather than on the script syntax.

use std::io::{self, Cursor};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::analyze::{AnalyzeConfig, InputAnalysis, InputResult, Merged};
use crate::common::{Direction, PacketRef, Timestamp};
use crate::decode::{decode as decode_packet, reference, Decoded, TcpFlags, TcpSegment};
use crate::diagnose::{DiagnoseConfig, Diagnoser};
use crate::http::{HeadBuffers, HttpConfig, HttpConn, HttpEvent};
use crate::report::{self, Analysis, InputInfo, Output, Reporter};
use crate::source::{CaptureReader, LinkType, Packet};
use crate::tcp::{ConnId, ConnInfo, TcpConfig};

/// Reads `data` as a pcap/pcapng capture through [`CaptureReader`], every packet through the
/// whole analysis, and renders both report formats into nothing.
pub fn capture_reader(data: &[u8]) {
    let Ok(mut reader) = CaptureReader::from_reader("fuzz", Cursor::new(data.to_vec())) else {
        return;
    };
    let cfg = AnalyzeConfig::default();
    let mut input = InputAnalysis::new("fuzz", &cfg);
    let mut ignore = |_: report::Live<'_>| Ok(());
    // An I/O error cannot happen on a Cursor; like the end, it stops the read.
    while let Ok(Some(p)) = reader.next_packet() {
        assert!(p.number > 0);
        input.packet(&p);
        let _ = input.drain_finished(&mut ignore);
    }
    for w in reader.take_warnings() {
        input.warning(w);
    }
    let info = InputInfo {
        path: "fuzz".into(),
        format: reader.format().name().into(),
        link_types: reader.link_types().iter().map(|l| l.name()).collect(),
        bytes: reader.bytes_read(),
        packets: input.packets(),
    };
    let result = input.finish(&mut ignore).expect("the sink never fails");
    render(&cfg, info, result);
}

/// Link types the first byte of a [`decode`] input picks from; values past the list are used
/// as the link type number itself.
const LINKS: [LinkType; 8] = [
    LinkType::NULL,
    LinkType::ETHERNET,
    LinkType::RAW,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL2,
];

/// Decodes one packet: the first byte chooses the link type, the rest is the packet. The
/// result must equal the reference decoder's.
pub fn decode(data: &[u8]) {
    let Some((&first, bytes)) = data.split_first() else {
        return;
    };
    let link = LINKS
        .get(usize::from(first))
        .copied()
        .unwrap_or(LinkType(i32::from(first)));
    let packet = Packet {
        number: 1,
        ts: Timestamp(0),
        link,
        data: bytes,
        orig_len: bytes.len() as u32,
    };
    let decoded = decode_packet(&packet);
    // The fixed-offset reading of common packets agrees with etherparse's.
    assert_eq!(format!("{decoded:?}"), format!("{:?}", reference(&packet)));
    match decoded {
        Decoded::Tcp(seg) => {
            // The payload is a view into the packet, never beyond it.
            let (start, end) = (
                bytes.as_ptr() as usize,
                bytes.as_ptr() as usize + bytes.len(),
            );
            let p = seg.payload.as_ptr() as usize;
            assert!(seg.payload.is_empty() || (p >= start && p + seg.payload.len() <= end));
        }
        Decoded::Other => {}
        Decoded::Malformed(e) => {
            let _ = e.to_string();
        }
    }
}

/// Canned payloads a script can name with one byte, so the fuzzer reaches deep HTTP states
/// without having to invent a whole head first.
const CANNED: [&[u8]; 16] = [
    b"GET /ws HTTP/1.1\r\nHost: b\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
    b"GET /ws?token=x HTTP/1.0\r\nConnection: close\r\nSec-WebSocket-Key: a\r\nSec-WebSocket-Version: 13\r\n\r\n",
    b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found",
    b"POST /p HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"5\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody",
    b"POST /s HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
    b"HTTP/1.0 200 OK\r\n\r\nuntil close",
    b"HEAD / HTTP/1.1\r\n\r\n",
    b"ffffffffffffffffff\r\n",
    b"\r\n",
];

/// Reads a script byte by byte; past the end every read is `None`.
struct Script<'a> {
    data: &'a [u8],
}

impl<'a> Script<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }
    fn u32(&mut self) -> u32 {
        let mut v = 0u32;
        for _ in 0..4 {
            v = v << 8 | u32::from(self.byte().unwrap_or(0));
        }
        v
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (a, b) = self.data.split_at(n);
        self.data = b;
        a
    }
    /// A payload: a length byte below 0xE0 takes that many raw bytes from the script; 0xE0 and
    /// above names a canned payload.
    fn payload(&mut self, len: u8) -> &'a [u8] {
        match len {
            0..=0xDF => self.take(usize::from(len)),
            n => CANNED[usize::from(n - 0xE0) % CANNED.len()],
        }
    }
}

/// Drives TCP reassembly, HTTP and the diagnosis (through [`InputAnalysis`], as packets would)
/// with segments described by a script:
///
/// - byte 0 sets small limits so they are reached: `max_connections` 1-4 (bits 0-1),
///   `max_buffered_per_direction` 16 << (bits 2-4) bytes (three times that for all
///   connections together), `max_head_bytes` 64 << (bits 5-6) (twice that for the unfinished
///   heads of all connections), and bit 7 names port 8080 a server port;
/// - then segments, each: `op` (bits 0-1: one of four connections, two of them IPv6; bit 2: sent
///   by the server; bits 3-6: SYN, ACK, FIN, RST; bit 7: a snaplen-cut length byte follows),
///   a sequence byte (a signed offset from where the previous segment in that direction ended;
///   0x7F: an absolute 32-bit sequence number follows), a payload length byte (see
///   `Script::payload`), the payload, and the missing-bytes byte (times 64) if bit 7 was set.
pub fn tcp_http(data: &[u8]) {
    let mut s = Script { data };
    let Some(h) = s.byte() else { return };
    let cfg = AnalyzeConfig {
        decode_as_websocket: Vec::new(),
        tcp: TcpConfig {
            max_connections: 1 + usize::from(h & 3),
            max_buffered_per_direction: 16 << ((h >> 2) & 7),
            // Three directions' worth: with four connections, the total binds too.
            max_buffered_total: 3 * (16 << ((h >> 2) & 7)),
            server_ports: if h & 0x80 != 0 { vec![8080] } else { vec![] },
        },
        http: HttpConfig {
            max_head_bytes: 64 << ((h >> 5) & 3),
            // Two heads' worth: with four connections, the total binds too.
            max_held_total: 2 * (64 << ((h >> 5) & 3)),
        },
        // Few enough that the lists fill up: what is left out is counted instead.
        diagnose: DiagnoseConfig {
            max_listed: 2,
            ..DiagnoseConfig::default()
        },
        progress: false,
    };
    let mut input = InputAnalysis::new("fuzz", &cfg);
    let mut ignore = |_: report::Live<'_>| Ok(());
    // Where the last segment ended, per connection and direction.
    let mut next = [[1000u32, 5000u32]; 4];
    let mut number = 0u64;
    while let Some(op) = s.byte() {
        let conn = usize::from(op & 3);
        let from_server = op & 4 != 0;
        let flags = TcpFlags {
            syn: op & 8 != 0,
            ack: op & 16 != 0,
            fin: op & 32 != 0,
            rst: op & 64 != 0,
        };
        let seq_byte = s.byte().unwrap_or(0);
        let n = &mut next[conn][usize::from(from_server)];
        let seq = if seq_byte == 0x7F {
            s.u32()
        } else {
            n.wrapping_add_signed(i32::from(seq_byte as i8))
        };
        let len = s.byte().unwrap_or(0);
        let payload = s.payload(len);
        let missing = if op & 0x80 != 0 {
            u32::from(s.byte().unwrap_or(0)) * 64
        } else {
            0
        };
        *n = seq
            .wrapping_add(u32::from(flags.syn))
            .wrapping_add(payload.len() as u32)
            .wrapping_add(missing);
        let (client, server) = endpoints(conn);
        let (src, dst) = if from_server {
            (server, client)
        } else {
            (client, server)
        };
        number += 1;
        let at = PacketRef {
            number,
            ts: Timestamp(1_700_000_000_000_000_000 + number as i64 * 1000),
        };
        let seg = TcpSegment {
            src,
            dst,
            seq,
            ack: 0,
            flags,
            window: 512,
            payload,
            missing,
        };
        input.segment(at, &seg);
        let _ = input.drain_finished(&mut ignore);
    }
    let info = InputInfo {
        path: "fuzz".into(),
        format: "script".into(),
        link_types: vec![],
        bytes: data.len() as u64,
        packets: input.packets(),
    };
    let result = input.finish(&mut ignore).expect("the sink never fails");
    // Only the JSON document: the other formats are `capture_reader`'s to cover, and writing
    // them all would make this target several times slower at what it is for (TCP and HTTP).
    let mut merged = Merged::new(&cfg);
    merged.add(info, result);
    let analysis: Analysis = merged.into_analysis();
    report::json::write(&mut io::sink(), &analysis, true).expect("writing to io::sink");
}

/// Client and server of script connection `i`: 0 and 1 over IPv4, 2 and 3 over IPv6.
fn endpoints(i: usize) -> (SocketAddr, SocketAddr) {
    let (c, s): (IpAddr, IpAddr) = if i < 2 {
        (
            Ipv4Addr::new(10, 0, 0, 1).into(),
            Ipv4Addr::new(10, 0, 0, 2).into(),
        )
    } else {
        (Ipv6Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into())
    };
    (
        SocketAddr::new(c, 40000 + i as u16),
        SocketAddr::new(s, 8080),
    )
}

/// One step of an [`http_conn`] script.
#[derive(Clone, Debug)]
enum Step<'a> {
    Data(Direction, &'a [u8]),
    Gap(Direction, u64),
    End(Direction),
}

/// Drives one [`HttpConn`] (and the diagnosis of its events) with direction-tagged chunks, gaps
/// and ends, described by a script:
///
/// - byte 0: `max_head_bytes` is 64 << (bits 0-2);
/// - then steps, each: `op` (bit 0: direction, 0 = to the server; bits 1-2: 0 data, 1 gap,
///   2 end, 3 data; bit 3: a gap is 64 bits wide) and its argument: for data, a payload length
///   byte and the payload (see `Script::payload`); for a gap, one byte or eight.
///
/// The script runs twice: as written, and with every data chunk fed one byte at a time. The
/// HTTP stage promises that chunk boundaries do not matter, so both runs must give the same
/// events; a difference panics.
pub fn http_conn(data: &[u8]) {
    let mut s = Script { data };
    let Some(h) = s.byte() else { return };
    let cfg = HttpConfig {
        max_head_bytes: 64 << (h & 7),
        // (The shared budget is the caller's to enforce; a lone HttpConn has none.)
        ..HttpConfig::default()
    };
    let mut steps = Vec::new();
    while let Some(op) = s.byte() {
        let dir = if op & 1 == 0 {
            Direction::ToServer
        } else {
            Direction::ToClient
        };
        steps.push(match (op >> 1) & 3 {
            1 => {
                let len = if op & 8 != 0 {
                    u64::from(s.u32()) << 32 | u64::from(s.u32())
                } else {
                    u64::from(s.byte().unwrap_or(1))
                };
                Step::Gap(dir, len)
            }
            2 => Step::End(dir),
            _ => {
                let len = s.byte().unwrap_or(0);
                Step::Data(dir, s.payload(len))
            }
        });
    }
    let whole = run_http(&cfg, &steps, false);
    let bytewise = run_http(&cfg, &steps, true);
    if whole != bytewise {
        let first = whole
            .iter()
            .zip(&bytewise)
            .position(|(a, b)| a != b)
            .unwrap_or(whole.len().min(bytewise.len()));
        panic!(
            "HTTP events depend on chunk boundaries: event {first} is {:?} fed whole but {:?} fed byte by byte",
            whole.get(first),
            bytewise.get(first)
        );
    }
}

/// Runs `steps` through a fresh connection and a diagnoser; returns the events as text.
/// An event as text. Pieces of bytes (tunnel data, body starts) come one entry per byte, since
/// only their concatenation, not where chunks split them, is promised.
fn render_event(e: &HttpEvent<'_>, events: &mut Vec<String>) {
    match e {
        HttpEvent::TunnelData { dir, bytes } => {
            events.extend(bytes.iter().map(|b| format!("tunnel {dir:?} {b:02x}")))
        }
        HttpEvent::BodyStart { index, bytes } => {
            events.extend(bytes.iter().map(|b| format!("body {index:?} {b:02x}")))
        }
        e => events.push(format!("{e:?}")),
    }
}

fn run_http(cfg: &HttpConfig, steps: &[Step<'_>], bytewise: bool) -> Vec<String> {
    let mut conn = HttpConn::new(cfg);
    let mut heads = HeadBuffers::default();
    let mut diag = Diagnoser::new(DiagnoseConfig::default());
    let (client, server) = endpoints(0);
    let info = ConnInfo {
        id: ConnId(1),
        client,
        server,
        first_packet: PacketRef::default(),
    };
    let mut events = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let at = PacketRef {
            number: i as u64 + 1,
            ts: Timestamp(i as i64),
        };
        let mut out = |e: HttpEvent<'_>| {
            render_event(&e, &mut events);
            diag.http_event(&info, at, &e);
        };
        match *step {
            Step::Data(dir, bytes) if bytewise => {
                for b in bytes.chunks(1) {
                    conn.data(dir, b, &mut heads, &mut out);
                }
            }
            Step::Data(dir, bytes) => conn.data(dir, bytes, &mut heads, &mut out),
            Step::Gap(dir, len) => conn.gap(dir, len, &mut out),
            Step::End(dir) => conn.end(dir, &mut heads, &mut out),
        }
    }
    let mut out = |e: HttpEvent<'_>| {
        render_event(&e, &mut events);
        diag.http_event(&info, PacketRef::default(), &e);
    };
    conn.end(Direction::ToServer, &mut heads, &mut out);
    conn.end(Direction::ToClient, &mut heads, &mut out);
    diag.connection_closed(&info);
    let findings = diag.finish_all();
    for h in &findings.handshakes {
        events.push(format!("{:?} {:?}", h.verdict, h.problems));
    }
    events
}

/// Merges one input's result and writes both report formats (and JSON Lines) to nowhere.
fn render(cfg: &AnalyzeConfig, info: InputInfo, result: InputResult) {
    let mut merged = Merged::new(cfg);
    merged.add(info, result);
    let analysis: Analysis = merged.into_analysis();
    for format in [
        report::Format::Table,
        report::Format::Json,
        report::Format::Jsonl,
        report::Format::Markdown,
        report::Format::Html,
    ] {
        for live in [false, true] {
            let mut sink = io::sink();
            let output = Output {
                format,
                all: true,
                path: None,
                command_line: Vec::new(),
                terminal: report::Terminal::default(),
                redacted: true,
            };
            let mut r = Reporter::new(&mut sink, output, live);
            for f in &analysis.handshakes {
                r.live(report::Live::Handshake(f))
                    .expect("writing to io::sink");
            }
            for s in &analysis.sessions {
                r.live(report::Live::Session(s))
                    .expect("writing to io::sink");
            }
            r.finish(&analysis).expect("writing to io::sink");
        }
    }
}

/// WebSocket frames after a 101: the input is a script of steps, each a byte (bit 0: direction;
/// bit 1: a gap of the next byte's length instead of data; bit 2: the end of the connection)
/// and, for data, a length byte and the bytes. They go into a session (frames, close,
/// violations) and then its judgement. The same steps fed byte by byte must give the same facts.
pub fn ws_frames(data: &[u8]) {
    let mut s = Script { data };
    let deflate = s.byte().is_some_and(|b| b & 1 == 1);
    let mut steps = Vec::new();
    while let Some(op) = s.byte() {
        let dir = if op & 1 == 0 {
            Direction::ToServer
        } else {
            Direction::ToClient
        };
        steps.push(if op & 4 != 0 {
            Step::End(dir)
        } else if op & 2 != 0 {
            Step::Gap(dir, u64::from(s.byte().unwrap_or(1)))
        } else {
            let len = s.byte().unwrap_or(0);
            Step::Data(dir, s.payload(len))
        });
    }
    let run = |bytewise: bool| {
        let at = PacketRef::default();
        let mut session = crate::ws::session::Session::new(at, deflate);
        for step in &steps {
            match step {
                Step::Data(dir, bytes) if bytewise => {
                    for b in bytes.chunks(1) {
                        session.data(*dir, b, at);
                    }
                }
                Step::Data(dir, bytes) => session.data(*dir, bytes, at),
                Step::Gap(dir, len) => session.gap(*dir, *len),
                Step::End(dir) => session.tcp_end(*dir, "fin", at),
            }
        }
        session.into_facts()
    };
    let whole = run(false);
    let bytewise = run(true);
    let facts =
        |f: &crate::ws::session::SessionFacts| serde_json::to_string(f).expect("facts serialise");
    assert_eq!(
        facts(&whole),
        facts(&bytewise),
        "WebSocket session facts depend on chunk boundaries"
    );
    let finding = crate::diagnose::session::judge(
        crate::diagnose::session::Opening {
            connection: 1,
            client: "127.0.0.1:1".parse().expect("address"),
            server: "127.0.0.1:2".parse().expect("address"),
            handshake_packet: Some(1),
            target: Some("/".into()),
        },
        whole,
    );
    let _ = serde_json::to_string(&finding);
}
