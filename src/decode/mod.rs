//! Link / IP / TCP decoding: turns one captured packet's bytes into a [`TcpSegment`] view.
//! Stateless and panic-free; hands segments to `tcp` (reassembly).

use std::net::{IpAddr, SocketAddr};

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

use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TransportSlice};

use crate::source::{LinkType, Packet};

/// What a packet turned out to be.
#[derive(Debug)]
pub enum Decoded<'a> {
    Tcp(TcpSegment<'a>),
    /// Valid, but not TCP over IP (ARP, UDP, ICMP, ...): counted, not analysed.
    Other,
    /// Could not be decoded down to a TCP header: what stopped it, for a warning.
    Malformed(DecodeError),
}

/// Why a packet could not be decoded, with the evidence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("link type {0} is not supported (supported: Ethernet, Linux cooked v1/v2, NULL/LOOP, raw IP)")]
    UnsupportedLink(String),
    #[error("{layer} header cut short: {actual} of {required} bytes")]
    Short {
        layer: &'static str,
        required: usize,
        actual: usize,
    },
    #[error("{0}")]
    Invalid(String),
}

/// Decodes one packet down to its TCP segment.
pub fn decode<'a>(packet: &Packet<'a>) -> Decoded<'a> {
    let data = packet.data;
    let sliced = match packet.link.0 {
        1 => match LaxSlicedPacket::from_ethernet(data) {
            Ok(p) => p,
            Err(e) => return short("Ethernet", e.required_len, e.len),
        },
        // Linux cooked v1: 16-byte header, protocol in the last 2 bytes.
        113 => match data.get(..16) {
            Some(h) => LaxSlicedPacket::from_ether_type(
                EtherType(u16::from_be_bytes([h[14], h[15]])),
                &data[16..],
            ),
            None => return short("Linux cooked (SLL)", 16, data.len()),
        },
        // Linux cooked v2: 20-byte header, protocol in the first 2 bytes.
        276 => match data.get(..20) {
            Some(h) => LaxSlicedPacket::from_ether_type(
                EtherType(u16::from_be_bytes([h[0], h[1]])),
                &data[20..],
            ),
            None => return short("Linux cooked v2 (SLL2)", 20, data.len()),
        },
        // BSD loopback: a 4-byte address family, host byte order (NULL) or big-endian (LOOP).
        // Either way the IP version nibble tells v4 from v6.
        0 | 108 => match data.get(4..) {
            Some(ip) => match LaxSlicedPacket::from_ip(ip) {
                Ok(p) => p,
                Err(e) => return Decoded::Malformed(DecodeError::Invalid(format!("IP: {e}"))),
            },
            None => return short("loopback (NULL)", 4, data.len()),
        },
        12 | 14 | 101 | 228 | 229 => match LaxSlicedPacket::from_ip(data) {
            Ok(p) => p,
            Err(e) => return Decoded::Malformed(DecodeError::Invalid(format!("IP: {e}"))),
        },
        _ => {
            return Decoded::Malformed(DecodeError::UnsupportedLink(LinkType(packet.link.0).name()))
        }
    };
    tcp_of(&sliced, packet)
}

fn short<'a>(layer: &'static str, required: usize, actual: usize) -> Decoded<'a> {
    Decoded::Malformed(DecodeError::Short {
        layer,
        required,
        actual,
    })
}

fn tcp_of<'a>(sliced: &LaxSlicedPacket<'a>, packet: &Packet<'a>) -> Decoded<'a> {
    let (src_ip, dst_ip, ip_payload) = match &sliced.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                v4.payload(),
            )
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let h = v6.header();
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                v6.payload(),
            )
        }
        Some(LaxNetSlice::Arp(_)) => return Decoded::Other,
        None => {
            return match &sliced.stop_err {
                Some((err, layer)) => {
                    Decoded::Malformed(DecodeError::Invalid(format!("{layer:?}: {err}")))
                }
                None => Decoded::Other,
            }
        }
    };
    if ip_payload.ip_number != etherparse::IpNumber::TCP {
        return Decoded::Other;
    }
    if ip_payload.fragmented {
        return Decoded::Malformed(DecodeError::Invalid(
            "IP fragment (reassembly of IP fragments is not supported)".into(),
        ));
    }
    let tcp = match &sliced.transport {
        Some(TransportSlice::Tcp(t)) => t,
        _ => {
            return match &sliced.stop_err {
                Some((err, _)) => Decoded::Malformed(DecodeError::Invalid(format!("TCP: {err}"))),
                None => short("TCP", 20, ip_payload.payload.len()),
            }
        }
    };
    let payload = tcp.payload();
    // A packet cut by snaplen is cut at its end, so the bytes the wire had and the capture lacks
    // are the tail of the TCP payload.
    let missing = if ip_payload.incomplete {
        packet.orig_len.saturating_sub(packet.data.len() as u32)
    } else {
        0
    };
    Decoded::Tcp(TcpSegment {
        src: SocketAddr::new(src_ip, tcp.source_port()),
        dst: SocketAddr::new(dst_ip, tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags {
            syn: tcp.syn(),
            ack: tcp.ack(),
            fin: tcp.fin(),
            rst: tcp.rst(),
        },
        window: tcp.window_size(),
        payload,
        missing,
    })
}
