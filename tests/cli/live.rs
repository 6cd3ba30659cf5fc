//! End-to-end tests of live capture (feature `capture`): a real nginx with the sample site files
//! in front of the real FastAPI/uvicorn backend (`samples/backend.py`), driven by the real client
//! (`samples/client.py`), all on loopback, captured by `wsdiag capture lo` and by the
//! `tcpdump | wsdiag analyze -` pipe.
//!
//! They need root (CAP_NET_RAW), nginx, tcpdump and python3 with fastapi, uvicorn and
//! websockets (`PYTHON` chooses the interpreter, as for `samples/record.sh`); where any is
//! missing they print `SKIP: ...` and pass. `.ci/run` installs everything and runs them as root.
//!
//! Each test runs its own nginx and backend on free ports from 18000 up (never the samples'
//! 8000/8080), in a private temporary directory; a [`Lab`] guard stops every process it started
//! and removes the directory even when an assertion fails.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::lab::{is_root, python, succeeds, Lab, Lines, BIN};
use crate::BROKEN_INCIDENT;

/// The handshake targets of `client.py incident`, in order, as wsdiag prints them (redacted).
const INCIDENT_TARGETS: &[&str] = &[
    "/api/game/ws/42/alice?token=<redacted>",
    "/api/game/ws/7/bob?token=<redacted>",
];

/// Why the live tests cannot run here, if they cannot. `stack`: also nginx, the backend's
/// Python packages and tcpdump.
fn unavailable(stack: bool) -> Option<String> {
    if !is_root() {
        return Some("not root: live capture needs CAP_NET_RAW (CI runs these as root)".into());
    }
    // Root in a container may still lack CAP_NET_RAW.
    if !succeeds(
        BIN,
        &[
            "capture",
            "lo",
            "--filter",
            "tcp port 9",
            "--duration",
            "0.1",
        ],
    ) {
        return Some("`wsdiag capture lo` does not work here (no CAP_NET_RAW?)".into());
    }
    if stack {
        if !succeeds("nginx", &["-v"]) {
            return Some("nginx is not installed (apt-get install nginx)".into());
        }
        if !succeeds("tcpdump", &["--version"]) {
            return Some("tcpdump is not installed (apt-get install tcpdump)".into());
        }
        if !succeeds(&python(), &["-c", "import fastapi, uvicorn, websockets"]) {
            return Some(format!(
                "{} lacks fastapi/uvicorn/websockets (pip install fastapi 'uvicorn[standard]' websockets)",
                python()
            ));
        }
    }
    None
}

/// Prints why `test` is skipped and returns true, when it must be.
fn skip(test: &str, stack: bool) -> bool {
    match unavailable(stack) {
        Some(why) => {
            eprintln!("SKIP: {test}: {why}");
            true
        }
        None => false,
    }
}

// ------------------------------------------------------------------------------------------
// Reading reports

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

/// (verdict, problems, status, target) of a handshake object.
type Judged = (String, Vec<String>, Option<u64>, String);

fn judged(h: &Value) -> Judged {
    (
        h["verdict"].as_str().unwrap_or_default().to_string(),
        h["problems"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| p.as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default(),
        h["response"]["status"].as_u64(),
        h["request"]["target"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

fn incident_expected(targets: &[&str]) -> Vec<Judged> {
    targets
        .iter()
        .map(|t| {
            (
                "broken".to_string(),
                BROKEN_INCIDENT.iter().map(|p| p.to_string()).collect(),
                Some(404),
                t.to_string(),
            )
        })
        .collect()
}

/// A JSON Lines report: its handshakes (judged, with arrival times), and its summary line and
/// the summary's position, checking that every handshake line comes before the summary.
struct Jsonl {
    handshakes: Vec<(Instant, Judged)>,
    summary: Value,
    summary_at: Instant,
}

fn jsonl(lines: &[(Instant, String)]) -> Jsonl {
    let mut handshakes = Vec::new();
    let mut summary = None;
    for (at, line) in lines {
        let v = parse(line);
        match v["type"].as_str() {
            Some("handshake") => {
                assert!(
                    summary.is_none(),
                    "a handshake line came after the summary:\n{line}"
                );
                handshakes.push((*at, judged(&v)));
            }
            Some("summary") => {
                assert!(summary.is_none(), "two summary lines");
                summary = Some((v, *at));
            }
            _ => {}
        }
    }
    let (summary, summary_at) = summary.unwrap_or_else(|| {
        panic!(
            "no summary line in:\n{}",
            lines
                .iter()
                .map(|(_, l)| l.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    Jsonl {
        handshakes,
        summary,
        summary_at,
    }
}

fn judged_of(j: &Jsonl) -> Vec<Judged> {
    j.handshakes.iter().map(|(_, h)| h.clone()).collect()
}

/// `wsdiag analyze --format json FILE`: exit status and the judged handshakes.
fn analyze_file(path: &Path) -> (i32, Vec<Judged>) {
    let out = Command::new(BIN)
        .args(["analyze", "--format", "json"])
        .arg(path)
        .output()
        .expect("run wsdiag analyze");
    let doc = parse(&String::from_utf8_lossy(&out.stdout));
    let hs = doc["handshakes"]
        .as_array()
        .map(|a| a.iter().map(judged).collect())
        .unwrap_or_default();
    (out.status.code().unwrap_or(-1), hs)
}

fn is_handshake(l: &str) -> bool {
    l.starts_with("{\"type\":\"handshake\"")
}

// ------------------------------------------------------------------------------------------
// The tests

/// The incident: nginx without WebSocket proxying. The live capture reports each broken
/// handshake while it runs, saves a private pcap that `analyze` reads the same way, and the
/// tcpdump pipe into `analyze -` streams the same verdicts.
#[test]
fn live_incident_is_reported_as_it_happens_saved_and_piped() {
    if skip(
        "live_incident_is_reported_as_it_happens_saved_and_piped",
        true,
    ) {
        return;
    }
    let mut lab = Lab::new("incident");
    let ports = lab.start_stack("incident.conf");
    let saved = lab.dir.join("hop.pcap");
    let duration = 7.0;
    let (cap, cap_out, cap_err) = lab.capture(
        ports,
        &[
            "--duration",
            &duration.to_string(),
            "--format",
            "jsonl",
            "-w",
            saved.to_str().unwrap(),
        ],
    );
    let started = Instant::now();

    // The no-library alternative, watching the same traffic.
    let td = lab.spawn(
        "tcpdump",
        Command::new("tcpdump")
            .args(["-i", "lo", "-U", "-w", "-"])
            .arg(format!("tcp port {}", ports.backend))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
        "INT",
    );
    let td_stdout = lab.stdout(td);
    let td_err = Lines::collect(lab.stderr(td));
    let pipe = lab.spawn(
        "wsdiag analyze -",
        Command::new(BIN)
            .args(["analyze", "--format", "jsonl", "-"])
            .stdin(Stdio::from(td_stdout))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
        "INT",
    );
    let (pipe_out, pipe_err) = lab.lines(pipe);
    td_err.wait_for(
        "tcpdump's `listening on lo` line",
        1,
        Duration::from_secs(10),
        |l| l.contains("listening on lo"),
    );
    thread::sleep(Duration::from_millis(300));

    lab.client(ports, "incident");

    // Both handshakes are reported while the capture still runs.
    cap_out.wait_for(
        "2 handshake lines from wsdiag capture",
        2,
        Duration::from_secs(5),
        is_handshake,
    );
    assert!(
        lab.running(cap),
        "wsdiag capture ended before --duration {duration} (started {:?} ago); stderr:\n{}",
        started.elapsed(),
        cap_err.text()
    );
    // ... and by the pipe while tcpdump still runs.
    pipe_out.wait_for(
        "2 handshake lines from `tcpdump | wsdiag analyze -`",
        2,
        Duration::from_secs(5),
        is_handshake,
    );
    assert!(lab.running(pipe), "wsdiag analyze - ended before its input");

    // Let tcpdump see the last FINs, then stop it as a user would (Ctrl-C).
    thread::sleep(Duration::from_millis(700));
    lab.signal(td, "INT");
    lab.wait(td, Duration::from_secs(10));
    let pipe_status = lab.wait(pipe, Duration::from_secs(10));
    let pipe_report = jsonl(&pipe_out.finish(Duration::from_secs(5)));
    assert_eq!(
        pipe_status.code(),
        Some(1),
        "`wsdiag analyze -` exit status; stderr:\n{}",
        pipe_err.text()
    );

    let cap_status = lab.wait(cap, Duration::from_secs(duration as u64 + 10));
    let live = jsonl(&cap_out.finish(Duration::from_secs(5)));
    assert_eq!(
        cap_status.code(),
        Some(1),
        "wsdiag capture exit status; stderr:\n{}",
        cap_err.text()
    );

    // 1. The live capture: the incident's verdicts, each line well before the summary.
    let expected = incident_expected(INCIDENT_TARGETS);
    assert_eq!(judged_of(&live), expected, "live capture verdicts");
    let first = live.handshakes[0].0;
    assert!(
        live.summary_at.duration_since(first) >= Duration::from_secs(1),
        "the first handshake line came only {:?} before the summary: findings are not streamed",
        live.summary_at.duration_since(first)
    );
    let s = &live.summary;
    assert_eq!(s["handshakes"], 2, "summary: {s}");
    assert_eq!(s["http_requests"], 3, "summary: {s}");
    assert_eq!(s["by_verdict"]["broken"], 2, "summary: {s}");
    assert_eq!(s["capture"]["interface"], "lo", "summary: {s}");
    assert_eq!(
        s["capture"]["filter"],
        format!("tcp port {}", ports.backend).as_str(),
        "summary: {s}"
    );
    assert!(
        s["capture"]["dropped"].is_u64() && s["capture"]["if_dropped"].is_u64(),
        "summary without drop counts: {s}"
    );

    // 2. The saved file: private, and the same verdicts when analysed afterwards.
    let mode = std::fs::metadata(&saved)
        .expect("-w left no file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "-w file mode is {:o}", mode & 0o777);
    let (status, from_file) = analyze_file(&saved);
    assert_eq!(status, 1, "analyze of the -w file");
    assert_eq!(from_file, expected, "verdicts from the -w file");

    // 3. The pipe: the same verdicts.
    assert_eq!(
        judged_of(&pipe_report),
        expected,
        "verdicts through the pipe"
    );
}

/// The classic correct config: the handshake is upgraded and the verdict is ok, exit 0.
#[test]
fn live_correct_config_is_ok() {
    if skip("live_correct_config_is_ok", true) {
        return;
    }
    let mut lab = Lab::new("correct");
    let ports = lab.start_stack("correct.conf");
    let (cap, out, err) = lab.capture(ports, &["--duration", "3", "--format", "jsonl"]);
    lab.client(ports, "correct-session");
    let status = lab.wait(cap, Duration::from_secs(15));
    let report = jsonl(&out.finish(Duration::from_secs(5)));
    assert_eq!(
        judged_of(&report),
        vec![(
            "ok".to_string(),
            vec![],
            Some(101),
            "/api/game/ws/42/alice?token=<redacted>".to_string()
        )],
        "stderr:\n{}",
        err.text()
    );
    assert_eq!(status.code(), Some(0), "stderr:\n{}", err.text());
}

/// SIGTERM (as from `kill` or systemd) ends a capture without --duration cleanly: the summary
/// prints and the -w file is a complete pcap.
#[test]
fn live_sigterm_ends_the_capture_with_a_summary_and_a_valid_file() {
    if skip(
        "live_sigterm_ends_the_capture_with_a_summary_and_a_valid_file",
        true,
    ) {
        return;
    }
    let mut lab = Lab::new("sigterm");
    let ports = lab.start_stack("incident.conf");
    let saved = lab.dir.join("term.pcap");
    let (cap, out, err) = lab.capture(ports, &["--format", "jsonl", "-w", saved.to_str().unwrap()]);
    lab.client(ports, "one-handshake");
    out.wait_for(
        "the handshake line",
        1,
        Duration::from_secs(5),
        is_handshake,
    );
    thread::sleep(Duration::from_millis(500));
    assert!(lab.running(cap), "the capture ended on its own");
    lab.signal(cap, "TERM");
    let status = lab.wait(cap, Duration::from_secs(10));
    let report = jsonl(&out.finish(Duration::from_secs(5)));
    let expected = incident_expected(&["/api/game/ws/42/alice?token=<redacted>"]);
    assert_eq!(judged_of(&report), expected, "stderr:\n{}", err.text());
    assert_eq!(report.summary["handshakes"], 1);
    assert_eq!(status.code(), Some(1), "stderr:\n{}", err.text());
    let (status, from_file) = analyze_file(&saved);
    assert_eq!(status, 1, "analyze of the file left by a SIGTERMed capture");
    assert_eq!(from_file, expected);
}

/// Runs wsdiag with `args` (optionally through `prefix`, e.g. setpriv): status and stderr.
fn run_err(prefix: &[&str], bin: &str, args: &[&str]) -> (i32, String) {
    let mut cmd = match prefix.split_first() {
        Some((p, rest)) => {
            let mut c = Command::new(p);
            c.args(rest).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.args(args).stdin(Stdio::null());
    // A binary copied a moment ago can be "Text file busy" while another test thread's fork
    // still holds the copy's write descriptor (until that child execs): try again.
    for _ in 0..50 {
        let out = cmd.output().expect("run wsdiag");
        let err = String::from_utf8_lossy(&out.stderr).trim_end().to_string();
        if !err.contains("Text file busy") {
            return (out.status.code().unwrap_or(-1), err);
        }
        thread::sleep(Duration::from_millis(100));
    }
    panic!("{bin} stayed busy (ETXTBSY)");
}

/// The errors a user meets, each an exit status 2 and a message saying what to do.
#[test]
fn live_capture_errors_say_what_to_do() {
    // Usage errors and the interface list need no privilege.
    for bad in ["0", "70000"] {
        let (code, err) = run_err(
            &[],
            BIN,
            &["capture", "lo", "--port", bad, "--duration", "1"],
        );
        assert_eq!(code, 2, "--port {bad}: {err}");
        assert!(
            err.lines().next().unwrap_or_default().contains(bad),
            "--port {bad}: the first line does not name the value: {err}"
        );
    }
    let out = Command::new(BIN)
        .arg("interfaces")
        .output()
        .expect("run wsdiag interfaces");
    let list = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "wsdiag interfaces");
    assert!(
        list.lines().any(|l| l.split('\t').next() == Some("lo")),
        "wsdiag interfaces does not list lo:\n{list}"
    );
    let out = Command::new(BIN)
        .args(["capture", "--list"])
        .output()
        .expect("run wsdiag capture --list");
    assert_eq!(String::from_utf8_lossy(&out.stdout), list, "capture --list");

    if skip(
        "live_capture_errors_say_what_to_do (the privileged part)",
        false,
    ) {
        return;
    }
    let (code, err) = run_err(&[], BIN, &["capture", "nosuchif0", "--duration", "1"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    assert!(
        err.contains("nosuchif0") && err.contains(" lo"),
        "the message does not name the interface and list lo: {err}"
    );

    let (code, err) = run_err(
        &[],
        BIN,
        &["capture", "lo", "--filter", "tcp port", "--duration", "1"],
    );
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    assert!(err.contains("tcp port"), "the filter is not named: {err}");

    // No permission: as nobody, without capabilities. The binary is copied where nobody can
    // run it (target/ may be under a private home).
    if !succeeds("setpriv", &["--version"]) {
        eprintln!("SKIP: the no-permission case: setpriv (util-linux) is missing");
        return;
    }
    let lab = Lab::new("noperm");
    let bin = lab.dir.join("wsdiag");
    std::fs::copy(BIN, &bin).expect("copy the binary");
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (code, err) = run_err(
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ],
        bin.to_str().unwrap(),
        &["capture", "lo", "--duration", "1"],
    );
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    for needed in [
        "CAP_NET_RAW",
        "sudo",
        "setcap cap_net_raw,cap_net_admin=eip",
    ] {
        assert!(err.contains(needed), "the message lacks {needed}: {err}");
    }
}

/// A closed stdout (`wsdiag capture ... | head -1`) ends the capture quietly: no error on
/// stderr, the status says what was seen, and the `-w` file is a valid capture.
#[test]
fn live_closed_stdout_ends_the_capture_quietly_with_a_valid_file() {
    if skip(
        "live_closed_stdout_ends_the_capture_quietly_with_a_valid_file",
        true,
    ) {
        return;
    }
    let mut lab = Lab::new("closed-stdout");
    let ports = lab.start_stack("incident.conf");
    let saved = lab.dir.join("closed.pcap");
    let (log_out, log_err) = lab.log_file("closed-capture.log");
    drop(log_out);
    let cap = lab.spawn(
        "wsdiag capture (stdout closed)",
        Command::new(BIN)
            .args(["capture", "lo", "--port", &ports.backend.to_string()])
            .args(["--format", "jsonl", "--duration", "20", "-w"])
            .arg(&saved)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_err),
        "INT",
    );
    // Like `| head -0`: the reader goes away before anything is written.
    drop(lab.procs[cap].child.stdout.take());
    let start = Instant::now();
    while !lab.file("closed-capture.log").contains("Ctrl-C to stop") {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the capture did not start"
        );
        thread::sleep(Duration::from_millis(50));
    }
    lab.client(ports, "one-handshake");
    // The first handshake line hits the closed pipe: the capture stops by itself, well before
    // its 20 s.
    let status = lab.wait(cap, Duration::from_secs(10));
    let stderr = lab.file("closed-capture.log");
    assert_eq!(
        status.code(),
        Some(1),
        "a broken handshake was seen: {stderr}"
    );
    let unexpected: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.contains("capturing on"))
        .collect();
    assert!(unexpected.is_empty(), "quiet on stderr: {unexpected:?}");
    let (status, from_file) = analyze_file(&saved);
    assert_eq!(status, 1);
    assert_eq!(
        from_file,
        incident_expected(&["/api/game/ws/42/alice?token=<redacted>"])
    );
}
