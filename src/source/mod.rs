//! Packet source: reads classic pcap (both byte orders, micro- and nanosecond timestamps) and
//! pcapng (any number of interfaces and sections) from a file or a stream, recognised by content.
//! Hands each packet, with its 1-based number, timestamp and link type, to `decode`.
//!
//! The reader follows pcap-parser's streaming protocol (`next` / `consume` / `refill`) over a
//! 1 MiB buffer, grown on demand up to [`MAX_RECORD`]: a loopback frame can be 65,549 bytes and
//! a 64 KiB buffer is not enough. Pull a packet with [`CaptureReader::next_packet`]; the packet
//! borrows the reader's buffer until the next call. Nothing here panics on bad bytes: a broken
//! record ends the read with a warning (`capture_truncated`, `capture_corrupt`) and everything
//! before it is still delivered.

#[cfg(feature = "capture")]
pub mod live;
pub mod writer;

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use pcap_parser::pcapng::Block;
use pcap_parser::traits::{PcapNGPacketBlock, PcapReaderIterator};
use pcap_parser::{LegacyPcapReader, PcapBlockOwned, PcapError, PcapNGReader};

use crate::common::plural;
use crate::common::{Timestamp, Warning};

/// Initial size of the read buffer.
const BUFFER_SIZE: usize = 1 << 20;
/// Largest record the reader will grow its buffer for. libpcap's largest snaplen is 262,144.
pub const MAX_RECORD: usize = 16 << 20;

/// A link-layer type number as used by libpcap (`LINKTYPE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub i32);

impl LinkType {
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    pub const RAW: LinkType = LinkType(101);
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// The name libpcap gives this link type, for reports.
    pub fn name(self) -> String {
        match self.0 {
            0 => "NULL".into(),
            1 => "EN10MB".into(),
            12 | 14 | 101 => "RAW".into(),
            108 => "LOOP".into(),
            113 => "LINUX_SLL".into(),
            228 => "IPV4".into(),
            229 => "IPV6".into(),
            276 => "LINUX_SLL2".into(),
            n => format!("LINKTYPE_{n}"),
        }
    }
}

/// The container format of a capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Classic libpcap format.
    Pcap {
        nanos: bool,
        big_endian: bool,
    },
    PcapNg,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Pcap { nanos: false, .. } => "pcap",
            Format::Pcap { nanos: true, .. } => "pcap (nanosecond)",
            Format::PcapNg => "pcapng",
        }
    }
}

/// One captured packet. `data` holds the captured bytes; `orig_len` is the length on the wire.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    pub number: u64,
    pub ts: Timestamp,
    pub link: LinkType,
    pub data: &'a [u8],
    pub orig_len: u32,
}

/// Why a capture could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{path}: {source}")]
    Open { path: String, source: io::Error },
    #[error("{path}: is a directory with no capture files (.pcap, .pcapng, .cap) in it")]
    IsDirectory { path: String },
    #[error("{path}: empty input; expected a pcap or pcapng capture")]
    Empty { path: String },
    #[error("{path}: gzip-compressed; decompress it first: zcat {path} | wsdiag analyze -")]
    Gzip { path: String },
    #[error("{path}: not a pcap or pcapng capture (starts with {magic}); write one with tcpdump -w FILE")]
    NotCapture { path: String, magic: String },
    #[error("{path}: read error: {source}")]
    Read { path: String, source: io::Error },
}

struct Interface {
    link: LinkType,
    /// Timestamp units per second.
    resolution: u64,
    offset: i64,
}

/// Streaming reader over one capture.
pub struct CaptureReader {
    inner: Box<dyn PcapReaderIterator + Send>,
    state: State,
    /// Bytes of the previous block, consumed at the start of the next call.
    pending: usize,
    /// Position in the input of the next unread byte.
    offset: u64,
    done: bool,
}

/// What the reader knows besides its buffer (kept apart so a block borrowed from the buffer
/// can update it).
struct State {
    format: Format,
    /// pcap: the file's link type.
    legacy_link: LinkType,
    /// pcapng: interfaces of the current section.
    interfaces: Vec<Interface>,
    number: u64,
    warnings: Vec<Warning>,
    /// pcapng: the current section's byte order.
    ng_big_endian: bool,
}

impl CaptureReader {
    /// Opens a capture file; `-` is standard input.
    pub fn open(path: &str) -> Result<CaptureReader, SourceError> {
        if path == "-" {
            return CaptureReader::from_reader(path, io::stdin());
        }
        if Path::new(path).is_dir() {
            return Err(SourceError::IsDirectory { path: path.into() });
        }
        let file = File::open(path).map_err(|source| SourceError::Open {
            path: path.into(),
            source,
        })?;
        CaptureReader::from_reader(path, file)
    }

    /// Reads a capture from any byte stream. `name` is used in error messages.
    pub fn from_reader<R: Read + Send + 'static>(
        name: &str,
        mut reader: R,
    ) -> Result<CaptureReader, SourceError> {
        let read_err = |source| SourceError::Read {
            path: name.into(),
            source,
        };
        // Probe the first bytes ourselves: on a pipe one read may return less than a header.
        let mut probe = Vec::with_capacity(64);
        fill_to(&mut reader, &mut probe, 24).map_err(read_err)?;
        if probe.is_empty() {
            return Err(SourceError::Empty { path: name.into() });
        }
        let magic = u32::from_le_bytes(probe_word(&probe));
        let format = match magic {
            0xa1b2_c3d4 => Format::Pcap {
                nanos: false,
                big_endian: false,
            },
            0xa1b2_3c4d => Format::Pcap {
                nanos: true,
                big_endian: false,
            },
            0xd4c3_b2a1 => Format::Pcap {
                nanos: false,
                big_endian: true,
            },
            0x4d3c_b2a1 => Format::Pcap {
                nanos: true,
                big_endian: true,
            },
            0x0a0d_0d0a => Format::PcapNg,
            _ if probe.starts_with(&[0x1f, 0x8b]) => {
                return Err(SourceError::Gzip { path: name.into() })
            }
            _ => {
                return Err(SourceError::NotCapture {
                    path: name.into(),
                    magic: describe_magic(&probe),
                })
            }
        };
        let too_short = |probe: &[u8]| SourceError::NotCapture {
            path: name.into(),
            magic: format!(
                "{} only, a header cut short",
                plural(probe.len() as u64, "byte")
            ),
        };
        if probe.len() < 24 {
            return Err(too_short(&probe));
        }
        if format == Format::PcapNg {
            // The whole section header block must be in the first read.
            let bom_le = probe[8..12] == [0x4d, 0x3c, 0x2b, 0x1a];
            let raw = [probe[4], probe[5], probe[6], probe[7]];
            let len = if bom_le {
                u32::from_le_bytes(raw)
            } else {
                u32::from_be_bytes(raw)
            } as usize;
            if !(28..=BUFFER_SIZE / 2).contains(&len) {
                return Err(SourceError::NotCapture {
                    path: name.into(),
                    magic: format!("a pcapng section header of {len} bytes"),
                });
            }
            fill_to(&mut reader, &mut probe, len).map_err(read_err)?;
            if probe.len() < len {
                return Err(too_short(&probe));
            }
        }
        let ng_big_endian = format == Format::PcapNg && probe[8..12] != [0x4d, 0x3c, 0x2b, 0x1a];
        let chained = io::Cursor::new(probe).chain(reader);
        let inner: Box<dyn PcapReaderIterator + Send> = match format {
            Format::Pcap { .. } => {
                Box::new(LegacyPcapReader::new(BUFFER_SIZE, chained).map_err(|e| {
                    SourceError::NotCapture {
                        path: name.into(),
                        magic: format!("a pcap header that does not parse ({e:?})"),
                    }
                })?)
            }
            Format::PcapNg => Box::new(PcapNGReader::new(BUFFER_SIZE, chained).map_err(|e| {
                SourceError::NotCapture {
                    path: name.into(),
                    magic: format!("a pcapng header that does not parse ({e:?})"),
                }
            })?),
        };
        Ok(CaptureReader {
            inner,
            state: State {
                format,
                legacy_link: LinkType::ETHERNET,
                interfaces: Vec::new(),
                number: 0,
                warnings: Vec::new(),
                ng_big_endian,
            },
            pending: 0,
            offset: 0,
            done: false,
        })
    }

    pub fn format(&self) -> Format {
        self.state.format
    }

    /// Link types seen so far (pcap: one; pcapng: one per interface).
    pub fn link_types(&self) -> Vec<LinkType> {
        match self.state.format {
            Format::Pcap { .. } => vec![self.state.legacy_link],
            Format::PcapNg => {
                let mut v: Vec<LinkType> = self.state.interfaces.iter().map(|i| i.link).collect();
                v.dedup();
                v
            }
        }
    }

    /// Warnings about the capture itself (truncation, corrupt records). Drains them.
    pub fn take_warnings(&mut self) -> Vec<Warning> {
        std::mem::take(&mut self.state.warnings)
    }

    /// Bytes of input consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.offset
    }

    /// The next packet, or `None` at the end of the capture (or after a record that could not be
    /// read, with a warning). I/O errors on the underlying reader are returned.
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, io::Error> {
        if self.pending > 0 {
            self.inner.consume(self.pending);
            self.offset += self.pending as u64;
            self.pending = 0;
        }
        loop {
            if self.done {
                return Ok(None);
            }
            if let Some(claimed) = self.short_ng_block() {
                self.stop(
                    "capture_corrupt",
                    format!(
                        "malformed block at byte {}: it claims {claimed} bytes, fewer than the 12 of any block; stopped reading there, everything before it was analysed",
                        self.offset
                    ),
                );
                continue;
            }
            // Decide what to do while the block borrows the buffer, then act.
            let base = self.inner.data().as_ptr() as usize;
            let step = match self.inner.next() {
                Ok((size, block)) => Step::Block(size, self.state.classify(block, base)),
                Err(PcapError::Eof) => Step::End,
                Err(PcapError::Incomplete(_)) => Step::Refill,
                Err(PcapError::BufferTooSmall) => Step::Grow,
                Err(PcapError::UnexpectedEof) => Step::Truncated,
                Err(PcapError::ReadError) => Step::ReadError,
                Err(e) => Step::Corrupt(format!("{e:?}")),
            };
            match step {
                Step::Block(size, Some(meta)) => {
                    self.pending = size;
                    self.state.number += 1;
                    let data = self
                        .inner
                        .data()
                        .get(meta.start..meta.start + meta.len)
                        .unwrap_or_default();
                    return Ok(Some(Packet {
                        number: self.state.number,
                        ts: meta.ts,
                        link: meta.link,
                        data,
                        orig_len: meta.orig_len,
                    }));
                }
                Step::Block(size, None) => {
                    self.inner.consume(size);
                    self.offset += size as u64;
                }
                Step::End => {
                    self.done = true;
                }
                Step::Refill => {
                    if let Err(e) = self.inner.refill() {
                        return Err(io::Error::other(format!("{e:?}")));
                    }
                }
                Step::Grow => {
                    let cap = self.inner.data().len().max(BUFFER_SIZE) * 2;
                    if cap > MAX_RECORD || !self.inner.grow(cap) {
                        self.stop(
                            "capture_corrupt",
                            format!(
                                "record at byte {} is larger than {} MiB; stopped reading there",
                                self.offset,
                                MAX_RECORD >> 20
                            ),
                        );
                    } else if let Err(e) = self.inner.refill() {
                        return Err(io::Error::other(format!("{e:?}")));
                    }
                }
                Step::Truncated => {
                    let left = self.inner.data().len();
                    if let Some(claimed) = self.impossible_record_length() {
                        self.stop(
                            "capture_corrupt",
                            format!(
                                "malformed record at byte {}: it claims {claimed} bytes, more than any capture holds; stopped reading there, everything before it was analysed",
                                self.offset
                            ),
                        );
                        continue;
                    }
                    self.stop(
                        "capture_truncated",
                        format!(
                            "capture truncated at byte {}: the last record is cut short ({} left over); everything before it was analysed",
                            self.offset + left as u64,
                            plural(left as u64, "byte")
                        ),
                    );
                }
                Step::ReadError => {
                    return Err(io::Error::other(format!(
                        "read error at byte {}",
                        self.offset
                    )))
                }
                Step::Corrupt(what) => {
                    self.stop(
                        "capture_corrupt",
                        format!(
                            "malformed record at byte {} ({what}); stopped reading there, everything before it was analysed",
                            self.offset
                        ),
                    );
                }
            }
        }
    }

    /// pcapng: the length the next block claims when it is below the 12 bytes every block has.
    /// pcap-parser 0.17 does not check that for process-information blocks and underflows
    /// (a panic in debug builds), so such a block is refused before it gets there.
    fn short_ng_block(&self) -> Option<u32> {
        if self.state.format != Format::PcapNg {
            return None;
        }
        let head = self.inner.data().get(..8)?;
        if head[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
            // A section header: its own byte order, and pcap-parser checks it.
            return None;
        }
        let raw = [head[4], head[5], head[6], head[7]];
        let len = if self.state.ng_big_endian {
            u32::from_be_bytes(raw)
        } else {
            u32::from_le_bytes(raw)
        };
        (len < 12).then_some(len)
    }

    /// The length a cut-short classic pcap record claims, when no capture could hold it: then
    /// the file is corrupt rather than truncated.
    fn impossible_record_length(&self) -> Option<u32> {
        let Format::Pcap { big_endian, .. } = self.state.format else {
            return None;
        };
        let raw: [u8; 4] = self.inner.data().get(8..12)?.try_into().ok()?;
        let caplen = if big_endian {
            u32::from_be_bytes(raw)
        } else {
            u32::from_le_bytes(raw)
        };
        (caplen as usize > MAX_RECORD).then_some(caplen)
    }

    fn stop(&mut self, code: &'static str, message: String) {
        self.done = true;
        self.state.warnings.push(Warning {
            packet: None,
            code,
            message,
        });
    }
}

impl State {
    /// Reads what a block means without keeping a borrow of it: header blocks update the
    /// reader's state and give `None`; packet blocks give their metadata, with where their
    /// bytes sit in the buffer that starts at address `base`.
    fn classify(&mut self, block: PcapBlockOwned<'_>, base: usize) -> Option<PacketMeta> {
        let at = |data: &[u8]| (data.as_ptr() as usize).saturating_sub(base);
        match block {
            PcapBlockOwned::LegacyHeader(h) => {
                self.legacy_link = LinkType(h.network.0);
                None
            }
            PcapBlockOwned::Legacy(b) => {
                let frac = if matches!(self.format, Format::Pcap { nanos: true, .. }) {
                    b.ts_usec.min(999_999_999)
                } else {
                    b.ts_usec.min(999_999) * 1000
                };
                Some(PacketMeta {
                    ts: Timestamp::from_parts(b.ts_sec as i64, frac),
                    link: self.legacy_link,
                    orig_len: b.origlen,
                    start: at(b.data),
                    len: b.data.len(),
                })
            }
            PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                self.ng_big_endian = shb.big_endian();
                self.interfaces.clear();
                None
            }
            PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                let resolution = idb.ts_resolution().filter(|r| *r > 0).unwrap_or(1_000_000);
                self.interfaces.push(Interface {
                    link: LinkType(idb.linktype.0),
                    resolution,
                    offset: idb.ts_offset(),
                });
                None
            }
            PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                let Some(iface) = self.interfaces.get(epb.if_id as usize) else {
                    // Skipped, but it keeps its number: numbers match Wireshark's.
                    self.number += 1;
                    self.warnings.push(Warning {
                        packet: Some(self.number),
                        code: "capture_corrupt",
                        message: format!(
                            "packet block names interface {} but the section declares {}; packet skipped",
                            epb.if_id,
                            self.interfaces.len()
                        ),
                    });
                    return None;
                };
                let units = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                let secs = (units / iface.resolution) as i64;
                let nanos = (u128::from(units % iface.resolution) * 1_000_000_000
                    / u128::from(iface.resolution)) as u32;
                let data = epb.packet_data();
                Some(PacketMeta {
                    ts: Timestamp::from_parts(secs.saturating_add(iface.offset), nanos),
                    link: iface.link,
                    orig_len: epb.origlen,
                    start: at(data),
                    len: data.len(),
                })
            }
            PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                let link = self.interfaces.first().map(|i| i.link)?;
                let data = spb.packet_data();
                Some(PacketMeta {
                    ts: Timestamp::default(),
                    link,
                    orig_len: spb.origlen,
                    start: at(data),
                    len: data.len(),
                })
            }
            PcapBlockOwned::NG(_) => None,
        }
    }
}

struct PacketMeta {
    ts: Timestamp,
    link: LinkType,
    orig_len: u32,
    /// Where the packet's bytes sit in the reader's buffer.
    start: usize,
    len: usize,
}

enum Step {
    Block(usize, Option<PacketMeta>),
    End,
    Refill,
    Grow,
    Truncated,
    ReadError,
    Corrupt(String),
}

/// Reads until `buf` holds `n` bytes or the input ends.
fn fill_to<R: Read>(reader: &mut R, buf: &mut Vec<u8>, n: usize) -> io::Result<()> {
    while buf.len() < n {
        let start = buf.len();
        buf.resize(n, 0);
        match reader.read(&mut buf[start..]) {
            Ok(0) => {
                buf.truncate(start);
                return Ok(());
            }
            Ok(k) => buf.truncate(start + k),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => buf.truncate(start),
            Err(e) => {
                buf.truncate(start);
                return Err(e);
            }
        }
    }
    Ok(())
}

fn probe_word(b: &[u8]) -> [u8; 4] {
    let mut w = [0u8; 4];
    for (i, x) in b.iter().take(4).enumerate() {
        w[i] = *x;
    }
    w
}

/// A short, printable description of a file's first bytes for the "not a capture" error.
fn describe_magic(b: &[u8]) -> String {
    let head = &b[..b.len().min(8)];
    if head
        .iter()
        .all(|c| c.is_ascii_graphic() || *c == b' ' || *c == b'\n' || *c == b'\r' || *c == b'\t')
    {
        let text: String = String::from_utf8_lossy(head)
            .chars()
            .map(|c| if c.is_ascii_whitespace() { ' ' } else { c })
            .collect();
        format!("text \"{}\"", text.trim_end())
    } else {
        let hex: Vec<String> = head.iter().map(|c| format!("{c:02x}")).collect();
        format!("bytes {}", hex.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const SECS: u32 = 1_700_000_000;

    /// A classic pcap with one header and the given records (ts_sec, ts_frac, data, orig_len).
    fn pcap(magic: u32, big_endian: bool, link: u32, recs: &[(u32, u32, &[u8], u32)]) -> Vec<u8> {
        let w32 = |out: &mut Vec<u8>, v: u32| {
            out.extend_from_slice(&if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            })
        };
        let w16 = |out: &mut Vec<u8>, v: u16| {
            out.extend_from_slice(&if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            })
        };
        let mut out = Vec::new();
        w32(&mut out, magic);
        w16(&mut out, 2);
        w16(&mut out, 4);
        w32(&mut out, 0);
        w32(&mut out, 0);
        w32(&mut out, 65535);
        w32(&mut out, link);
        for (sec, frac, data, orig) in recs {
            w32(&mut out, *sec);
            w32(&mut out, *frac);
            w32(&mut out, data.len() as u32);
            w32(&mut out, *orig);
            out.extend_from_slice(data);
        }
        out
    }

    /// Every packet of a capture as (number, ts, link, data, orig_len), and the warnings.
    #[allow(clippy::type_complexity)]
    fn read_all(
        mut r: CaptureReader,
    ) -> (Vec<(u64, Timestamp, LinkType, Vec<u8>, u32)>, Vec<Warning>) {
        let mut out = Vec::new();
        while let Some(p) = r.next_packet().expect("no I/O error") {
            out.push((p.number, p.ts, p.link, p.data.to_vec(), p.orig_len));
        }
        (out, r.take_warnings())
    }

    fn err_of(bytes: Vec<u8>) -> SourceError {
        match CaptureReader::from_reader("t", Cursor::new(bytes)) {
            Err(e) => e,
            Ok(r) => panic!("expected an error, got a reader for {:?}", r.format()),
        }
    }

    #[test]
    fn the_four_pcap_magics_give_format_and_timestamps() {
        // Written as u32 in the file's byte order, each reads back as 0xa1b2c3d4 / 0xa1b23c4d.
        for (magic, big_endian, nanos, frac, expect_nanos) in [
            (0xa1b2_c3d4u32, false, false, 123_456u32, 123_456_000u32),
            (0xa1b2_c3d4, true, false, 123_456, 123_456_000),
            (0xa1b2_3c4d, false, true, 123_456_789, 123_456_789),
            (0xa1b2_3c4d, true, true, 123_456_789, 123_456_789),
        ] {
            let bytes = pcap(
                magic,
                big_endian,
                101,
                &[(SECS, frac, b"abcd", 60), (SECS + 1, 0, b"efghij", 6)],
            );
            let r = CaptureReader::from_reader("t", Cursor::new(bytes)).unwrap();
            assert_eq!(
                r.format(),
                Format::Pcap { nanos, big_endian },
                "{magic:08x} be={big_endian}"
            );
            let (pkts, warnings) = read_all(r);
            assert!(warnings.is_empty(), "{warnings:?}");
            assert_eq!(pkts.len(), 2);
            let (n, ts, link, data, orig) = &pkts[0];
            assert_eq!(*n, 1);
            assert_eq!(*ts, Timestamp::from_parts(i64::from(SECS), expect_nanos));
            assert_eq!(*link, LinkType::RAW);
            assert_eq!(data, b"abcd");
            assert_eq!(*orig, 60);
            assert_eq!(pkts[1].0, 2);
            assert_eq!(pkts[1].1, Timestamp::from_parts(i64::from(SECS) + 1, 0));
            assert_eq!(pkts[1].3, b"efghij");
        }
    }

    /// A little-endian pcapng block.
    fn ng_block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
        let padded = body.len().div_ceil(4) * 4;
        let len = (12 + padded) as u32;
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(body);
        out.resize(out.len() + padded - body.len(), 0);
        out.extend_from_slice(&len.to_le_bytes());
    }

    fn ng_header(links: &[u16]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        ng_block(&mut out, 0x0a0d_0d0a, &shb);
        for link in links {
            let mut idb = link.to_le_bytes().to_vec();
            idb.extend_from_slice(&[0, 0]);
            idb.extend_from_slice(&65535u32.to_le_bytes());
            ng_block(&mut out, 1, &idb);
        }
        out
    }

    fn ng_epb(out: &mut Vec<u8>, if_id: u32, micros: u64, data: &[u8]) {
        let mut epb = if_id.to_le_bytes().to_vec();
        epb.extend_from_slice(&((micros >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(micros as u32).to_le_bytes());
        epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
        epb.extend_from_slice(data);
        ng_block(out, 6, &epb);
    }

    #[test]
    fn pcapng_packet_on_a_missing_interface_is_a_warning_not_a_panic() {
        let mut bytes = ng_header(&[1]);
        let t = u64::from(SECS) * 1_000_000 + 250_000;
        ng_epb(&mut bytes, 5, t, b"orphan");
        ng_epb(&mut bytes, 0, t + 1, b"kept");
        let r = CaptureReader::from_reader("t", Cursor::new(bytes)).unwrap();
        assert_eq!(r.format(), Format::PcapNg);
        let (pkts, warnings) = read_all(r);
        assert_eq!(pkts.len(), 1, "the orphan is skipped, the next packet kept");
        assert_eq!(pkts[0].3, b"kept");
        assert_eq!(pkts[0].0, 2, "the orphan keeps its number, as in Wireshark");
        assert_eq!(pkts[0].2, LinkType::ETHERNET);
        assert_eq!(
            pkts[0].1,
            Timestamp::from_parts(i64::from(SECS), 250_001_000)
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].code, "capture_corrupt");
        assert_eq!(warnings[0].packet, Some(1));
        assert!(
            warnings[0].message.contains("interface 5"),
            "{}",
            warnings[0].message
        );
    }

    #[test]
    fn a_pcapng_block_claiming_under_12_bytes_is_corrupt_not_a_panic() {
        // Found by the capture_reader fuzz target: a process-information block (0x80000001)
        // of length 8 made pcap-parser 0.17 subtract past zero.
        let mut bytes = ng_header(&[1]);
        ng_epb(&mut bytes, 0, 1, b"kept");
        bytes.extend_from_slice(&0x8000_0001u32.to_le_bytes());
        bytes.extend_from_slice(&8u32.to_le_bytes());
        bytes.extend_from_slice(&[0xff; 24]);
        let r = CaptureReader::from_reader("t", Cursor::new(bytes)).unwrap();
        let (pkts, warnings) = read_all(r);
        assert_eq!(pkts.len(), 1, "the packet before it is delivered");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].code, "capture_corrupt", "{warnings:?}");
        assert!(
            warnings[0].message.contains("claims 8 bytes"),
            "{warnings:?}"
        );
    }

    #[test]
    fn ten_bytes_is_a_header_cut_short() {
        let mut bytes = 0xa1b2_c3d4u32.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[2, 0, 4, 0, 0, 0]);
        assert_eq!(bytes.len(), 10);
        let e = err_of(bytes);
        assert!(matches!(e, SourceError::NotCapture { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains("cut short"), "{msg}");
        assert!(msg.contains("10 bytes"), "{msg}");
        // The same for a pcapng whose section header is cut.
        let ng = ng_header(&[]);
        let e = err_of(ng[..20].to_vec());
        assert!(e.to_string().contains("cut short"), "{e}");
        let e = err_of(ng[..26].to_vec());
        assert!(e.to_string().contains("cut short"), "{e}");
    }

    #[test]
    fn gzip_text_and_empty_inputs_are_named() {
        let e = err_of(vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2]);
        assert!(matches!(e, SourceError::Gzip { .. }), "{e:?}");
        assert!(e.to_string().contains("zcat"), "{e}");

        let e = err_of(b"hello world, not a capture\n".to_vec());
        match &e {
            SourceError::NotCapture { magic, .. } => {
                assert_eq!(magic, "text \"hello wo\"")
            }
            other => panic!("{other:?}"),
        }
        let e = err_of(vec![0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4]);
        assert!(
            e.to_string().contains("bytes de ad be ef 00 01 02 03"),
            "{e}"
        );
        assert!(matches!(err_of(Vec::new()), SourceError::Empty { .. }));
    }

    #[test]
    fn a_record_claiming_caplen_ffffffff_is_corrupt_not_an_allocation() {
        let mut bytes = pcap(0xa1b2_c3d4, false, 1, &[(SECS, 1, b"first", 5)]);
        for v in [SECS, 2, 0xffff_ffff, 0xffff_ffff] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        // Followed by more than the largest record the reader will buffer: it must give up
        // with `capture_corrupt` after growing to MAX_RECORD, not try to allocate 4 GiB.
        let mut big = bytes.clone();
        big.resize(big.len() + MAX_RECORD + 4096, 0);
        let r = CaptureReader::from_reader("t", Cursor::new(big)).unwrap();
        let (pkts, warnings) = read_all(r);
        assert_eq!(pkts.len(), 1, "the record before it is delivered");
        assert_eq!(pkts[0].3, b"first");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].code, "capture_corrupt", "{warnings:?}");
        assert!(warnings[0].message.contains("byte 45"), "{warnings:?}");

        // Near the end of the input the same record stops the read too, with one warning.
        bytes.extend_from_slice(&[0u8; 64]);
        let r = CaptureReader::from_reader("t", Cursor::new(bytes)).unwrap();
        let (pkts, warnings) = read_all(r);
        assert_eq!(pkts.len(), 1, "the record before it is delivered");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            ["capture_corrupt", "capture_truncated"].contains(&warnings[0].code),
            "{warnings:?}"
        );
    }

    #[test]
    fn an_impossible_caplen_near_the_end_is_corrupt_not_truncated() {
        let mut bytes = pcap(0xa1b2_c3d4, false, 1, &[(SECS, 1, b"first", 5)]);
        for v in [SECS, 2, 0xffff_ffff, 0xffff_ffff] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        bytes.extend_from_slice(&[0u8; 64]);
        let r = CaptureReader::from_reader("t", Cursor::new(bytes)).unwrap();
        let (_, warnings) = read_all(r);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].code, "capture_corrupt", "{warnings:?}");
    }

    /// Hands out one byte per `read` call, like a slow pipe.
    struct OneByte(Cursor<Vec<u8>>);

    impl Read for OneByte {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(1);
            self.0.read(&mut buf[..n])
        }
    }

    #[test]
    fn a_reader_giving_one_byte_per_read_still_yields_every_packet() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
        for name in ["incident-upstream.pcap", "incident-upstream.pcapng"] {
            let bytes = std::fs::read(root.join(name)).unwrap();
            let whole =
                read_all(CaptureReader::from_reader(name, Cursor::new(bytes.clone())).unwrap());
            let slow =
                CaptureReader::from_reader(name, OneByte(Cursor::new(bytes.clone()))).unwrap();
            let mut slow = slow;
            let mut pkts = Vec::new();
            while let Some(p) = slow.next_packet().unwrap() {
                pkts.push((p.number, p.ts, p.link, p.data.to_vec(), p.orig_len));
            }
            assert_eq!(slow.bytes_read(), bytes.len() as u64, "{name}");
            let warnings = slow.take_warnings();
            assert!(whole.0.len() > 30, "{name}: {} packets", whole.0.len());
            assert_eq!(pkts, whole.0, "{name}");
            assert!(warnings.is_empty(), "{name}: {warnings:?}");
            assert!(whole.1.is_empty());
        }
    }
}
