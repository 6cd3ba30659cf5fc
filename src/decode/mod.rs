//! Link / IP / TCP decoding: turns one captured packet's bytes into a [`TcpSegment`] view.
//! Stateless and panic-free; hands segments to `tcp` (reassembly).

use std::net::SocketAddr;

/// TCP header flags wsdiag cares about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
}

/// One TCP segment as seen in one packet. `payload` borrows the packet's bytes.
#[derive(Clone, Copy, Debug)]
pub struct TcpSegment<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    /// The payload bytes that were captured.
    pub payload: &'a [u8],
    /// Payload bytes that were on the wire but not captured (snaplen cut): a gap after `payload`.
    pub missing: u32,
}
