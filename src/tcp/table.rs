//! The connection table. Owns every live connection (its roles, its two assemblers, its place in
//! the least-recently-active order) and turns segments into [`StreamEvent`]s for a [`StreamSink`].
//!
//! Who is the client, in order of evidence:
//! 1. the sender of a SYN without ACK;
//! 2. the receiver of a SYN+ACK;
//! 3. the side whose port is not in `server_ports`, when the other side's port is;
//! 4. the side with the higher port (ephemeral ports are high); on equal ports, the sender of
//!    the first segment seen.
//!
//! A connection is opened by a segment with payload or SYN (its first event is `Opened`) and is
//! closed (`Closed`, then dropped) once both directions delivered FIN, after an RST (held bytes
//! are flushed first), when a new SYN reuses its 4-tuple (after a FIN or RST, or with another
//! ISN), when evicted, or by [`ConnTable::finish`]. Bare ACKs and lone FIN/RST segments on an
//! unknown 4-tuple open nothing.
//!
//! Per-packet work is a hash lookup plus O(1) list relinking and does not allocate; allocation
//! happens only when a connection is created or out-of-order bytes are held. The table holds at
//! most `max_connections` (at least 1): a new one evicts the least recently active, in O(1).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use super::assembler::{Assembler, Chunk};
use super::seq::SeqNum;
use super::{ConnId, ConnInfo, StreamEvent, StreamSink, TcpConfig, TcpStats};
use crate::common::{Direction, PacketRef, Warning};
use crate::decode::TcpSegment;

/// A 4-tuple with its two ends sorted, so both directions find the same connection. Packed
/// into plain integers (IPv4 as IPv4-mapped IPv6): hashing it is then a few wide writes instead
/// of one write per address field, which matters at one lookup per packet. The addresses come
/// from the capture, so the map's hash is randomly seeded (foldhash's, which costs a tenth of
/// std's SipHash per lookup: about 30 instructions instead of 330).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FlowKey {
    addrs: [u128; 2],
    /// Both ports, and in bit 32 whether the addresses are IPv6 (so an IPv6 packet to an
    /// IPv4-mapped address is another flow, as before packing).
    ports: u64,
}

impl std::hash::Hash for FlowKey {
    // Three integer writes (the derived impl hashes the array as a byte slice, the slow path).
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u128(self.addrs[0]);
        state.write_u128(self.addrs[1]);
        state.write_u64(self.ports);
    }
}

fn flow_key(a: SocketAddr, b: SocketAddr) -> FlowKey {
    let ip = |s: SocketAddr| match s.ip() {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    };
    // (An IPv4-mapped IPv6 address is told from the IPv4 one by this bit.)
    let v6 = u64::from(a.is_ipv6());
    // Either end first, the same for both directions: ordered as plain integers.
    let (a, b) = ((ip(a), a.port()), (ip(b), b.port()));
    let ((ip_a, port_a), (ip_b, port_b)) = if a <= b { (a, b) } else { (b, a) };
    FlowKey {
        addrs: [ip_a, ip_b],
        ports: (v6 << 32) | (u64::from(port_a) << 16) | u64::from(port_b),
    }
}

/// End of the recency list.
const NIL: usize = usize::MAX;

struct Conn {
    info: ConnInfo,
    key: FlowKey,
    /// Indexed by [`Direction::index`].
    dirs: [Assembler; 2],
    /// Initial sequence number of each direction, from its SYN.
    isn: [Option<SeqNum>; 2],
    /// Recency list links (slot indices): `newer` towards the head, `older` towards the tail.
    newer: usize,
    older: usize,
    /// When the connection last carried a segment.
    last_active: crate::common::Timestamp,
}

impl Conn {
    fn dir_of(&self, src: SocketAddr) -> Direction {
        if src == self.info.client {
            Direction::ToServer
        } else {
            Direction::ToClient
        }
    }

    /// Does this SYN (without ACK) start a new connection on the same 4-tuple?
    fn reused_by(&self, seg: &TcpSegment<'_>) -> bool {
        let dir = self.dir_of(seg.src);
        self.dirs.iter().any(Assembler::fin_seen)
            || self.isn[dir.index()].is_some_and(|isn| isn != SeqNum(seg.seq))
    }
}

/// Live connections, keyed by 4-tuple. See the module docs for the rules.
pub struct ConnTable {
    cfg: TcpConfig,
    /// Slab of connections; `free` lists the empty slots.
    slots: Vec<Option<Conn>>,
    free: Vec<usize>,
    index: HashMap<FlowKey, usize, foldhash::quality::RandomState>,
    /// Most and least recently active connection (slot indices), or `NIL`.
    head: usize,
    tail: usize,
    /// The packet most recently processed: the `at` of events delivered by `finish`.
    last: PacketRef,
    stats: TcpStats,
    /// Out-of-order bytes held by all connections (the sum of their assemblers' `buffered`).
    buffered_total: usize,
}

impl ConnTable {
    pub fn new(cfg: TcpConfig) -> ConnTable {
        ConnTable {
            cfg,
            slots: Vec::new(),
            free: Vec::new(),
            index: HashMap::default(),
            head: NIL,
            tail: NIL,
            last: PacketRef::default(),
            stats: TcpStats::default(),
            buffered_total: 0,
        }
    }

    pub fn stats(&self) -> TcpStats {
        self.stats.clone()
    }

    /// Takes the segment of packet `at` and hands on whatever it makes happen.
    pub fn process<S: StreamSink>(&mut self, at: PacketRef, seg: &TcpSegment<'_>, sink: &mut S) {
        self.stats.segments += 1;
        self.last = at;
        let f = seg.flags;
        let carries = !seg.payload.is_empty() || seg.missing > 0 || f.syn || f.fin || f.rst;
        let key = flow_key(seg.src, seg.dst);

        let mut slot = self.index.get(&key).copied();
        if let Some(i) = slot {
            if f.syn && !f.ack && self.conn(i).reused_by(seg) {
                self.stats.reused += 1;
                self.end(i, at, None, sink);
                slot = None;
            }
        }
        let i = match slot {
            Some(i) => i,
            // A bare ACK, or a lone FIN or RST (typically late, after the connection closed),
            // on an unknown 4-tuple carries no stream: it opens nothing.
            None if seg.payload.is_empty() && seg.missing == 0 && !f.syn => {
                self.stats.ignored += 1;
                return;
            }
            None => self.open(key, at, seg, sink),
        };
        self.touch(i);

        let conn = self.slots[i].as_mut().expect("indexed slot is live");
        conn.last_active = conn.last_active.max(at.ts);
        let dir = conn.dir_of(seg.src);
        let d = dir.index();
        let seq = SeqNum(seg.seq);
        if !carries {
            conn.dirs[d].note_start(seq);
            return;
        }
        if f.syn {
            conn.isn[d].get_or_insert(seq);
        }
        let Conn { info, dirs, .. } = conn;
        // This direction may hold what its own limit allows, and no more than the total left.
        let held = dirs[d].buffered();
        let room = self
            .cfg
            .max_buffered_total
            .saturating_sub(self.buffered_total - held);
        let total_binds = room < self.cfg.max_buffered_per_direction;
        dirs[d].set_limit(room.min(self.cfg.max_buffered_per_direction));
        let forced = dirs[d].push(seq, f.syn, f.fin, seg.payload, seg.missing, &mut |c| {
            emit(sink, info, at, dir, c)
        });
        self.buffered_total = self.buffered_total - held + dirs[d].buffered();
        if let Some(gap) = forced {
            self.stats.limit_gaps += 1;
            let limit = if total_binds {
                format!(
                    "the limit of {} held by all connections together",
                    self.cfg.max_buffered_total
                )
            } else {
                format!("the limit of {}", self.cfg.max_buffered_per_direction)
            };
            sink.warning(Warning {
                packet: Some(at.number),
                code: "reassembly_limit",
                message: format!(
                    "connection {} {dir:?}: out-of-order bytes would exceed {limit}; \
                     declared {gap} missing bytes a gap",
                    info.id.0
                ),
            });
        }
        if f.rst {
            self.stats.closed_rst += 1;
            self.end(i, at, Some(dir), sink);
        } else if dirs.iter().all(Assembler::fin_delivered)
            || (dirs[d].fin_delivered() && !dirs[1 - d].seen())
        {
            // Both FINs, or one from a side whose peer never sent a single segment: a capture
            // of one direction only (`tcp dst port 8080`), where waiting for the other FIN
            // would keep every connection until the end of the input.
            self.stats.closed_fin += 1;
            self.end(i, at, None, sink);
        }
    }

    /// End of capture: flushes every live connection (held data with gaps between, and FINs
    /// seen), then `Closed`, in [`ConnId`] order. Events carry the last packet processed.
    pub fn finish<S: StreamSink>(&mut self, sink: &mut S) {
        let mut live: Vec<(ConnId, usize)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.as_ref().map(|c| (c.info.id, i)))
            .collect();
        live.sort_unstable();
        for (_, i) in live {
            self.end(i, self.last, None, sink);
        }
    }

    /// Closes (flushes, then `Closed`) every connection with no segment for longer than
    /// `idle_ns` before `now`, least recently active first: a live capture that runs for hours
    /// keeps only connections that are alive. Counted in `stats.idle_closed`; no warning, since
    /// an idle connection's verdicts are already out.
    pub fn evict_idle<S: StreamSink>(
        &mut self,
        now: crate::common::Timestamp,
        idle_ns: i64,
        sink: &mut S,
    ) {
        while self.tail != NIL {
            let c = self.conn(self.tail);
            if now.0.saturating_sub(c.last_active.0) <= idle_ns {
                break;
            }
            self.stats.idle_closed += 1;
            let at = PacketRef {
                number: self.last.number,
                ts: now,
            };
            self.end(self.tail, at, None, sink);
        }
    }

    fn conn(&self, i: usize) -> &Conn {
        self.slots[i].as_ref().expect("indexed slot is live")
    }

    fn open<S: StreamSink>(
        &mut self,
        key: FlowKey,
        at: PacketRef,
        seg: &TcpSegment<'_>,
        sink: &mut S,
    ) -> usize {
        if self.stats.live >= self.cfg.max_connections.max(1) {
            let victim = self.tail;
            let id = self.conn(victim).info.id;
            self.stats.evicted += 1;
            sink.warning(Warning {
                packet: Some(at.number),
                code: "connection_limit",
                message: format!(
                    "table full ({} connections): evicted the least recently active, \
                     connection {}, to track a new one",
                    self.cfg.max_connections, id.0
                ),
            });
            self.end(victim, at, None, sink);
        }
        self.stats.connections += 1;
        let (client, server) = roles(seg, &self.cfg.server_ports);
        let limit = self.cfg.max_buffered_per_direction;
        let conn = Conn {
            info: ConnInfo {
                id: ConnId(self.stats.connections),
                client,
                server,
                first_packet: at,
            },
            key,
            dirs: [Assembler::new(limit), Assembler::new(limit)],
            isn: [None, None],
            newer: NIL,
            older: NIL,
            last_active: at.ts,
        };
        sink.event(&conn.info, at, StreamEvent::Opened);
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        self.slots[i] = Some(conn);
        self.index.insert(key, i);
        self.link_front(i);
        self.stats.live += 1;
        i
    }

    /// Flushes both directions, reports the RST if any, then `Closed`; drops the connection.
    fn end<S: StreamSink>(
        &mut self,
        i: usize,
        at: PacketRef,
        rst: Option<Direction>,
        sink: &mut S,
    ) {
        self.unlink(i);
        let Some(mut conn) = self.slots[i].take() else {
            return;
        };
        self.free.push(i);
        self.index.remove(&conn.key);
        self.stats.live -= 1;
        let Conn { info, dirs, .. } = &mut conn;
        self.buffered_total -= dirs.iter().map(Assembler::buffered).sum::<usize>();
        for dir in [Direction::ToServer, Direction::ToClient] {
            dirs[dir.index()].flush(&mut |c| emit(sink, info, at, dir, c));
        }
        if let Some(dir) = rst {
            sink.event(info, at, StreamEvent::Rst { dir });
        }
        sink.event(info, at, StreamEvent::Closed);
    }

    /// Moves connection `i` to the head of the recency list.
    fn touch(&mut self, i: usize) {
        if self.head != i {
            self.unlink(i);
            self.link_front(i);
        }
    }

    fn link_front(&mut self, i: usize) {
        let old_head = self.head;
        {
            let c = self.slots[i].as_mut().expect("live slot");
            c.newer = NIL;
            c.older = old_head;
        }
        match old_head {
            NIL => self.tail = i,
            h => self.slots[h].as_mut().expect("live slot").newer = i,
        }
        self.head = i;
    }

    fn unlink(&mut self, i: usize) {
        let Some(c) = self.slots[i].as_mut() else {
            return;
        };
        let (newer, older) = (c.newer, c.older);
        c.newer = NIL;
        c.older = NIL;
        match newer {
            NIL => self.head = older,
            n => self.slots[n].as_mut().expect("live slot").older = older,
        }
        match older {
            NIL => self.tail = newer,
            o => self.slots[o].as_mut().expect("live slot").newer = newer,
        }
    }
}

/// (client, server) of a new connection, by the rules in the module docs.
fn roles(seg: &TcpSegment<'_>, server_ports: &[u16]) -> (SocketAddr, SocketAddr) {
    let (s, d) = (seg.src, seg.dst);
    let sent_by_client = match (seg.flags.syn, seg.flags.ack) {
        (true, false) => true,
        (true, true) => false,
        _ => match (
            server_ports.contains(&s.port()),
            server_ports.contains(&d.port()),
        ) {
            (false, true) => true,
            (true, false) => false,
            _ => s.port() >= d.port(),
        },
    };
    if sent_by_client {
        (s, d)
    } else {
        (d, s)
    }
}

fn emit<S: StreamSink>(sink: &mut S, info: &ConnInfo, at: PacketRef, dir: Direction, c: Chunk<'_>) {
    let ev = match c {
        Chunk::Data(bytes) if !bytes.is_empty() => StreamEvent::Data { dir, bytes },
        Chunk::Gap(len) if len > 0 => StreamEvent::Gap { dir, len },
        Chunk::Fin => StreamEvent::Fin { dir },
        _ => return,
    };
    sink.event(info, at, ev);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::Timestamp;
    use crate::decode::TcpFlags;
    use Direction::{ToClient as TC, ToServer as TS};

    #[derive(Clone, Debug, PartialEq, Eq)]
    enum Ev {
        Opened(u64),
        Data(u64, Direction, Vec<u8>),
        Gap(u64, Direction, u64),
        Fin(u64, Direction),
        Rst(u64, Direction),
        Closed(u64),
    }

    /// Records events (with the packet number they were delivered at), infos and warnings.
    #[derive(Default)]
    struct Rec {
        evs: Vec<(u64, Ev)>,
        infos: Vec<ConnInfo>,
        warnings: Vec<Warning>,
    }

    impl Rec {
        fn take(&mut self) -> Vec<Ev> {
            self.evs.drain(..).map(|(_, e)| e).collect()
        }
    }

    impl StreamSink for Rec {
        fn event(&mut self, conn: &ConnInfo, at: PacketRef, ev: StreamEvent<'_>) {
            let id = conn.id.0;
            let ev = match ev {
                StreamEvent::Opened => {
                    self.infos.push(conn.clone());
                    Ev::Opened(id)
                }
                StreamEvent::Data { dir, bytes } => Ev::Data(id, dir, bytes.to_vec()),
                StreamEvent::Gap { dir, len } => Ev::Gap(id, dir, len),
                StreamEvent::Fin { dir } => Ev::Fin(id, dir),
                StreamEvent::Rst { dir } => Ev::Rst(id, dir),
                StreamEvent::Closed => Ev::Closed(id),
            };
            self.evs.push((at.number, ev));
        }
        fn warning(&mut self, w: Warning) {
            self.warnings.push(w);
        }
    }

    /// A segment; `flags` holds any of `S`, `A`, `F`, `R`.
    fn seg<'a>(src: &str, dst: &str, seq: u32, flags: &str, payload: &'a [u8]) -> TcpSegment<'a> {
        TcpSegment {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            seq,
            ack: 0,
            flags: TcpFlags {
                syn: flags.contains('S'),
                ack: flags.contains('A'),
                fin: flags.contains('F'),
                rst: flags.contains('R'),
            },
            window: 65535,
            payload,
            missing: 0,
        }
    }

    /// Feeds segments as packets 1, 2, 3, ...
    struct Feed {
        table: ConnTable,
        rec: Rec,
        n: u64,
    }

    impl Feed {
        fn new(cfg: TcpConfig) -> Feed {
            Feed {
                table: ConnTable::new(cfg),
                rec: Rec::default(),
                n: 0,
            }
        }
        fn push(&mut self, s: TcpSegment<'_>) -> &mut Feed {
            self.n += 1;
            let at = PacketRef {
                number: self.n,
                ts: Timestamp(self.n as i64),
            };
            self.table.process(at, &s, &mut self.rec);
            self
        }
    }

    const C: &str = "10.0.0.1:51000";
    const S: &str = "10.0.0.2:80";

    fn data(id: u64, dir: Direction, b: &[u8]) -> Ev {
        Ev::Data(id, dir, b.to_vec())
    }

    #[test]
    fn handshake_exchange_and_fins_close() {
        let mut f = Feed::new(TcpConfig::default());
        f.push(seg(C, S, 1000, "S", b""))
            .push(seg(S, C, 5000, "SA", b""))
            .push(seg(C, S, 1001, "A", b""))
            .push(seg(C, S, 1001, "A", b"GET / HTTP/1.1\r\n\r\n"))
            .push(seg(S, C, 5001, "A", b"HTTP/1.1 200 OK\r\n\r\n"))
            .push(seg(S, C, 5020, "FA", b""));
        assert_eq!(f.table.stats().live, 1);
        f.push(seg(C, S, 1019, "FA", b""));
        let evs = std::mem::take(&mut f.rec.evs);
        assert_eq!(
            evs,
            vec![
                (1, Ev::Opened(1)),
                (4, data(1, TS, b"GET / HTTP/1.1\r\n\r\n")),
                (5, data(1, TC, b"HTTP/1.1 200 OK\r\n\r\n")),
                (6, Ev::Fin(1, TC)),
                (7, Ev::Fin(1, TS)),
                (7, Ev::Closed(1)),
            ]
        );
        let info = &f.rec.infos[0];
        assert_eq!(info.client, C.parse().unwrap());
        assert_eq!(info.server, S.parse().unwrap());
        assert_eq!(info.first_packet.number, 1);
        let st = f.table.stats();
        assert_eq!(
            (st.segments, st.connections, st.live, st.closed_fin),
            (7, 1, 0, 1)
        );
        // the connection is gone: a late ACK opens nothing
        f.push(seg(S, C, 5021, "A", b""));
        assert_eq!(f.rec.take(), vec![]);
        assert_eq!(f.table.stats().ignored, 1);
    }

    #[test]
    fn out_of_order_is_delivered_at_the_packet_that_fills_the_hole() {
        let mut f = Feed::new(TcpConfig::default());
        f.push(seg(C, S, 0, "S", b""))
            .push(seg(C, S, 4, "A", b"def"))
            .push(seg(C, S, 1, "A", b"abc"));
        let evs = std::mem::take(&mut f.rec.evs);
        assert_eq!(
            evs,
            vec![
                (1, Ev::Opened(1)),
                (3, data(1, TS, b"abc")),
                (3, data(1, TS, b"def"))
            ]
        );
    }

    #[test]
    fn rst_flushes_held_bytes_then_closes() {
        let mut f = Feed::new(TcpConfig::default());
        f.push(seg(C, S, 0, "S", b""))
            .push(seg(C, S, 1, "A", b"ab"))
            .push(seg(C, S, 6, "A", b"fg"))
            .push(seg(S, C, 700, "RA", b""));
        assert_eq!(
            f.rec.take(),
            vec![
                Ev::Opened(1),
                data(1, TS, b"ab"),
                Ev::Gap(1, TS, 3),
                data(1, TS, b"fg"),
                Ev::Rst(1, TC),
                Ev::Closed(1),
            ]
        );
        let st = f.table.stats();
        assert_eq!((st.live, st.closed_rst), (0, 1));
        // a late RST or FIN on the closed 4-tuple opens no ghost connection
        f.push(seg(S, C, 701, "R", b""))
            .push(seg(C, S, 3, "FA", b""));
        assert_eq!(f.rec.take(), vec![]);
        assert_eq!(f.table.stats().ignored, 2);
        // but data does (a capture that starts mid-connection)
        f.push(seg(C, S, 8, "RA", b"hi"));
        assert_eq!(
            f.rec.take(),
            vec![
                Ev::Opened(2),
                data(2, TS, b"hi"),
                Ev::Rst(2, TS),
                Ev::Closed(2)
            ]
        );
    }

    #[test]
    fn new_syn_after_fin_or_with_new_isn_opens_new_connection() {
        let mut f = Feed::new(TcpConfig::default());
        f.push(seg(C, S, 100, "S", b""))
            .push(seg(C, S, 100, "S", b"")) // SYN retransmission: same connection
            .push(seg(C, S, 101, "A", b"x"))
            .push(seg(S, C, 900, "FA", b""))
            .push(seg(C, S, 5000, "S", b"")) // after a FIN: port reuse
            .push(seg(C, S, 5001, "A", b"y"))
            .push(seg(C, S, 7000, "S", b"")) // no FIN, but a different ISN
            .push(seg(C, S, 7001, "A", b"z"));
        assert_eq!(
            f.rec.take(),
            vec![
                Ev::Opened(1),
                data(1, TS, b"x"),
                Ev::Fin(1, TC),
                Ev::Closed(1),
                Ev::Opened(2),
                data(2, TS, b"y"),
                Ev::Closed(2),
                Ev::Opened(3),
                data(3, TS, b"z"),
            ]
        );
        assert_eq!(f.table.stats().reused, 2);
        assert_eq!(f.rec.infos[2].first_packet.number, 7);
    }

    fn roles_of(cfg: TcpConfig, s: TcpSegment<'_>) -> (String, String) {
        let mut f = Feed::new(cfg);
        f.push(s);
        let info = &f.rec.infos[0];
        (info.client.to_string(), info.server.to_string())
    }

    #[test]
    fn client_inference() {
        let low = "10.0.0.1:40000";
        let high = "10.0.0.2:60000";
        let pair = |c: &str, s: &str| (c.to_string(), s.to_string());
        let cfg = TcpConfig::default;
        // SYN: the sender, whatever the ports
        assert_eq!(
            roles_of(cfg(), seg(high, low, 0, "S", b"")),
            pair(high, low)
        );
        assert_eq!(
            roles_of(cfg(), seg(low, high, 0, "S", b"")),
            pair(low, high)
        );
        // SYN+ACK only: the receiver
        assert_eq!(
            roles_of(cfg(), seg(low, high, 0, "SA", b"")),
            pair(high, low)
        );
        // server_ports beats the port heuristic
        let ports = TcpConfig {
            server_ports: vec![60000],
            ..TcpConfig::default()
        };
        assert_eq!(
            roles_of(ports.clone(), seg(low, high, 0, "A", b"x")),
            pair(low, high)
        );
        assert_eq!(
            roles_of(ports, seg(high, low, 0, "A", b"x")),
            pair(low, high)
        );
        // otherwise the higher port is the client
        assert_eq!(
            roles_of(cfg(), seg(low, high, 0, "A", b"x")),
            pair(high, low)
        );
        assert_eq!(roles_of(cfg(), seg(S, C, 0, "A", b"x")), pair(C, S));
    }

    #[test]
    fn mid_stream_capture_starts_at_first_segment_seen() {
        let mut f = Feed::new(TcpConfig::default());
        f.push(seg(S, C, 77, "A", b"")) // bare ACK, no connection yet: ignored
            .push(seg(S, C, 3_000_000, "A", b"lo"))
            .push(seg(S, C, 2_999_998, "A", b"hel")) // before the start: gone
            .push(seg(C, S, 10, "A", b""))
            .push(seg(C, S, 12, "A", b"Q")) // the bare ACK set the start: a 2-byte hole
            .push(seg(C, S, 10, "A", b"PP"));
        assert_eq!(
            f.rec.take(),
            vec![
                Ev::Opened(1),
                data(1, TC, b"lo"),
                data(1, TS, b"PP"),
                data(1, TS, b"Q"),
            ]
        );
        assert_eq!(f.rec.infos[0].client, C.parse().unwrap());
    }

    #[test]
    fn fin_waits_for_earlier_data() {
        let mut f = Feed::new(TcpConfig::default());
        f.push(seg(C, S, 0, "S", b""))
            .push(seg(C, S, 4, "FA", b""))
            .push(seg(C, S, 1, "A", b"abc"));
        // (The server never sent a segment, so the client's FIN also ends the connection.)
        assert_eq!(
            f.rec.take(),
            vec![
                Ev::Opened(1),
                data(1, TS, b"abc"),
                Ev::Fin(1, TS),
                Ev::Closed(1)
            ]
        );
    }

    #[test]
    fn one_fin_ends_a_connection_only_when_the_peer_never_spoke() {
        // One direction captured (`tcp dst port 8080`): the client's FIN ends it at once, or
        // every connection of the capture would stay live until the end.
        let mut f = Feed::new(TcpConfig::default());
        f.push(seg(C, S, 0, "S", b""))
            .push(seg(C, S, 1, "PA", b"GET"))
            .push(seg(C, S, 4, "FA", b""));
        assert_eq!(f.table.stats().live, 0);
        assert_eq!(f.rec.take().last(), Some(&Ev::Closed(1)));
        // Both directions captured: a half-close leaves the server free to go on sending.
        let mut f = Feed::new(TcpConfig::default());
        f.push(seg(C, S, 0, "S", b""))
            .push(seg(S, C, 0, "SA", b""))
            .push(seg(C, S, 1, "FA", b""))
            .push(seg(S, C, 1, "PA", b"late"));
        assert_eq!(f.table.stats().live, 1);
        assert_eq!(f.rec.take().last(), Some(&data(1, TC, b"late")));
    }

    #[test]
    fn buffer_limit_warns_and_declares_gap() {
        let mut f = Feed::new(TcpConfig {
            max_buffered_per_direction: 4,
            ..TcpConfig::default()
        });
        f.push(seg(C, S, 0, "S", b""))
            .push(seg(C, S, 11, "A", b"klm"))
            .push(seg(C, S, 21, "A", b"uvw"));
        assert_eq!(
            f.rec.take(),
            vec![
                Ev::Opened(1),
                Ev::Gap(1, TS, 10),
                data(1, TS, b"klm"),
                Ev::Gap(1, TS, 7),
                data(1, TS, b"uvw"),
            ]
        );
        assert_eq!(f.rec.warnings.len(), 1);
        assert_eq!(f.rec.warnings[0].code, "reassembly_limit");
        assert_eq!(f.rec.warnings[0].packet, Some(3));
        assert_eq!(f.table.stats().limit_gaps, 1);
    }

    #[test]
    fn out_of_order_bytes_of_all_connections_share_one_limit() {
        let mut f = Feed::new(TcpConfig {
            max_buffered_per_direction: 8,
            max_buffered_total: 10,
            ..TcpConfig::default()
        });
        let (a, b) = ("10.0.0.1:50001", "10.0.0.1:50002");
        f.push(seg(a, S, 0, "S", b""))
            .push(seg(b, S, 0, "S", b""))
            .push(seg(a, S, 11, "A", b"aaaaaa")) // a holds 6 behind a hole
            .push(seg(b, S, 11, "A", b"bbbbbb")); // b would take the total to 12: gap
        assert_eq!(
            f.rec.take()[2..],
            [Ev::Gap(2, TS, 10), data(2, TS, b"bbbbbb")]
        );
        assert_eq!(f.rec.warnings.len(), 1);
        assert!(
            f.rec.warnings[0]
                .message
                .contains("the limit of 10 held by all connections together"),
            "{}",
            f.rec.warnings[0].message
        );
        assert_eq!(f.table.buffered_total, 6);
        // a's hole filled: its bytes go out and the total is free again.
        f.push(seg(a, S, 1, "A", b"0123456789"));
        assert_eq!(f.table.buffered_total, 0);
        f.push(seg(b, S, 30, "A", b"cccccccc")); // 8 held: within both limits again
        assert_eq!(f.table.buffered_total, 8);
        assert_eq!(f.rec.warnings.len(), 1);
        f.table.finish(&mut f.rec);
        assert_eq!(f.table.buffered_total, 0);
    }

    #[test]
    fn snaplen_cut_becomes_gap() {
        let mut f = Feed::new(TcpConfig::default());
        let mut cut = seg(C, S, 1, "A", b"GET");
        cut.missing = 100;
        f.push(seg(C, S, 0, "S", b""))
            .push(cut)
            .push(seg(C, S, 104, "A", b"!"));
        assert_eq!(
            f.rec.take(),
            vec![
                Ev::Opened(1),
                data(1, TS, b"GET"),
                Ev::Gap(1, TS, 100),
                data(1, TS, b"!")
            ]
        );
    }

    #[test]
    fn table_full_evicts_least_recently_active() {
        let mut f = Feed::new(TcpConfig {
            max_connections: 2,
            ..TcpConfig::default()
        });
        let (a, b, c) = ("10.0.0.1:50001", "10.0.0.1:50002", "10.0.0.1:50003");
        f.push(seg(a, S, 0, "S", b""))
            .push(seg(b, S, 0, "S", b""))
            .push(seg(b, S, 5, "A", b"held")) // b: bytes held behind a hole
            .push(seg(a, S, 1, "A", b"x")) // a is now more recent than b
            .push(seg(c, S, 0, "S", b""));
        let evs = std::mem::take(&mut f.rec.evs);
        assert_eq!(
            evs[evs.len() - 4..],
            [
                (5, Ev::Gap(2, TS, 4)),
                (5, data(2, TS, b"held")),
                (5, Ev::Closed(2)),
                (5, Ev::Opened(3)),
            ]
        );
        assert_eq!(f.rec.warnings.len(), 1);
        assert_eq!(f.rec.warnings[0].code, "connection_limit");
        let st = f.table.stats();
        assert_eq!((st.live, st.evicted), (2, 1));
        // b's 4-tuple is unknown again: its next segment opens a new connection
        f.push(seg(b, S, 9, "A", b"!"));
        assert_eq!(
            f.rec.take(),
            vec![Ev::Closed(1), Ev::Opened(4), data(4, TS, b"!")]
        );
    }

    #[test]
    fn finish_flushes_in_id_order() {
        let mut f = Feed::new(TcpConfig::default());
        let (a, b) = ("10.0.0.1:50001", "10.0.0.1:50002");
        f.push(seg(a, S, 0, "S", b""))
            .push(seg(b, S, 0, "S", b""))
            .push(seg(b, S, 3, "A", b"c"))
            .push(seg(a, S, 2, "A", b"b"))
            .push(seg(a, S, 5, "FA", b""));
        f.rec.take();
        f.table.finish(&mut f.rec);
        let evs = std::mem::take(&mut f.rec.evs);
        assert_eq!(
            evs,
            vec![
                (5, Ev::Gap(1, TS, 1)),
                (5, data(1, TS, b"b")),
                (5, Ev::Gap(1, TS, 2)),
                (5, Ev::Fin(1, TS)),
                (5, Ev::Closed(1)),
                (5, Ev::Gap(2, TS, 2)),
                (5, data(2, TS, b"c")),
                (5, Ev::Closed(2)),
            ]
        );
        assert_eq!(f.table.stats().live, 0);
    }

    proptest::proptest! {
        /// Through the whole table: a client stream cut into overlapping pieces, shuffled, with
        /// the FIN anywhere among them, comes out whole and the connection closes after both FINs.
        #[test]
        fn table_reassembles_shuffled_stream(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            sizes in proptest::collection::vec(1usize..50, 1..8),
            extra in proptest::collection::vec((0usize..300, 1usize..60), 0..10),
            seed in proptest::prelude::any::<u64>(),
            isn in (u32::MAX - 400)..=u32::MAX,
        ) {
            let mut f = Feed::new(TcpConfig::default());
            f.push(seg(C, S, isn, "S", b"")).push(seg(S, C, 9, "SA", b""));
            let mut segs = crate::tcp::assembler::tests::segments(bytes.len(), &sizes, &extra, seed);
            segs.insert(seed as usize % (segs.len() + 1), (bytes.len(), usize::MAX));
            for (off, n) in segs {
                let seq = isn.wrapping_add(1 + off as u32);
                f.push(if n == usize::MAX {
                    seg(C, S, seq, "FA", b"")
                } else {
                    seg(C, S, seq, "A", &bytes[off..off + n])
                });
            }
            f.push(seg(S, C, 10, "FA", b""));
            let evs = f.rec.take();
            let got: Vec<u8> = evs
                .iter()
                .flat_map(|e| match e {
                    Ev::Data(1, TS, b) => b.clone(),
                    _ => Vec::new(),
                })
                .collect();
            proptest::prop_assert_eq!(&got, &bytes);
            proptest::prop_assert!(!evs.iter().any(|e| matches!(e, Ev::Gap(..))));
            proptest::prop_assert_eq!(evs.last(), Some(&Ev::Closed(1)));
            proptest::prop_assert_eq!(f.table.stats().live, 0);
        }
    }

    #[test]
    fn syn_flood_stays_bounded() {
        struct Count(u64, u64);
        impl StreamSink for Count {
            fn event(&mut self, _: &ConnInfo, _: PacketRef, ev: StreamEvent<'_>) {
                if ev == StreamEvent::Closed {
                    self.0 += 1;
                }
            }
            fn warning(&mut self, _: Warning) {
                self.1 += 1;
            }
        }
        let mut t = ConnTable::new(TcpConfig {
            max_connections: 100,
            ..TcpConfig::default()
        });
        let mut sink = Count(0, 0);
        let n = 100_000u32;
        for i in 0..n {
            let src = SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 40000));
            let s = TcpSegment {
                src,
                ..seg(C, S, i, "S", b"")
            };
            let at = PacketRef {
                number: u64::from(i) + 1,
                ts: Timestamp(0),
            };
            t.process(at, &s, &mut sink);
        }
        let st = t.stats();
        assert_eq!(st.live, 100);
        assert_eq!(st.evicted, u64::from(n) - 100);
        assert_eq!((sink.0, sink.1), (st.evicted, st.evicted));
        assert!(t.slots.len() <= 101);
    }
}

#[cfg(test)]
mod idle_tests {
    use super::*;
    use crate::common::Timestamp;
    use crate::decode::TcpFlags;

    struct Events(Vec<(u64, String)>);
    impl StreamSink for Events {
        fn event(&mut self, conn: &ConnInfo, _at: PacketRef, ev: StreamEvent<'_>) {
            self.0.push((conn.id.0, format!("{ev:?}")));
        }
        fn warning(&mut self, _w: Warning) {}
    }

    fn seg(port: u16, payload: &[u8]) -> TcpSegment<'_> {
        TcpSegment {
            src: SocketAddr::from(([127, 0, 0, 1], port)),
            dst: SocketAddr::from(([127, 0, 0, 1], 8080)),
            seq: 1,
            ack: 0,
            flags: TcpFlags {
                syn: false,
                ack: true,
                fin: false,
                rst: false,
            },
            window: 100,
            payload,
            missing: 0,
        }
    }

    fn at(secs: i64) -> PacketRef {
        PacketRef {
            number: secs as u64,
            ts: Timestamp::from_parts(secs, 0),
        }
    }

    #[test]
    fn only_connections_idle_longer_than_the_timeout_are_closed_oldest_first() {
        let mut t = ConnTable::new(TcpConfig::default());
        let mut ev = Events(Vec::new());
        t.process(at(0), &seg(40000, b"a"), &mut ev);
        t.process(at(100), &seg(40001, b"b"), &mut ev);
        // Connection 1 is active again later: it is not the oldest any more.
        let mut again = seg(40000, b"c");
        again.seq = 2;
        t.process(at(200), &again, &mut ev);
        ev.0.clear();
        t.evict_idle(Timestamp::from_parts(250, 0), 60 * 1_000_000_000, &mut ev);
        assert_eq!(ev.0, vec![(2, "Closed".to_string())]);
        assert_eq!((t.stats().live, t.stats().idle_closed), (1, 1));
        t.evict_idle(Timestamp::from_parts(250, 0), 60 * 1_000_000_000, &mut ev);
        assert_eq!(t.stats().live, 1, "connection 1 was active 50 s ago");
        t.evict_idle(Timestamp::from_parts(261, 0), 60 * 1_000_000_000, &mut ev);
        assert_eq!((t.stats().live, t.stats().idle_closed), (0, 2));
    }
}
