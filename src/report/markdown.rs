//! The Markdown report (GitHub-flavoured: pipe tables, fenced code). Renders a [`Doc`]; text
//! from the capture is escaped so it cannot turn into markup, and code spans and fences are
//! chosen longer than any backtick run inside them.

use std::io::{self, Write};

use super::doc::{Block, Doc, Inline, Line};

pub fn write(out: &mut dyn Write, doc: &Doc) -> io::Result<()> {
    writeln!(out, "# {}", escape(&doc.title))?;
    for block in &doc.blocks {
        if let Block::Timeline(_) = block {
            // A picture needs HTML; the timeline table that follows says the same.
            continue;
        }
        writeln!(out)?;
        match block {
            Block::Heading(level, t) => {
                writeln!(out, "{} {}", "#".repeat(usize::from(*level)), escape(t))?
            }
            Block::Para(l) => writeln!(out, "{}", line(l, false))?,
            Block::Alert(l) => writeln!(out, "> **Warning:** {}", line(l, false))?,
            Block::List(items) => {
                for item in items {
                    writeln!(out, "- {}", line(item, false))?;
                }
            }
            Block::Table {
                header,
                right,
                rows,
            } => {
                writeln!(out, "| {} |", header.join(" | "))?;
                let align: Vec<&str> = right
                    .iter()
                    .map(|&r| if r { "--:" } else { "---" })
                    .collect();
                writeln!(out, "|{}|", align.join("|"))?;
                for row in rows {
                    let cells: Vec<String> = row.iter().map(|c| line(c, true)).collect();
                    writeln!(out, "| {} |", cells.join(" | "))?;
                }
            }
            Block::Code { lang, text } => {
                let fence = "`".repeat(longest_backtick_run(text).max(2) + 1);
                write!(out, "{fence}{lang}\n{text}")?;
                if !text.ends_with('\n') {
                    writeln!(out)?;
                }
                writeln!(out, "{fence}")?;
            }
            Block::Timeline(_) => {}
        }
    }
    Ok(())
}

fn line(l: &Line, in_table: bool) -> String {
    let mut s = String::new();
    for i in l {
        match i {
            Inline::Text(t) => s.push_str(&escape(t)),
            Inline::Strong(t) => {
                s.push_str("**");
                s.push_str(&escape(t));
                s.push_str("**");
            }
            Inline::Verdict(v) => s.push_str(v.name()),
            Inline::Code(c) => s.push_str(&code_span(c, in_table)),
        }
    }
    if in_table {
        // A line break would end the table row.
        s = s.replace(['\n', '\r'], " ");
    }
    s
}

/// A code span: backticks one longer than any run inside, padded when the content touches a
/// backtick. In a table cell `|` must be escaped even inside code.
fn code_span(c: &str, in_table: bool) -> String {
    let c = c.replace(['\n', '\r'], " ");
    let c = if in_table { c.replace('|', "\\|") } else { c };
    let ticks = "`".repeat(longest_backtick_run(&c) + 1);
    let pad = if c.starts_with('`') || c.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{c}{pad}{ticks}")
}

fn longest_backtick_run(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// Text with Markdown's active characters escaped. An underscore inside a word
/// (`http10_downgrade`) is not emphasis in GitHub's Markdown and stays as it is.
fn escape(t: &str) -> String {
    let chars: Vec<char> = t.chars().collect();
    let mut s = String::with_capacity(t.len());
    for (i, &c) in chars.iter().enumerate() {
        let in_word = |j: Option<usize>| {
            j.and_then(|j| chars.get(j))
                .is_some_and(|c| c.is_alphanumeric())
        };
        let escape = match c {
            '_' => !(in_word(i.checked_sub(1)) && in_word(Some(i + 1))),
            c => "\\`*[]<>|".contains(c),
        };
        if escape {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_survive_backticks_and_pipes() {
        assert_eq!(code_span("a`b", false), "``a`b``");
        assert_eq!(code_span("`x", false), "`` `x ``");
        assert_eq!(code_span("a|b", true), "`a\\|b`");
        assert_eq!(escape("<redacted> *x*"), "\\<redacted\\> \\*x\\*");
        assert_eq!(escape("http10_downgrade _x_"), "http10_downgrade \\_x\\_");
    }
}
