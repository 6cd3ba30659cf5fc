//! Microbenchmarks of the two hot stages: the HTTP/1.x parser (one keep-alive exchange through
//! `HttpConn`: head scan, header parse, body skip) and the TCP reassembler (in-order segments
//! handed on in place, and an out-of-order pair). `cargo bench --bench micro`.

use divan::{black_box, Bencher};
use wsdiag::common::Direction;
use wsdiag::http::{HeadBuffers, HttpConfig, HttpConn};
use wsdiag::tcp::{Assembler, SeqNum};

fn main() {
    divan::main();
}

const REQUEST: &[u8] = b"GET /api/game/42/state?since=42 HTTP/1.1\r\nHost: game.example.com\r\nAccept: application/json\r\nX-Real-IP: 192.0.2.7\r\nX-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0\r\nCookie: session=abcdef0123456789\r\n\r\n";

fn response(body: usize) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 200 OK\r\nserver: uvicorn\r\ncontent-type: application/json\r\ncontent-length: {body}\r\n\r\n").into_bytes();
    r.resize(r.len() + body, b'x');
    r
}

/// One request and its response, each in one chunk, on a connection that already carried one.
#[divan::bench(args = [0, 1000, 65000])]
fn http_exchange(bencher: Bencher, body: usize) {
    let resp = response(body);
    let mut conn = HttpConn::new(&HttpConfig::default());
    let mut heads = HeadBuffers::default();
    let mut events = 0u64;
    bencher.bench_local(|| {
        let mut out = |_e: wsdiag::http::HttpEvent<'_>| events += 1;
        conn.data(
            Direction::ToServer,
            black_box(REQUEST),
            &mut heads,
            &mut out,
        );
        conn.data(Direction::ToClient, black_box(&resp), &mut heads, &mut out);
    });
    black_box(events);
}

/// The same request head fed in two chunks (a head split across segments).
#[divan::bench]
fn http_request_split(bencher: Bencher) {
    let mut conn = HttpConn::new(&HttpConfig::default());
    let mut heads = HeadBuffers::default();
    let resp = response(10);
    bencher.bench_local(|| {
        let mut out = |e: wsdiag::http::HttpEvent<'_>| {
            black_box(&e);
        };
        conn.data(
            Direction::ToServer,
            black_box(&REQUEST[..100]),
            &mut heads,
            &mut out,
        );
        conn.data(
            Direction::ToServer,
            black_box(&REQUEST[100..]),
            &mut heads,
            &mut out,
        );
        conn.data(Direction::ToClient, black_box(&resp), &mut heads, &mut out);
    });
}

/// In-order segments of `len` bytes: handed on from the packet, no copy.
#[divan::bench(args = [100, 1448, 65483])]
fn reassemble_in_order(bencher: Bencher, len: usize) {
    let payload = vec![7u8; len];
    let mut asm = Assembler::new(4 << 20);
    let mut seq = SeqNum(1000);
    let mut bytes = 0usize;
    bencher.bench_local(|| {
        asm.push(seq, false, false, black_box(&payload), 0, &mut |c| {
            if let wsdiag::tcp::Chunk::Data(d) = c {
                bytes += d.len();
            }
        });
        seq = seq + len as u32;
    });
    black_box(bytes);
}

/// Two segments swapped: the later one is held, then both go out when the hole fills.
#[divan::bench(args = [100, 1448])]
fn reassemble_swapped_pair(bencher: Bencher, len: usize) {
    let payload = vec![7u8; len];
    let mut asm = Assembler::new(4 << 20);
    let mut seq = SeqNum(1000);
    bencher.bench_local(|| {
        let mut out = |c: wsdiag::tcp::Chunk<'_>| {
            black_box(c);
        };
        asm.push(
            seq + len as u32,
            false,
            false,
            black_box(&payload),
            0,
            &mut out,
        );
        asm.push(seq, false, false, black_box(&payload), 0, &mut out);
        seq = seq + 2 * len as u32;
    });
}
