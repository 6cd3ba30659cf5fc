//! TCP: owns the connection table, per-direction reassembly and sequence-number arithmetic.
//! Takes [`TcpSegment`](crate::decode::TcpSegment)s from `decode`, one per packet in capture
//! order, and hands each connection's byte streams to `http` as [`StreamEvent`]s through a
//! [`StreamSink`]: in-order data, gaps (bytes on the wire that will never be seen), FIN, RST.
//! Odd input (buffer limit reached, table full) becomes a [`Warning`] and the run goes on.

mod assembler;
mod seq;
mod table;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddr;

use crate::common::{Direction, PacketRef, Warning};

pub use assembler::{Assembler, Chunk};
pub use seq::SeqNum;
pub use table::ConnTable;

/// A connection's number: 1-based, in order of first sight in the capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// A map keyed by connection. The keys are numbers wsdiag hands out, not bytes from the
/// capture, so a plain multiplicative hash is safe and much cheaper than SipHash (these maps
/// are looked up for every stream event).
pub type ConnMap<V> = HashMap<ConnId, V, BuildHasherDefault<ConnIdHasher>>;

/// Hashes a [`ConnId`] by one multiplication (Fibonacci hashing).
#[derive(Default)]
pub struct ConnIdHasher(u64);

impl Hasher for ConnIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Who is who on a connection, and where it was first seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    pub id: ConnId,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub first_packet: PacketRef,
}

/// Limits and hints for the connection table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpConfig {
    /// Live connections held at once; past this the least recently active one is evicted.
    pub max_connections: usize,
    /// Out-of-order bytes held per direction; past this the holes are declared gaps.
    pub max_buffered_per_direction: usize,
    /// Out-of-order bytes held by all connections together; a direction that would take the
    /// total past this declares its holes gaps instead.
    pub max_buffered_total: usize,
    /// Ports known to be servers' (helps tell client from server when the SYN was not seen).
    pub server_ports: Vec<u16>,
}

impl Default for TcpConfig {
    fn default() -> TcpConfig {
        TcpConfig {
            max_connections: 100_000,
            max_buffered_per_direction: 4 << 20,
            max_buffered_total: 32 << 20,
            server_ports: Vec::new(),
        }
    }
}

/// What a connection's streams do, in order. `Opened` comes first and `Closed` last; in between,
/// each direction's `Data` and `Gap` lengths add up to the stream offsets, with no overlap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamEvent<'a> {
    Opened,
    /// The next bytes of the stream, contiguous with what came before in this direction.
    Data {
        dir: Direction,
        bytes: &'a [u8],
    },
    /// The next `len` bytes were on the wire but were not captured, were lost, or were given up.
    Gap {
        dir: Direction,
        len: u64,
    },
    /// The sender closed this direction; nothing more follows in it.
    Fin {
        dir: Direction,
    },
    /// The connection was reset by the sender of `dir`.
    Rst {
        dir: Direction,
    },
    /// The connection is done and has been dropped from the table.
    Closed,
}

/// Receives what the connection table hands on.
pub trait StreamSink {
    /// `at` is the packet being processed when the event is delivered.
    fn event(&mut self, conn: &ConnInfo, at: PacketRef, ev: StreamEvent<'_>);
    fn warning(&mut self, w: Warning);
}

/// Counters for the run summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpStats {
    /// Segments given to [`ConnTable::process`].
    pub segments: u64,
    /// Connections opened (the last [`ConnId`] handed out).
    pub connections: u64,
    /// Connections in the table now.
    pub live: usize,
    /// Connections closed by FIN in both directions.
    pub closed_fin: u64,
    /// Connections closed by RST.
    pub closed_rst: u64,
    /// Connections closed because a new SYN reused their 4-tuple.
    pub reused: u64,
    /// Connections evicted because the table was full.
    pub evicted: u64,
    /// Connections closed by [`ConnTable::evict_idle`] after a long silence.
    pub idle_closed: u64,
    /// Times the out-of-order buffer limit forced a gap.
    pub limit_gaps: u64,
    /// Segments without payload or SYN (bare ACK, lone FIN or RST) on no known connection:
    /// ignored, so late packets after a close open no ghost connection.
    pub ignored: u64,
}
