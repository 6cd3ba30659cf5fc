//! Parsed message heads and their header helpers. A head arrives here as the exact bytes from
//! its start line to the empty line, with the start line already checked by the scanner; parsing
//! cannot fail, only fall back to a lenient header split (reported as `invalid_header`).

use super::scan::{method_byte, run_from};

/// One header field as sent: the name as spelled, the value with surrounding whitespace removed.
/// Borrowed from the head it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    pub name: &'a str,
    pub value: &'a [u8],
}

/// A head's header fields, kept as one byte buffer and the positions of each name and value in
/// it: parsing copies the header block once, not each name and value, and a head reused for
/// the next message keeps both allocations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    /// The header block as received; after a lenient parse, the names and values one after
    /// another (a folded value is joined there).
    bytes: Vec<u8>,
    fields: Vec<Field>,
    /// Which of the [`KNOWN`] names occur (bit `i` for `KNOWN[i]`).
    present: u16,
    /// Which of them occur more than once.
    repeated: u16,
}

/// Byte ranges of one field's name and value in [`Headers::bytes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Field {
    name: (usize, usize),
    value: (usize, usize),
    /// Index of its name in [`KNOWN`], or `NOT_KNOWN`.
    known: u8,
}

/// The names looked up on every message (framing, handshake evidence): each field's name is
/// compared with these once, when parsed, so that looking one up compares a number per field
/// and a name that is absent costs one bit test.
pub(crate) const KNOWN: [&str; 9] = [
    "upgrade",
    "connection",
    "content-length",
    "transfer-encoding",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-accept",
    "host",
    "origin",
];
const NOT_KNOWN: u8 = u8::MAX;
/// Position of `name` (lowercase) in [`KNOWN`], at compile time; a name not there does not
/// compile.
pub(crate) const fn known_position(name: &str) -> usize {
    let mut i = 0;
    while i < KNOWN.len() {
        let k = KNOWN[i].as_bytes();
        let n = name.as_bytes();
        if k.len() == n.len() {
            let mut j = 0;
            while j < k.len() && k[j] == n[j] {
                j += 1;
            }
            if j == k.len() {
                return i;
            }
        }
        i += 1;
    }
    panic!("not a KNOWN name")
}

/// Positions in [`KNOWN`] of the names that decide whether a request asks for an upgrade.
pub(crate) const UPGRADE: usize = known_position("upgrade");
pub(crate) const SEC_WEBSOCKET_KEY: usize = known_position("sec-websocket-key");
pub(crate) const SEC_WEBSOCKET_VERSION: usize = known_position("sec-websocket-version");

/// Index of `name` in [`KNOWN`] (case-insensitive), or `NOT_KNOWN`. The length and the first
/// letter pick the one candidate, so most names cost no comparison at all.
#[inline]
fn known_index(name: &[u8]) -> u8 {
    let Some(&first) = name.first() else {
        return NOT_KNOWN;
    };
    let candidate: u8 = match (name.len(), first | 0x20) {
        (4, b'h') => 7,
        (6, b'o') => 8,
        (7, b'u') => 0,
        (10, b'c') => 1,
        (14, b'c') => 2,
        (17, b't') => 3,
        (17, b's') => 4,
        (20, b's') => 6,
        (21, b's') => 5,
        _ => return NOT_KNOWN,
    };
    let known = KNOWN[usize::from(candidate)].as_bytes();
    // (Every byte compared, no early exit: the compiler makes it a few vector operations.)
    let differ = name
        .iter()
        .zip(known)
        .fold(0, |acc, (&b, &k)| acc | (b.to_ascii_lowercase() ^ k));
    if name.len() == known.len() && differ == 0 {
        candidate
    } else {
        NOT_KNOWN
    }
}

impl Headers {
    /// The fields in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Header<'_>> + Clone + '_ {
        self.fields.iter().map(|f| Header {
            // Names are valid UTF-8: httparse checks they are tokens, the lenient split
            // stores them converted.
            name: std::str::from_utf8(&self.bytes[f.name.0..f.name.1]).unwrap_or_default(),
            value: &self.bytes[f.value.0..f.value.1],
        })
    }

    /// The fields with one of the [`KNOWN`] names: its position there and the value.
    pub(crate) fn known_indexed(&self) -> impl Iterator<Item = (usize, &[u8])> + '_ {
        self.fields
            .iter()
            .filter(|f| f.known != NOT_KNOWN)
            .map(|f| (usize::from(f.known), &self.bytes[f.value.0..f.value.1]))
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether some field is named `KNOWN[known]`: one bit test, no name compared.
    pub(crate) fn has_known(&self, known: usize) -> bool {
        self.present & (1 << known) != 0
    }

    /// The value of the first field named `KNOWN[known]`.
    pub(crate) fn known_value(&self, known: usize) -> Option<&[u8]> {
        self.known_indexed()
            .find(|&(k, _)| k == known)
            .map(|(_, value)| value)
    }

    /// Whether some [`KNOWN`] name in `mask` (bit `i` for `KNOWN[i]`) occurs more than once.
    pub(crate) fn repeats_any(&self, mask: u16) -> bool {
        self.repeated & mask != 0
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.fields.clear();
        self.present = 0;
        self.repeated = 0;
    }

    /// Adds a field whose name and value are at these ranges of the buffer.
    fn push_field(&mut self, name: (usize, usize), value: (usize, usize)) {
        let known = known_index(&self.bytes[name.0..name.1]);
        self.push_known(name, value, known);
    }

    /// Adds a field whose name is `KNOWN[known]` (or no known name).
    fn push_known(&mut self, name: (usize, usize), value: (usize, usize), known: u8) {
        if known != NOT_KNOWN {
            let bit = 1 << known;
            self.repeated |= self.present & bit;
            self.present |= bit;
        }
        self.fields.push(Field { name, value, known });
    }

    /// Name and value bytes of the fields whose name is `name` (case-insensitive).
    fn named_raw<'a, 'n>(
        &'a self,
        name: &'n [u8],
    ) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + use<'a, 'n> {
        let known = known_index(name);
        // A known name that is absent: no field to look at.
        let fields = if known != NOT_KNOWN && self.present & (1 << known) == 0 {
            &self.fields[..0]
        } else {
            &self.fields[..]
        };
        fields
            .iter()
            .filter(move |f| {
                if known != NOT_KNOWN {
                    f.known == known
                } else {
                    self.bytes[f.name.0..f.name.1].eq_ignore_ascii_case(name)
                }
            })
            .map(|f| {
                (
                    &self.bytes[f.name.0..f.name.1],
                    &self.bytes[f.value.0..f.value.1],
                )
            })
    }

    /// Appends `bytes` to the buffer; their range in it.
    fn push_bytes(&mut self, bytes: &[u8]) -> (usize, usize) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        (start, self.bytes.len())
    }
}

/// A request head.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    pub target: String,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    pub headers: Headers,
}

/// A response head (final or interim).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseHead {
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    pub status: u16,
    pub reason: String,
    pub headers: Headers,
}

fn named<'a, 'n>(
    headers: &'a Headers,
    name: &'n str,
) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
    headers.named_raw(name.as_bytes()).map(|(_, value)| value)
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
    headers: &'a Headers,
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
    let end = memchr::memchr(b'\n', head).unwrap_or(head.len());
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

/// Parses a request head into `head`, reusing its allocations (the strings and the header
/// buffers are refilled), so once a connection has seen a head this large, parsing allocates
/// nothing. Returns true when some header lines were invalid and were read leniently.
pub(crate) fn parse_request(raw: &[u8], head: &mut RequestHead) -> bool {
    let (line, rest) = split_start_line(raw);
    let mut parts = line.splitn(3, |&b| b == b' ');
    refill(&mut head.method, parts.next().unwrap_or(&[]));
    refill(&mut head.target, parts.next().unwrap_or(&[]));
    head.version = minor(parts.next().unwrap_or(&[]));
    parse_headers(rest, &mut head.headers)
}

/// Parses a response head into `head` (see `parse_request`).
pub(crate) fn parse_response(raw: &[u8], head: &mut ResponseHead) -> bool {
    let (line, rest) = split_start_line(raw);
    // Checked by the scanner: `HTTP/1.d SP ddd [SP reason]`.
    head.version = minor(line.get(..8).unwrap_or(&[]));
    head.status = line
        .get(9..12)
        .unwrap_or(&[])
        .iter()
        .fold(0u16, |n, &d| n * 10 + u16::from(d.wrapping_sub(b'0') % 10));
    refill(&mut head.reason, line.get(13..).unwrap_or(&[]));
    parse_headers(rest, &mut head.headers)
}

/// A request head that starts at `bytes[0]` and ends inside `bytes`, checked and parsed in one
/// pass: the request line by the scanner's rules, the header lines by [`plain_block`]'s. The
/// head's length; None when the head does not end in `bytes` or some line is not plain, and
/// then the caller scans and parses the usual way, which parses a head that passes here to the
/// same result (`fast_path_matches_scan_and_parse` checks it).
pub(crate) fn whole_request(bytes: &[u8], head: &mut RequestHead) -> Option<usize> {
    let method_len = match bytes.first()? {
        b'A'..=b'Z' => bytes.iter().take_while(|&&b| method_byte(b)).count(),
        _ => return None,
    };
    let target_start = method_len + 1;
    if bytes.get(method_len) != Some(&b' ') {
        return None;
    }
    let target_end = target_start + run_from(&bytes[target_start..], b' ' + 1);
    let rest = bytes.get(target_end..)?;
    let (minor, line_len) = match rest {
        [b' ', b'H', b'T', b'T', b'P', b'/', b'1', b'.', d @ (b'0' | b'1'), b'\r', b'\n', ..] => {
            (d, 11)
        }
        [b' ', b'H', b'T', b'T', b'P', b'/', b'1', b'.', d @ (b'0' | b'1'), b'\n', ..] => (d, 10),
        _ => return None,
    };
    if target_end == target_start {
        return None;
    }
    let head_start = target_end + line_len;
    let block = plain_block(&bytes[head_start..], &mut head.headers)?;
    refill(&mut head.method, &bytes[..method_len]);
    refill(&mut head.target, &bytes[target_start..target_end]);
    head.version = minor - b'0';
    Some(head_start + block)
}

/// A response head whole in `bytes` (see [`whole_request`]).
pub(crate) fn whole_response(bytes: &[u8], head: &mut ResponseHead) -> Option<usize> {
    let [b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor @ (b'0' | b'1'), b' ', digits @ ..] =
        bytes.get(..12)?
    else {
        return None;
    };
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // After the status: CRLF, LF, or a space and a reason phrase up to LF.
    let (reason, head_start) = match &bytes[12..] {
        [b'\r', b'\n', ..] => (&[][..], 14),
        [b'\n', ..] => (&[][..], 13),
        [b' ', reason @ ..] => {
            let lf = memchr::memchr(b'\n', reason)?;
            let line = &reason[..lf];
            (line.strip_suffix(b"\r").unwrap_or(line), 13 + lf + 1)
        }
        _ => return None,
    };
    let block = plain_block(&bytes[head_start..], &mut head.headers)?;
    head.version = minor - b'0';
    head.status = digits
        .iter()
        .fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    refill(&mut head.reason, reason);
    Some(head_start + block)
}

/// `s` becomes `bytes` (invalid UTF-8 replaced), keeping its allocation.
fn refill(s: &mut String, bytes: &[u8]) {
    s.clear();
    match std::str::from_utf8(bytes) {
        Ok(text) => s.push_str(text),
        Err(_) => s.push_str(&String::from_utf8_lossy(bytes)),
    }
}

/// Headers into `out`: the plain split when every line is simple, else httparse, and on an
/// error a lenient line split. True when lenient.
fn parse_headers(rest: &[u8], out: &mut Headers) -> bool {
    if plain_headers(rest, out) {
        return false;
    }
    general_headers(rest, out)
}

/// Headers with httparse into `out`; on an error, a lenient line split instead. True when
/// lenient.
fn general_headers(rest: &[u8], out: &mut Headers) -> bool {
    // One copy of the block; each field is then a pair of ranges into it.
    let fill = |hs: &[httparse::Header<'_>], out: &mut Headers| {
        out.clear();
        out.bytes.extend_from_slice(rest);
        let base = rest.as_ptr() as usize;
        let range = |b: &[u8]| {
            if b.is_empty() {
                // (An empty value need not point into `rest`.)
                return (0, 0);
            }
            let start = b.as_ptr() as usize - base;
            (start, start + b.len())
        };
        for h in hs {
            out.push_field(range(h.name.as_bytes()), range(h.value));
        }
    };
    let mut small = [httparse::EMPTY_HEADER; 64];
    match httparse::parse_headers(rest, &mut small) {
        Ok(httparse::Status::Complete((_, hs))) => {
            fill(hs, out);
            return false;
        }
        Err(httparse::Error::TooManyHeaders) => {
            // Each header takes at least one line, so this many slots always suffice.
            let lines = rest.iter().filter(|&&b| b == b'\n').count() + 1;
            let mut big = vec![httparse::EMPTY_HEADER; lines];
            if let Ok(httparse::Status::Complete((_, hs))) = httparse::parse_headers(rest, &mut big)
            {
                fill(hs, out);
                return false;
            }
        }
        _ => {}
    }
    lenient_headers(rest, out);
    true
}

/// httparse's header name bytes (RFC 9110 `tchar`).
const fn token_map() -> [bool; 256] {
    let mut map = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        map[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        b += 1;
    }
    map
}
static TOKEN: [bool; 256] = token_map();

/// The common case without httparse: every line is `token ":" value` with the value's bytes
/// all ones httparse accepts (tab, visible ASCII, space, bytes >= 0x80) and the line ending in
/// CRLF or LF. Fills `out` exactly as httparse's result would (leading and trailing spaces and
/// tabs off the value, an empty value as `(0, 0)`) and returns true; on anything else
/// (obs-fold, a space before the colon, a control byte, a bare CR) returns false, leaving `out`
/// to be refilled by the general path.
fn plain_headers(rest: &[u8], out: &mut Headers) -> bool {
    plain_block(rest, out).is_some()
}

/// [`plain_headers`] on a block that may go on past its empty line: the length of the block up
/// to and with its empty line, or None when some line is not plain or the block does not end in
/// `block`. One pass, each byte looked at once; `out` holds a copy of the block only.
fn plain_block(block: &[u8], out: &mut Headers) -> Option<usize> {
    out.fields.clear();
    out.present = 0;
    out.repeated = 0;
    let mut pos = 0;
    let len = loop {
        let line = block.get(pos..)?;
        let name_len = line.iter().take_while(|&&b| TOKEN[usize::from(b)]).count();
        if name_len == 0 {
            match line {
                [b'\n', ..] => break pos + 1,
                [b'\r', b'\n', ..] => break pos + 2,
                _ => return None,
            }
        }
        let name_end = pos + name_len;
        if block.get(name_end) != Some(&b':') {
            return None;
        }
        let (line_end, next) = value_end(block, name_end + 1)?;
        let raw = &block[name_end + 1..line_end];
        let lead = raw.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
        let value = trim_ows(&raw[lead..]);
        let start = name_end + 1 + lead;
        let range = if value.is_empty() {
            (0, 0)
        } else {
            (start, start + value.len())
        };
        out.push_known((pos, name_end), range, known_index(&block[pos..name_end]));
        pos = next;
    };
    out.bytes.clear();
    out.bytes.extend_from_slice(&block[..len]);
    Some(len)
}

/// From `i` inside a value: where the value ends (before CRLF or LF) and where the next line
/// starts, or None at a byte httparse refuses in a value (a control other than tab, DEL, a CR
/// not before LF) or at the end of the block.
fn value_end(block: &[u8], mut i: usize) -> Option<(usize, usize)> {
    loop {
        i += run_from(&block[i..], b' ');
        match *block.get(i)? {
            b'\n' => return Some((i, i + 1)),
            b'\r' if block.get(i + 1) == Some(&b'\n') => return Some((i, i + 2)),
            b'\t' => i += 1,
            _ => return None,
        }
    }
}

/// `name: value` per line up to the empty line; folded lines join the previous value; lines
/// without a colon are dropped. Names are kept as sent (lossy), so `Upgrade :` does not count as
/// `Upgrade`, which is also how servers see it.
fn lenient_headers(rest: &[u8], out: &mut Headers) {
    out.clear();
    // (name, value) per field, values built up here first: a folded line extends the last one.
    let mut fields: Vec<(String, Vec<u8>)> = Vec::new();
    for line in rest.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            if let Some((_, value)) = fields.last_mut() {
                value.push(b' ');
                value.extend_from_slice(trim_ows(line));
            }
            continue;
        }
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            fields.push((
                String::from_utf8_lossy(&line[..colon]).into_owned(),
                trim_ows(&line[colon + 1..]).to_vec(),
            ));
        }
    }
    for (name, value) in fields {
        let name = out.push_bytes(name.as_bytes());
        let value = out.push_bytes(&value);
        out.push_field(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_request(raw: &[u8]) -> (RequestHead, bool) {
        let mut head = RequestHead::default();
        let lenient = super::parse_request(raw, &mut head);
        (head, lenient)
    }

    fn parse_response(raw: &[u8]) -> (ResponseHead, bool) {
        let mut head = ResponseHead::default();
        let lenient = super::parse_response(raw, &mut head);
        (head, lenient)
    }

    #[test]
    fn reused_heads_hold_only_the_new_message() {
        let mut head = RequestHead::default();
        super::parse_request(
            b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nX-Long: 0123456789\r\n\r\n",
            &mut head,
        );
        assert!(!super::parse_request(
            b"GET /b HTTP/1.0\r\nHost: y\r\n\r\n",
            &mut head,
        ));
        assert_eq!(head, parse_request(b"GET /b HTTP/1.0\r\nHost: y\r\n\r\n").0);
        let mut resp = ResponseHead::default();
        super::parse_response(b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n", &mut resp);
        assert!(super::parse_response(
            b"HTTP/1.1 101 Switching\r\nUpgrade : ws\r\n\r\n",
            &mut resp,
        ));
        assert_eq!(
            resp,
            parse_response(b"HTTP/1.1 101 Switching\r\nUpgrade : ws\r\n\r\n").0
        );
        let (h, _) = parse_request(b"GET / HTTP/1.1\r\nEmpty:\r\nX:  y \r\n\r\n");
        let fields: Vec<_> = h.headers.iter().map(|h| (h.name, h.value)).collect();
        assert_eq!(fields, [("Empty", &b""[..]), ("X", &b"y"[..])]);
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
    fn plain_split_matches_httparse() {
        let blocks: &[&[u8]] = &[
            b"\r\n",
            b"\n",
            b"Host: a\r\n\r\n",
            b"Host:a\nX:  \t b c \t \r\n\n",
            b"Empty:\r\nSpaces:   \r\nTab:\t\r\n\r\n",
            b"X-\xe9: v\r\n\r\n",
            b"X: caf\xc3\xa9 \xff\r\n\r\n",
            b"X: a\tb\r\nY: a\x7fb\r\n\r\n",
            b"X: a\rb\r\n\r\n",
            b"X: a\x01b\r\n\r\n",
            b"Upgrade : websocket\r\n\r\n",
            b"A: b\r\n  c\r\n\r\n",
            b" A: b\r\n\r\n",
            b"A(b): c\r\n\r\n",
            b"!#$%&'*+-.^_`|~09azAZ: 1\r\n\r\n",
            b"NoColon\r\nA: b\r\n\r\n",
            b":novalue\r\n\r\n",
            b"A: 0123456789abcdef0123456789\r\nContent-Length: 12\r\nhOsT:x\r\n\r\n",
            b"A: b\r\r\n\r\n",
            b"A: b\r\n\r",
            b"A: b",
        ];
        for &block in blocks {
            let (mut plain, mut general) = (Headers::default(), Headers::default());
            let lenient = general_headers(block, &mut general);
            if plain_headers(block, &mut plain) {
                assert!(!lenient, "{:?}", String::from_utf8_lossy(block));
                assert_eq!(plain, general, "{:?}", String::from_utf8_lossy(block));
            }
            let mut both = Headers::default();
            assert_eq!(parse_headers(block, &mut both), lenient);
            assert_eq!(both, general, "{:?}", String::from_utf8_lossy(block));
        }
        let mut h = Headers::default();
        assert!(plain_headers(b"A: b\r\nC:\td \r\n\r\n", &mut h));
        assert!(!plain_headers(b"A: b\r\n c\r\n\r\n", &mut h));
    }

    /// Start lines that make or break each rule of the one-pass parse (good, odd and bad).
    fn start_line() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        prop_oneof![
            Just(b"GET /a?b=c HTTP/1.1\r\n".to_vec()),
            Just(b"M-SEARCH * HTTP/1.0\n".to_vec()),
            Just(b"GET  / HTTP/1.1\r\n".to_vec()),
            Just(b"GET / HTTP/1.2\r\n".to_vec()),
            Just(b"get / HTTP/1.1\r\n".to_vec()),
            Just(b"GET /caf\xc3\xa9\xff HTTP/1.1\r\n".to_vec()),
            Just(b"GET /a\x7f HTTP/1.1\r\n".to_vec()),
            Just(b"HTTP/1.1 101 Switching Protocols\r\n".to_vec()),
            Just(b"HTTP/1.0 404\n".to_vec()),
            Just(b"HTTP/1.1 200 \r\n".to_vec()),
            Just(b"HTTP/1.1 20x OK\r\n".to_vec()),
            Just(b"HTTP/1.1 200\rX\r\n".to_vec()),
            Just(b"HTTP/1.1 200 a\rb\x01\xff\r\n".to_vec()),
            prop::collection::vec(any::<u8>(), 0..6),
        ]
    }

    /// Header lines (plain, folded, a space before the colon, control bytes, DEL, bare CR,
    /// UTF-8), line ends and noise.
    fn header_piece() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        prop_oneof![
            Just(b"Host: a\r\n".to_vec()),
            Just(b"content-LENGTH:12\n".to_vec()),
            Just(b"X:  \t b c \t \r\n".to_vec()),
            Just(b"Empty:\r\n".to_vec()),
            Just(b"Upgrade : websocket\r\n".to_vec()),
            Just(b"  folded\r\n".to_vec()),
            Just(b"X: a\x7fb\r\n".to_vec()),
            Just(b"X: a\rb\r\n".to_vec()),
            Just(b"X: \x01\r\n".to_vec()),
            Just(b"X-\xe9: v\r\n".to_vec()),
            Just(b"Cookie: caf\xc3\xa9\r\n".to_vec()),
            Just(b"NoColon\r\n".to_vec()),
            Just(b"\r".to_vec()),
            prop::collection::vec(any::<u8>(), 0..6),
        ]
    }

    fn head_end() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        prop_oneof![
            Just(b"\r\n".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r\nBODY".to_vec()),
            Just(Vec::new()),
        ]
    }

    proptest::proptest! {
        /// Where the one-pass parse takes a head, scanning for its end and then parsing it
        /// finds the same end and the same head, read strictly.
        #[test]
        fn fast_path_matches_scan_and_parse(
            start in start_line(),
            lines in proptest::collection::vec(header_piece(), 0..6),
            end in head_end(),
        ) {
            use super::super::scan::{HeadScan, Kind, Scan};
            let bytes = [start, lines.concat(), end].concat();
            let mut fast = RequestHead::default();
            if let Some(n) = whole_request(&bytes, &mut fast) {
                proptest::prop_assert_eq!(HeadScan::new(Kind::Request).feed(&bytes, false), Scan::Found(n));
                let (slow, lenient) = parse_request(&bytes[..n]);
                proptest::prop_assert!(!lenient);
                proptest::prop_assert_eq!(&fast, &slow);
            }
            let mut fast = ResponseHead::default();
            if let Some(n) = whole_response(&bytes, &mut fast) {
                proptest::prop_assert_eq!(HeadScan::new(Kind::Response).feed(&bytes, false), Scan::Found(n));
                let (slow, lenient) = parse_response(&bytes[..n]);
                proptest::prop_assert!(!lenient);
                proptest::prop_assert_eq!(&fast, &slow);
            }
        }
    }

    #[test]
    fn fast_path_takes_plain_heads_and_leaves_the_rest() {
        let mut req = RequestHead::default();
        let head = b"GET /x HTTP/1.1\r\nHost: a\r\nX:\r\n\r\nBODY";
        assert_eq!(whole_request(head, &mut req), Some(head.len() - 4));
        assert_eq!(
            (req.method.as_str(), req.target.as_str(), req.version),
            ("GET", "/x", 1)
        );
        assert_eq!(req.header("host"), Some(&b"a"[..]));
        // Not whole, folded, or a bad start line: left to the scanner.
        assert_eq!(whole_request(&head[..20], &mut req), None);
        assert_eq!(
            whole_request(b"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", &mut req),
            None
        );
        assert_eq!(whole_request(b"GET / HTTP/1.1 \r\n\r\n", &mut req), None);
        let mut resp = ResponseHead::default();
        assert_eq!(whole_response(b"HTTP/1.0 404\n\n", &mut resp), Some(14));
        assert_eq!(
            (resp.version, resp.status, resp.reason.as_str()),
            (0, 404, "")
        );
        assert_eq!(
            whole_response(b"HTTP/1.1 200 OK\r\nA: b\r\n", &mut resp),
            None
        );
    }

    #[test]
    fn known_names() {
        for (i, k) in KNOWN.iter().enumerate() {
            assert_eq!(known_index(k.as_bytes()), i as u8);
            assert_eq!(known_index(k.to_ascii_uppercase().as_bytes()), i as u8);
        }
        assert_eq!(known_index(b"x-forwarded-for"), NOT_KNOWN);
        assert_eq!(known_index(b"cookie"), NOT_KNOWN);
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
