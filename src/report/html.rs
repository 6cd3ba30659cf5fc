//! The HTML report: the same [`Doc`] as the Markdown one, as a single self-contained page
//! (inline CSS, an inline SVG timeline, no scripts, nothing fetched), for people who would
//! rather look than read. Everything from the capture is escaped.

use std::io::{self, Write};

use super::doc::{Block, Doc, Inline, Line, Timeline};
use crate::diagnose::Verdict;

const STYLE: &str = "
body { font: 15px/1.5 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: #1f2328; background: #fff; margin: 0; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { font-size: 26px; border-bottom: 1px solid #d0d7de; padding-bottom: 8px; word-break: break-all; }
h2 { font-size: 20px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; margin-top: 32px; }
h3 { font-size: 16px; margin-top: 24px; }
code, pre { font: 13px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
code { background: #eff1f3; padding: 1px 4px; border-radius: 4px; word-break: break-all; }
pre { background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 6px; padding: 10px 14px; overflow-x: auto; }
pre code { background: none; padding: 0; word-break: normal; }
table { border-collapse: collapse; margin: 12px 0; }
th, td { border: 1px solid #d0d7de; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.alert { border: 2px solid #c62828; background: #fdecea; color: #7f1d1d; padding: 10px 14px; border-radius: 6px; margin: 16px 0; }
.v { font-weight: 600; padding: 0 6px; border-radius: 10px; color: #fff; }
.v-ok { background: #2e7d32; } .v-broken { background: #c62828; }
.v-rejected { background: #e65100; } .v-incomplete { background: #616161; }
svg.timeline { display: block; max-width: 100%; height: auto; margin: 8px 0 4px; }
svg.timeline text { font: 12px system-ui, sans-serif; fill: #1f2328; }
svg.timeline .axis { stroke: #8c959f; stroke-width: 1; }
svg.timeline .lane { stroke: #d0d7de; stroke-width: 1; stroke-dasharray: 3 3; }
svg.timeline .mark { stroke: #fff; stroke-width: 1.5; fill-opacity: 0.85; }
";

pub fn write(out: &mut dyn Write, doc: &Doc) -> io::Result<()> {
    writeln!(out, "<!DOCTYPE html>")?;
    writeln!(out, "<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">")?;
    writeln!(
        out,
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    )?;
    writeln!(out, "<title>{}</title>", escape(&doc.title))?;
    writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>\n<main>")?;
    writeln!(out, "<h1>{}</h1>", escape(&doc.title))?;
    for block in &doc.blocks {
        match block {
            Block::Heading(level, t) => writeln!(out, "<h{level}>{}</h{level}>", escape(t))?,
            Block::Para(l) => writeln!(out, "<p>{}</p>", line(l))?,
            Block::Alert(l) => writeln!(
                out,
                "<div class=\"alert\"><strong>Warning:</strong> {}</div>",
                line(l)
            )?,
            Block::List(items) => {
                writeln!(out, "<ul>")?;
                for item in items {
                    writeln!(out, "<li>{}</li>", line(item))?;
                }
                writeln!(out, "</ul>")?;
            }
            Block::Table {
                header,
                right,
                rows,
            } => {
                writeln!(out, "<table>\n<thead><tr>")?;
                for h in header {
                    write!(out, "<th>{}</th>", escape(h))?;
                }
                writeln!(out, "</tr></thead>\n<tbody>")?;
                for row in rows {
                    write!(out, "<tr>")?;
                    for (i, cell) in row.iter().enumerate() {
                        let class = if right.get(i) == Some(&true) {
                            " class=\"num\""
                        } else {
                            ""
                        };
                        write!(out, "<td{class}>{}</td>", line(cell))?;
                    }
                    writeln!(out, "</tr>")?;
                }
                writeln!(out, "</tbody>\n</table>")?;
            }
            Block::Code { lang, text } => writeln!(
                out,
                "<pre><code class=\"language-{lang}\">{}</code></pre>",
                escape(text)
            )?,
            Block::Timeline(t) => svg(out, t)?,
        }
    }
    writeln!(out, "</main>\n</body>\n</html>")
}

fn line(l: &Line) -> String {
    let mut s = String::new();
    for i in l {
        match i {
            Inline::Text(t) => s.push_str(&escape(t)),
            Inline::Code(c) => {
                s.push_str("<code>");
                s.push_str(&escape(c));
                s.push_str("</code>");
            }
            Inline::Strong(t) => {
                s.push_str("<strong>");
                s.push_str(&escape(t));
                s.push_str("</strong>");
            }
            Inline::Verdict(v) => {
                s.push_str(&format!("<span class=\"v v-{0}\">{0}</span>", v.name()));
            }
        }
    }
    s
}

/// Text for HTML content and attribute values.
pub fn escape(t: &str) -> String {
    let mut s = String::with_capacity(t.len());
    for c in t.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => s.push('\u{fffd}'),
            c => s.push(c),
        }
    }
    s
}

pub fn color(v: Verdict) -> &'static str {
    match v {
        Verdict::Ok => "#2e7d32",
        Verdict::Broken => "#c62828",
        Verdict::Rejected => "#e65100",
        Verdict::Incomplete => "#616161",
    }
}

/// Lanes from top to bottom: worst first.
const LANES: [Verdict; 4] = [
    Verdict::Broken,
    Verdict::Rejected,
    Verdict::Incomplete,
    Verdict::Ok,
];

/// The handshakes over time: one lane per verdict that occurs, one circle per handshake with
/// a `<title>` tooltip, and a time axis in UTC.
fn svg(out: &mut dyn Write, t: &Timeline) -> io::Result<()> {
    const WIDTH: f64 = 1000.0;
    const LEFT: f64 = 130.0;
    const RIGHT: f64 = 30.0;
    const TOP: f64 = 16.0;
    const LANE: f64 = 34.0;
    let lanes: Vec<Verdict> = LANES
        .iter()
        .copied()
        .filter(|v| t.marks.iter().any(|m| m.verdict == *v))
        .collect();
    const BAR: f64 = 16.0;
    // Sessions get a row each under the verdict lanes.
    let bars_top = TOP + LANE * lanes.len() as f64;
    let height = bars_top + BAR * t.bars.len() as f64 + 44.0;
    let times = t
        .marks
        .iter()
        .map(|m| m.ts.0)
        .chain(t.bars.iter().flat_map(|b| [b.start.0, b.end.0]));
    let (Some(t0), Some(t1)) = (times.clone().min(), times.max()) else {
        return Ok(());
    };
    // Capture timestamps can be anything: differences in i128, so none overflows.
    let diff = |a: i64, b: i64| i128::from(a) - i128::from(b);
    let span = diff(t1, t0) as f64;
    let plot = WIDTH - LEFT - RIGHT;
    let x_of = |ts: i64| {
        if span <= 0.0 {
            LEFT + plot / 2.0
        } else {
            LEFT + diff(ts, t0) as f64 / span * plot
        }
    };
    let axis_y = bars_top + BAR * t.bars.len() as f64 + 6.0;
    writeln!(
        out,
        "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"WebSocket handshakes over time, by verdict\">"
    )?;
    writeln!(
        out,
        "<title>WebSocket handshakes over time, by verdict</title>"
    )?;
    for (i, v) in lanes.iter().enumerate() {
        let y = TOP + LANE * i as f64 + LANE / 2.0;
        let n = t.marks.iter().filter(|m| m.verdict == *v).count();
        writeln!(
            out,
            "<line class=\"lane\" x1=\"{LEFT}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/>",
            WIDTH - RIGHT
        )?;
        writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" style=\"fill:{}\" font-weight=\"600\">{} ({n})</text>",
            LEFT - 14.0,
            y + 4.0,
            color(*v),
            v.name()
        )?;
    }
    writeln!(
        out,
        "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{axis_y}\" x2=\"{}\" y2=\"{axis_y}\"/>",
        WIDTH - RIGHT
    )?;
    let ticks: Vec<i64> = if span <= 0.0 {
        vec![t0]
    } else {
        (0..=4)
            .map(|i| (i128::from(t0) + diff(t1, t0) * i / 4) as i64)
            .collect()
    };
    for (i, ts) in ticks.iter().enumerate() {
        let x = x_of(*ts);
        let anchor = match (i, ticks.len()) {
            (_, 1) => "middle",
            (0, _) => "start",
            (i, n) if i + 1 == n => "end",
            _ => "middle",
        };
        writeln!(
            out,
            "<line class=\"axis\" x1=\"{x:.1}\" y1=\"{axis_y}\" x2=\"{x:.1}\" y2=\"{}\"/>",
            axis_y + 5.0
        )?;
        // The start as a time of day, the other ticks as offsets from it: handshakes can be
        // microseconds apart.
        let label = if i == 0 {
            let s = crate::common::Timestamp(*ts).rfc3339();
            s.get(11..23).unwrap_or(&s).to_string()
        } else {
            format!("+{}", offset(diff(*ts, t0) as f64))
        };
        writeln!(
            out,
            "<text x=\"{x:.1}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>",
            axis_y + 19.0,
            escape(&label)
        )?;
    }
    writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">time (UTC)</text>",
        WIDTH - RIGHT,
        axis_y + 36.0
    )?;
    for (i, b) in t.bars.iter().enumerate() {
        let y = bars_top + BAR * i as f64 + 3.0;
        let (x0, x1) = (x_of(b.start.0), x_of(b.end.0));
        let colour = if b.problem {
            color(Verdict::Broken)
        } else {
            color(Verdict::Ok)
        };
        writeln!(
            out,
            "<rect class=\"session\" x=\"{x0:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"{}\" rx=\"3\" fill=\"{colour}\" fill-opacity=\"0.55\"><title>{}</title></rect>",
            (x1 - x0).max(4.0),
            BAR - 6.0,
            escape(&b.label)
        )?;
    }
    if !t.bars.is_empty() {
        writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-weight=\"600\">sessions ({})</text>",
            LEFT - 14.0,
            bars_top + 12.0,
            t.bars.len()
        )?;
    }
    for m in &t.marks {
        let lane = lanes.iter().position(|v| *v == m.verdict).unwrap_or(0);
        let y = TOP + LANE * lane as f64 + LANE / 2.0;
        writeln!(
            out,
            "<circle class=\"mark\" cx=\"{:.1}\" cy=\"{y}\" r=\"7\" fill=\"{}\"><title>{}</title></circle>",
            x_of(m.ts.0),
            color(m.verdict),
            escape(&m.label)
        )?;
    }
    writeln!(out, "</svg>")
}

/// A time offset with a unit that suits it.
fn offset(nanos: f64) -> String {
    let n = nanos;
    if n < 1e6 {
        format!("{:.0} µs", n / 1e3)
    } else if n < 1e9 {
        format!("{:.1} ms", n / 1e6)
    } else if n < 120e9 {
        format!("{:.1} s", n / 1e9)
    } else {
        format!("{:.1} min", n / 60e9)
    }
}
