#!/usr/bin/env python3
"""Regenerates the hand-made seeds in fuzz/seeds/ (the capture seeds are copies of samples/).
Run from the repository root: python3 fuzz/seeds/make.py. Script formats: src/fuzzing.rs."""
import os, shutil, struct

ROOT = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# capture_reader: a few small real captures, one per container flavour and link type.
for s in ["http11-no-upgrade.pcap", "correct-session.pcap", "incident-upstream.pcapng",
          "incident-any.pcap", "incident-any-sll.pcap", "incident-nanos.pcap"]:
    put("capture_reader", s, open(os.path.join(ROOT, "../../samples", s), "rb").read())


# decode: the first byte picks the link type (index into fuzzing::LINKS), then one packet.
def records(name):
    b = open(os.path.join(ROOT, "../../samples", name), "rb").read()
    at, out = 24, []
    while at + 16 <= len(b):
        cap = struct.unpack("<I", b[at + 8:at + 12])[0]
        out.append(b[at + 16:at + 16 + cap])
        at += 16 + cap
    return out


LINK_INDEX = {"ethernet": 1, "raw": 2, "sll": 4, "sll2": 7, "null": 0}
for name, link, pick in [("incident-upstream.pcap", "ethernet", [0, 16]),
                         ("incident-ipv6.pcap", "ethernet", [13]),
                         ("incident-any.pcap", "sll2", [14]),
                         ("incident-any-sll.pcap", "sll", [13])]:
    recs = records(name)
    for i in pick:
        put("decode", f"{name}-{i}-{link}", bytes([LINK_INDEX[link]]) + recs[i])
req = records("incident-upstream.pcap")[16]
put("decode", "raw-ipv4-request", bytes([LINK_INDEX["raw"]]) + req[14:])
put("decode", "null-ipv4-request", bytes([LINK_INDEX["null"]]) + b"\x02\x00\x00\x00" + req[14:])


# tcp_http: header byte, then segments (op, seq byte, length byte, payload[, missing]).
SYN, ACK, FIN, RST, CUT, SRV = 8, 16, 32, 64, 128, 4
def seg(op, seq=0, length=0, payload=b"", missing=None):
    out = bytes([op, seq & 0xFF if seq != "abs" else 0x7F])
    return out + bytes([length]) + payload + (bytes([missing]) if missing is not None else b"")
def canned(i):
    return 0xE0 + i
def abs_seg(op, seq, length, payload=b""):
    return bytes([op, 0x7F]) + struct.pack(">I", seq) + bytes([length]) + payload

H = 0x7F  # 4 connections, 2 KiB buffered, 512-byte heads
open_ = seg(SYN) + seg(SYN | ACK | SRV) + seg(ACK)
close = seg(FIN | ACK) + seg(FIN | ACK | SRV)
put("tcp_http", "handshake-ok", bytes([H]) + open_ + seg(ACK, 0, canned(0)) + seg(ACK | SRV, 0, canned(1)) + close)
put("tcp_http", "handshake-broken-404", bytes([H]) + open_ + seg(ACK, 0, canned(2)) + seg(ACK | SRV, 0, canned(3)) + close)
put("tcp_http", "chunked-out-of-order", bytes([H]) + seg(SYN) + abs_seg(ACK, 1001 + 58, canned(5))
    + abs_seg(ACK, 1001, canned(4)) + seg(ACK | SRV, 0, canned(6)) + seg(ACK | SRV, 0, 15, b"3\r\nabc\r\n0\r\n\r\n") + close)
put("tcp_http", "smuggling-and-dup-cl", bytes([H]) + open_ + seg(ACK, 0, canned(8)) + seg(ACK | SRV, 0, canned(7))
    + seg(ACK, 0, canned(9)) + seg(ACK | SRV, 0, canned(7)) + seg(RST | SRV))
put("tcp_http", "snaplen-cut-and-hole", bytes([H]) + seg(ACK | 1 | CUT, 0, 9, b"GET /ws H", 2) + seg(ACK | 1, 40, canned(0))
    + seg(ACK | 2, 0, canned(11)) + seg(ACK | 2 | SRV, 0, canned(10)) + seg(ACK | 3, 0, canned(13)))
put("tcp_http", "table-full", bytes([0x00]) + seg(SYN) + seg(SYN | 1) + seg(SYN | 2) + seg(ACK | 3, 0, canned(0)))


# http_conn: header byte, then steps (op: bit 0 direction, bits 1-2 kind, bit 3 wide gap).
TS, TC = 0, 1
DATA, GAP, END = 0, 2, 4
def data(d, payload):
    return bytes([DATA | d, len(payload)]) + payload
def cdata(d, i):
    return bytes([DATA | d, canned(i)])
HC = 3  # 512-byte heads
put("http_conn", "upgrade-ok", bytes([HC]) + cdata(TS, 0) + cdata(TC, 1) + data(TS, b"\x81\x85abcdhello"))
put("http_conn", "upgrade-rejected-then-replay", bytes([HC]) + cdata(TS, 0) + data(TS, b"GET /next HTTP/1.1\r\n\r\n") + cdata(TC, 3))
put("http_conn", "chunked", bytes([HC]) + cdata(TS, 4) + cdata(TS, 5) + cdata(TC, 6) + data(TC, b"3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n") + bytes([END | TS, END | TC]))
put("http_conn", "gap-in-head-then-resync", bytes([HC]) + data(TS, b"GET / HT") + bytes([GAP | TS, 5]) + data(TS, b"xx\r\n") + cdata(TS, 0) + cdata(TC, 3))
put("http_conn", "wide-gap-in-body", bytes([HC]) + cdata(TS, 4) + bytes([GAP | TS | 8]) + b"\xff" * 8 + cdata(TS, 0))
put("http_conn", "interim-connect-head", bytes([HC]) + cdata(TS, 13) + cdata(TC, 7) + cdata(TS, 11) + cdata(TC, 10) + data(TC, b"HTTP/1.1 200 OK\r\n\r\n") + data(TS, b"tunnel"))
put("http_conn", "huge-chunk-size", bytes([HC]) + cdata(TS, 4) + cdata(TS, 14) + data(TS, b"1\r\nx\r\n") + cdata(TC, 12) + bytes([END | TC]))
