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

/// Parses a request head into `head`, reusing its allocations: the strings are refilled and
/// header entries come from `spare` (where the previous head's go back), so once a connection
/// has seen a head this large, parsing allocates nothing. Returns true when some header lines
/// were invalid and were read leniently.
pub(crate) fn parse_request(raw: &[u8], head: &mut RequestHead, spare: &mut Vec<Header>) -> bool {
    let (line, rest) = split_start_line(raw);
    let mut parts = line.splitn(3, |&b| b == b' ');
    refill(&mut head.method, parts.next().unwrap_or(&[]));
    refill(&mut head.target, parts.next().unwrap_or(&[]));
    head.version = minor(parts.next().unwrap_or(&[]));
    parse_headers(rest, &mut head.headers, spare)
}

/// Parses a response head into `head` (see `parse_request`).
pub(crate) fn parse_response(raw: &[u8], head: &mut ResponseHead, spare: &mut Vec<Header>) -> bool {
    let (line, rest) = split_start_line(raw);
    // Checked by the scanner: `HTTP/1.d SP ddd [SP reason]`.
    head.version = minor(line.get(..8).unwrap_or(&[]));
    head.status = line
        .get(9..12)
        .unwrap_or(&[])
        .iter()
        .fold(0u16, |n, &d| n * 10 + u16::from(d.wrapping_sub(b'0') % 10));
    refill(&mut head.reason, line.get(13..).unwrap_or(&[]));
    parse_headers(rest, &mut head.headers, spare)
}

/// `s` becomes `bytes` (invalid UTF-8 replaced), keeping its allocation.
fn refill(s: &mut String, bytes: &[u8]) {
    s.clear();
    s.push_str(&String::from_utf8_lossy(bytes));
}

/// Headers with httparse into `out` (its old entries go to `spare` first); on an error, a
/// lenient line split instead. True when lenient.
fn parse_headers(rest: &[u8], out: &mut Vec<Header>, spare: &mut Vec<Header>) -> bool {
    // Entries are refilled in place, by position: the n-th header of a connection's heads is
    // usually the same one (a proxy writes them in a fixed order), so its capacity fits and
    // nothing is reallocated. Entries beyond the new count wait in `spare`.
    let mut fill = |hs: &[httparse::Header<'_>]| {
        for (i, h) in hs.iter().enumerate() {
            if i == out.len() {
                out.push(spare.pop().unwrap_or(Header {
                    name: String::new(),
                    value: Vec::new(),
                }));
            }
            let e = &mut out[i];
            e.name.clear();
            e.name.push_str(h.name);
            e.value.clear();
            e.value.extend_from_slice(h.value);
        }
        spare.extend(out.drain(hs.len()..));
    };
    let mut small = [httparse::EMPTY_HEADER; 64];
    match httparse::parse_headers(rest, &mut small) {
        Ok(httparse::Status::Complete((_, hs))) => {
            fill(hs);
            return false;
        }
        Err(httparse::Error::TooManyHeaders) => {
            // Each header takes at least one line, so this many slots always suffice.
            let lines = rest.iter().filter(|&&b| b == b'\n').count() + 1;
            let mut big = vec![httparse::EMPTY_HEADER; lines];
            if let Ok(httparse::Status::Complete((_, hs))) = httparse::parse_headers(rest, &mut big)
            {
                fill(hs);
                return false;
            }
        }
        _ => {}
    }
    spare.append(out);
    *out = lenient_headers(rest);
    true
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

    fn parse_request(raw: &[u8]) -> (RequestHead, bool) {
        let mut head = RequestHead::default();
        let lenient = super::parse_request(raw, &mut head, &mut Vec::new());
        (head, lenient)
    }

    fn parse_response(raw: &[u8]) -> (ResponseHead, bool) {
        let mut head = ResponseHead::default();
        let lenient = super::parse_response(raw, &mut head, &mut Vec::new());
        (head, lenient)
    }

    #[test]
    fn reused_heads_hold_only_the_new_message() {
        let (mut head, mut spare) = (RequestHead::default(), Vec::new());
        super::parse_request(
            b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nX-Long: 0123456789\r\n\r\n",
            &mut head,
            &mut spare,
        );
        assert!(!super::parse_request(
            b"GET /b HTTP/1.0\r\nHost: y\r\n\r\n",
            &mut head,
            &mut spare
        ));
        assert_eq!(head, parse_request(b"GET /b HTTP/1.0\r\nHost: y\r\n\r\n").0);
        assert_eq!(
            spare.len(),
            2,
            "the entries not needed wait for the next head"
        );
        let mut resp = ResponseHead::default();
        super::parse_response(
            b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n",
            &mut resp,
            &mut spare,
        );
        assert!(super::parse_response(
            b"HTTP/1.1 101 Switching\r\nUpgrade : ws\r\n\r\n",
            &mut resp,
            &mut spare
        ));
        assert_eq!(
            resp,
            parse_response(b"HTTP/1.1 101 Switching\r\nUpgrade : ws\r\n\r\n").0
        );
    }

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
