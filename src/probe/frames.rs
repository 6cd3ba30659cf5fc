//! The probe's side of the WebSocket framing: masked client frames out (RFC 6455 section 5.3),
//! whole server frames in (headers parsed by `crate::ws::frame`).

use std::io::{self, Read};
use std::time::Instant;

use crate::ws::frame::FrameHeader;

use super::net::Stream;

pub const OP_TEXT: u8 = 1;
pub const OP_BINARY: u8 = 2;
pub const OP_CLOSE: u8 = 8;
pub const OP_PING: u8 = 9;
pub const OP_PONG: u8 = 10;

/// Largest server frame the probe reads whole; beyond it the probe stops reading.
const MAX_FRAME: u64 = 1 << 20;

/// A final frame with a random mask, as a client must send it.
pub fn encode(opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 14);
    f.push(0x80 | (opcode & 0x0f));
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

pub fn random_mask() -> [u8; 4] {
    let mut m = [0u8; 4];
    // A mask is no secret; a failing RNG leaves zeros, still a valid frame.
    let _ = getrandom::fill(&mut m);
    m
}

/// A close frame's payload: the code and a reason.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

/// A whole frame from the server.
#[derive(Debug)]
pub struct Frame {
    pub header: FrameHeader,
    pub payload: Vec<u8>,
}

/// What reading a frame found.
pub enum Read1 {
    Frame(Frame),
    /// The connection ended cleanly (EOF).
    Eof,
    /// Nothing before the deadline.
    Timeout,
}

/// Reads server frames from a stream, starting with the bytes that followed the 101's head.
pub struct FrameReader {
    buf: Vec<u8>,
}

impl FrameReader {
    pub fn new(leftover: Vec<u8>) -> FrameReader {
        FrameReader { buf: leftover }
    }

    /// The next whole frame, unmasked, or why there is none.
    pub fn next(&mut self, s: &mut Stream, deadline: Instant) -> Result<Read1, String> {
        loop {
            if let Some((h, size)) = FrameHeader::parse(&self.buf) {
                if h.len > MAX_FRAME {
                    return Err(format!("a frame of {} bytes: not read", h.len));
                }
                let end = size + h.len as usize;
                if self.buf.len() >= end {
                    let mut payload = self.buf[size..end].to_vec();
                    if h.masked {
                        for (i, b) in payload.iter_mut().enumerate() {
                            *b ^= h.mask[i % 4];
                        }
                    }
                    self.buf.drain(..end);
                    return Ok(Read1::Frame(Frame { header: h, payload }));
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Read1::Timeout);
            }
            let _ = s.set_read_timeout(deadline - now);
            let mut chunk = [0u8; 16 * 1024];
            match s.read(&mut chunk) {
                Ok(0) => return Ok(Read1::Eof),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    return Ok(Read1::Timeout)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_are_masked_and_parse_back() {
        for len in [0usize, 5, 125, 126, 65535, 65536] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let f = encode(OP_TEXT, &payload, [1, 2, 3, 4]);
            let (h, size) = FrameHeader::parse(&f).unwrap();
            assert!(h.fin && h.masked && h.opcode == OP_TEXT);
            assert_eq!(h.len, len as u64);
            let back: Vec<u8> = f[size..]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ h.mask[i % 4])
                .collect();
            assert_eq!(back, payload);
        }
        // RFC 6455 section 5.7: a masked "Hello".
        assert_eq!(
            encode(OP_TEXT, b"Hello", [0x37, 0xfa, 0x21, 0x3d]),
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
        assert_eq!(close_payload(1000, "bye"), [0x03, 0xe8, b'b', b'y', b'e']);
    }
}
