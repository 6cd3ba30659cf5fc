//! Recognising the backend from its answer to a handshake: status, reason and the first bytes
//! of the body. Data, one table; each row says what the answer means.

/// One recognisable answer.
#[derive(Debug, PartialEq, Eq)]
pub struct Signature {
    /// The server or framework, as people call it.
    pub backend: &'static str,
    /// 0 matches any status.
    pub status: u16,
    /// Found in the body's first bytes or the reason phrase; empty means "an empty body".
    pub text: &'static str,
    /// What it means for the handshake.
    pub meaning: &'static str,
}

pub const SIGNATURES: &[Signature] = &[
    Signature {
        backend: "nginx (its own error page)",
        status: 0,
        text: "<center>nginx",
        meaning: "nginx answered by itself: the request did not reach the backend through this location (wrong location, a site file that is not enabled, or another server block won), or the upstream failed (502/504)",
    },
    Signature {
        backend: "Starlette/FastAPI",
        status: 404,
        text: r#"{"detail":"Not Found"}"#,
        meaning: "no route matched: the request reached the app as a plain GET (a handshake that lost Upgrade or Connection is routed as HTTP), or the path has no route",
    },
    Signature {
        backend: "Python websockets",
        status: 426,
        text: "Failed to open a WebSocket connection: missing Connection header",
        meaning: "the Connection header did not reach it",
    },
    Signature {
        backend: "Python websockets",
        status: 426,
        text: "Failed to open a WebSocket connection",
        meaning: "the handshake headers that reached it were incomplete",
    },
    Signature {
        backend: "gorilla/websocket (Go)",
        status: 400,
        text: "websocket: the client is not using the websocket protocol",
        meaning: "the Upgrade or Connection token did not reach it",
    },
    Signature {
        backend: "Spring",
        status: 400,
        text: "Can \"Upgrade\" only to \"WebSocket\".",
        meaning: "the Upgrade header did not reach it",
    },
    Signature {
        backend: "Phoenix (Elixir)",
        status: 400,
        text: "'connection' header must contain 'upgrade'",
        meaning: "the Connection header did not reach it with the upgrade token",
    },
    Signature {
        backend: "daphne/Autobahn",
        status: 505,
        text: "Unsupported HTTP version",
        meaning: "it refuses the HTTP/1.0 the proxy spoke",
    },
    Signature {
        backend: "engine.io/socket.io",
        status: 400,
        text: r#"{"code":3,"message":"Bad request"}"#,
        meaning: "the upgrade request did not carry what engine.io expects (often a stripped Upgrade); clients then stay on long polling",
    },
    Signature {
        backend: "python-engineio (socket.io)",
        status: 400,
        text: "\"Invalid transport\"",
        meaning: "the transport=websocket request reached it as a plain GET (the proxy stripped the upgrade), so the client stays on long polling",
    },
    Signature {
        backend: "Node ws",
        status: 426,
        text: "Upgrade Required",
        meaning: "it saw a plain request where it wanted an upgrade",
    },
    Signature {
        backend: "uvicorn",
        status: 403,
        text: "",
        meaning: "uvicorn refuses an intact handshake with 403 and an empty body when no WebSocket route matches the path or the app closed before accepting (e.g. an Origin check)",
    },
];

/// The first row that matches the answer.
pub fn identify(status: u16, reason: &str, body: &[u8]) -> Option<&'static Signature> {
    let body = String::from_utf8_lossy(body);
    // Chunked framing and whitespace around JSON should not hide a match.
    let squeezed: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    SIGNATURES.iter().find(|s| {
        (s.status == status || s.status == 0)
            && if s.text.is_empty() {
                body.trim().is_empty()
            } else {
                body.contains(s.text)
                    || reason.contains(s.text)
                    || squeezed.contains(&s.text.replace(' ', ""))
            }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_signature_is_recognised_from_a_hand_built_answer() {
        let cases: &[(u16, &str, &[u8], &str)] = &[
            (404, "Not Found", br#"{"detail":"Not Found"}"#, "Starlette/FastAPI"),
            (426, "Upgrade Required", b"Failed to open a WebSocket connection: missing Connection header.\n\nYou cannot access a WebSocket server directly with a browser. You need a WebSocket client.\n", "Python websockets"),
            (400, "Bad Request", b"websocket: the client is not using the websocket protocol: 'upgrade' token not found in 'Connection' header\n", "gorilla/websocket (Go)"),
            (400, "Bad Request", b"Can \"Upgrade\" only to \"WebSocket\".", "Spring"),
            (400, "Bad Request", b"'connection' header must contain 'upgrade'", "Phoenix (Elixir)"),
            (505, "HTTP Version Not Supported", b"Unsupported HTTP version", "daphne/Autobahn"),
            (400, "Bad Request", br#"{"code":3,"message":"Bad request"}"#, "engine.io/socket.io"),
            (426, "Upgrade Required", b"Upgrade Required", "Node ws"),
            (400, "Bad Request", b"13\r\n\"Invalid transport\"\r\n0\r\n\r\n", "python-engineio (socket.io)"),
            (403, "Forbidden", b"", "uvicorn"),
            (404, "Not Found", b"<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n", "nginx (its own error page)"),
            (502, "Bad Gateway", b"<html><body><center>nginx</center>", "nginx (its own error page)"),
            // Chunked framing around the JSON.
            (404, "Not Found", b"16\r\n{\"detail\":\"Not Found\"}\r\n0\r\n\r\n", "Starlette/FastAPI"),
        ];
        for (status, reason, body, backend) in cases {
            let s = identify(*status, reason, body)
                .unwrap_or_else(|| panic!("{backend} not recognised"));
            assert_eq!(s.backend, *backend);
        }
        // Same text, other status: no match; unknown answers: none.
        assert!(identify(500, "x", br#"{"detail":"Not Found"}"#).is_none());
        assert!(identify(404, "Not Found", b"<html>nginx</html>").is_none());
        assert!(identify(403, "Forbidden", b"denied").is_none());
    }
}
