//! Per-direction stream reassembly. Owns the bytes of one direction that arrived ahead of a hole
//! and hands on, strictly in stream order, [`Chunk`]s: data, gaps (bytes that were on the wire
//! but will never be seen) and the FIN.
//!
//! Overlaps: **first-seen bytes win** (as in Zeek). Bytes already delivered or already buffered
//! are never replaced by a later copy; only the parts of a segment nobody covered yet are kept.
//!
//! Hot path: a segment that starts at the next expected byte is handed on straight from the
//! packet slice, without copying or allocating. Only out-of-order bytes are copied, and at most
//! `limit` of them are held; past that the assembler refuses to grow and declares a gap.

use std::collections::BTreeMap;

use super::seq::SeqNum;

/// What the assembler hands on, in stream order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    Data(&'a [u8]),
    /// This many bytes were on the wire but are not available (lost, not captured, or given up).
    Gap(u64),
    Fin,
}

/// Part of a segment at one stream offset: captured bytes, or a stretch known to be missing
/// (a snaplen cut).
#[derive(Clone, Copy, Debug)]
enum Span<'a> {
    Bytes(&'a [u8]),
    Missing(u64),
}

impl<'a> Span<'a> {
    fn len(&self) -> u64 {
        match self {
            Span::Bytes(b) => b.len() as u64,
            Span::Missing(n) => *n,
        }
    }
    /// The sub-span `[from, to)`, offsets relative to the span's start; `from <= to <= len`.
    fn slice(self, from: u64, to: u64) -> Span<'a> {
        match self {
            Span::Bytes(b) => Span::Bytes(&b[from as usize..to as usize]),
            Span::Missing(_) => Span::Missing(to - from),
        }
    }
    fn chunk(self) -> Chunk<'a> {
        match self {
            Span::Bytes(b) => Chunk::Data(b),
            Span::Missing(n) => Chunk::Gap(n),
        }
    }
}

/// A buffered out-of-order span.
#[derive(Debug)]
enum Piece {
    Bytes(Vec<u8>),
    Missing(u64),
}

impl Piece {
    fn len(&self) -> u64 {
        match self {
            Piece::Bytes(b) => b.len() as u64,
            Piece::Missing(n) => *n,
        }
    }
    fn chunk(&self) -> Chunk<'_> {
        match self {
            Piece::Bytes(b) => Chunk::Data(b),
            Piece::Missing(n) => Chunk::Gap(*n),
        }
    }
}

/// Reassembles one direction of a connection.
///
/// Positions inside the assembler are 64-bit stream offsets (0 = first byte of the stream), so
/// they never wrap; a sequence number is turned into an offset once, by its wrapping distance
/// from the next expected byte (`offset_of`).
///
/// Invariant (holds between calls):
/// - every offset below `delivered` has been handed on exactly once, as data or gap, in order;
/// - `pieces` are disjoint, and each starts strictly after `delivered` (a piece that touches
///   `delivered` is handed on at once), so the first piece marks the first hole's end;
/// - `buffered` is the total length of the `Bytes` pieces, and a piece is only held while
///   `buffered` stays within `limit` (which `set_limit` may lower below what is held);
/// - nothing at or past `fin_at` is held or handed on, and `Fin` is handed on once, when
///   `delivered` reaches `fin_at`.
#[derive(Debug)]
pub struct Assembler {
    /// Sequence number of stream offset 0; set by the first segment seen in this direction
    /// (the byte after the SYN's, or the first seen segment's own when the capture starts late).
    start: Option<SeqNum>,
    delivered: u64,
    pieces: BTreeMap<u64, Piece>,
    buffered: usize,
    limit: usize,
    fin_at: Option<u64>,
    fin_delivered: bool,
}

impl Assembler {
    /// An assembler holding at most `limit` out-of-order bytes.
    pub fn new(limit: usize) -> Assembler {
        Assembler {
            start: None,
            delivered: 0,
            pieces: BTreeMap::new(),
            buffered: 0,
            limit,
            fin_at: None,
            fin_delivered: false,
        }
    }

    /// Has a FIN been handed on?
    pub fn fin_delivered(&self) -> bool {
        self.fin_delivered
    }

    /// Has this direction carried any segment (even a bare ACK)?
    pub fn seen(&self) -> bool {
        self.start.is_some()
    }

    /// Has a FIN been seen (handed on or not yet)?
    pub fn fin_seen(&self) -> bool {
        self.fin_at.is_some()
    }

    /// Sets the most out-of-order bytes to hold from the next segment on (what is held already
    /// stays, even above it).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// Out-of-order bytes held right now.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Sets where the stream starts from a segment that carries nothing (a bare ACK), if no
    /// earlier segment did.
    pub fn note_start(&mut self, seq: SeqNum) {
        self.start.get_or_insert(seq);
    }

    /// Stream offset of `seq`, relative to the next expected byte (exact within 2^31 of it).
    fn offset_of(&self, start: SeqNum, seq: SeqNum) -> i64 {
        let next = start + self.delivered as u32; // wraps like the wire does
        self.delivered as i64 + i64::from(seq.distance(next))
    }

    /// Takes one segment: `seq` as on the wire, `syn`/`fin` flags, the captured `payload` and
    /// the `missing` bytes that followed it on the wire. Hands on whatever became in order.
    /// Returns `Some(len)` when the buffer limit forced a gap of `len` bytes.
    pub fn push<F: FnMut(Chunk<'_>)>(
        &mut self,
        seq: SeqNum,
        syn: bool,
        fin: bool,
        payload: &[u8],
        missing: u32,
        out: &mut F,
    ) -> Option<u64> {
        let data_seq = if syn { seq + 1 } else { seq };
        let start = *self.start.get_or_insert(data_seq);
        let at = self.offset_of(start, data_seq);
        let mut forced = None;
        if self.fin_delivered {
            return None;
        }
        let after = at + payload.len() as i64;
        for (off, span) in [
            (at, Span::Bytes(payload)),
            (after, Span::Missing(u64::from(missing))),
        ] {
            if let Some(g) = self.push_span(off, span, out) {
                *forced.get_or_insert(0) += g;
            }
        }
        if fin && self.fin_at.is_none() {
            let end = after + i64::from(missing);
            if end >= self.delivered as i64 {
                self.fin_at = Some(end as u64);
                self.drop_past_fin();
            }
        }
        self.deliver_fin(out);
        forced
    }

    /// Hands on everything held, with gaps for the holes between, and the FIN (after a gap up
    /// to it) if one was seen. For the end of a connection: nothing more will fill the holes.
    pub fn flush<F: FnMut(Chunk<'_>)>(&mut self, out: &mut F) {
        self.skip_to(self.fin_at.unwrap_or(u64::MAX), out);
        if let Some(fin) = self.fin_at {
            if fin > self.delivered {
                out(Chunk::Gap(fin - self.delivered));
                self.delivered = fin;
            }
        }
        self.deliver_fin(out);
    }

    fn deliver_fin<F: FnMut(Chunk<'_>)>(&mut self, out: &mut F) {
        if !self.fin_delivered && self.fin_at == Some(self.delivered) {
            self.fin_delivered = true;
            out(Chunk::Fin);
        }
    }

    /// Drops held pieces at or past a newly learnt FIN (trimming one that straddles it).
    fn drop_past_fin(&mut self) {
        let Some(fin) = self.fin_at else { return };
        while let Some(entry) = self.pieces.last_entry() {
            let (k, len) = (*entry.key(), entry.get().len());
            if k + len <= fin {
                break;
            }
            let mut piece = entry.remove();
            if let Piece::Bytes(b) = &mut piece {
                self.buffered -= b.len();
                b.truncate(fin.saturating_sub(k) as usize);
                self.buffered += b.len();
            }
            if let Piece::Missing(n) = &mut piece {
                *n = fin.saturating_sub(k);
            }
            if k < fin {
                self.pieces.insert(k, piece);
            }
        }
    }

    /// Takes a span at stream offset `at` (may be negative: before the stream start).
    fn push_span<F: FnMut(Chunk<'_>)>(
        &mut self,
        at: i64,
        span: Span<'_>,
        out: &mut F,
    ) -> Option<u64> {
        // Trim what was already handed on (retransmissions) and anything past the FIN.
        let end = at + span.len() as i64;
        let lo = at.max(self.delivered as i64);
        let hi = self.fin_at.map_or(end, |f| end.min(f as i64));
        if hi <= lo {
            return None;
        }
        let span = span.slice((lo - at) as u64, (hi - at) as u64);
        let (at, end) = (lo as u64, hi as u64);

        let mut forced = None;
        if at > self.delivered {
            let new_bytes = match span {
                Span::Bytes(_) => self.holes(at, end).map(|(a, b)| b - a).sum(),
                Span::Missing(_) => 0,
            };
            if self.buffered as u64 + new_bytes <= self.limit as u64 {
                self.hold(at, span);
                return None;
            }
            // Refuse to grow: give up on every hole before this span.
            forced = Some(self.skip_to(at, out));
        }
        // In order: hand on from the packet, stopping where a held piece takes over.
        let mut from = self.delivered;
        while from < end {
            let stop = self
                .pieces
                .first_key_value()
                .map_or(end, |(&k, _)| k.min(end));
            let part = span.slice(from - at, stop - at);
            self.delivered = stop;
            out(part.chunk());
            self.drain(out);
            from = self.delivered.max(from);
        }
        forced
    }

    /// Hands on the held pieces that now touch `delivered`.
    fn drain<F: FnMut(Chunk<'_>)>(&mut self, out: &mut F) {
        while let Some(entry) = self.pieces.first_entry() {
            if *entry.key() != self.delivered {
                break;
            }
            let piece = entry.remove();
            self.release(&piece, out);
        }
    }

    /// Hands on every held piece starting before `to`, with gaps for the holes before each and
    /// up to `to`; returns the total gap declared. Afterwards `delivered >= to` (unless `to` is
    /// `u64::MAX`, which flushes everything).
    fn skip_to<F: FnMut(Chunk<'_>)>(&mut self, to: u64, out: &mut F) -> u64 {
        let mut gaps = 0;
        while let Some(entry) = self.pieces.first_entry() {
            let k = *entry.key();
            if k >= to {
                break;
            }
            let piece = entry.remove();
            gaps += k - self.delivered;
            out(Chunk::Gap(k - self.delivered));
            self.delivered = k;
            self.release(&piece, out);
        }
        if to != u64::MAX && to > self.delivered {
            gaps += to - self.delivered;
            out(Chunk::Gap(to - self.delivered));
            self.delivered = to;
        }
        gaps
    }

    /// Hands on a piece that starts at `delivered`.
    fn release<F: FnMut(Chunk<'_>)>(&mut self, piece: &Piece, out: &mut F) {
        if let Piece::Bytes(b) = piece {
            self.buffered -= b.len();
        }
        self.delivered += piece.len();
        out(piece.chunk());
    }

    /// The stretches of `[from, to)` not covered by a held piece, in order.
    fn holes(&self, from: u64, to: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        let mut cur = from;
        std::iter::from_fn(move || {
            let hole = self.next_hole(cur, to)?;
            cur = hole.1;
            Some(hole)
        })
    }

    fn next_hole(&self, from: u64, to: u64) -> Option<(u64, u64)> {
        let mut cur = from;
        if let Some((&k, p)) = self.pieces.range(..cur).next_back() {
            cur = cur.max(k + p.len());
        }
        loop {
            if cur >= to {
                return None;
            }
            match self.pieces.range(cur..).next() {
                Some((&k, p)) if k == cur => cur = k + p.len(),
                Some((&k, _)) => return Some((cur, k.min(to))),
                None => return Some((cur, to)),
            }
        }
    }

    /// Copies the uncovered parts of `span` (at offset `at`, after `delivered`) into pieces;
    /// first-seen bytes win. Bytes that continue a held `Bytes` piece extend it.
    fn hold(&mut self, at: u64, span: Span<'_>) {
        let mut cur = at;
        while let Some((a, b)) = self.next_hole(cur, at + span.len()) {
            cur = b;
            match span.slice(a - at, b - at) {
                Span::Bytes(bytes) => {
                    self.buffered += bytes.len();
                    if let Some((&k, Piece::Bytes(prev))) = self.pieces.range_mut(..a).next_back() {
                        if k + prev.len() as u64 == a {
                            prev.extend_from_slice(bytes);
                            continue;
                        }
                    }
                    self.pieces.insert(a, Piece::Bytes(bytes.to_vec()));
                }
                Span::Missing(n) => {
                    self.pieces.insert(a, Piece::Missing(n));
                }
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq)]
    enum Out {
        Data(Vec<u8>),
        Gap(u64),
        Fin,
    }

    fn d(b: &[u8]) -> Out {
        Out::Data(b.to_vec())
    }

    /// Pushes one segment; `flags` holds `S` and/or `F`. Returns what came out and the forced gap.
    fn push(
        a: &mut Assembler,
        seq: u32,
        flags: &str,
        payload: &[u8],
        missing: u32,
    ) -> (Vec<Out>, Option<u64>) {
        let mut got = Vec::new();
        let forced = a.push(
            SeqNum(seq),
            flags.contains('S'),
            flags.contains('F'),
            payload,
            missing,
            &mut |c| got.push(out(c)),
        );
        (got, forced)
    }

    fn data(a: &mut Assembler, seq: u32, payload: &[u8]) -> Vec<Out> {
        push(a, seq, "", payload, 0).0
    }

    fn flush(a: &mut Assembler) -> Vec<Out> {
        let mut got = Vec::new();
        a.flush(&mut |c| got.push(out(c)));
        got
    }

    fn out(c: Chunk<'_>) -> Out {
        match c {
            Chunk::Data(b) => Out::Data(b.to_vec()),
            Chunk::Gap(n) => Out::Gap(n),
            Chunk::Fin => Out::Fin,
        }
    }

    fn syn(isn: u32, limit: usize) -> Assembler {
        let mut a = Assembler::new(limit);
        assert_eq!(push(&mut a, isn, "S", b"", 0).0, vec![]);
        a
    }

    #[test]
    fn in_order_is_handed_on_from_the_packet_without_copy() {
        let mut a = syn(100, 1024);
        let payload = b"hello".to_vec();
        let mut ptr = None;
        a.push(SeqNum(101), false, false, &payload, 0, &mut |c| {
            if let Chunk::Data(b) = c {
                ptr = Some(b.as_ptr());
            }
        });
        assert_eq!(ptr, Some(payload.as_ptr()));
        assert_eq!(a.buffered(), 0);
    }

    #[test]
    fn out_of_order_waits_for_the_hole() {
        let mut a = syn(100, 1024);
        assert_eq!(data(&mut a, 106, b"world"), vec![]);
        assert_eq!(a.buffered(), 5);
        assert_eq!(data(&mut a, 101, b"hello"), vec![d(b"hello"), d(b"world")]);
        assert_eq!(a.buffered(), 0);
    }

    #[test]
    fn retransmission_is_dropped() {
        let mut a = syn(100, 1024);
        assert_eq!(data(&mut a, 101, b"hello"), vec![d(b"hello")]);
        assert_eq!(data(&mut a, 101, b"hello"), vec![]);
        assert_eq!(data(&mut a, 103, b"ll"), vec![]);
        assert_eq!(data(&mut a, 106, b"!"), vec![d(b"!")]);
    }

    #[test]
    fn partial_overlap_is_trimmed_first_seen_wins() {
        let mut a = syn(0, 1024);
        assert_eq!(data(&mut a, 1, b"abcde"), vec![d(b"abcde")]);
        // overlaps delivered bytes: only the new tail comes out, the old bytes stand
        assert_eq!(data(&mut a, 4, b"XXfgh"), vec![d(b"fgh")]);
        // overlaps held bytes: the held ones win, only the uncovered tail is added
        assert_eq!(data(&mut a, 12, b"lmn"), vec![]);
        assert_eq!(data(&mut a, 13, b"YYop"), vec![]);
        assert_eq!(a.buffered(), 5);
        assert_eq!(data(&mut a, 9, b"ijkZZ"), vec![d(b"ijk"), d(b"lmnop")]);
    }

    #[test]
    fn full_overlap_fills_only_holes() {
        let mut a = syn(0, 1024);
        assert_eq!(data(&mut a, 3, b"c"), vec![]);
        assert_eq!(data(&mut a, 5, b"e"), vec![]);
        // covers both held bytes and the holes around them
        assert_eq!(
            data(&mut a, 1, b"ABCDEF"),
            vec![d(b"AB"), d(b"c"), d(b"D"), d(b"e"), d(b"F")]
        );
        // a segment entirely inside held bytes adds nothing
        let mut b = syn(0, 1024);
        assert_eq!(data(&mut b, 3, b"cdef"), vec![]);
        assert_eq!(data(&mut b, 4, b"XY"), vec![]);
        assert_eq!(b.buffered(), 4);
        assert_eq!(data(&mut b, 1, b"ab"), vec![d(b"ab"), d(b"cdef")]);
    }

    #[test]
    fn sequence_wrap() {
        let isn = u32::MAX - 3; // data starts at MAX-2: a=MAX-2, b=MAX-1, c=MAX, d=0
        let mut a = syn(isn, 1024);
        assert_eq!(data(&mut a, 0, b"defg"), vec![]);
        assert_eq!(
            data(&mut a, u32::MAX - 2, b"abc"),
            vec![d(b"abc"), d(b"defg")]
        );
        assert_eq!(data(&mut a, u32::MAX, b"cdefgh"), vec![d(b"h")]);
        assert_eq!(push(&mut a, 5, "F", b"", 0).0, vec![Out::Fin]);
    }

    #[test]
    fn limit_forces_gap_instead_of_growing() {
        let mut a = syn(0, 4);
        assert_eq!(data(&mut a, 1, b"ab"), vec![d(b"ab")]);
        assert_eq!(data(&mut a, 11, b"klm"), vec![]);
        assert_eq!(a.buffered(), 3);
        // 3 more held bytes would make 6 > 4: the holes before it become gaps
        let (got, forced) = push(&mut a, 21, "", b"uvw", 0);
        assert_eq!(got, vec![Out::Gap(8), d(b"klm"), Out::Gap(7), d(b"uvw")]);
        assert_eq!(forced, Some(15));
        assert_eq!(a.buffered(), 0);
        // what arrives for the given-up range later is dropped
        assert_eq!(data(&mut a, 3, b"cd"), vec![]);
        assert_eq!(data(&mut a, 24, b"x"), vec![d(b"x")]);
    }

    #[test]
    fn limit_keeps_held_bytes_after_the_new_segment() {
        let mut a = syn(0, 4);
        assert_eq!(data(&mut a, 21, b"uvw"), vec![]);
        let (got, forced) = push(&mut a, 11, "", b"klm", 0);
        assert_eq!(got, vec![Out::Gap(10), d(b"klm")]);
        assert_eq!(forced, Some(10));
        assert_eq!(a.buffered(), 3);
        assert_eq!(data(&mut a, 14, b"nopqrst"), vec![d(b"nopqrst"), d(b"uvw")]);
    }

    #[test]
    fn snaplen_cut_is_a_gap() {
        let mut a = syn(0, 1024);
        assert_eq!(
            push(&mut a, 1, "", b"abc", 5).0,
            vec![d(b"abc"), Out::Gap(5)]
        );
        assert_eq!(data(&mut a, 9, b"ij"), vec![d(b"ij")]);
        // cut segment arriving out of order: its missing tail is held as a gap
        assert_eq!(push(&mut a, 16, "", b"pq", 2).0, vec![]);
        assert_eq!(
            data(&mut a, 11, b"klmno"),
            vec![d(b"klmno"), d(b"pq"), Out::Gap(2)]
        );
        assert_eq!(data(&mut a, 20, b"t"), vec![d(b"t")]);
    }

    #[test]
    fn mid_stream_start_takes_first_segment_seen() {
        let mut a = Assembler::new(1024);
        assert_eq!(data(&mut a, 5000, b"GET"), vec![d(b"GET")]);
        // an earlier byte range is taken as already gone
        assert_eq!(data(&mut a, 4990, b"0123456789"), vec![]);
        assert_eq!(data(&mut a, 5003, b" /"), vec![d(b" /")]);
    }

    #[test]
    fn fin_comes_after_the_data_before_it() {
        let mut a = syn(0, 1024);
        assert_eq!(push(&mut a, 6, "F", b"", 0).0, vec![]);
        assert_eq!(data(&mut a, 4, b"de"), vec![]);
        assert!(!a.fin_delivered());
        assert_eq!(data(&mut a, 1, b"abc"), vec![d(b"abc"), d(b"de"), Out::Fin]);
        assert!(a.fin_delivered());
        // nothing after the FIN
        assert_eq!(data(&mut a, 6, b"zz"), vec![]);
        // FIN with payload
        let mut b = syn(0, 1024);
        assert_eq!(push(&mut b, 1, "F", b"bye", 0).0, vec![d(b"bye"), Out::Fin]);
    }

    #[test]
    fn fin_drops_held_bytes_past_it() {
        let mut a = syn(0, 1024);
        assert_eq!(data(&mut a, 4, b"defgh"), vec![]);
        assert_eq!(push(&mut a, 6, "F", b"", 0).0, vec![]);
        assert_eq!(a.buffered(), 2);
        assert_eq!(data(&mut a, 1, b"abc"), vec![d(b"abc"), d(b"de"), Out::Fin]);
    }

    #[test]
    fn flush_hands_on_held_bytes_with_gaps_then_fin() {
        let mut a = syn(0, 1024);
        assert_eq!(data(&mut a, 1, b"a"), vec![d(b"a")]);
        assert_eq!(data(&mut a, 4, b"d"), vec![]);
        assert_eq!(data(&mut a, 7, b"g"), vec![]);
        assert_eq!(push(&mut a, 10, "F", b"", 0).0, vec![]);
        assert_eq!(
            flush(&mut a),
            vec![
                Out::Gap(2),
                d(b"d"),
                Out::Gap(2),
                d(b"g"),
                Out::Gap(2),
                Out::Fin
            ]
        );
        assert_eq!(flush(&mut a), vec![]);
    }

    /// Cuts `len` bytes into consecutive pieces plus random extra ones (overlaps, duplicates),
    /// all as (offset, len), in a seeded random order.
    pub(in crate::tcp) fn segments(
        len: usize,
        sizes: &[usize],
        extra: &[(usize, usize)],
        seed: u64,
    ) -> Vec<(usize, usize)> {
        let mut segs = Vec::new();
        let mut at = 0;
        for &s in sizes.iter().cycle() {
            if at >= len {
                break;
            }
            let n = s.min(len - at);
            segs.push((at, n));
            at += n;
        }
        for &(s, n) in extra {
            if s < len {
                segs.push((s, n.min(len - s)));
            }
        }
        // Fisher-Yates with xorshift
        let mut x = seed | 1;
        for i in (1..segs.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            segs.swap(i, (x % (i as u64 + 1)) as usize);
        }
        segs
    }

    fn isn() -> impl Strategy<Value = u32> {
        prop_oneof![any::<u32>(), (u32::MAX - 1000)..=u32::MAX]
    }

    proptest! {
        /// With room to hold everything, any order of overlapping pieces gives back the original.
        #[test]
        fn reassembles_original_in_any_order(
            bytes in prop::collection::vec(any::<u8>(), 0..400),
            sizes in prop::collection::vec(1usize..60, 1..10),
            extra in prop::collection::vec((0usize..400, 1usize..80), 0..20),
            seed in any::<u64>(),
            isn in isn(),
            fin_at in any::<prop::sample::Index>(),
        ) {
            let mut segs = segments(bytes.len(), &sizes, &extra, seed);
            let fin_slot = fin_at.index(segs.len() + 1);
            let mut a = syn(isn, 1 << 20);
            let mut got = Vec::new();
            let mut fins = 0;
            segs.insert(fin_slot, (bytes.len(), usize::MAX)); // the FIN
            for (off, n) in segs {
                let seq = SeqNum(isn) + 1 + off as u32;
                let (fin, payload) = if n == usize::MAX { (true, &[][..]) } else { (false, &bytes[off..off + n]) };
                a.push(seq, false, fin, payload, 0, &mut |c| match c {
                    Chunk::Data(b) => {
                        assert_eq!(fins, 0, "data after FIN");
                        got.extend_from_slice(b)
                    }
                    Chunk::Gap(n) => panic!("gap of {n} with no limit"),
                    Chunk::Fin => fins += 1,
                });
            }
            prop_assert_eq!(&got, &bytes);
            prop_assert_eq!(fins, 1);
            prop_assert_eq!(a.buffered(), 0);
            prop_assert!(flush(&mut a).is_empty());
        }

        /// With a small limit, every byte handed on is the original byte at its offset (byte-map
        /// model), data and gaps add up to the stream length, and the buffer never outgrows it.
        #[test]
        fn small_limit_keeps_offsets_true(
            bytes in prop::collection::vec(any::<u8>(), 0..400),
            sizes in prop::collection::vec(1usize..60, 1..10),
            extra in prop::collection::vec((0usize..400, 1usize..80), 0..20),
            seed in any::<u64>(),
            isn in isn(),
            limit in 0usize..64,
        ) {
            let segs = segments(bytes.len(), &sizes, &extra, seed);
            let mut a = syn(isn, limit);
            let mut offset = 0usize;
            let mut fins = 0;
            let mut check = |c: Chunk<'_>| match c {
                Chunk::Data(b) => {
                    assert_eq!(fins, 0, "data after FIN");
                    assert_eq!(b, &bytes[offset..offset + b.len()], "bytes at offset {offset}");
                    offset += b.len();
                }
                Chunk::Gap(n) => offset += n as usize,
                Chunk::Fin => fins += 1,
            };
            for (off, n) in segs {
                let seq = SeqNum(isn) + 1 + off as u32;
                a.push(seq, false, false, &bytes[off..off + n], 0, &mut check);
                assert!(a.buffered() <= limit);
            }
            a.push(SeqNum(isn) + 1 + bytes.len() as u32, false, true, b"", 0, &mut check);
            a.flush(&mut check);
            prop_assert_eq!(offset, bytes.len());
            prop_assert_eq!(fins, 1);
        }
    }
}
