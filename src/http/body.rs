//! Body framing: how many bytes after a head belong to its message. Content-Length and chunk data
//! are skipped by count; only chunk-size lines and trailers are read byte by byte.

/// Longest chunk-size line (size, extensions, CRLF) accepted before calling the stream garbage.
const MAX_CHUNK_LINE: usize = 4096;

/// How the body of the current message is delimited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Body {
    /// This many bytes remain (never 0: a zero-length body ends at once).
    Length(u64),
    Chunked(Chunked),
    /// Until the end of the stream (responses only). `gapped` once a gap has been reported.
    UntilClose {
        gapped: bool,
    },
}

/// What feeding a body slice gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// All given bytes belong to the body; more to come.
    More,
    /// The body ended; the count says how many of the given bytes it used.
    End(usize),
    /// The framing is broken at the byte after this many; the reason says how.
    Bad(usize, &'static str),
}

/// Chunked framing state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Chunked {
    st: Ck,
    /// Size being read, or data bytes left in the current chunk.
    n: u64,
    /// Bytes of the current size line, or of all trailers.
    line: usize,
    max_trailers: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ck {
    /// Hex digits of the size (`line` > 0 once a digit was read).
    Size,
    /// Whitespace after the size.
    SizeWs,
    /// Chunk extension: ignored up to LF.
    Ext,
    /// CR seen on the size line.
    SizeCr,
    /// Chunk data: `n` bytes left.
    Data,
    /// CRLF after the data.
    DataCr,
    DataLf,
    /// Start of a trailer line (an empty line ends the message).
    TrailerStart,
    TrailerStartCr,
    TrailerLine,
}

impl Chunked {
    pub(crate) fn new(max_trailers: usize) -> Chunked {
        Chunked {
            st: Ck::Size,
            n: 0,
            line: 0,
            max_trailers,
        }
    }

    fn feed(&mut self, bytes: &[u8]) -> Outcome {
        let mut i = 0;
        while i < bytes.len() {
            if self.st == Ck::Data {
                let take = self.n.min((bytes.len() - i) as u64);
                self.n -= take;
                i += take as usize;
                if self.n == 0 {
                    self.st = Ck::DataCr;
                }
                continue;
            }
            let b = bytes[i];
            i += 1;
            match self.st {
                Ck::Size | Ck::SizeWs | Ck::Ext | Ck::SizeCr => {
                    self.line += 1;
                    if self.line > MAX_CHUNK_LINE {
                        return Outcome::Bad(i, "chunk size line too long");
                    }
                    if let Err(reason) = self.size_byte(b) {
                        return Outcome::Bad(i, reason);
                    }
                }
                Ck::Data => {}
                Ck::DataCr | Ck::DataLf => match (self.st, b) {
                    (Ck::DataCr, b'\r') => self.st = Ck::DataLf,
                    (_, b'\n') => {
                        self.st = Ck::Size;
                        self.n = 0;
                        self.line = 0;
                    }
                    _ => return Outcome::Bad(i, "missing CRLF after chunk data"),
                },
                Ck::TrailerStart | Ck::TrailerStartCr | Ck::TrailerLine => {
                    self.line += 1;
                    if self.line > self.max_trailers {
                        return Outcome::Bad(i, "trailers too large");
                    }
                    self.st = match (self.st, b) {
                        (Ck::TrailerStart | Ck::TrailerStartCr, b'\n') => return Outcome::End(i),
                        (Ck::TrailerStart, b'\r') => Ck::TrailerStartCr,
                        (Ck::TrailerStartCr, _) => {
                            return Outcome::Bad(i, "invalid line in trailers")
                        }
                        (_, b'\n') => Ck::TrailerStart,
                        _ => Ck::TrailerLine,
                    };
                }
            }
        }
        Outcome::More
    }

    /// One byte of a chunk-size line.
    fn size_byte(&mut self, b: u8) -> Result<(), &'static str> {
        let digits = self.line > 1 || self.st != Ck::Size;
        match (self.st, b) {
            (Ck::Size, _) if b.is_ascii_hexdigit() => {
                let d = (b as char).to_digit(16).unwrap_or(0);
                self.n = self
                    .n
                    .checked_mul(16)
                    .and_then(|n| n.checked_add(u64::from(d)))
                    .ok_or("chunk size too large")?;
            }
            (Ck::Size | Ck::SizeWs, b' ' | b'\t') if digits => self.st = Ck::SizeWs,
            (Ck::Size | Ck::SizeWs, b';') if digits => self.st = Ck::Ext,
            (Ck::Size | Ck::SizeWs, b'\r') if digits => self.st = Ck::SizeCr,
            (Ck::Size | Ck::SizeWs | Ck::SizeCr | Ck::Ext, b'\n') if digits => {
                self.line = 0;
                self.st = if self.n == 0 {
                    Ck::TrailerStart
                } else {
                    Ck::Data
                };
            }
            (Ck::Ext, _) => {}
            _ => return Err("invalid chunk size line"),
        }
        Ok(())
    }

    /// A gap of `len` bytes: fine inside chunk data (the count shrinks), fatal elsewhere.
    fn gap(&mut self, len: u64) -> bool {
        if self.st == Ck::Data && len <= self.n {
            self.n -= len;
            if self.n == 0 {
                self.st = Ck::DataCr;
            }
            true
        } else {
            false
        }
    }
}

impl Body {
    /// Feed body bytes.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Outcome {
        match self {
            Body::Length(n) => {
                if (bytes.len() as u64) < *n {
                    *n -= bytes.len() as u64;
                    Outcome::More
                } else {
                    // `*n` fits in usize here since it is at most `bytes.len()`.
                    Outcome::End(*n as usize)
                }
            }
            Body::Chunked(c) => c.feed(bytes),
            Body::UntilClose { .. } => Outcome::More,
        }
    }

    /// A gap of `len` bytes. `Ok(None)`: absorbed, body goes on. `Ok(Some(rest))`: the body
    /// ended inside the gap and `rest` bytes of the gap lie beyond it. `Err`: framing lost.
    pub(crate) fn gap(&mut self, len: u64) -> Result<Option<u64>, &'static str> {
        match self {
            Body::Length(n) if len < *n => {
                *n -= len;
                Ok(None)
            }
            Body::Length(n) => Ok(Some(len - *n)),
            Body::Chunked(c) => {
                if c.gap(len) {
                    Ok(None)
                } else {
                    Err("gap in chunked body")
                }
            }
            Body::UntilClose { .. } => Err("gap in body delimited by close"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked_end(s: &[u8]) -> Outcome {
        Body::Chunked(Chunked::new(1024)).feed(s)
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let s = b"4;name=\"v\"\r\nWiki\r\n5 ; x\r\npedia\r\n0\r\nExpires: never\r\n\r\nNEXT";
        assert_eq!(chunked_end(s), Outcome::End(s.len() - 4));
        assert_eq!(chunked_end(b"0\n\nX"), Outcome::End(3));
        assert_eq!(chunked_end(b"A\r\n0123456789\r\n"), Outcome::More);
    }

    #[test]
    fn chunked_garbage() {
        assert_eq!(
            chunked_end(b"zz\r\n"),
            Outcome::Bad(1, "invalid chunk size line")
        );
        assert_eq!(
            chunked_end(b"2\r\nabX"),
            Outcome::Bad(6, "missing CRLF after chunk data")
        );
        assert_eq!(
            chunked_end(b";\r\n"),
            Outcome::Bad(1, "invalid chunk size line")
        );
        assert_eq!(
            chunked_end(b"11111111111111111\r\n"),
            Outcome::Bad(17, "chunk size too large")
        );
    }

    #[test]
    fn gaps() {
        let mut b = Body::Length(10);
        assert_eq!(b.gap(4), Ok(None));
        assert_eq!(b.gap(6), Ok(Some(0)));
        let mut c = Body::Chunked(Chunked::new(100));
        assert_eq!(c.feed(b"8\r\nab"), Outcome::More);
        assert_eq!(c.gap(6), Ok(None));
        assert_eq!(c.feed(b"\r\n0\r\n\r\n"), Outcome::End(7));
        let mut c = Body::Chunked(Chunked::new(100));
        assert_eq!(c.gap(1), Err("gap in chunked body"));
    }
}
