//! Parsed message heads and their header helpers. A head arrives here as the exact bytes from
//! its start line to the empty line, with the start line already checked by the scanner; parsing
//! cannot fail, only fall back to a lenient header split (reported as `invalid_header`).

/// One header field as sent: the name as spelled, the value with surrounding whitespace removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: Vec<u8>,
}

/// A request head.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    pub target: String,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    pub headers: Vec<Header>,
}

/// A response head (final or interim).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseHead {
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<Header>,
}

fn named<'a, 'n>(
    headers: &'a [Header],
    name: &'n str,
) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_slice())
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The comma-separated elements of every `name` header, trimmed, empty ones dropped.
pub(crate) fn tokens<'a, 'n>(
    headers: &'a [Header],
    name: &'n str,
) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
    named(headers, name)
        .flat_map(|v| v.split(|&b| b == b','))
        .map(trim_ows)
        .filter(|t| !t.is_empty())
}

macro_rules! header_helpers {
    ($t:ty) => {
        impl $t {
            /// The first value of header `name` (case-insensitive).
            pub fn header(&self, name: &str) -> Option<&[u8]> {
                named(&self.headers, name).next()
            }
            /// How many times header `name` appears.
            pub fn header_count(&self, name: &str) -> usize {
                named(&self.headers, name).count()
            }
            /// Whether `token` is one of the comma-separated elements of header `name`, across
            /// all its occurrences, both compared case-insensitively (`Connection: keep-alive,
            /// Upgrade` has token `upgrade`).
            pub fn has_token(&self, name: &str, token: &str) -> bool {
                tokens(&self.headers, name).any(|t| t.eq_ignore_ascii_case(token.as_bytes()))
            }
        }
    };
}
header_helpers!(RequestHead);
header_helpers!(ResponseHead);

/// The start line (without its line end) and the header bytes after it.
fn split_start_line(head: &[u8]) -> (&[u8], &[u8]) {
    let end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = &head[..end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    (line, head.get(end + 1..).unwrap_or(&[]))
}

fn minor(version: &[u8]) -> u8 {
    match version.last() {
        Some(b'0') => 0,
        _ => 1,
    }
}

/// Parse a request head. The flag is true when some header lines were invalid and were read
/// leniently.
pub(crate) fn parse_request(head: &[u8]) -> (RequestHead, bool) {
    let (line, rest) = split_start_line(head);
    let mut parts = line.splitn(3, |&b| b == b' ');
    let method = String::from_utf8_lossy(parts.next().unwrap_or(&[])).into_owned();
    let target = String::from_utf8_lossy(parts.next().unwrap_or(&[])).into_owned();
    let version = minor(parts.next().unwrap_or(&[]));
    let (headers, lenient) = parse_headers(rest);
    let head = RequestHead {
        method,
        target,
        version,
        headers,
    };
    (head, lenient)
}

/// Parse a response head (see `parse_request`).
pub(crate) fn parse_response(head: &[u8]) -> (ResponseHead, bool) {
    let (line, rest) = split_start_line(head);
    // Checked by the scanner: `HTTP/1.d SP ddd [SP reason]`.
    let version = minor(line.get(..8).unwrap_or(&[]));
    let status = line
        .get(9..12)
        .unwrap_or(&[])
        .iter()
        .fold(0u16, |n, &d| n * 10 + u16::from(d.wrapping_sub(b'0') % 10));
    let reason = String::from_utf8_lossy(line.get(13..).unwrap_or(&[])).into_owned();
    let (headers, lenient) = parse_headers(rest);
    let head = ResponseHead {
        version,
        status,
        reason,
        headers,
    };
    (head, lenient)
}

/// Headers with httparse; on an error, a lenient line split instead.
fn parse_headers(rest: &[u8]) -> (Vec<Header>, bool) {
    let mut small = [httparse::EMPTY_HEADER; 64];
    let own = |hs: &[httparse::Header<'_>]| -> Vec<Header> {
        hs.iter()
            .map(|h| Header {
                name: h.name.to_owned(),
                value: h.value.to_vec(),
            })
            .collect()
    };
    match httparse::parse_headers(rest, &mut small) {
        Ok(httparse::Status::Complete((_, hs))) => return (own(hs), false),
        Err(httparse::Error::TooManyHeaders) => {
            // Each header takes at least one line, so this many slots always suffice.
            let lines = rest.iter().filter(|&&b| b == b'\n').count() + 1;
            let mut big = vec![httparse::EMPTY_HEADER; lines];
            if let Ok(httparse::Status::Complete((_, hs))) = httparse::parse_headers(rest, &mut big)
            {
                return (own(hs), false);
            }
        }
        _ => {}
    }
    (lenient_headers(rest), true)
}

/// `name: value` per line up to the empty line; folded lines join the previous value; lines
/// without a colon are dropped. Names are kept as sent (lossy), so `Upgrade :` does not count as
/// `Upgrade`, which is also how servers see it.
fn lenient_headers(rest: &[u8]) -> Vec<Header> {
    let mut out: Vec<Header> = Vec::new();
    for line in rest.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            if let Some(last) = out.last_mut() {
                last.value.push(b' ');
                last.value.extend_from_slice(trim_ows(line));
            }
            continue;
        }
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            out.push(Header {
                name: String::from_utf8_lossy(&line[..colon]).into_owned(),
                value: trim_ows(&line[colon + 1..]).to_vec(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_with_invalid_utf8_target_and_tokens() {
        let (h, lenient) = parse_request(
            b"GET /caf\xe9 HTTP/1.0\r\nConnection: keep-alive, Upgrade\r\nconnection: x\r\n\r\n",
        );
        assert!(!lenient);
        assert_eq!(h.method, "GET");
        assert_eq!(h.target, "/caf\u{fffd}");
        assert_eq!(h.version, 0);
        assert!(h.has_token("CONNECTION", "upgrade"));
        assert!(h.has_token("connection", "X"));
        assert!(!h.has_token("connection", "keep"));
        assert_eq!(h.header_count("Connection"), 2);
        assert_eq!(h.header("connection"), Some(&b"keep-alive, Upgrade"[..]));
        assert_eq!(h.header("upgrade"), None);
    }

    #[test]
    fn response_and_lenient_fallback() {
        let (h, lenient) = parse_response(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade : websocket\r\nA: b\r\n  c\r\n\r\n",
        );
        assert!(lenient);
        assert_eq!((h.version, h.status), (1, 101));
        assert_eq!(h.reason, "Switching Protocols");
        assert_eq!(h.header("upgrade"), None);
        assert_eq!(h.header("upgrade "), Some(&b"websocket"[..]));
        assert_eq!(h.header("a"), Some(&b"b c"[..]));
        let (h, _) = parse_response(b"HTTP/1.0 404\n\n");
        assert_eq!((h.version, h.status, h.reason.as_str()), (0, 404, ""));
    }

    #[test]
    fn many_headers_retry() {
        let mut s = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..200 {
            s.extend_from_slice(format!("X-{i}: {i}\r\n").as_bytes());
        }
        s.extend_from_slice(b"\r\n");
        let (h, lenient) = parse_request(&s);
        assert!(!lenient);
        assert_eq!(h.headers.len(), 200);
        assert_eq!(h.header("x-199"), Some(&b"199"[..]));
    }
}
