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
///
/// Nearly every packet on a hop is a TCP segment straight over IPv4 or IPv6, whole in the
/// capture: [`plain_tcp`] reads those from fixed offsets. Anything else (VLAN tags, IPv6
/// extension headers, fragments, snaplen cuts, non-TCP, malformed headers) goes to
/// [`reference`], etherparse's lax slicing, which gives the same result for what `plain_tcp`
/// takes (`plain_tcp_agrees_with_the_reference` and the `decode` fuzz target check it).
pub fn decode<'a>(packet: &Packet<'a>) -> Decoded<'a> {
    match plain_tcp(packet) {
        Some(seg) => Decoded::Tcp(seg),
        None => reference(packet),
    }
}

/// The link header in front of IP, for the link types wsdiag reads.
struct LinkHeader {
    /// For "cut short" errors.
    name: &'static str,
    len: usize,
    /// Where its EtherType (the protocol after it) is, when it has one; without one, IP follows
    /// and its version nibble tells v4 from v6.
    ether_type_at: Option<usize>,
}

fn link_header(link: LinkType) -> Option<LinkHeader> {
    let (name, len, ether_type_at) = match link.0 {
        1 => ("Ethernet", 14, Some(12)),
        // Linux cooked v1: protocol in the last 2 bytes.
        113 => ("Linux cooked (SLL)", 16, Some(14)),
        // Linux cooked v2: protocol in the first 2 bytes.
        276 => ("Linux cooked v2 (SLL2)", 20, Some(0)),
        // BSD loopback: a 4-byte address family, host byte order (NULL) or big-endian (LOOP).
        0 | 108 => ("loopback (NULL)", 4, None),
        12 | 14 | 101 | 228 | 229 => ("raw IP", 0, None),
        _ => return None,
    };
    Some(LinkHeader {
        name,
        len,
        ether_type_at,
    })
}

fn be16(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([b[i], b[i + 1]])
}

/// The common case, or None: a link header of a supported type carrying IPv4 (no fragment) or
/// IPv6 (no extension header) carrying TCP, with the IP length within the captured bytes and a
/// valid TCP header length. Payload and addresses as [`reference`] reads them.
#[inline]
fn plain_tcp<'a>(packet: &Packet<'a>) -> Option<TcpSegment<'a>> {
    let data = packet.data;
    let link = link_header(packet.link)?;
    let ip = data.get(link.len..)?;
    if link
        .ether_type_at
        .is_some_and(|at| !matches!(be16(data, at), 0x0800 | 0x86dd))
    {
        return None;
    }
    let (src, dst, tcp) = match ip.first()? >> 4 {
        4 => {
            let h = ip.get(..20)?;
            let header = usize::from(h[0] & 0x0f) * 4;
            let total = usize::from(be16(h, 2));
            // More-fragments flag or a fragment offset: a fragment.
            let fragment = be16(h, 6) & 0x3fff != 0;
            if h[9] != 6 || fragment || header < 20 || total < header || total > ip.len() {
                return None;
            }
            let addr = |i: usize| IpAddr::from([h[i], h[i + 1], h[i + 2], h[i + 3]]);
            (addr(12), addr(16), &ip[header..total])
        }
        6 => {
            let h = ip.get(..40)?;
            let len = usize::from(be16(h, 4));
            // (A jumbogram's length, 0, leaves no room for the TCP header below.)
            if h[6] != 6 || 40 + len > ip.len() {
                return None;
            }
            let addr =
                |i: usize| IpAddr::from(<[u8; 16]>::try_from(&h[i..i + 16]).unwrap_or_default());
            (addr(8), addr(24), &ip[40..40 + len])
        }
        _ => return None,
    };
    let h = tcp.get(..20)?;
    let header = usize::from(h[12] >> 4) * 4;
    if header < 20 || header > tcp.len() {
        return None;
    }
    let be32 = |i: usize| u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    Some(TcpSegment {
        src: SocketAddr::new(src, be16(h, 0)),
        dst: SocketAddr::new(dst, be16(h, 2)),
        seq: be32(4),
        ack: be32(8),
        flags: TcpFlags {
            fin: h[13] & 0x01 != 0,
            syn: h[13] & 0x02 != 0,
            rst: h[13] & 0x04 != 0,
            ack: h[13] & 0x10 != 0,
        },
        window: be16(h, 14),
        payload: &tcp[header..],
        missing: 0,
    })
}

/// Decodes one packet down to its TCP segment with etherparse: every link, IP and TCP case
/// wsdiag knows, with the evidence when a packet cannot be decoded.
pub fn reference<'a>(packet: &Packet<'a>) -> Decoded<'a> {
    let data = packet.data;
    let Some(link) = link_header(packet.link) else {
        return Decoded::Malformed(DecodeError::UnsupportedLink(packet.link.name()));
    };
    let sliced = match (data.get(link.len..), link.ether_type_at) {
        _ if packet.link == LinkType::ETHERNET => match LaxSlicedPacket::from_ethernet(data) {
            Ok(p) => p,
            Err(e) => return short(link.name, e.required_len, e.len),
        },
        (None, _) => return short(link.name, link.len, data.len()),
        (Some(rest), Some(at)) => LaxSlicedPacket::from_ether_type(EtherType(be16(data, at)), rest),
        (Some(ip), None) => match LaxSlicedPacket::from_ip(ip) {
            Ok(p) => p,
            Err(e) => return Decoded::Malformed(DecodeError::Invalid(format!("IP: {e}"))),
        },
    };
    tcp_of(&sliced, packet.orig_len, data.len())
}

fn short<'a>(layer: &'static str, required: usize, actual: usize) -> Decoded<'a> {
    Decoded::Malformed(DecodeError::Short {
        layer,
        required,
        actual,
    })
}

/// `orig_len` and `captured`: the packet's length on the wire and in the capture.
fn tcp_of<'a>(sliced: &LaxSlicedPacket<'a>, orig_len: u32, captured: usize) -> Decoded<'a> {
    // `ip_total` is the IP packet's length on the wire per its header, `ip_start` where its
    // header starts: with them the uncaptured tail is known exactly, padding or not.
    let (src_ip, dst_ip, ip_payload, ip_total, ip_start) = match &sliced.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                v4.payload(),
                usize::from(h.total_len()),
                h.slice().as_ptr() as usize,
            )
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let h = v6.header();
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                v6.payload(),
                40 + usize::from(h.payload_length()),
                h.slice().as_ptr() as usize,
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
    // A packet cut by snaplen is cut at its end, so the bytes the IP header announces and the
    // capture lacks are the tail of the TCP payload.
    // Never more than the capture record says it cut, though: an IP header that claims more
    // than was on the wire (corrupt, or a segmentation-offload super-packet) hides nothing.
    let missing = if ip_payload.incomplete {
        let payload_start = ip_payload.payload.as_ptr() as usize;
        let expected = ip_total.saturating_sub(payload_start.saturating_sub(ip_start));
        let claimed = expected.saturating_sub(ip_payload.payload.len());
        let cut = (orig_len as usize).saturating_sub(captured);
        u32::try_from(claimed.min(cut)).unwrap_or(u32::MAX)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::Timestamp;
    use etherparse::{ArpHardwareId, ArpOperation, ArpPacket, LinuxSllPacketType, PacketBuilder};
    use std::net::{Ipv4Addr, Ipv6Addr};

    const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];
    const V4_C: [u8; 4] = [10, 0, 0, 1];
    const V4_S: [u8; 4] = [10, 0, 0, 2];
    const V6_C: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const V6_S: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    const REQ: &[u8] = b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n";

    fn packet(link: LinkType, data: &[u8]) -> Packet<'_> {
        Packet {
            number: 1,
            ts: Timestamp::default(),
            link,
            data,
            orig_len: data.len() as u32,
        }
    }

    fn tcp(d: Decoded<'_>) -> TcpSegment<'_> {
        match d {
            Decoded::Tcp(s) => s,
            other => panic!("expected a TCP segment, got {other:?}"),
        }
    }

    /// An IPv4 TCP segment 40000 -> 8080, seq 1000, ack 2000, PSH/ACK, window 512.
    fn ipv4_tcp(payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ipv4(V4_C, V4_S, 64)
            .tcp(40000, 8080, 1000, 512)
            .ack(2000)
            .psh()
            .write(&mut v, payload)
            .unwrap();
        v
    }

    fn ipv6_tcp(payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ipv6(V6_C, V6_S, 64)
            .tcp(40000, 8080, 1000, 512)
            .ack(2000)
            .psh()
            .write(&mut v, payload)
            .unwrap();
        v
    }

    fn assert_v4_request(s: &TcpSegment<'_>) {
        assert_eq!(s.src, SocketAddr::new(Ipv4Addr::from(V4_C).into(), 40000));
        assert_eq!(s.dst, SocketAddr::new(Ipv4Addr::from(V4_S).into(), 8080));
        assert_eq!((s.seq, s.ack, s.window), (1000, 2000, 512));
        assert_eq!(
            s.flags,
            TcpFlags {
                ack: true,
                ..TcpFlags::default()
            }
        );
        assert_eq!(s.payload, REQ);
        assert_eq!(s.missing, 0);
    }

    fn assert_v6_request(s: &TcpSegment<'_>) {
        assert_eq!(s.src, SocketAddr::new(Ipv6Addr::from(V6_C).into(), 40000));
        assert_eq!(s.dst, SocketAddr::new(Ipv6Addr::from(V6_S).into(), 8080));
        assert_eq!((s.seq, s.ack), (1000, 2000));
        assert_eq!(s.payload, REQ);
        assert_eq!(s.missing, 0);
    }

    #[test]
    fn ethernet_ipv4_tcp() {
        let mut v = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4(V4_C, V4_S, 64)
            .tcp(40000, 8080, 1000, 512)
            .ack(2000)
            .psh()
            .write(&mut v, REQ)
            .unwrap();
        assert_v4_request(&tcp(decode(&packet(LinkType::ETHERNET, &v))));
    }

    #[test]
    fn ethernet_ipv6_tcp_and_flags() {
        let mut v = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv6(V6_C, V6_S, 64)
            .tcp(40000, 8080, 1000, 512)
            .ack(2000)
            .psh()
            .write(&mut v, REQ)
            .unwrap();
        assert_v6_request(&tcp(decode(&packet(LinkType::ETHERNET, &v))));

        let mut v = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv6(V6_C, V6_S, 64)
            .tcp(40000, 8080, 7, 512)
            .syn()
            .fin()
            .rst()
            .write(&mut v, &[])
            .unwrap();
        let s = tcp(decode(&packet(LinkType::ETHERNET, &v)));
        assert_eq!(
            s.flags,
            TcpFlags {
                syn: true,
                ack: false,
                fin: true,
                rst: true
            }
        );
        assert!(s.payload.is_empty());
    }

    #[test]
    fn ethernet_vlan_tag() {
        let mut v = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .single_vlan(42.try_into().unwrap())
            .ipv4(V4_C, V4_S, 64)
            .tcp(40000, 8080, 1000, 512)
            .ack(2000)
            .psh()
            .write(&mut v, REQ)
            .unwrap();
        assert_eq!(&v[12..14], &[0x81, 0x00]);
        assert_v4_request(&tcp(decode(&packet(LinkType::ETHERNET, &v))));
    }

    #[test]
    fn ethernet_padding_of_a_short_frame_is_not_payload() {
        // Ethernet pads frames to 60 bytes; the IP total length says where the segment ends.
        let mut v = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4(V4_C, V4_S, 64)
            .tcp(40000, 8080, 1000, 512)
            .ack(2000)
            .write(&mut v, &[])
            .unwrap();
        assert_eq!(v.len(), 54);
        v.resize(60, 0xAA);
        let s = tcp(decode(&packet(LinkType::ETHERNET, &v)));
        assert!(s.payload.is_empty(), "padding taken as payload: {s:?}");
        assert_eq!(s.missing, 0);
    }

    #[test]
    fn linux_cooked_v1_in_front_of_ip() {
        let mut v = Vec::new();
        PacketBuilder::linux_sll(LinuxSllPacketType::HOST, 6, [0, 0, 0, 0, 0, 0, 0, 0])
            .ipv4(V4_C, V4_S, 64)
            .tcp(40000, 8080, 1000, 512)
            .ack(2000)
            .psh()
            .write(&mut v, REQ)
            .unwrap();
        assert_eq!(
            &v[14..16],
            &[0x08, 0x00],
            "protocol in the last 2 header bytes"
        );
        assert_v4_request(&tcp(decode(&packet(LinkType::LINUX_SLL, &v))));
        // A header cut short is reported with its sizes.
        match decode(&packet(LinkType::LINUX_SLL, &v[..10])) {
            Decoded::Malformed(DecodeError::Short {
                required, actual, ..
            }) => assert_eq!((required, actual), (16, 10)),
            other => panic!("{other:?}"),
        }
    }

    /// A 20-byte Linux cooked v2 header for `protocol`.
    fn sll2(protocol: u16) -> Vec<u8> {
        let mut h = protocol.to_be_bytes().to_vec();
        h.extend_from_slice(&[0, 0]); // reserved
        h.extend_from_slice(&1u32.to_be_bytes()); // interface index
        h.extend_from_slice(&772u16.to_be_bytes()); // ARPHRD_LOOPBACK
        h.push(0); // packet type: to us
        h.push(6); // address length
        h.extend_from_slice(&[0; 8]);
        assert_eq!(h.len(), 20);
        h
    }

    #[test]
    fn linux_cooked_v2_in_front_of_ipv4_and_ipv6() {
        let mut v = sll2(0x0800);
        v.extend_from_slice(&ipv4_tcp(REQ));
        assert_v4_request(&tcp(decode(&packet(LinkType::LINUX_SLL2, &v))));
        let mut v = sll2(0x86dd);
        v.extend_from_slice(&ipv6_tcp(REQ));
        assert_v6_request(&tcp(decode(&packet(LinkType::LINUX_SLL2, &v))));
        assert!(matches!(
            decode(&packet(LinkType::LINUX_SLL2, &v[..19])),
            Decoded::Malformed(DecodeError::Short { required: 20, .. })
        ));
    }

    #[test]
    fn bsd_loopback_null_and_loop() {
        // NULL: address family in host byte order; LOOP: big-endian. AF_INET6 differs by OS
        // (24, 28, 30): the IP version nibble decides.
        let mut v = 2u32.to_le_bytes().to_vec();
        v.extend_from_slice(&ipv4_tcp(REQ));
        assert_v4_request(&tcp(decode(&packet(LinkType::NULL, &v))));
        let mut v = 2u32.to_be_bytes().to_vec();
        v.extend_from_slice(&ipv4_tcp(REQ));
        assert_v4_request(&tcp(decode(&packet(LinkType::LOOP, &v))));
        for af in [24u32, 28, 30] {
            let mut v = af.to_be_bytes().to_vec();
            v.extend_from_slice(&ipv6_tcp(REQ));
            assert_v6_request(&tcp(decode(&packet(LinkType::LOOP, &v))));
            let mut v = af.to_le_bytes().to_vec();
            v.extend_from_slice(&ipv6_tcp(REQ));
            assert_v6_request(&tcp(decode(&packet(LinkType::NULL, &v))));
        }
        assert!(matches!(
            decode(&packet(LinkType::NULL, &[2, 0, 0])),
            Decoded::Malformed(DecodeError::Short { required: 4, .. })
        ));
    }

    #[test]
    fn raw_ip_link_types() {
        for link in [LinkType::RAW, LinkType(12), LinkType(14), LinkType::IPV4] {
            assert_v4_request(&tcp(decode(&packet(link, &ipv4_tcp(REQ)))));
        }
        for link in [LinkType::RAW, LinkType::IPV6] {
            assert_v6_request(&tcp(decode(&packet(link, &ipv6_tcp(REQ)))));
        }
        // Not IP at all: malformed, not a panic and not "other".
        assert!(matches!(
            decode(&packet(LinkType::RAW, b"\x00\x01\x02\x03 not ip")),
            Decoded::Malformed(DecodeError::Invalid(_))
        ));
    }

    #[test]
    fn udp_and_arp_are_other() {
        let mut v = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4(V4_C, V4_S, 64)
            .udp(5353, 5353)
            .write(&mut v, b"dns")
            .unwrap();
        assert!(matches!(
            decode(&packet(LinkType::ETHERNET, &v)),
            Decoded::Other
        ));
        let mut v = Vec::new();
        PacketBuilder::ipv6(V6_C, V6_S, 64)
            .udp(5353, 5353)
            .write(&mut v, b"dns")
            .unwrap();
        assert!(matches!(decode(&packet(LinkType::RAW, &v)), Decoded::Other));

        let arp = ArpPacket::new(
            ArpHardwareId::ETHERNET,
            EtherType::IPV4,
            ArpOperation::REQUEST,
            &MAC_A,
            &V4_C,
            &[0; 6],
            &V4_S,
        )
        .unwrap();
        let mut v = Vec::new();
        PacketBuilder::ethernet2(MAC_A, [0xff; 6])
            .arp(arp)
            .write(&mut v)
            .unwrap();
        assert_eq!(&v[12..14], &[0x08, 0x06]);
        assert!(matches!(
            decode(&packet(LinkType::ETHERNET, &v)),
            Decoded::Other
        ));
    }

    #[test]
    fn a_packet_cut_inside_the_tcp_header_is_malformed_with_evidence() {
        let mut v = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4(V4_C, V4_S, 64)
            .tcp(40000, 8080, 1000, 512)
            .ack(2000)
            .write(&mut v, REQ)
            .unwrap();
        let full = v.len() as u32;
        let cut = &v[..14 + 20 + 10]; // 10 of the 20 TCP header bytes
        let p = Packet {
            orig_len: full,
            ..packet(LinkType::ETHERNET, cut)
        };
        match decode(&p) {
            Decoded::Malformed(e) => {
                let msg = e.to_string();
                assert!(msg.contains("TCP"), "names the layer: {msg}");
                assert!(msg.contains("20"), "says how much was needed: {msg}");
                assert!(msg.contains("10"), "says how much there was: {msg}");
            }
            other => panic!("expected Malformed, got {other:?}"),
        }
        // Cut inside the IP header, and inside the Ethernet header.
        for n in [14 + 10, 8] {
            assert!(
                matches!(
                    decode(&packet(LinkType::ETHERNET, &v[..n])),
                    Decoded::Malformed(_)
                ),
                "cut at {n}"
            );
        }
    }

    #[test]
    fn a_snaplen_cut_payload_reports_the_uncaptured_bytes_as_missing() {
        let body = vec![b'x'; 100];
        let mut v = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4(V4_C, V4_S, 64)
            .tcp(40000, 8080, 1000, 512)
            .ack(2000)
            .write(&mut v, &body)
            .unwrap();
        let full = v.len() as u32;
        let captured = &v[..v.len() - 30];
        let p = Packet {
            orig_len: full,
            ..packet(LinkType::ETHERNET, captured)
        };
        let s = tcp(decode(&p));
        assert_eq!(s.payload.len(), 70);
        assert_eq!(s.missing, 30);
        assert_eq!(s.payload.len() as u32 + s.missing, 100);
        // The same over raw IPv6.
        let v = ipv6_tcp(&body);
        let full = v.len() as u32;
        let p = Packet {
            orig_len: full,
            ..packet(LinkType::RAW, &v[..v.len() - 45])
        };
        let s = tcp(decode(&p));
        assert_eq!((s.payload.len(), s.missing), (55, 45));
    }

    #[test]
    fn padding_does_not_count_as_missing_payload() {
        // 14 + 20 + 20 + 2 = 56 bytes, padded to Ethernet's minimum of 60, 55 captured: one
        // payload byte is missing, not the 5 that orig_len - caplen would say.
        let mut v = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4(V4_C, V4_S, 64)
            .tcp(40000, 8080, 1000, 512)
            .ack(2000)
            .write(&mut v, b"hi")
            .unwrap();
        v.resize(60, 0);
        let p = Packet {
            orig_len: 60,
            ..packet(LinkType::ETHERNET, &v[..55])
        };
        let s = tcp(decode(&p));
        assert_eq!((s.payload, s.missing), (&b"h"[..], 1));
    }

    #[test]
    fn an_unknown_link_type_is_unsupported() {
        let v = ipv4_tcp(REQ);
        match decode(&packet(LinkType(147), &v)) {
            Decoded::Malformed(DecodeError::UnsupportedLink(name)) => {
                assert_eq!(name, "LINKTYPE_147")
            }
            other => panic!("{other:?}"),
        }
    }

    /// A TCP packet of one of the shapes `plain_tcp` reads, with `options` bytes of IPv4
    /// options (when IPv4) and of TCP options, behind the link header of `link`; and where its
    /// IP header starts.
    fn plain_packet(link: LinkType, v6: bool, options: usize, payload: &[u8]) -> (Vec<u8>, usize) {
        let mut ip = if v6 {
            ipv6_tcp(payload)
        } else {
            ipv4_tcp(payload)
        };
        if options > 0 {
            // TCP options (NOPs), then for IPv4 IP options (NOPs), with the lengths fixed up.
            let ip_len = if v6 { 40 } else { 20 };
            let words = options / 4;
            ip.splice(ip_len + 20..ip_len + 20, vec![1u8; words * 4]);
            ip[ip_len + 12] += (words as u8) << 4;
            if v6 {
                let len = u16::from_be_bytes([ip[4], ip[5]]) + (words * 4) as u16;
                ip[4..6].copy_from_slice(&len.to_be_bytes());
            } else {
                ip.splice(20..20, vec![1u8; words * 4]);
                ip[0] += words as u8;
                let len = ip.len() as u16;
                ip[2..4].copy_from_slice(&len.to_be_bytes());
            }
        }
        let ether_type: [u8; 2] = if v6 { [0x86, 0xdd] } else { [0x08, 0x00] };
        let mut link_header = match link.0 {
            1 => [&MAC_A[..], &MAC_B[..], &ether_type[..]].concat(),
            113 => [&[0u8; 14][..], &ether_type[..]].concat(),
            276 => [&ether_type[..], &[0u8; 18][..]].concat(),
            0 | 108 => vec![2, 0, 0, 0],
            _ => Vec::new(),
        };
        let ip_start = link_header.len();
        link_header.extend_from_slice(&ip);
        (link_header, ip_start)
    }

    #[test]
    fn plain_tcp_takes_the_common_shapes() {
        for link in [1, 113, 276, 0, 108, 12, 14, 101, 228, 229] {
            for v6 in [false, true] {
                for options in [0, 12] {
                    let (v, _) = plain_packet(LinkType(link), v6, options, REQ);
                    let p = packet(LinkType(link), &v);
                    let s = plain_tcp(&p).unwrap_or_else(|| panic!("link {link} v6 {v6}"));
                    if v6 {
                        assert_v6_request(&s);
                    } else {
                        assert_v4_request(&s);
                    }
                    assert_eq!(format!("{:?}", reference(&p)), format!("{:?}", decode(&p)));
                }
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]
        /// Whatever `plain_tcp` takes, it reads as etherparse does: common packets with bytes
        /// overwritten, cut short or padded, on every link type.
        #[test]
        fn plain_tcp_agrees_with_the_reference(
            link in proptest::sample::select(vec![1, 113, 276, 0, 108, 12, 14, 101, 228, 229, 147]),
            as_link in proptest::option::weighted(0.1, proptest::sample::select(vec![1, 113, 276, 0, 101])),
            v6: bool,
            options in proptest::sample::select(vec![0usize, 4, 40]),
            payload in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
            writes in proptest::collection::vec((0usize..64, proptest::prop_oneof![
                3 => proptest::sample::select(vec![0u16, 1, 6, 20, 0x2000, 0x1fff, 0x4000, 0x4500, 0x6000, 0x0800, 0x86dd, 0xffff]),
                1 => proptest::num::u16::ANY,
            ]), 0..4),
            cut in proptest::option::weighted(0.3, 0usize..140),
            pad in 0usize..8,
        ) {
            let (mut v, ip_start) = plain_packet(LinkType(link), v6, options, &payload);
            // Big-endian 16-bit writes, mostly into the IP and TCP headers.
            for (at, x) in writes {
                if let Some(w) = v.get_mut(ip_start + at..ip_start + at + 2) {
                    w.copy_from_slice(&x.to_be_bytes());
                }
            }
            if let Some(cut) = cut {
                v.truncate(cut);
            }
            v.extend(std::iter::repeat_n(0xAA, pad));
            let p = packet(LinkType(as_link.unwrap_or(link)), &v);
            let p = Packet { orig_len: p.orig_len + 3, ..p };
            if plain_tcp(&p).is_some() {
                proptest::prop_assert_eq!(format!("{:?}", decode(&p)), format!("{:?}", reference(&p)));
            }
        }
    }
}
