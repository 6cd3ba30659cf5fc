//! Generates a large, realistic capture of the nginx -> backend hop, for the benchmark
//! (`benches/run.sh`), with its ground truth.
//!
//! ```text
//! cargo run --release --example gen_capture -- --kind small|mss --size 1GiB -o FILE
//!     [--seed N] [--handshake-scale F]
//! ```
//!
//! Writes classic pcap (Ethernet, IPv4, microsecond timestamps) to FILE, streaming (the capture
//! is never held in memory), and the counts wsdiag must report to `FILE.truth.json`.
//!
//! What is in it: many connections open at once (their packets interleaved), each with a
//! three-way handshake and FINs at the end, from 127.1.x.y to 127.0.0.1:8080:
//! - keep-alive HTTP/1.1 connections carrying several GET and POST exchanges, bodies framed by
//!   Content-Length or chunked;
//! - WebSocket handshakes answered 101 with the right accept, followed by a session of masked
//!   client frames and unmasked server frames ending with close frames both ways (`ok`);
//! - broken handshakes as nginx before 1.29.7 sends them (HTTP/1.0, `Connection: close`, no
//!   `Upgrade`), answered 404 and closed (`broken`);
//! - broken handshakes as nginx 1.29.7 and later send them (HTTP/1.1 keep-alive, neither
//!   `Upgrade` nor `Connection`), in the middle of other requests on the connection (`broken`);
//! - intact handshakes the backend refuses with 403 (`rejected`), and handshakes whose
//!   connection is reset before an answer (`incomplete`);
//! - retransmitted segments (exact copies sent again) and out-of-order segments (two segments
//!   of one direction swapped), none of which loses a byte.
//!
//! Two kinds: `small` (many small exchanges, one segment per message mostly) and `mss` (large
//! bodies and WebSocket messages cut into segments of 1448 to 65483 bytes, as on loopback).
//!
//! Handshakes are a fixed fraction of the connections (small: about 1 in 40; mss: 1 in 3),
//! times `--handshake-scale` (default 1). The report lists every handshake, so it grows with
//! their number: to show that memory stays flat for a very large file, scale them down.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{self, BufWriter, Write};

/// The backend: nginx's upstream.
const SERVER: ([u8; 4], u16) = ([127, 0, 0, 1], 8080);
/// Largest TCP payload on loopback (MTU 65536 minus IPv4 and TCP headers with timestamps).
const LO_MSS: usize = 65483;
/// An Ethernet MSS.
const ETH_MSS: usize = 1448;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Small,
    Mss,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("gen_capture: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let mut kind = Kind::Small;
    let mut size: u64 = 1 << 30;
    let mut out: Option<String> = None;
    let mut seed: u64 = 1;
    let mut handshake_scale = 1.0;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--kind" => {
                kind = match value()?.as_str() {
                    "small" => Kind::Small,
                    "mss" => Kind::Mss,
                    k => return Err(format!("unknown kind {k:?}: small or mss")),
                }
            }
            "--size" => size = parse_size(&value()?)?,
            "-o" | "--output" => out = Some(value()?),
            "--seed" => seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--handshake-scale" => {
                handshake_scale = value()?
                    .parse()
                    .map_err(|e| format!("--handshake-scale: {e}"))?
            }
            _ => return Err(format!("unknown argument {a:?}")),
        }
    }
    let out = out.ok_or("give the output file with -o FILE")?;
    let file = File::create(&out).map_err(|e| format!("{out}: {e}"))?;
    let mut g = Generator::new(kind, seed, BufWriter::with_capacity(1 << 20, file));
    g.handshake_scale = handshake_scale;
    g.pcap.header().map_err(|e| e.to_string())?;
    g.generate(size).map_err(|e| format!("{out}: {e}"))?;
    g.pcap.w.flush().map_err(|e| format!("{out}: {e}"))?;
    let truth = g.truth.json(&g.pcap);
    std::fs::write(format!("{out}.truth.json"), truth).map_err(|e| format!("{out}: {e}"))?;
    eprintln!(
        "gen_capture: wrote {out}: {} bytes, {} packets, {} connections",
        g.pcap.bytes, g.pcap.packets, g.truth.connections
    );
    Ok(())
}

/// `1GiB`, `512MiB`, `100MB`, `4096` (bytes).
fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("bad size {s:?}"))?;
    let mult = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1u64,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return Err(format!("bad size unit in {s:?}")),
    };
    Ok((n * mult as f64) as u64)
}

/// SplitMix64: small, fast, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for c in buf.chunks_mut(8) {
            let r = self.next().to_le_bytes();
            c.copy_from_slice(&r[..c.len()]);
        }
    }
}

/// Classic pcap writer: Ethernet, IPv4, TCP headers built by hand.
struct Pcap<W: Write> {
    w: W,
    /// Capture clock, microseconds since the epoch.
    ts_us: u64,
    bytes: u64,
    packets: u64,
}

const SYN: u8 = 0x02;
const FIN: u8 = 0x01;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

impl<W: Write> Pcap<W> {
    fn header(&mut self) -> io::Result<()> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&262_144u32.to_le_bytes());
        h.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
        self.bytes += h.len() as u64;
        self.w.write_all(&h)
    }

    /// One TCP segment from `src` to `dst`.
    fn segment(&mut self, src: Endpoint, dst: Endpoint, seg: &Seg) -> io::Result<()> {
        let len = 14 + 20 + 20 + seg.payload.len();
        let mut h = [0u8; 16 + 54];
        let ts = self.ts_us;
        h[0..4].copy_from_slice(&((ts / 1_000_000) as u32).to_le_bytes());
        h[4..8].copy_from_slice(&((ts % 1_000_000) as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(len as u32).to_le_bytes());
        h[12..16].copy_from_slice(&(len as u32).to_le_bytes());
        let e = &mut h[16..];
        // Ethernet: zero MACs as on lo, IPv4.
        e[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        let ip = &mut e[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&((20 + 20 + seg.payload.len()) as u16).to_be_bytes());
        ip[6] = 0x40; // don't fragment
        ip[8] = 64;
        ip[9] = 6;
        ip[12..16].copy_from_slice(&src.0);
        ip[16..20].copy_from_slice(&dst.0);
        let sum = checksum(ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        let tcp = &mut e[34..54];
        tcp[0..2].copy_from_slice(&src.1.to_be_bytes());
        tcp[2..4].copy_from_slice(&dst.1.to_be_bytes());
        tcp[4..8].copy_from_slice(&seg.seq.to_be_bytes());
        tcp[8..12].copy_from_slice(&seg.ack.to_be_bytes());
        tcp[12] = 5 << 4;
        tcp[13] = seg.flags;
        tcp[14..16].copy_from_slice(&65535u16.to_be_bytes());
        self.w.write_all(&h)?;
        self.w.write_all(&seg.payload)?;
        self.bytes += (16 + len) as u64;
        self.packets += 1;
        Ok(())
    }
}

fn checksum(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

type Endpoint = ([u8; 4], u16);

/// A segment ready to be written.
struct Seg {
    to_server: bool,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: Vec<u8>,
}

/// What wsdiag must report.
#[derive(Default)]
struct Truth {
    connections: u64,
    requests: u64,
    responses: u64,
    handshakes: BTreeMap<&'static str, u64>,
    sessions: u64,
}

impl Truth {
    fn handshake(&mut self, verdict: &'static str) {
        *self.handshakes.entry(verdict).or_default() += 1;
    }

    fn json<W: Write>(&self, pcap: &Pcap<W>) -> String {
        let by_verdict: Vec<String> = self
            .handshakes
            .iter()
            .map(|(v, n)| format!("\"{v}\": {n}"))
            .collect();
        format!(
            "{{\n  \"bytes\": {},\n  \"packets\": {},\n  \"connections\": {},\n  \"http_requests\": {},\n  \"http_responses\": {},\n  \"handshakes\": {},\n  \"by_verdict\": {{ {} }},\n  \"sessions\": {}\n}}\n",
            pcap.bytes,
            pcap.packets,
            self.connections,
            self.requests,
            self.responses,
            self.handshakes.values().sum::<u64>(),
            by_verdict.join(", "),
            self.sessions
        )
    }
}

/// What a connection does, decided when it opens.
#[derive(Clone, Copy, Debug)]
enum Script {
    /// Keep-alive exchanges; `broken_at` is the index of a handshake nginx >= 1.29.7 broke.
    KeepAlive {
        exchanges: u32,
        broken_at: Option<u32>,
    },
    /// A handshake upgraded to a WebSocket session of this many messages each way.
    WebSocket { messages: u32 },
    /// nginx < 1.29.7: HTTP/1.0 handshake without Upgrade, 404, close.
    BrokenHttp10,
    /// An intact handshake refused with 403, then close.
    Rejected,
    /// An intact handshake, then the backend resets the connection.
    Reset,
}

/// One connection in progress.
struct Conn {
    client: Endpoint,
    /// Next sequence number to send, per direction (0 = to server, 1 = to client).
    next: [u32; 2],
    script: Script,
    /// Exchanges (or messages) done so far.
    step: u32,
    /// Segments waiting to be written, in order.
    queue: VecDeque<Seg>,
    closed: bool,
}

struct Generator<W: Write> {
    kind: Kind,
    rng: Rng,
    pcap: Pcap<W>,
    truth: Truth,
    conns_opened: u64,
    /// The size is reached: open connections end after their current exchange.
    stopping: bool,
    /// Multiplies the share of connections that carry a handshake.
    handshake_scale: f64,
}

impl<W: Write> Generator<W> {
    fn new(kind: Kind, seed: u64, w: W) -> Generator<W> {
        Generator {
            kind,
            rng: Rng(seed),
            pcap: Pcap {
                w,
                ts_us: 1_764_150_000_000_000,
                bytes: 0,
                packets: 0,
            },
            truth: Truth::default(),
            conns_opened: 0,
            stopping: false,
            handshake_scale: 1.0,
        }
    }

    /// Writes connections until the file holds `size` bytes, then lets the open ones finish.
    fn generate(&mut self, size: u64) -> io::Result<()> {
        let concurrent = match self.kind {
            Kind::Small => 200,
            Kind::Mss => 24,
        };
        let mut open: Vec<Conn> = Vec::new();
        loop {
            while self.pcap.bytes < size && open.len() < concurrent {
                let c = self.open();
                open.push(c);
            }
            if open.is_empty() {
                return Ok(());
            }
            self.stopping = self.pcap.bytes >= size;
            let i = self.rng.range(0, open.len() - 1);
            // A few segments of one connection, then another's.
            for _ in 0..self.rng.range(1, 3) {
                if open[i].queue.is_empty() {
                    self.advance(&mut open[i]);
                }
                match open[i].queue.pop_front() {
                    Some(seg) => self.write(&open[i], seg)?,
                    None => break,
                }
            }
            if open[i].closed && open[i].queue.is_empty() {
                open.swap_remove(i);
            }
        }
    }

    fn write(&mut self, c: &Conn, seg: Seg) -> io::Result<()> {
        self.pcap.ts_us += self.rng.range(1, 40) as u64;
        let (src, dst) = if seg.to_server {
            (c.client, SERVER)
        } else {
            (SERVER, c.client)
        };
        self.pcap.segment(src, dst, &seg)
    }

    fn open(&mut self) -> Conn {
        let n = self.conns_opened;
        self.conns_opened += 1;
        self.truth.connections += 1;
        // A fresh 4-tuple for every connection: 50,000 ports per client address.
        let host = (n / 50_000) as u32;
        let client = (
            [127, 1 + (host >> 16) as u8, (host >> 8) as u8, host as u8],
            10_000 + (n % 50_000) as u16,
        );
        // Per mille of connections: sessions, broken (HTTP/1.0), rejected, reset, broken inside
        // keep-alive; all scaled by `--handshake-scale`.
        let share: [f64; 5] = match self.kind {
            Kind::Small => [10.0, 5.0, 3.0, 2.0, 5.0],
            Kind::Mss => [200.0, 40.0, 30.0, 20.0, 60.0],
        };
        let scale = self.handshake_scale * 1000.0; // per mille -> per million
        let r = self.rng.range(0, 999_999);
        let bound = |i: usize| (share[..=i].iter().sum::<f64>() * scale) as usize;
        let script = match r {
            _ if r < bound(0) => Script::WebSocket {
                messages: self.rng.range(1, 12) as u32,
            },
            _ if r < bound(1) => Script::BrokenHttp10,
            _ if r < bound(2) => Script::Rejected,
            _ if r < bound(3) => Script::Reset,
            _ => {
                let exchanges = match self.kind {
                    Kind::Small => self.rng.range(1, 20),
                    Kind::Mss => self.rng.range(1, 4),
                } as u32;
                let broken_at =
                    (r < bound(4)).then(|| self.rng.range(0, exchanges as usize - 1) as u32);
                Script::KeepAlive {
                    exchanges,
                    broken_at,
                }
            }
        };
        let isn = [self.rng.next() as u32, self.rng.next() as u32];
        let mut c = Conn {
            client,
            next: [isn[0].wrapping_add(1), isn[1].wrapping_add(1)],
            script,
            step: 0,
            queue: VecDeque::new(),
            closed: false,
        };
        let (s, a) = (isn[0], isn[1]);
        c.queue.push_back(seg(true, s, 0, SYN, Vec::new()));
        c.queue
            .push_back(seg(false, a, s.wrapping_add(1), SYN | ACK, Vec::new()));
        c.queue.push_back(seg(
            true,
            s.wrapping_add(1),
            a.wrapping_add(1),
            ACK,
            Vec::new(),
        ));
        c
    }

    /// Queues the connection's next exchange (or its close).
    fn advance(&mut self, c: &mut Conn) {
        if c.closed {
            return;
        }
        match c.script {
            Script::KeepAlive {
                exchanges,
                broken_at,
            } => {
                if c.step == exchanges || (self.stopping && c.step > 0) {
                    return self.close(c, true);
                }
                if broken_at == Some(c.step) {
                    let req = handshake_request(&mut self.rng, Style::Keepalive);
                    self.send(c, true, req.0);
                    self.send(c, false, not_found());
                    self.truth.handshake("broken");
                } else {
                    let (req, resp) = self.plain_exchange();
                    self.send(c, true, req);
                    self.send(c, false, resp);
                }
                self.truth.requests += 1;
                self.truth.responses += 1;
                c.step += 1;
            }
            Script::WebSocket { messages } => {
                if c.step == 0 {
                    let (req, key) = handshake_request(&mut self.rng, Style::Intact);
                    self.send(c, true, req);
                    let accept = wsdiag::ws::accept_for(key.as_bytes());
                    let resp = format!(
                        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
                    );
                    self.send(c, false, resp.into_bytes());
                    self.truth.requests += 1;
                    self.truth.responses += 1;
                    self.truth.handshake("ok");
                    self.truth.sessions += 1;
                } else if c.step <= messages && !self.stopping {
                    let len = self.message_len();
                    let mut payload = vec![0; len];
                    self.rng.fill(&mut payload);
                    let to_server = self.rng.chance(0.5);
                    let mask = to_server.then(|| self.rng.next() as u32);
                    let frame = ws_frame(0x2, &payload, mask);
                    self.send(c, to_server, frame);
                } else {
                    // Close frames both ways (1000), then TCP FINs.
                    let mask = self.rng.next() as u32;
                    self.send(c, true, ws_frame(0x8, &1000u16.to_be_bytes(), Some(mask)));
                    self.send(c, false, ws_frame(0x8, &1000u16.to_be_bytes(), None));
                    return self.close(c, false);
                }
                c.step += 1;
            }
            Script::BrokenHttp10 => {
                let (req, _) = handshake_request(&mut self.rng, Style::Http10);
                self.send(c, true, req);
                self.send(c, false, not_found());
                self.count_handshake("broken");
                self.close(c, false);
            }
            Script::Rejected => {
                let (req, _) = handshake_request(&mut self.rng, Style::Intact);
                self.send(c, true, req);
                self.send(
                    c,
                    false,
                    b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n".to_vec(),
                );
                self.count_handshake("rejected");
                self.close(c, false);
            }
            Script::Reset => {
                let (req, _) = handshake_request(&mut self.rng, Style::Intact);
                self.send(c, true, req);
                self.truth.requests += 1;
                self.truth.handshake("incomplete");
                let ack = c.next[0];
                c.queue
                    .push_back(seg(false, c.next[1], ack, RST | ACK, Vec::new()));
                c.closed = true;
            }
        }
    }

    fn count_handshake(&mut self, verdict: &'static str) {
        self.truth.requests += 1;
        self.truth.responses += 1;
        self.truth.handshake(verdict);
    }

    /// FINs: the client's first (keep-alive connections) or the server's.
    fn close(&mut self, c: &mut Conn, client_first: bool) {
        let first = client_first;
        for to_server in [first, !first] {
            let d = usize::from(!to_server);
            let (seq, ack) = (c.next[d], c.next[1 - d]);
            c.queue
                .push_back(seg(to_server, seq, ack, FIN | ACK, Vec::new()));
            c.next[d] = seq.wrapping_add(1);
        }
        let d = usize::from(first);
        let (seq, ack) = (c.next[1 - d], c.next[d]);
        c.queue.push_back(seg(first, seq, ack, ACK, Vec::new()));
        c.closed = true;
    }

    /// Queues `msg` in one direction, cut into segments, with the odd retransmission and
    /// out-of-order pair, and an ACK back.
    fn send(&mut self, c: &mut Conn, to_server: bool, msg: Vec<u8>) {
        let d = usize::from(!to_server);
        let mut segs: Vec<Seg> = Vec::new();
        let mut off = 0;
        while off < msg.len() {
            let n = self.segment_len(msg.len() - off);
            let seq = c.next[d].wrapping_add(off as u32);
            let payload = msg[off..off + n].to_vec();
            segs.push(seg(to_server, seq, c.next[1 - d], PSH | ACK, payload));
            off += n;
        }
        c.next[d] = c.next[d].wrapping_add(msg.len() as u32);
        // Out of order: two neighbours swapped.
        if segs.len() >= 2 && self.rng.chance(0.02) {
            let i = self.rng.range(0, segs.len() - 2);
            segs.swap(i, i + 1);
        }
        for s in segs {
            let again = self.rng.chance(0.01).then(|| Seg {
                payload: s.payload.clone(),
                ..s
            });
            c.queue.push_back(s);
            // A retransmission: the same bytes again, right after.
            c.queue.extend(again);
        }
        let ack = seg(!to_server, c.next[1 - d], c.next[d], ACK, Vec::new());
        c.queue.push_back(ack);
    }

    fn segment_len(&mut self, left: usize) -> usize {
        let n = match self.kind {
            // Small messages mostly fit one segment; one in ten heads or bodies is cut in two.
            Kind::Small if left > 16 && self.rng.chance(0.1) => self.rng.range(1, left - 1),
            Kind::Small => LO_MSS,
            Kind::Mss => self.rng.range(ETH_MSS, LO_MSS),
        };
        n.min(left)
    }

    fn message_len(&mut self) -> usize {
        match self.kind {
            Kind::Small => self.rng.range(2, 300),
            Kind::Mss => self.rng.range(16 << 10, 2 << 20),
        }
    }

    fn body_len(&mut self) -> usize {
        match self.kind {
            Kind::Small => self.rng.range(0, 2000),
            Kind::Mss => self.rng.range(64 << 10, 4 << 20),
        }
    }

    /// A plain request and its response.
    fn plain_exchange(&mut self) -> (Vec<u8>, Vec<u8>) {
        let id = self.rng.next() % 100_000;
        let post = self.rng.chance(0.25);
        let mut req = if post {
            let body_len = match self.kind {
                Kind::Small => self.rng.range(10, 600),
                Kind::Mss => self.rng.range(16 << 10, 1 << 20),
            };
            let mut r = format!(
                "POST /api/game/{id}/move HTTP/1.1\r\nHost: game.example.com\r\nContent-Type: application/json\r\nContent-Length: {body_len}\r\nX-Real-IP: 192.0.2.7\r\nX-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0\r\nCookie: session=abcdef0123456789\r\n\r\n"
            )
            .into_bytes();
            let at = r.len();
            r.resize(at + body_len, b'x');
            self.rng.fill(&mut r[at..]);
            r
        } else {
            format!(
                "GET /api/game/{id}/state?since=42 HTTP/1.1\r\nHost: game.example.com\r\nAccept: application/json\r\nX-Real-IP: 192.0.2.7\r\nX-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0\r\nCookie: session=abcdef0123456789\r\n\r\n"
            )
            .into_bytes()
        };
        req.shrink_to_fit();
        let len = self.body_len();
        let mut body = vec![0; len];
        self.rng.fill(&mut body);
        let mut resp = Vec::with_capacity(len + 256);
        if self.rng.chance(0.3) {
            resp.extend_from_slice(
                b"HTTP/1.1 200 OK\r\nserver: uvicorn\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
            );
            let mut off = 0;
            while off < len {
                let n = self.rng.range(1, 32 << 10).min(len - off);
                resp.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                resp.extend_from_slice(&body[off..off + n]);
                resp.extend_from_slice(b"\r\n");
                off += n;
            }
            resp.extend_from_slice(b"0\r\n\r\n");
        } else {
            resp.extend_from_slice(
                format!("HTTP/1.1 200 OK\r\nserver: uvicorn\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n\r\n").as_bytes(),
            );
            resp.extend_from_slice(&body);
        }
        (req, resp)
    }
}

fn seg(to_server: bool, seq: u32, ack: u32, flags: u8, payload: Vec<u8>) -> Seg {
    Seg {
        to_server,
        seq,
        ack,
        flags,
        payload,
    }
}

#[derive(Clone, Copy)]
enum Style {
    /// As the client sent it (nginx configured for WebSocket).
    Intact,
    /// nginx before 1.29.7 without the WebSocket lines.
    Http10,
    /// nginx 1.29.7 and later without the WebSocket lines (keepalive upstream).
    Keepalive,
}

/// A handshake request as the backend receives it, and its key.
fn handshake_request(rng: &mut Rng, style: Style) -> (Vec<u8>, String) {
    let mut nonce = [0u8; 16];
    rng.fill(&mut nonce);
    let key = base64_encode(&nonce);
    let (version, hop) = match style {
        Style::Intact => ("1.1", "Upgrade: websocket\r\nConnection: upgrade\r\n"),
        Style::Http10 => ("1.0", "Connection: close\r\n"),
        Style::Keepalive => ("1.1", ""),
    };
    let game = rng.next() % 1000;
    let req = format!(
        "GET /api/game/ws/{game}/alice?token=s3cr3t HTTP/{version}\r\nHost: game.example.com\r\n{hop}X-Real-IP: 192.0.2.7\r\nX-Forwarded-For: 192.0.2.7\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0\r\nSec-WebSocket-Version: 13\r\nOrigin: https://game.example.com\r\nSec-WebSocket-Key: {key}\r\n\r\n"
    );
    (req.into_bytes(), key)
}

/// uvicorn's answer to a handshake that lost its Upgrade.
fn not_found() -> Vec<u8> {
    b"HTTP/1.1 404 Not Found\r\nserver: uvicorn\r\ncontent-length: 22\r\ncontent-type: application/json\r\n\r\n{\"detail\":\"Not Found\"}".to_vec()
}

/// One WebSocket frame (FIN set), masked when `mask` is given.
fn ws_frame(opcode: u8, payload: &[u8], mask: Option<u32>) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 14);
    f.push(0x80 | opcode);
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => f.push(m | n as u8),
        n if n <= 0xffff => {
            f.push(m | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(m | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            let k = key.to_be_bytes();
            f.extend_from_slice(&k);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => f.extend_from_slice(payload),
    }
    f
}

fn base64_encode(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}
