//! nginx configuration syntax: a tokenizer and block parser that turn one file's text into
//! [`Directive`]s, each with its file and 1-based line. It follows `ngx_conf_read_token`:
//! `;`, `{` and `}` end tokens, `#` starts a comment only at the start of a token, `"` and `'`
//! quote with `\` escapes, `${var}` stays in its token. Blocks whose body is not nginx syntax
//! (`content_by_lua_block { ... }` and the other `*_by_lua_block`s) are skipped by brace
//! counting. `include` is left in place: `load` expands it.

use std::fmt;

/// One directive: `name arg...;` or `name arg... { block }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directive {
    pub name: String,
    /// Arguments with quotes removed and escapes resolved.
    pub args: Vec<String>,
    /// Index of the file in [`super::Config::files`].
    pub file: usize,
    /// 1-based line of the directive's name.
    pub line: u32,
    /// The block's directives; `None` for a simple directive. A skipped raw block (Lua) is
    /// `Some(vec![])`.
    pub block: Option<Vec<Directive>>,
}

impl Directive {
    pub fn arg(&self, i: usize) -> Option<&str> {
        self.args.get(i).map(String::as_str)
    }
    /// The directives of the block, empty for a simple directive.
    pub fn children(&self) -> &[Directive] {
        self.block.as_deref().unwrap_or(&[])
    }
}

/// A syntax error, with where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: u32,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Semicolon,
    Open,
    Close,
}

struct Lexer<'a> {
    text: &'a [u8],
    pos: usize,
    line: u32,
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str) -> Lexer<'a> {
        Lexer {
            text: text.as_bytes(),
            pos: 0,
            line: 1,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.pos += 1;
        if c == b'\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            line: self.line,
            message: message.into(),
        })
    }

    /// The next token and the line it starts on; `None` at the end of the text.
    fn next(&mut self) -> Result<Option<(Token, u32)>, ParseError> {
        loop {
            match self.peek() {
                None => return Ok(None),
                Some(c) if c.is_ascii_whitespace() => {
                    self.bump();
                }
                Some(b'#') => {
                    while let Some(c) = self.bump() {
                        if c == b'\n' {
                            break;
                        }
                    }
                }
                Some(_) => break,
            }
        }
        let line = self.line;
        let c = self.bump().expect("peeked");
        let token = match c {
            b';' => Token::Semicolon,
            b'{' => Token::Open,
            b'}' => Token::Close,
            b'"' | b'\'' => Token::Word(self.quoted(c)?),
            _ => {
                self.pos -= 1;
                Token::Word(self.bare())
            }
        };
        Ok(Some((token, line)))
    }

    fn quoted(&mut self, quote: u8) -> Result<String, ParseError> {
        let start_line = self.line;
        let mut out = Vec::new();
        loop {
            match self.bump() {
                None => {
                    return Err(ParseError {
                        line: start_line,
                        message: "unterminated quoted string".into(),
                    })
                }
                Some(b'\\') => match self.bump() {
                    Some(b'"') => out.push(b'"'),
                    Some(b'\'') => out.push(b'\''),
                    Some(b'\\') => out.push(b'\\'),
                    Some(b't') => out.push(b'\t'),
                    Some(b'r') => out.push(b'\r'),
                    Some(b'n') => out.push(b'\n'),
                    // nginx keeps the backslash of any other escape.
                    Some(other) => out.extend_from_slice(&[b'\\', other]),
                    None => return self.err("unterminated quoted string"),
                },
                Some(c) if c == quote => break,
                Some(c) => out.push(c),
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    fn bare(&mut self) -> String {
        let mut out = Vec::new();
        // Inside `${...}` braces belong to the variable name.
        let mut in_var = false;
        while let Some(c) = self.peek() {
            match c {
                b'{' if out.last() == Some(&b'$') => in_var = true,
                b'}' if in_var => in_var = false,
                b';' | b'{' | b'}' => break,
                c if c.is_ascii_whitespace() => break,
                b'\\' => {
                    self.bump();
                    match self.bump() {
                        Some(q @ (b'"' | b'\'' | b'\\')) => out.push(q),
                        Some(b't') => out.push(b'\t'),
                        Some(b'r') => out.push(b'\r'),
                        Some(b'n') => out.push(b'\n'),
                        Some(next) => out.extend_from_slice(&[b'\\', next]),
                        None => {}
                    }
                    continue;
                }
                _ => {}
            }
            out.push(c);
            self.bump();
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Skips the body of a raw block (Lua) up to and including its closing `}`; the opening
    /// `{` has been read. Lua strings, long brackets and `--` comments may hold braces.
    fn skip_raw_block(&mut self) -> Result<(), ParseError> {
        let start = self.line;
        let mut depth = 1usize;
        while let Some(c) = self.bump() {
            match c {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                b'"' | b'\'' => {
                    while let Some(d) = self.bump() {
                        if d == b'\\' {
                            self.bump();
                        } else if d == c || d == b'\n' {
                            break;
                        }
                    }
                }
                b'-' if self.peek() == Some(b'-') => {
                    self.bump();
                    if self.long_bracket_level().is_some() {
                        self.skip_long_bracket();
                    } else {
                        while let Some(d) = self.bump() {
                            if d == b'\n' {
                                break;
                            }
                        }
                    }
                }
                b'[' => {
                    self.pos -= 1;
                    if self.long_bracket_level().is_some() {
                        self.skip_long_bracket();
                    } else {
                        self.pos += 1;
                    }
                }
                _ => {}
            }
        }
        Err(ParseError {
            line: start,
            message: "unterminated block".into(),
        })
    }

    /// At `[`, `[[` or `[=*[`: the number of `=`.
    fn long_bracket_level(&self) -> Option<usize> {
        let rest = &self.text[self.pos..];
        if rest.first() != Some(&b'[') {
            return None;
        }
        let eq = rest[1..].iter().take_while(|&&c| c == b'=').count();
        (rest.get(1 + eq) == Some(&b'[')).then_some(eq)
    }

    fn skip_long_bracket(&mut self) {
        let level = self.long_bracket_level().unwrap_or(0);
        for _ in 0..level + 2 {
            self.bump();
        }
        let mut close = vec![b']'];
        close.extend(std::iter::repeat_n(b'=', level));
        close.push(b']');
        while self.pos < self.text.len() {
            if self.text[self.pos..].starts_with(&close) {
                for _ in 0..close.len() {
                    self.bump();
                }
                return;
            }
            self.bump();
        }
    }
}

/// Block directives whose body is code, not nginx syntax.
fn is_raw_block(name: &str) -> bool {
    name.ends_with("_by_lua_block") || name == "lua_block" || name.ends_with("_by_njs_block")
}

/// Parses one file's text; `file` is recorded in every directive.
pub fn parse(text: &str, file: usize) -> Result<Vec<Directive>, ParseError> {
    let mut lx = Lexer::new(text);
    let list = block(&mut lx, file, None)?;
    Ok(list)
}

/// Directives up to the `}` that closes a block opened on `open` (or the end of the text when
/// `open` is `None`).
fn block(lx: &mut Lexer<'_>, file: usize, open: Option<u32>) -> Result<Vec<Directive>, ParseError> {
    let mut out = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut start = 0u32;
    loop {
        let Some((token, line)) = lx.next()? else {
            if !words.is_empty() {
                return lx.err(format!(
                    "unexpected end of file, expecting \";\" or \"{{\" after `{}`",
                    words[0]
                ));
            }
            if let Some(open) = open {
                return Err(ParseError {
                    line: open,
                    message: "block opened here is never closed".into(),
                });
            }
            return Ok(out);
        };
        match token {
            Token::Word(w) => {
                if words.is_empty() {
                    start = line;
                }
                words.push(w);
            }
            Token::Semicolon => {
                if words.is_empty() {
                    return Err(ParseError {
                        line,
                        message: "unexpected \";\"".into(),
                    });
                }
                let name = words.remove(0);
                out.push(Directive {
                    name,
                    args: std::mem::take(&mut words),
                    file,
                    line: start,
                    block: None,
                });
            }
            Token::Open => {
                if words.is_empty() {
                    return Err(ParseError {
                        line,
                        message: "unexpected \"{\"".into(),
                    });
                }
                let name = words.remove(0);
                let children = if is_raw_block(&name) {
                    lx.skip_raw_block()?;
                    Vec::new()
                } else {
                    block(lx, file, Some(line))?
                };
                out.push(Directive {
                    name,
                    args: std::mem::take(&mut words),
                    file,
                    line: start,
                    block: Some(children),
                });
            }
            Token::Close => {
                if !words.is_empty() {
                    return Err(ParseError {
                        line,
                        message: format!("unexpected \"}}\" after `{}`", words[0]),
                    });
                }
                if open.is_none() {
                    return Err(ParseError {
                        line,
                        message: "unexpected \"}\"".into(),
                    });
                }
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(d: &[Directive]) -> Vec<(String, Vec<String>, u32)> {
        d.iter()
            .map(|d| (d.name.clone(), d.args.clone(), d.line))
            .collect()
    }

    #[test]
    fn directives_blocks_and_lines() {
        let text =
            "# comment\nuser www-data;\nhttp {\n  server {\n    listen 80; # trailing\n  }\n}\n";
        let d = parse(text, 0).unwrap();
        assert_eq!(
            names(&d),
            vec![
                ("user".into(), vec!["www-data".into()], 2),
                ("http".into(), vec![], 3)
            ]
        );
        let server = &d[1].children()[0];
        assert_eq!(server.line, 4);
        assert_eq!(
            names(server.children()),
            vec![("listen".into(), vec!["80".into()], 5)]
        );
    }

    #[test]
    fn quotes_escapes_and_variables() {
        let text = "proxy_set_header Connection \"\";\nadd_header X 'a b\\'c';\nset $x \"q\\\"t\";\nreturn 200 ${host}x;\nlog_format a \"#not a comment\";\nmap $http_upgrade $c { default upgrade; '' close; }\n";
        let d = parse(text, 0).unwrap();
        assert_eq!(d[0].args, vec!["Connection", ""]);
        assert_eq!(d[1].args, vec!["X", "a b'c"]);
        assert_eq!(d[2].args, vec!["$x", "q\"t"]);
        assert_eq!(d[3].args, vec!["200", "${host}x"]);
        assert_eq!(d[4].args, vec!["a", "#not a comment"]);
        let map = d[5].children();
        assert_eq!(map[1].name, "");
        assert_eq!(map[1].args, vec!["close"]);
    }

    #[test]
    fn a_hash_inside_a_word_is_not_a_comment() {
        let d = parse("rewrite ^/a#b /c;\n", 0).unwrap();
        assert_eq!(d[0].args, vec!["^/a#b", "/c"]);
    }

    #[test]
    fn lua_blocks_are_skipped_whole() {
        let text = "location /l {\n  content_by_lua_block {\n    local t = { a = \"}\" } -- }\n    ngx.say([[ } ]])\n  }\n  proxy_pass http://b;\n}\n";
        let d = parse(text, 0).unwrap();
        let loc = d[0].children();
        assert_eq!(loc[0].name, "content_by_lua_block");
        assert_eq!(loc[1].name, "proxy_pass");
        assert_eq!(loc[1].line, 6);
    }

    #[test]
    fn unknown_block_directives_and_if_parse_as_blocks() {
        let text = "location / {\n if ($http_upgrade) { set $x 1; }\n more_set_headers_block { a b; }\n}\n";
        let d = parse(text, 0).unwrap();
        assert_eq!(d[0].children()[0].name, "if");
        assert_eq!(d[0].children()[0].args, vec!["($http_upgrade)"]);
        assert_eq!(d[0].children()[1].children()[0].name, "a");
    }

    #[test]
    fn syntax_errors_say_where() {
        assert_eq!(parse("http {\n", 0).unwrap_err().line, 1);
        assert_eq!(parse("a;\n}\n", 0).unwrap_err().line, 2);
        assert!(parse("listen 80", 0).is_err());
        assert!(parse("x \"open;\n", 0).is_err());
    }

    #[test]
    fn any_cut_of_a_config_never_panics() {
        let text = "http { map $a $b { default \"x\"; } server { location ~* \\.php$ { content_by_lua_block { x = '}' } } } }";
        for i in 0..=text.len() {
            let _ = parse(&text[..i], 0);
        }
    }
}
