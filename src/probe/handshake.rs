//! The RFC 6455 opening handshake, client side: the request the probe sends (built here, byte
//! for byte, so the report can show exactly what went out) and the checks on the answer.

use crate::ws::accept_for;

/// What goes into the request.
#[derive(Clone, Debug, Default)]
pub struct RequestSpec {
    pub target: String,
    /// The `Host` header (from the URL unless `--header Host:...` replaces it).
    pub host: String,
    /// The base64 of 16 random bytes.
    pub key: String,
    pub origin: Option<String>,
    pub subprotocols: Vec<String>,
    /// `--header NAME:VALUE`, in order: a name the probe sends anyway replaces that header.
    pub extra: Vec<(String, String)>,
}

/// A fresh `Sec-WebSocket-Key`: 16 random bytes, base64 (RFC 6455 section 4.1).
pub fn new_key() -> Result<String, String> {
    use base64::Engine;
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).map_err(|e| format!("no randomness for the key: {e}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(raw))
}

/// The request line and headers, in the order they are sent.
pub fn request_headers(spec: &RequestSpec) -> (String, Vec<(String, String)>) {
    let line = format!("GET {} HTTP/1.1", spec.target);
    let mut headers: Vec<(String, String)> = vec![
        ("Host".into(), spec.host.clone()),
        (
            "User-Agent".into(),
            format!("wsdiag/{}", env!("CARGO_PKG_VERSION")),
        ),
        ("Upgrade".into(), "websocket".into()),
        ("Connection".into(), "Upgrade".into()),
        ("Sec-WebSocket-Key".into(), spec.key.clone()),
        ("Sec-WebSocket-Version".into(), "13".into()),
    ];
    if let Some(o) = &spec.origin {
        headers.push(("Origin".into(), o.clone()));
    }
    if !spec.subprotocols.is_empty() {
        headers.push((
            "Sec-WebSocket-Protocol".into(),
            spec.subprotocols.join(", "),
        ));
    }
    // A --header of a name the probe sends anyway replaces it; every --header is sent, in
    // order, after the probe's own.
    headers.retain(|(n, _)| !spec.extra.iter().any(|(e, _)| e.eq_ignore_ascii_case(n)));
    headers.extend(spec.extra.iter().cloned());
    (line, headers)
}

/// The request's bytes.
pub fn encode_request(line: &str, headers: &[(String, String)]) -> Vec<u8> {
    let mut s = format!("{line}\r\n");
    for (n, v) in headers {
        s.push_str(&format!("{n}: {v}\r\n"));
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// `--header NAME:VALUE`.
pub fn parse_header(s: &str) -> Result<(String, String), String> {
    let (n, v) = s
        .split_once(':')
        .ok_or_else(|| format!("--header {s:?}: expected NAME:VALUE"))?;
    let n = n.trim();
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if n.is_empty() || !n.bytes().all(token) {
        return Err(format!("--header {s:?}: {n:?} is not a header name"));
    }
    if v.bytes().any(|b| b == b'\r' || b == b'\n') {
        return Err(format!("--header {s:?}: the value has a line break"));
    }
    Ok((n.to_string(), v.trim().to_string()))
}

/// A response head as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: String,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
}

impl ResponseHead {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// All values of `name`, joined with `, ` (a list header may come in several lines).
    pub fn joined(&self, name: &str) -> Option<String> {
        let v: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        (!v.is_empty()).then(|| v.join(", "))
    }
}

/// Parses a response head from the start of `buf`: `Ok(None)` when more bytes are needed,
/// else the head and its length.
pub fn parse_response(buf: &[u8]) -> Result<Option<(ResponseHead, usize)>, String> {
    let mut n = 32;
    loop {
        let mut headers = vec![httparse::EMPTY_HEADER; n];
        let mut r = httparse::Response::new(&mut headers);
        match r.parse(buf) {
            Ok(httparse::Status::Partial) => return Ok(None),
            Ok(httparse::Status::Complete(len)) => {
                return Ok(Some((
                    ResponseHead {
                        version: format!("HTTP/1.{}", r.version.unwrap_or(1)),
                        status: r.code.unwrap_or(0),
                        reason: r.reason.unwrap_or("").to_string(),
                        headers: r
                            .headers
                            .iter()
                            .map(|h| {
                                (
                                    h.name.to_string(),
                                    String::from_utf8_lossy(h.value).into_owned(),
                                )
                            })
                            .collect(),
                    },
                    len,
                )))
            }
            Err(httparse::Error::TooManyHeaders) if n < 1024 => n *= 4,
            Err(e) => {
                let start = String::from_utf8_lossy(&buf[..buf.len().min(40)]).into_owned();
                return Err(format!(
                    "the answer is not HTTP/1.x ({e}): starts {start:?}"
                ));
            }
        }
    }
}

/// What the answer to the handshake says, judged against what was sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checked {
    /// Only for a 101.
    pub accept_valid: Option<bool>,
    pub extensions: Option<String>,
    pub subprotocol: Option<String>,
    /// Problem codes (see `super::ProbeProblem`), in order.
    pub problems: Vec<&'static str>,
    /// One sentence per problem.
    pub notes: Vec<String>,
}

/// Checks a response against the request's key and offered subprotocols and extensions.
pub fn check(
    head: &ResponseHead,
    key: &str,
    offered_protocols: &[String],
    offered_extensions: bool,
) -> Checked {
    let mut c = Checked {
        extensions: head.joined("sec-websocket-extensions"),
        subprotocol: head.joined("sec-websocket-protocol"),
        ..Checked::default()
    };
    if head.status != 101 {
        c.problems.push("refused");
        c.notes.push(format!(
            "the answer was `{} {} {}` instead of `101 Switching Protocols`",
            head.version, head.status, head.reason
        ));
        return c;
    }
    let expected = accept_for(key.as_bytes());
    let valid = head
        .header("sec-websocket-accept")
        .is_some_and(|a| a.trim() == expected);
    c.accept_valid = Some(valid);
    if !valid {
        c.problems.push("bad_accept");
        c.notes.push(match head.header("sec-websocket-accept") {
            Some(a) => format!("Sec-WebSocket-Accept is `{a}`, the key needs `{expected}`"),
            None => "the 101 has no Sec-WebSocket-Accept".into(),
        });
    }
    let upgrade_ok = head
        .header("upgrade")
        .is_some_and(|u| u.trim().eq_ignore_ascii_case("websocket"));
    let connection_ok = head.joined("connection").is_some_and(|c| {
        c.split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
    });
    if !upgrade_ok || !connection_ok {
        c.problems.push("bad_upgrade_headers");
        c.notes.push(format!(
            "the 101 lacks {}",
            match (upgrade_ok, connection_ok) {
                (false, false) => "`Upgrade: websocket` and `Connection: Upgrade`",
                (false, true) => "`Upgrade: websocket`",
                _ => "`Connection: Upgrade`",
            }
        ));
    }
    if let Some(p) = &c.subprotocol {
        if !offered_protocols.iter().any(|o| o == p.trim()) {
            c.problems.push("unexpected_subprotocol");
            c.notes.push(format!(
                "the server chose subprotocol `{p}`, which was not offered (a browser fails the connection)"
            ));
        }
    }
    if c.extensions.is_some() && !offered_extensions {
        c.problems.push("unexpected_extension");
        c.notes.push(format!(
            "the server chose extensions `{}` although none were offered",
            c.extensions.as_deref().unwrap_or("")
        ));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn spec() -> RequestSpec {
        RequestSpec {
            target: "/api/game/ws/42/alice?token=t".into(),
            host: "game.example.com:8000".into(),
            key: KEY.into(),
            origin: Some("https://game.example.com".into()),
            subprotocols: vec!["chat".into(), "v2".into()],
            extra: vec![],
        }
    }

    #[test]
    fn the_request_is_a_complete_rfc6455_handshake() {
        let (line, headers) = request_headers(&spec());
        let bytes = encode_request(&line, &headers);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with(
            "GET /api/game/ws/42/alice?token=t HTTP/1.1\r\nHost: game.example.com:8000\r\n"
        ));
        assert!(text.ends_with("\r\n\r\n"));
        // What a server parses.
        let mut h = [httparse::EMPTY_HEADER; 16];
        let mut r = httparse::Request::new(&mut h);
        assert!(r.parse(&bytes).unwrap().is_complete());
        assert_eq!(r.version, Some(1));
        let get = |n: &str| {
            r.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(n))
                .map(|h| std::str::from_utf8(h.value).unwrap())
        };
        assert_eq!(get("upgrade"), Some("websocket"));
        assert_eq!(get("connection"), Some("Upgrade"));
        assert_eq!(get("sec-websocket-key"), Some(KEY));
        assert_eq!(get("sec-websocket-version"), Some("13"));
        assert_eq!(get("origin"), Some("https://game.example.com"));
        assert_eq!(get("sec-websocket-protocol"), Some("chat, v2"));
    }

    #[test]
    fn headers_replace_the_probes_own_and_add_others() {
        let mut s = spec();
        s.extra = vec![
            ("host".into(), "other".into()),
            ("Cookie".into(), "a=1".into()),
            ("X-Dup".into(), "1".into()),
            ("X-Dup".into(), "2".into()),
        ];
        let (_, h) = request_headers(&s);
        let hosts: Vec<_> = h
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("host"))
            .collect();
        assert_eq!(hosts, [&("host".to_string(), "other".to_string())]);
        assert!(h.contains(&("Cookie".into(), "a=1".into())));
        assert_eq!(h.iter().filter(|(n, _)| n == "X-Dup").count(), 2);
        assert_eq!(parse_header("X-A: b ").unwrap(), ("X-A".into(), "b".into()));
        assert!(parse_header("nocolon").is_err());
        assert!(parse_header("bad name: x").is_err());
        assert!(parse_header("X: a\r\nInjected: 1").is_err());
    }

    #[test]
    fn keys_are_fresh_16_byte_nonces() {
        use base64::Engine;
        let a = new_key().unwrap();
        let b = new_key().unwrap();
        assert_ne!(a, b);
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&a)
            .unwrap();
        assert_eq!(raw.len(), 16);
    }

    fn parse(s: &str) -> ResponseHead {
        let (h, len) = parse_response(s.as_bytes()).unwrap().unwrap();
        assert_eq!(len, s.find("\r\n\r\n").unwrap() + 4);
        h
    }

    #[test]
    fn a_correct_101_passes() {
        let h = parse("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n");
        let c = check(&h, KEY, &["chat".into()], false);
        assert_eq!(c.accept_valid, Some(true));
        assert_eq!(c.subprotocol.as_deref(), Some("chat"));
        assert!(c.problems.is_empty(), "{c:?}");
    }

    #[test]
    fn a_bad_accept_and_missing_headers_are_named() {
        let h = parse("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: AAAA\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n");
        let c = check(&h, KEY, &[], false);
        assert_eq!(c.accept_valid, Some(false));
        assert_eq!(
            c.problems,
            ["bad_accept", "bad_upgrade_headers", "unexpected_extension"]
        );
        assert!(
            c.notes[0].contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            "{:?}",
            c.notes
        );
        let h = parse("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Protocol: evil\r\n\r\n");
        let c = check(&h, KEY, &["chat".into()], false);
        assert_eq!(c.problems, ["bad_accept", "unexpected_subprotocol"]);
    }

    #[test]
    fn a_refusal_keeps_its_status_line() {
        let h = parse(
            "HTTP/1.0 404 Not Found\r\nServer: nginx\r\nSet-Cookie: s=1\r\nSet-Cookie: t=2\r\n\r\n",
        );
        assert_eq!(
            (h.version.as_str(), h.status, h.reason.as_str()),
            ("HTTP/1.0", 404, "Not Found")
        );
        assert_eq!(h.joined("set-cookie").as_deref(), Some("s=1, t=2"));
        let c = check(&h, KEY, &[], false);
        assert_eq!(c.problems, ["refused"]);
        assert_eq!(c.accept_valid, None);
    }

    #[test]
    fn partial_and_garbage_answers() {
        assert_eq!(parse_response(b"HTTP/1.1 101 Swi").unwrap(), None);
        assert!(parse_response(b"SSH-2.0-OpenSSH_9.2\r\n\r\n").is_err());
        let many: String = (0..100).map(|i| format!("X-{i}: v\r\n")).collect();
        let h = parse(&format!("HTTP/1.1 200 OK\r\n{many}\r\n"));
        assert_eq!(h.headers.len(), 100);
    }
}
