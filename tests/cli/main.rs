//! Integration tests: the real binary on the recorded samples, against reviewed golden outputs
//! and against what each sample's README line promises.

mod derived;
mod hostile;
mod lab;
#[cfg(feature = "capture")]
mod live;
mod nginx;
mod probe;
mod reports;
mod util;

use serde_json::Value;
use util::{golden, run, run_stdin, sample};

const BROKEN_INCIDENT: &[&str] = &[
    "http10_downgrade",
    "upgrade_stripped",
    "connection_not_upgrade",
];

/// What `samples/README.md` promises for a sample.
struct Expect {
    file: &'static str,
    requests: u64,
    /// (verdict, problems, status) of each handshake, in capture order.
    handshakes: &'static [(&'static str, &'static [&'static str], Option<u64>)],
    exit: i32,
}

const INCIDENT: &[(&str, &[&str], Option<u64>)] = &[
    ("broken", BROKEN_INCIDENT, Some(404)),
    ("broken", BROKEN_INCIDENT, Some(404)),
];

const SAMPLES: &[Expect] = &[
    Expect {
        file: "incident-upstream.pcap",
        requests: 3,
        handshakes: INCIDENT,
        exit: 1,
    },
    Expect {
        file: "incident-upstream.pcapng",
        requests: 3,
        handshakes: INCIDENT,
        exit: 1,
    },
    Expect {
        file: "incident-any.pcap",
        requests: 3,
        handshakes: INCIDENT,
        exit: 1,
    },
    Expect {
        file: "incident-any-sll.pcap",
        requests: 3,
        handshakes: INCIDENT,
        exit: 1,
    },
    Expect {
        file: "incident-nanos.pcap",
        requests: 3,
        handshakes: INCIDENT,
        exit: 1,
    },
    Expect {
        file: "incident-ipv6.pcap",
        requests: 3,
        handshakes: INCIDENT,
        exit: 1,
    },
    Expect {
        file: "incident-truncated.pcap",
        requests: 3,
        handshakes: INCIDENT,
        exit: 1,
    },
    Expect {
        file: "incident-both-hops.pcap",
        requests: 6,
        handshakes: &[
            // client -> nginx: intact when sent; paired with the upstream half by its key, the
            // client's verdict is what the proxy did to it.
            ("broken", BROKEN_INCIDENT, Some(404)),
            ("broken", BROKEN_INCIDENT, Some(404)),
            ("broken", BROKEN_INCIDENT, Some(404)),
            ("broken", BROKEN_INCIDENT, Some(404)),
        ],
        exit: 1,
    },
    Expect {
        file: "http11-no-upgrade.pcap",
        requests: 1,
        handshakes: &[(
            "broken",
            &["upgrade_stripped", "connection_not_upgrade"],
            Some(404),
        )],
        exit: 1,
    },
    Expect {
        file: "upgrade-no-connection.pcap",
        requests: 1,
        handshakes: &[("broken", &["connection_not_upgrade"], Some(404))],
        exit: 1,
    },
    Expect {
        file: "keepalive-no-upgrade.pcap",
        requests: 5,
        handshakes: &[(
            "broken",
            &["upgrade_stripped", "connection_not_upgrade"],
            Some(404),
        )],
        exit: 1,
    },
    Expect {
        file: "keepalive-correct.pcap",
        requests: 4,
        handshakes: &[("ok", &[], Some(101))],
        exit: 0,
    },
    Expect {
        file: "correct-session.pcap",
        requests: 1,
        handshakes: &[("ok", &[], Some(101))],
        exit: 0,
    },
    Expect {
        file: "backend-rejected.pcap",
        requests: 2,
        handshakes: &[
            ("rejected", &["backend_rejected"], Some(403)),
            ("rejected", &["backend_rejected"], Some(403)),
        ],
        exit: 1,
    },
    Expect {
        file: "plain-http.pcap",
        requests: 4,
        handshakes: &[],
        exit: 0,
    },
    Expect {
        file: "session-pings.pcap",
        requests: 1,
        handshakes: &[("ok", &[], Some(101))],
        exit: 0,
    },
    Expect {
        file: "idle-timeout.pcap",
        requests: 1,
        handshakes: &[("ok", &[], Some(101))],
        // The session's closed_without_close_frame.
        exit: 1,
    },
    Expect {
        file: "path-rewrite-both-hops.pcap",
        requests: 2,
        handshakes: &[
            ("broken", &["path_rewritten"], Some(403)),
            ("broken", &["path_rewritten"], Some(403)),
        ],
        exit: 1,
    },
    Expect {
        file: "not-forwarded-both-hops.pcap",
        requests: 3,
        handshakes: &[("broken", &["not_forwarded"], Some(404))],
        exit: 1,
    },
    Expect {
        file: "mid-stream.pcap",
        requests: 0,
        handshakes: &[],
        exit: 0,
    },
    Expect {
        file: "h2c-upgrade.pcap",
        requests: 1,
        handshakes: &[],
        exit: 0,
    },
    Expect {
        file: "socketio-polling.pcap",
        requests: 12,
        handshakes: &[("broken", BROKEN_INCIDENT, Some(400))],
        exit: 1,
    },
];

fn json_of(file: &str) -> (i32, Value) {
    let (code, out, err) = run(&["analyze", "--format", "json", &sample(file)]);
    let v: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("{file}: output is not JSON ({e}); stderr: {err}"));
    (code, v)
}

#[test]
fn every_sample_gets_the_verdicts_its_readme_promises() {
    for e in SAMPLES {
        let (code, v) = json_of(e.file);
        assert_eq!(code, e.exit, "{}: exit status", e.file);
        assert_eq!(
            v["summary"]["http_requests"], e.requests,
            "{}: requests",
            e.file
        );
        let hs = v["handshakes"].as_array().expect("handshakes array");
        assert_eq!(hs.len(), e.handshakes.len(), "{}: handshakes", e.file);
        assert_eq!(
            v["summary"]["handshakes"],
            e.handshakes.len() as u64,
            "{}",
            e.file
        );
        for (h, (verdict, problems, status)) in hs.iter().zip(e.handshakes) {
            assert_eq!(h["verdict"], *verdict, "{}: {h}", e.file);
            let got: Vec<&str> = h["problems"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap())
                .collect();
            assert_eq!(&got, problems, "{}: problems", e.file);
            assert_eq!(
                h["response"]["status"].as_u64(),
                *status,
                "{}: status",
                e.file
            );
            // Every finding cites its packets.
            assert!(h["request_packet"].as_u64().unwrap() > 0, "{}", e.file);
            if status.is_some() {
                assert!(
                    h["response_packet"].as_u64().unwrap() > h["request_packet"].as_u64().unwrap()
                );
            }
            // Every non-ok verdict carries a fix, and every proxy problem an nginx line.
            if *verdict != "ok" {
                assert!(!h["fix"].as_array().unwrap().is_empty(), "{}: fix", e.file);
            }
        }
    }
}

#[test]
fn golden_outputs_match_reviewed_files() {
    for e in SAMPLES {
        let (_, table, _) = run(&["analyze", &sample(e.file)]);
        golden(&format!("{}.txt", e.file), &table);
        let (_, json, _) = run(&["analyze", "--format", "json", &sample(e.file)]);
        let masked = json.replace(
            &format!("\"wsdiag_version\": \"{}\"", env!("CARGO_PKG_VERSION")),
            "\"wsdiag_version\": \"VERSION\"",
        );
        golden(&format!("{}.json", e.file), &masked);
    }
}

#[test]
fn incident_evidence_and_fix_are_on_the_wire_and_in_nginx_terms() {
    let (_, v) = json_of("incident-upstream.pcap");
    let h = &v["handshakes"][0];
    let r = &h["request"];
    assert_eq!(r["method"], "GET");
    assert_eq!(r["version"], "HTTP/1.0");
    assert_eq!(r["upgrade"], Value::Null);
    assert_eq!(r["connection"], "close");
    assert_eq!(r["sec_websocket_key_present"], true);
    assert_eq!(r["sec_websocket_version"], "13");
    assert!(h["ts"].as_str().unwrap().ends_with('Z'));
    assert!(h["client"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert_eq!(h["server"], "127.0.0.1:8080");
    let nginx: Vec<&str> = h["fix"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["nginx"].as_str())
        .collect();
    let all = nginx.join("\n");
    for line in [
        "proxy_http_version 1.1;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
        "map $http_upgrade $connection_upgrade",
        "''      close;",
    ] {
        assert!(all.contains(line), "fix lacks {line}: {all}");
    }
}

#[test]
fn keepalive_upstream_handshake_is_attributed_to_its_request_and_gets_the_keepalive_map() {
    let (_, v) = json_of("keepalive-no-upgrade.pcap");
    let h = &v["handshakes"][0];
    assert_eq!(h["request"]["version"], "HTTP/1.1");
    assert_eq!(h["request"]["connection"], Value::Null);
    assert_eq!(
        h["request_on_connection"], 4,
        "follows 3 plain requests on one connection"
    );
    let fix = h["fix"].to_string();
    assert!(fix.contains("''      '';"), "keepalive map variant: {fix}");
    // The plain requests on the same connection are counted, not listed.
    assert_eq!(v["summary"]["connections"], 1);
}

#[test]
fn secrets_in_query_strings_and_cookies_do_not_appear_unless_asked() {
    for format in ["table", "json"] {
        let (_, out, _) = run(&[
            "analyze",
            "--all",
            "--format",
            format,
            &sample("incident-upstream.pcap"),
        ]);
        assert!(!out.contains("s3cr3t"), "{format} leaks the token");
        assert!(!out.contains("sess-alice"), "{format} leaks the cookie");
        assert!(out.contains("token=<redacted>"), "{format}");
    }
    let (_, out, _) = run(&["analyze", "--no-redact", &sample("incident-upstream.pcap")]);
    assert!(out.contains("token=s3cr3t-alice"));
    assert!(out.contains("NOT redacted"));
}

#[test]
fn plain_http_yields_no_handshake_and_all_lists_requests() {
    let (code, out, _) = run(&["analyze", &sample("plain-http.pcap")]);
    assert_eq!(code, 0);
    assert!(out.contains("No WebSocket handshake attempts found."));
    let (_, out, _) = run(&["analyze", "--all", &sample("plain-http.pcap")]);
    assert!(out.contains("POST /api/echo"), "{out}");
    assert!(out.contains("GET /api/stream"), "{out}");
}

#[test]
fn truncated_capture_gives_a_partial_report_and_a_warning() {
    let (code, v) = json_of("incident-truncated.pcap");
    assert_eq!(code, 1);
    let warnings = v["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| w["code"] == "capture_truncated"),
        "{warnings:?}"
    );
}

#[test]
fn stdin_gives_the_same_verdicts_as_the_file() {
    let bytes = std::fs::read(util::root().join(sample("incident-upstream.pcapng"))).unwrap();
    let (code, out, err) = run_stdin(&["analyze", "--format", "json", "-"], &bytes);
    assert_eq!(code, 1, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let (_, file) = json_of("incident-upstream.pcapng");
    let mut expected = file["handshakes"].clone();
    for h in expected.as_array_mut().unwrap() {
        h["input"] = Value::String("-".into());
    }
    assert_eq!(v["handshakes"], expected);
}

#[test]
fn several_files_are_merged_into_one_report() {
    let (code, out, _) = run(&[
        "analyze",
        "--format",
        "json",
        &sample("plain-http.pcap"),
        &sample("correct-session.pcap"),
    ]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["inputs"].as_array().unwrap().len(), 2);
    assert_eq!(v["summary"]["http_requests"], 5);
    assert_eq!(v["handshakes"][0]["input"], sample("correct-session.pcap"));
}

#[test]
fn bad_input_is_a_one_line_error_with_exit_2() {
    let dir = std::env::temp_dir().join(format!("wsdiag-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = dir.join("notes.txt");
    std::fs::write(&text, "this is not a capture\n").unwrap();
    let empty = dir.join("empty.pcap");
    std::fs::write(&empty, "").unwrap();
    let no_captures = dir.join("no-captures");
    std::fs::create_dir_all(&no_captures).unwrap();
    let gz = dir.join("hop.pcap.gz");
    std::fs::write(
        &gz,
        [
            0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
        ],
    )
    .unwrap();
    let cases: &[(&str, &str)] = &[
        ("/nonexistent/hop.pcap", "No such file"),
        (text.to_str().unwrap(), "not a pcap or pcapng capture"),
        (empty.to_str().unwrap(), "empty"),
        (gz.to_str().unwrap(), "gzip"),
        (no_captures.to_str().unwrap(), "directory"),
    ];
    for (path, says) in cases {
        let (code, out, err) = run(&["analyze", path]);
        assert_eq!(code, 2, "{path}: {err}");
        assert!(out.is_empty(), "{path}: no report on stdout");
        assert_eq!(err.trim_end().lines().count(), 1, "{path}: one line: {err}");
        assert!(err.contains(says), "{path}: {err}");
        assert!(err.starts_with("wsdiag: "), "{path}: {err}");
    }
    for bad in [
        &["analyze", "--port", "70000", "x.pcap"][..],
        &["analyze", "--port", "0", "x.pcap"],
        &["analyze", "--format", "xml", "x.pcap"],
        &["analyze"],
        &["frobnicate"],
    ] {
        let (code, out, err) = run(bad);
        assert_eq!(code, 2, "{bad:?}: {err}");
        assert!(out.is_empty());
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{bad:?}: one line: {err}"
        );
        assert!(err.starts_with("wsdiag: "), "{err}");
    }
    let (_, _, err) = run(&["analyze", "--port", "70000", "x.pcap"]);
    assert!(err.contains("70000"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    use std::process::Stdio;
    let mut child = util::wsdiag()
        .args(["analyze", "--all", &sample("incident-both-hops.pcap")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // like `| head -0`
    let out = child.wait_with_output().unwrap();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1));
}

/// tshark's view of a sample: frame numbers of HTTP requests, and of those carrying a
/// Sec-WebSocket-Key. None when tshark is not installed.
fn tshark_requests(file: &str) -> Option<(Vec<u64>, Vec<u64>)> {
    let out = std::process::Command::new("tshark")
        .current_dir(util::root())
        .args([
            "-r",
            file,
            "-d",
            "tcp.port==8080,http",
            "-d",
            "tcp.port==8000,http",
            "-2",
            "-Y",
            "http.request",
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            "http.request.line",
        ])
        .output()
        .ok()?;
    if !out.status.success() && out.stdout.is_empty() {
        return None;
    }
    let mut all = Vec::new();
    let mut ws = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut cols = line.splitn(2, '\t');
        let n: u64 = cols.next()?.trim().parse().ok()?;
        all.push(n);
        if cols
            .next()
            .unwrap_or("")
            .to_ascii_lowercase()
            .contains("sec-websocket-key")
        {
            ws.push(n);
        }
    }
    Some((all, ws))
}

#[test]
fn tshark_agrees_on_requests_and_handshake_packets() {
    if std::process::Command::new("tshark")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!(
            "SKIP: tshark is not installed (apt-get install tshark); second opinion not checked"
        );
        return;
    }
    for e in SAMPLES {
        let (all, ws) = tshark_requests(&sample(e.file)).expect("tshark output");
        let (_, v) = json_of(e.file);
        assert_eq!(
            v["summary"]["http_requests"],
            all.len() as u64,
            "{}: tshark saw {all:?}",
            e.file
        );
        let ours: Vec<u64> = v["handshakes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["request_packet"].as_u64().unwrap())
            .collect();
        assert_eq!(
            ours, ws,
            "{}: handshake request packets (ours vs tshark)",
            e.file
        );
    }
}

#[test]
fn a_correct_session_reports_its_messages_pings_and_close() {
    let (_, v) = json_of("session-pings.pcap");
    let s = &v["sessions"][0];
    assert_eq!(v["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(s["handshake_packet"], v["handshakes"][0]["request_packet"]);
    assert_eq!(
        (
            s["from_client"]["messages"].as_u64(),
            s["from_server"]["messages"].as_u64()
        ),
        (Some(2), Some(2))
    );
    let pings =
        s["from_client"]["pings"].as_u64().unwrap() + s["from_server"]["pings"].as_u64().unwrap();
    let pongs =
        s["from_client"]["pongs"].as_u64().unwrap() + s["from_server"]["pongs"].as_u64().unwrap();
    assert_eq!((pings, pongs), (5, 5), "{s}");
    assert_eq!(s["close"]["code"], 1000);
    assert_eq!(s["close"]["from"], "client");
    assert_eq!(s["close_completed"], true);
    assert_eq!(s["problems"], serde_json::json!([]));
    let d = s["duration"].as_f64().unwrap();
    assert!((1.9..2.2).contains(&d), "about 2 s: {d}");
}

#[test]
fn an_idle_cut_is_closed_without_close_frame_with_the_silence_and_the_side() {
    let (_, v) = json_of("idle-timeout.pcap");
    let s = &v["sessions"][0];
    assert_eq!(
        s["problems"],
        serde_json::json!(["closed_without_close_frame"])
    );
    assert_eq!(
        s["tcp_end"]["by"], "client",
        "nginx is the client side of this hop"
    );
    assert_eq!(s["tcp_end"]["how"], "fin");
    let silence = s["silence_before_end"].as_f64().unwrap();
    assert!(
        (2.8..3.2).contains(&silence),
        "nginx's proxy_read_timeout 3s: {silence}"
    );
    let text = s["evidence"].to_string() + &s["fix"].to_string();
    assert!(text.contains("3.0 s"), "{text}");
    assert!(text.contains("proxy_read_timeout"), "{text}");
    assert_eq!(v["summary"]["by_problem"]["closed_without_close_frame"], 1);
}

#[test]
fn both_hops_are_paired_and_the_proxy_changes_named() {
    let (_, v) = json_of("incident-both-hops.pcap");
    let hs = v["handshakes"].as_array().unwrap();
    let client = &hs[0];
    let upstream = &hs[1];
    assert_eq!(client["hop"]["hop"], "client");
    assert_eq!(client["hop"]["paired_with"], upstream["request_packet"]);
    assert_eq!(upstream["hop"]["hop"], "upstream");
    assert_eq!(upstream["hop"]["paired_with"], client["request_packet"]);
    let changes = upstream["hop"]["proxy_changes"].to_string();
    for c in [
        "HTTP/1.1 to HTTP/1.0",
        "removed `Upgrade: websocket`",
        "`Connection: close`",
    ] {
        assert!(changes.contains(c), "{c}: {changes}");
    }

    let (_, v) = json_of("path-rewrite-both-hops.pcap");
    let up = &v["handshakes"][1];
    assert_eq!(up["hop"]["hop"], "upstream");
    assert!(up["request"]["target"]
        .as_str()
        .unwrap()
        .starts_with("/game/ws/42/alice"));
    assert!(v["handshakes"][0]["request"]["target"]
        .as_str()
        .unwrap()
        .starts_with("/api/game/ws/42/alice"));
    assert!(up["fix"].to_string().contains("proxy_pass"));

    let (_, v) = json_of("not-forwarded-both-hops.pcap");
    let h = &v["handshakes"][0];
    assert_eq!(h["hop"]["paired_with"], serde_json::Value::Null);
    assert_eq!(h["response"]["backend"], "nginx (its own error page)");
    assert!(h["evidence"]
        .to_string()
        .contains("the proxy answered by itself"));
}

#[test]
fn a_capture_that_starts_mid_session_needs_decode_as_and_claims_no_handshake() {
    let (code, out, _) = run(&[
        "analyze",
        "--format",
        "json",
        "--decode-as",
        "websocket:8080",
        &sample("mid-stream.pcap"),
    ]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["summary"]["handshakes"], 0);
    let s = &v["sessions"][0];
    assert_eq!(s["handshake_captured"], false);
    assert_eq!(
        (
            s["from_client"]["messages"].as_u64(),
            s["from_server"]["messages"].as_u64()
        ),
        (Some(3), Some(3))
    );
    assert_eq!(s["close"]["code"], 1000);
    assert!(s["evidence"]
        .to_string()
        .contains("handshake was not captured"));
    // Without the flag: nothing invented.
    let (_, v) = json_of("mid-stream.pcap");
    assert_eq!(v["sessions"], serde_json::json!([]));
    assert_eq!(v["summary"]["handshakes"], 0);
    let (code, _, err) = run(&[
        "analyze",
        "--decode-as",
        "mqtt:1883",
        &sample("mid-stream.pcap"),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("websocket:PORT"), "{err}");
}

#[test]
fn a_non_websocket_upgrade_is_counted_not_judged() {
    let (code, v) = json_of("h2c-upgrade.pcap");
    assert_eq!(code, 0);
    assert_eq!(v["summary"]["handshakes"], 0);
    assert_eq!(v["summary"]["other_upgrades"]["h2c"], 1);
}

#[test]
fn the_readme_quick_start_shows_what_the_command_prints() {
    let readme = std::fs::read_to_string(util::root().join("README.md")).unwrap();
    let marker =
        "The first command prints (timestamps and ports are the recording's):\n\n```text\n";
    let start = readme.find(marker).expect("quick start example in README") + marker.len();
    let end = start + readme[start..].find("```\n").unwrap();
    let (_, out, _) = run(&["analyze", &sample("incident-upstream.pcap")]);
    assert_eq!(
        &readme[start..end],
        out,
        "README's quick start output is stale"
    );
}

#[test]
fn socket_io_that_never_upgrades_is_stuck_on_polling() {
    let (code, v) = json_of("socketio-polling.pcap");
    assert_eq!(code, 1);
    let stuck = v["stuck_on_polling"].as_array().unwrap();
    assert_eq!(stuck.len(), 1, "{v:#}");
    let s = &stuck[0];
    assert_eq!(s["library"], "socket.io/engine.io");
    assert_eq!(s["path"], "/api/socket.io/");
    assert_eq!(s["polling_requests"], 11);
    assert_eq!(s["websocket_attempts"], 1);
    assert_eq!(s["websocket_ok"], 0);
    assert!(
        s["evidence"]
            .to_string()
            .contains("broken (http10_downgrade"),
        "{s}"
    );
    assert_eq!(v["summary"]["by_problem"]["stuck_on_polling"], 1);
    // A correct session has no polling at all.
    let (_, v) = json_of("correct-session.pcap");
    assert_eq!(v["stuck_on_polling"], serde_json::json!([]));
}

#[test]
fn parallel_runs_give_the_sequential_report_byte_for_byte() {
    let files: Vec<String> = [
        "incident-upstream.pcap",
        "correct-session.pcap",
        "incident-both-hops.pcap",
        "backend-rejected.pcap",
        "keepalive-no-upgrade.pcap",
        "incident-truncated.pcap",
        "session-pings.pcap",
        "plain-http.pcap",
    ]
    .iter()
    .map(|f| sample(f))
    .collect();
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    for format in ["json", "jsonl", "table", "markdown"] {
        let with = |jobs: &str| {
            let mut args = vec!["analyze", "--all", "--format", format, "--jobs", jobs];
            args.extend(&files);
            run(&args)
        };
        let one = with("1");
        assert!(one.0 == 0 || one.0 == 1, "{}", one.2);
        for jobs in ["2", "3", "8"] {
            // The Markdown report quotes the command line: the same but for `--jobs`.
            let (code, out, err) = with(jobs);
            let out = out.replace(&format!("--jobs {jobs}"), "--jobs 1");
            assert_eq!((code, out, err), one, "--jobs {jobs} --format {format}");
        }
    }
}

#[test]
fn max_listed_bounds_the_merged_lists_and_keeps_the_summary_exact() {
    // Single-hop captures (no pairing across hops, which the unlisted would miss).
    let files: Vec<String> = [
        "incident-upstream.pcap",
        "correct-session.pcap",
        "backend-rejected.pcap",
        "keepalive-no-upgrade.pcap",
        "session-pings.pcap",
        "keepalive-correct.pcap",
        "plain-http.pcap",
    ]
    .iter()
    .map(|f| sample(f))
    .collect();
    let report = |extra: &[&str]| {
        let mut args = vec!["analyze", "--all", "--format", "json"];
        args.extend(extra);
        args.extend(files.iter().map(String::as_str));
        let (code, out, err) = run(&args);
        assert_eq!(code, 1, "{err}");
        (
            out.clone(),
            serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        )
    };
    let (_, all) = report(&[]);
    let (one, capped) = report(&["--max-listed", "2", "--jobs", "1"]);
    let (three, _) = report(&["--max-listed", "2", "--jobs", "3"]);
    assert_eq!(one, three, "--jobs 3 differs from --jobs 1");
    let len = |v: &serde_json::Value, key: &str| v[key].as_array().unwrap().len();
    assert!(len(&all, "handshakes") > 2 && len(&all, "sessions") > 2 && len(&all, "requests") > 2);
    assert_eq!(
        (
            len(&capped, "handshakes"),
            len(&capped, "sessions"),
            len(&capped, "requests")
        ),
        (2, 2, 2)
    );
    // The first inputs' first: the incident's two handshakes.
    let inputs: Vec<&str> = capped["handshakes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["input"].as_str().unwrap())
        .collect();
    assert!(
        inputs.iter().all(|i| i.ends_with("incident-upstream.pcap")),
        "{inputs:?}"
    );
    for key in [
        "handshakes",
        "sessions",
        "by_verdict",
        "by_problem",
        "http_requests",
    ] {
        assert_eq!(capped["summary"][key], all["summary"][key], "{key}");
    }
    assert_eq!(capped["summary"]["by_warning"]["report_limit"], 1);
    let handshakes = all["summary"]["handshakes"].as_u64().unwrap();
    let message = util::warning_message(&capped, "report_limit");
    assert!(
        message.contains(&format!("{} handshakes", handshakes - 2)),
        "{message}"
    );
}

#[test]
fn a_directory_is_the_capture_files_in_it_by_name() {
    let dir = std::env::temp_dir().join(format!("wsdiag-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, sample_name) in [
        ("b.pcap", "correct-session.pcap"),
        ("a.pcap", "incident-upstream.pcap"),
        ("c.pcapng", "incident-upstream.pcapng"),
    ] {
        std::fs::copy(sample(sample_name), dir.join(name)).unwrap();
    }
    std::fs::write(dir.join("notes.txt"), "not a capture").unwrap();
    let (code, out, err) = run(&["analyze", "--format", "json", dir.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let inputs: Vec<String> = v["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["path"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(inputs, ["a.pcap", "b.pcap", "c.pcapng"]);
    let _ = std::fs::remove_dir_all(&dir);
}
