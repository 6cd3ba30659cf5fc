//! WebSocket (RFC 6455): the handshake's accept-key check, and frame parsing after a 101.

pub mod frame;
pub mod session;

use base64::Engine;
use sha1::{Digest, Sha1};

/// The GUID RFC 6455 section 1.3 appends to the client's key.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` value a server must send for `key`.
pub fn accept_for(key: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(key.trim_ascii());
    h.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_example() {
        // RFC 6455 section 1.3.
        assert_eq!(
            accept_for(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(
            accept_for(b"  dGhlIHNhbXBsZSBub25jZQ== "),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_ne!(accept_for(b"x"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }
}
