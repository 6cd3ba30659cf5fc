//! The reports people attach to incident writeups: Markdown goldens, the HTML page rendered in
//! headless Chromium, the JSON Schema, redaction in every format, `-o FILE`, and the terminal
//! table's width.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{self, golden, run, sample};
use crate::SAMPLES;

/// The samples' secrets (samples/README.md): the cookie value and the query token.
const SECRETS: &[&str] = &["sess-alice-0123456789abcdef", "s3cr3t-alice"];

const FORMATS: &[&str] = &["table", "json", "jsonl", "markdown", "html"];

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wsdiag-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn markdown_reports_match_reviewed_files() {
    for e in SAMPLES {
        let (_, md, err) = run(&["analyze", "--format", "markdown", &sample(e.file)]);
        assert!(md.starts_with("# WebSocket handshake report"), "{err}");
        let masked = md.replace(
            &format!("wsdiag {}, run as", env!("CARGO_PKG_VERSION")),
            "wsdiag VERSION, run as",
        );
        golden(&format!("{}.md", e.file), &masked);
    }
}

#[test]
fn markdown_report_of_the_incident_reads_as_an_appendix() {
    let (code, md, _) = run(&[
        "analyze",
        "--format",
        "markdown",
        &sample("incident-upstream.pcap"),
    ]);
    assert_eq!(code, 1);
    for want in [
        "2 of 2 WebSocket handshakes were broken by the proxy: it forwarded them as HTTP/1.0",
        "the backend answered 404",
        "| `samples/incident-upstream.pcap` | pcap | EN10MB |",
        "run as `wsdiag analyze --format markdown samples/incident-upstream.pcap`",
        "| broken | `http10_downgrade`, `upgrade_stripped`, `connection_not_upgrade` | 2 | 404 |",
        "```http\nGET /api/game/ws/42/alice?token=<redacted> HTTP/1.0\nHost: game.example.com\n",
        "Cookie: <redacted 35 bytes>",
        "```http\nHTTP/1.1 404 Not Found\n```",
        "```nginx\nproxy_http_version 1.1;\n```",
        "## Timeline",
    ] {
        assert!(md.contains(want), "markdown lacks {want:?}:\n{md}");
    }
    // Each nginx snippet once, though both handshakes need it.
    assert_eq!(md.matches("proxy_http_version 1.1;").count(), 1);
    assert_eq!(md.matches("```nginx\nproxy_http_version 1.1;").count(), 1);
}

/// The compiled schema; `root` picks the definition to validate against.
fn schema(root: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(util::root().join("schema/wsdiag-report.schema.json"))
        .expect("schema file");
    let mut s: Value = serde_json::from_str(&text).expect("schema is JSON");
    s["$ref"] = Value::String(format!("#/$defs/{root}"));
    jsonschema::validator_for(&s).expect("schema compiles")
}

fn assert_valid(v: &jsonschema::Validator, instance: &Value, what: &str) {
    let errors: Vec<String> = v
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}");
}

#[test]
fn every_sample_json_and_jsonl_output_validates_against_the_schema() {
    let doc = schema("document");
    let line = schema("jsonl_line");
    for e in SAMPLES {
        for extra in [&[][..], &["--all"][..], &["--no-redact", "--all"][..]] {
            let mut args = vec!["analyze", "--format", "json"];
            args.extend(extra);
            let path = sample(e.file);
            args.push(&path);
            let (_, out, _) = run(&args);
            let v: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(v["schema_version"], "1");
            assert_valid(&doc, &v, &format!("{} {extra:?}", e.file));

            args[2] = "jsonl";
            let (_, out, _) = run(&args);
            let lines: Vec<Value> = out
                .lines()
                .map(|l| serde_json::from_str(l).expect("each line is JSON"))
                .collect();
            for (i, l) in lines.iter().enumerate() {
                assert_valid(
                    &line,
                    l,
                    &format!("{} {extra:?} jsonl line {}", e.file, i + 1),
                );
            }
            let last = lines.last().expect("a summary line");
            assert_eq!(last["type"], "summary");
            assert_eq!(last["schema_version"], "1");
            let handshakes = lines.iter().filter(|l| l["type"] == "handshake").count();
            assert_eq!(handshakes, e.handshakes.len(), "{}", e.file);
        }
    }
}

#[test]
fn the_schema_is_closed_so_it_cannot_drift_from_the_output() {
    let doc = schema("document");
    let (_, out, _) = run(&[
        "analyze",
        "--format",
        "json",
        &sample("incident-upstream.pcap"),
    ]);
    let mut v: Value = serde_json::from_str(&out).unwrap();
    v["handshakes"][0]["surprise"] = Value::Bool(true);
    assert!(
        !doc.is_valid(&v),
        "an unknown handshake field must be rejected"
    );
    let mut v: Value = serde_json::from_str(&out).unwrap();
    v["handshakes"][0]["verdict"] = Value::String("fine".into());
    assert!(!doc.is_valid(&v), "an unknown verdict must be rejected");
}

fn output_of(format: &str, extra: &[&str], file: &str) -> String {
    let mut args = vec!["analyze", "--all", "--format", format];
    args.extend(extra);
    let path = sample(file);
    args.push(&path);
    let (code, out, err) = run(&args);
    assert!(code == 0 || code == 1, "{format}: {err}");
    out
}

#[test]
fn no_format_shows_the_samples_secrets_unless_asked() {
    for file in [
        "incident-upstream.pcap",
        "incident-both-hops.pcap",
        "keepalive-correct.pcap",
    ] {
        for format in FORMATS {
            let out = output_of(format, &[], file);
            for secret in SECRETS {
                assert!(!out.contains(secret), "{format} of {file} leaks {secret}");
            }
            // Still says a cookie was there, and how long it was.
            match *format {
                "table" => {}
                "html" => assert!(out.contains("&lt;redacted 35 bytes&gt;"), "{file}"),
                _ => assert!(out.contains("<redacted 35 bytes>"), "{format} of {file}"),
            }
            let shown = output_of(format, &["--no-redact"], file);
            // The table shows the target, not the head: the token only.
            let expected = if *format == "table" {
                &SECRETS[1..]
            } else {
                SECRETS
            };
            for secret in expected {
                assert!(
                    shown.contains(secret),
                    "{format} --no-redact of {file} hides {secret}"
                );
            }
        }
    }
}

#[test]
fn no_redact_is_said_first_in_every_format() {
    let file = "incident-upstream.pcap";
    let table = output_of("table", &["--no-redact"], file);
    assert!(table.starts_with("Secrets are NOT redacted"), "{table}");
    let json = output_of("json", &["--no-redact"], file);
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["redacted"], false);
    let jsonl = output_of("jsonl", &["--no-redact"], file);
    let first: Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(first["code"], "not_redacted", "{first}");
    let md = output_of("markdown", &["--no-redact"], file);
    let warn = md.find("NOT redacted").expect("markdown says so");
    assert!(warn < md.find("## Verdict").unwrap());
    let html = output_of("html", &["--no-redact"], file);
    let warn = html.find("NOT redacted").expect("html says so");
    assert!(warn < html.find("<h2>").unwrap());
    // And says nothing of the kind when redacted.
    for format in FORMATS {
        assert!(
            !output_of(format, &[], file).contains("NOT redacted"),
            "{format}"
        );
    }
}

#[test]
fn redact_header_hides_one_more_header() {
    let file = "incident-upstream.pcap";
    let before = output_of("json", &[], file);
    assert!(before.contains("User-Agent: Python/3.11 websockets/17.4"));
    let after = output_of("json", &["--redact-header", "user-agent"], file);
    assert!(!after.contains("websockets/17.4"), "{after}");
    assert!(after.contains("User-Agent: <redacted 27 bytes>"), "{after}");
}

#[test]
fn output_file_extension_chooses_the_format() {
    let dir = temp_dir("out");
    let cases: &[(&str, &str)] = &[
        ("r.md", "# WebSocket handshake report"),
        ("r.html", "<!DOCTYPE html>"),
        ("r.json", "{\n  \"schema_version\": \"1\""),
        ("r.jsonl", "{\"type\":\"handshake\""),
        ("r.txt", "┌"),
    ];
    for (name, starts) in cases {
        let path = dir.join(name);
        let (code, out, err) = run(&[
            "analyze",
            "-o",
            path.to_str().unwrap(),
            &sample("incident-upstream.pcap"),
        ]);
        assert_eq!(code, 1, "{name}: {err}");
        assert!(
            out.is_empty(),
            "{name}: the report goes to the file, not stdout"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with(starts),
            "{name}: {}",
            &text[..text.len().min(80)]
        );
    }
    // --format wins over the extension.
    let path = dir.join("r.md");
    run(&[
        "analyze",
        "--format",
        "json",
        "--output",
        path.to_str().unwrap(),
        &sample("incident-upstream.pcap"),
    ]);
    assert!(std::fs::read_to_string(&path).unwrap().starts_with('{'));
    // An extension that names no format is a usage error.
    let (code, _, err) = run(&[
        "analyze",
        "-o",
        dir.join("r.pdf").to_str().unwrap(),
        &sample("incident-upstream.pcap"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--format"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn table_width(out: &str) -> usize {
    out.lines()
        .filter(|l| l.starts_with('│') || l.starts_with('┌'))
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
}

#[test]
fn the_table_fits_columns_by_shortening_targets_and_is_plain_when_piped() {
    let file = sample("incident-upstream.pcap");
    let (_, wide, _) = run(&["analyze", &file]);
    assert!(
        !wide.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
    let full = table_width(&wide);
    let out = util::wsdiag()
        .args(["analyze", &file])
        .env("COLUMNS", (full - 10).to_string())
        .output()
        .unwrap();
    let narrow = String::from_utf8_lossy(&out.stdout);
    assert_eq!(table_width(&narrow), full - 10, "{narrow}");
    assert!(
        narrow.contains("GET /api/game/ws/...") || narrow.contains("..."),
        "{narrow}"
    );
    assert!(!narrow.contains('\x1b'));
}

/// A headless Chromium to render with, if one is installed.
fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// Number of timeline marks in an HTML report.
fn marks(html: &str) -> usize {
    html.matches("<circle class=\"mark\"").count()
}

#[test]
fn html_report_is_self_contained_with_one_mark_per_handshake() {
    for e in SAMPLES {
        let html = output_of("html", &[], e.file);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert_eq!(marks(&html), e.handshakes.len(), "{}", e.file);
        // One bar per WebSocket session, from open to close.
        let (_, v) = super::json_of(e.file);
        let sessions = v["sessions"].as_array().unwrap().len();
        let bars = html.matches("<rect class=\"session\"").count();
        assert_eq!(bars, sessions, "{}", e.file);
        assert_eq!(
            html.matches("<title>").count(),
            1 + usize::from(!e.handshakes.is_empty() || sessions > 0) + marks(&html) + bars,
            "{}: page, svg and one tooltip per mark and per bar",
            e.file
        );
        for external in ["<script", "<link", "src=", "url(", "@import", "http-equiv"] {
            assert!(!html.contains(external), "{}: {external}", e.file);
        }
    }
}

/// Decodes a PNG into (width, height, RGBA pixels).
fn pixels(path: &Path) -> (u32, u32, Vec<[u8; 4]>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let bytes = &buf[..info.buffer_size()];
    let px = match info.color_type {
        png::ColorType::Rgba => bytes.chunks(4).map(|c| [c[0], c[1], c[2], c[3]]).collect(),
        png::ColorType::Rgb => bytes.chunks(3).map(|c| [c[0], c[1], c[2], 255]).collect(),
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    (info.width, info.height, px)
}

#[test]
fn html_report_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        eprintln!("SKIP: no chromium (apt-get install chromium); the HTML report was not rendered");
        return;
    };
    let dir = temp_dir("html");
    // Two inputs, so that broken and rejected handshakes are both on the page.
    let rejected = sample("backend-rejected.pcap");
    let html = output_of("html", &[&rejected], "incident-upstream.pcap");
    let page = dir.join("report.html");
    std::fs::write(&page, &html).unwrap();
    let png_path = dir.join("shot.png");
    let status = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            &format!("--user-data-dir={}", dir.join("profile").display()),
            &format!("--screenshot={}", png_path.display()),
            "--window-size=1200,4000",
            &format!("file://{}", page.display()),
        ])
        .output()
        .expect("run chromium");
    assert!(
        png_path.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let (w, h, px) = pixels(&png_path);
    assert_eq!((w, h), (1200, 4000));
    let first = px[0];
    assert!(px.iter().any(|p| *p != first), "the screenshot is blank");
    // The verdict colours of the marks and badges are on the page: broken #c62828, rejected #e65100.
    let near = |p: &[u8; 4], c: [u8; 3]| (0..3).all(|i| p[i].abs_diff(c[i]) < 24);
    assert!(
        px.iter().filter(|p| near(p, [0xc6, 0x28, 0x28])).count() > 200,
        "no broken red"
    );
    assert!(
        px.iter().filter(|p| near(p, [0xe6, 0x51, 0x00])).count() > 200,
        "no rejected orange"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
