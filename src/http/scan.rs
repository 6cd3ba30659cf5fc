//! Byte scanners that find message boundaries without re-reading bytes: the start-line matcher
//! (checks a head's first line, and finds the next message after a desync) and the end-of-head
//! finder. Both carry their state across chunks, so a head fed one byte at a time costs the same
//! as a head fed whole.

/// Which side of the exchange a stream carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Request,
    Response,
}

const VERSION: &[u8; 7] = b"HTTP/1.";

/// Where the start-line matcher is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Line {
    /// Nothing seen yet.
    Start,
    /// Request: inside the method (uppercase token).
    Method,
    /// Request: inside the target; the count is its length so far.
    Target(u32),
    /// Byte `i` of `HTTP/1.` is expected next.
    Version(u8),
    /// The minor version digit (0 or 1).
    Minor,
    /// Request: CR or LF after the version.
    RequestEol,
    /// Response: the space before the status code.
    StatusSp,
    /// Response: status digit `i` (0..3).
    Status(u8),
    /// Response: after the three digits: SP, CR or LF.
    AfterStatus,
    /// Response: reason phrase, anything up to LF.
    Reason,
    /// A CR was seen; LF must follow.
    Cr,
}

/// What the scanner found in a slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scan {
    /// The head (or, when asked to stop there, the start line) ends after this many bytes.
    Found(usize),
    /// The start line is not a message start; the offending byte is the last of this many.
    Fail(usize),
    /// All bytes consumed, no end yet.
    NeedMore,
}

/// Incremental scanner over one head: first the start line (validated byte by byte), then the
/// header lines until an empty line (`\n\n` or `\n\r\n`).
///
/// Invariant: the bytes fed since `new` are exactly the head so far, so the state is a function
/// of those bytes alone, however they were split.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeadScan {
    kind: Kind,
    line: Option<Line>,
    /// After the start line: 0 = inside a line, 1 = just after LF, 2 = after LF CR.
    nl: u8,
}

impl HeadScan {
    pub(crate) fn new(kind: Kind) -> HeadScan {
        HeadScan {
            kind,
            line: Some(Line::Start),
            nl: 0,
        }
    }

    /// True when no byte has been fed since `new`.
    pub(crate) fn at_start(&self) -> bool {
        self.line == Some(Line::Start)
    }

    /// Feed `bytes`. With `line_only`, stop with `Found` at the end of the start line (used to
    /// resynchronise); otherwise stop at the end of the head.
    pub(crate) fn feed(&mut self, bytes: &[u8], line_only: bool) -> Scan {
        let mut i = 0;
        while let Some(state) = self.line {
            if let Line::Target(n) = state {
                // The target is most of a request line: take its run of visible bytes at once
                // (the same rule as `step_line`'s, which then sees the byte that ends it).
                let run = run_from(&bytes[i..], b' ' + 1);
                if run > 0 {
                    i += run;
                    self.line = Some(Line::Target(n.saturating_add(run as u32)));
                    continue;
                }
            }
            let version_next = match state {
                Line::Version(0) => true,
                Line::Start => self.kind == Kind::Response,
                _ => false,
            };
            if version_next && bytes[i..].starts_with(VERSION) {
                // `HTTP/1.` whole in this chunk: taken at once (`step_line` would accept the
                // same bytes one at a time).
                i += VERSION.len();
                self.line = Some(Line::Minor);
                continue;
            }
            if state == Line::Method {
                // The rest of the method (the step below then sees the byte that ends it).
                let run = bytes[i..].iter().take_while(|&&b| method_byte(b)).count();
                i += run;
            }
            if state == Line::Minor && self.kind == Kind::Response {
                // `d SP ddd` (minor version, status code) whole in this chunk: taken at once.
                if let Some([b'0' | b'1', b' ', a, b, c]) = bytes.get(i..i + 5) {
                    if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() {
                        i += 5;
                        self.line = Some(Line::AfterStatus);
                        continue;
                    }
                }
            }
            if state == Line::Reason {
                // The reason phrase takes every byte up to LF.
                match memchr::memchr(b'\n', &bytes[i..]) {
                    Some(p) => i += p,
                    None => return Scan::NeedMore,
                }
            }
            let Some(&b) = bytes.get(i) else {
                return Scan::NeedMore;
            };
            i += 1;
            match self.step_line(state, b) {
                Step::Next(s) => self.line = Some(s),
                Step::Fail => return Scan::Fail(i),
                Step::Done => {
                    self.line = None;
                    self.nl = 1;
                    if line_only {
                        return Scan::Found(i);
                    }
                }
            }
        }
        while i < bytes.len() {
            if self.nl == 0 {
                // memchr: header lines are skipped a machine word (or a vector) at a time.
                match memchr::memchr(b'\n', &bytes[i..]) {
                    Some(p) => {
                        i += p + 1;
                        self.nl = 1;
                    }
                    None => return Scan::NeedMore,
                }
                continue;
            }
            let b = bytes[i];
            i += 1;
            self.nl = match (self.nl, b) {
                (_, b'\n') => return Scan::Found(i),
                (1, b'\r') => 2,
                _ => 0,
            };
        }
        Scan::NeedMore
    }

    fn step_line(&self, state: Line, b: u8) -> Step {
        use Line::*;
        let next = match (self.kind, state) {
            (Kind::Request, Start) if b.is_ascii_uppercase() => Method,
            (Kind::Response, Start) if b == VERSION[0] => Version(1),
            (_, Start) => return Step::Fail,
            (_, Method) if b == b' ' => Target(0),
            (_, Method) if method_byte(b) => Method,
            (_, Target(n)) if b == b' ' && n > 0 => Version(0),
            (_, Target(n)) if b > b' ' && b != 0x7f => Target(n.saturating_add(1)),
            (_, Version(i)) if VERSION.get(usize::from(i)) == Some(&b) => {
                if usize::from(i) + 1 == VERSION.len() {
                    Minor
                } else {
                    Version(i + 1)
                }
            }
            (Kind::Request, Minor) if b == b'0' || b == b'1' => RequestEol,
            (Kind::Response, Minor) if b == b'0' || b == b'1' => StatusSp,
            (_, RequestEol) | (_, AfterStatus) if b == b'\r' => Cr,
            (_, RequestEol) | (_, AfterStatus) | (_, Cr) | (_, Reason) if b == b'\n' => {
                return Step::Done
            }
            (_, StatusSp) if b == b' ' => Status(0),
            (_, Status(i)) if b.is_ascii_digit() => {
                if i == 2 {
                    AfterStatus
                } else {
                    Status(i + 1)
                }
            }
            (_, AfterStatus) if b == b' ' => Reason,
            (_, Reason) => Reason,
            _ => return Step::Fail,
        };
        Step::Next(next)
    }
}

/// Whether `b` may be in a request method after its first letter (which is uppercase).
pub(crate) fn method_byte(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
}

enum Step {
    Next(Line),
    Done,
    Fail,
}

/// Length of the run at the start of `bytes` of bytes that are `min` or above and not DEL
/// (`min` at most 0x80): eight bytes are tested at a time, only the word that ends the run is
/// looked at byte by byte.
pub(crate) fn run_from(bytes: &[u8], min: u8) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut words = bytes.chunks_exact(8);
    let mut i = 0;
    for word in &mut words {
        let x = u64::from_le_bytes(word.try_into().unwrap_or_default());
        // The lowest flagged byte of each test is exact (higher ones may be false hits).
        let below = x.wrapping_sub(ONES * u64::from(min)) & !x & HIGH;
        let y = x ^ (ONES * 0x7f);
        let del = y.wrapping_sub(ONES) & !y & HIGH;
        let hits = below | del;
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + words
        .remainder()
        .iter()
        .take_while(|&&b| b >= min && b != 0x7f)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(kind: Kind, s: &[u8], line_only: bool) -> Scan {
        HeadScan::new(kind).feed(s, line_only)
    }

    #[test]
    fn request_lines() {
        let k = Kind::Request;
        assert_eq!(whole(k, b"GET / HTTP/1.1\r\n", true), Scan::Found(16));
        assert_eq!(whole(k, b"M-SEARCH * HTTP/1.0\n", true), Scan::Found(20));
        assert_eq!(whole(k, b"get / HTTP/1.1\r\n", true), Scan::Fail(1));
        assert_eq!(whole(k, b"GET  / HTTP/1.1\r\n", true), Scan::Fail(5));
        assert_eq!(whole(k, b"PRI * HTTP/2.0\r\n", true), Scan::Fail(12));
        assert_eq!(whole(k, b"GET / HTTP/1.1\rX", true), Scan::Fail(16));
        assert_eq!(whole(k, b"GET / HTTP/1.1\r", true), Scan::NeedMore);
    }

    #[test]
    fn status_lines() {
        let k = Kind::Response;
        assert_eq!(
            whole(k, b"HTTP/1.1 101 Switching\r\n", true),
            Scan::Found(24)
        );
        assert_eq!(whole(k, b"HTTP/1.0 200\n", true), Scan::Found(13));
        assert_eq!(whole(k, b"HTTP/1.1 20x OK\r\n", true), Scan::Fail(12));
        assert_eq!(whole(k, b"HTTP/2 200\r\n", true), Scan::Fail(6));
    }

    proptest::proptest! {
        /// The word-at-a-time scanner agrees with the byte-at-a-time rule it stands for.
        #[test]
        fn run_from_matches_bytewise(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    4 => proptest::sample::select(b"aZz09-Content-Length".to_vec()),
                    1 => proptest::num::u8::ANY,
                ],
                0..40,
            ),
            min in proptest::sample::select(vec![b' ', b' ' + 1, 0x80]),
        ) {
            let run = bytes.iter().take_while(|&&b| b >= min && b != 0x7f).count();
            proptest::prop_assert_eq!(run_from(&bytes, min), run);
        }
    }

    #[test]
    fn head_end_found_across_any_split() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY";
        for cut in 0..head.len() {
            let mut s = HeadScan::new(Kind::Request);
            let r = match s.feed(&head[..cut], false) {
                Scan::NeedMore => match s.feed(&head[cut..], false) {
                    Scan::Found(n) => cut + n,
                    other => panic!("cut {cut}: {other:?}"),
                },
                Scan::Found(n) => n,
                other => panic!("cut {cut}: {other:?}"),
            };
            assert_eq!(r, head.len() - 4, "cut {cut}");
        }
        assert_eq!(
            whole(Kind::Response, b"HTTP/1.1 204 \n\nX", false),
            Scan::Found(15)
        );
    }
}
