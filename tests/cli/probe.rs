//! End-to-end tests of `wsdiag probe`: real handshakes through a real nginx (the sample site
//! files, ports rewritten) to the real FastAPI/uvicorn backend on loopback, and straight to the
//! backend; `wss://` through nginx with a self-signed certificate made here. With the `capture`
//! feature and root, `--capture lo --port BACKEND` shows what the backend received.
//!
//! They need nginx and python3 with fastapi and uvicorn (and openssl for wss, root and the
//! feature for --capture); where something is missing they print `SKIP: ...` and pass.

use serde_json::Value;

use crate::lab::{is_root, python, succeeds, Lab, Ports};
use crate::util::run;

const ORIGIN: &str = "https://game.example.com";
const PATH: &str = "/api/game/ws/42/alice?token=s3cr3t-token";

/// Why the end-to-end probe tests cannot run here, if they cannot.
fn stack_missing() -> Option<String> {
    if !succeeds("nginx", &["-v"]) {
        return Some("nginx is not installed (apt-get install nginx)".into());
    }
    if !succeeds(&python(), &["-c", "import fastapi, uvicorn"]) {
        return Some(format!(
            "{} lacks fastapi/uvicorn (pip install fastapi 'uvicorn[standard]')",
            python()
        ));
    }
    None
}

fn skip(test: &str) -> bool {
    match stack_missing() {
        Some(why) => {
            eprintln!("SKIP: {test}: {why}");
            true
        }
        None => false,
    }
}

/// Whether `--capture` can run here: the feature, root and a working libpcap on lo.
fn capture_missing() -> Option<String> {
    if !cfg!(feature = "capture") {
        return Some("built without the `capture` feature (cargo test --features capture)".into());
    }
    if !is_root() {
        return Some("not root: --capture needs CAP_NET_RAW".into());
    }
    let (code, _, err) = run(&[
        "capture",
        "lo",
        "--filter",
        "tcp port 9",
        "--duration",
        "0.1",
    ]);
    if code != 0 {
        return Some(format!("`wsdiag capture lo` does not work here: {err}"));
    }
    None
}

fn url(port: u16) -> String {
    format!("ws://127.0.0.1:{port}{PATH}")
}

/// `wsdiag probe ARGS --format json`: (exit status, the document, stderr).
fn probe_json(args: &[&str]) -> (i32, Value, String) {
    let mut all = vec!["probe", "--format", "json", "--timeout", "5"];
    all.extend_from_slice(args);
    let (code, out, err) = run(&all);
    let v = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("not JSON ({e}), exit {code}:\n{out}\nstderr: {err}"));
    (code, v, err)
}

fn problems(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect()
}

fn assert_no_secret(text: &str) {
    assert!(!text.contains("s3cr3t-token"), "the token leaked:\n{text}");
}

#[test]
fn probe_through_the_incident_config_is_refused_and_the_backend_view_names_the_damage() {
    if skip("probe_through_the_incident_config") {
        return;
    }
    let mut lab = Lab::new("probe-incident");
    let ports = lab.start_stack("incident.conf");
    let (code, v, err) = probe_json(&[&url(ports.nginx), "--origin", ORIGIN]);
    assert_eq!(code, 1, "{v}\n{err}");
    let p = &v["probes"][0];
    assert_eq!(p["verdict"], "refused");
    assert_eq!(p["response"]["status"], 404);
    assert_eq!(p["problems"], serde_json::json!(["refused"]));
    assert!(
        p["response"]["body_start"]
            .as_str()
            .unwrap()
            .contains("Not Found"),
        "{p}"
    );
    assert_eq!(p["response"]["server"], "Starlette/FastAPI");
    assert_eq!(p["address"], format!("127.0.0.1:{}", ports.nginx));
    assert!(p["connect_seconds"].as_f64().unwrap() >= 0.0);
    assert_no_secret(&v.to_string());

    // The table says it in plain words, and redacts the token too.
    let (code, table, _) = run(&["probe", &url(ports.nginx), "--origin", ORIGIN]);
    assert_eq!(code, 1);
    assert!(table.contains("Verdict: REFUSED"), "{table}");
    assert!(table.contains("404 Not Found"), "{table}");
    assert_no_secret(&table);

    // --compare: straight to the backend works, through nginx it does not.
    let direct = url(ports.backend);
    let (code, v, _) = probe_json(&[&direct, "--compare", &url(ports.nginx), "--origin", ORIGIN]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["probes"][0]["verdict"], "ok");
    assert_eq!(v["probes"][1]["verdict"], "refused");
    let fields: Vec<&str> = v["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    for f in ["verdict", "status", "accept"] {
        assert!(fields.contains(&f), "{f} in {fields:?}");
    }
    let (_, md, _) = run(&[
        "probe",
        &direct,
        "--compare",
        &url(ports.nginx),
        "--origin",
        ORIGIN,
        "--format",
        "markdown",
    ]);
    assert!(
        md.contains("## Comparison") && md.contains("**differs**"),
        "{md}"
    );

    if let Some(why) = capture_missing() {
        eprintln!("SKIP: probe --capture on the incident: {why}");
        return;
    }
    upstream_incident(ports);
}

fn upstream_incident(ports: Ports) {
    let backend = ports.backend.to_string();
    let args = [
        url(ports.nginx),
        "--origin".into(),
        ORIGIN.into(),
        "--capture".into(),
        "lo".into(),
        "--port".into(),
        backend.clone(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, v, err) = probe_json(&args);
    assert_eq!(code, 1, "{err}");
    let u = &v["probes"][0]["upstream"];
    assert_eq!(
        problems(&u["problems"]),
        [
            "http10_downgrade",
            "upgrade_stripped",
            "connection_not_upgrade"
        ],
        "{u}"
    );
    let h = &u["handshake"];
    assert_eq!(h["request"]["version"], "HTTP/1.0");
    assert_eq!(h["request"]["upgrade"], Value::Null);
    assert_eq!(h["request"]["connection"], "close");
    assert_eq!(h["response"]["status"], 404);
    assert_eq!(h["server"], format!("127.0.0.1:{backend}"));
    let s = u["summary"].as_str().unwrap();
    for part in [
        "removed Upgrade",
        "Connection",
        "downgraded to HTTP/1.0",
        "backend answered 404",
    ] {
        assert!(s.contains(part), "{part}: {s}");
    }
    assert_no_secret(&v.to_string());

    let mut table_args = vec!["probe"];
    table_args.extend_from_slice(&args);
    let (code, table, _) = run(&table_args);
    assert_eq!(code, 1);
    for part in [
        "probe (client side)",
        "backend (lo, tcp port",
        "GET /api/game/ws/42/alice?token=<redacted> HTTP/1.0",
        "(backend answered)",
        "Problems: http10_downgrade, upgrade_stripped, connection_not_upgrade",
        "proxy_http_version 1.1;",
    ] {
        assert!(table.contains(part), "{part}:\n{table}");
    }
}

#[test]
fn probe_through_the_correct_config_upgrades_echoes_and_closes_normally() {
    if skip("probe_through_the_correct_config") {
        return;
    }
    let mut lab = Lab::new("probe-correct");
    let ports = lab.start_stack("correct.conf");
    let (code, v, err) = probe_json(&[&url(ports.nginx), "--origin", ORIGIN, "--message", "hello"]);
    assert_eq!(code, 0, "{v}\n{err}");
    let p = &v["probes"][0];
    assert_eq!(p["verdict"], "ok", "{p}");
    assert_eq!(p["response"]["status"], 101);
    assert_eq!(p["response"]["version"], "HTTP/1.1");
    assert_eq!(p["response"]["accept_valid"], true);
    assert_eq!(p["message"]["received"], "alice#42: hello");
    assert_eq!(p["close"]["received"], 1000);
    assert_eq!(p["problems"], serde_json::json!([]));
    assert!(p["summary"]
        .as_str()
        .unwrap()
        .starts_with("The upgrade worked"));

    // Straight to the backend, too.
    let (code, v, _) = probe_json(&[&url(ports.backend), "--origin", ORIGIN]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["probes"][0]["response"]["status"], 101);
    assert_eq!(v["probes"][0]["close"]["received"], 1000);

    // A refused Origin is refused by the backend itself (403), through the proxy.
    let (code, v, _) = probe_json(&[&url(ports.nginx), "--origin", "https://evil.example"]);
    assert_eq!(code, 1);
    assert_eq!(v["probes"][0]["response"]["status"], 403);

    if let Some(why) = capture_missing() {
        eprintln!("SKIP: probe --capture through the correct config: {why}");
        return;
    }
    let backend = ports.backend.to_string();
    let (code, v, err) = probe_json(&[
        &url(ports.nginx),
        "--origin",
        ORIGIN,
        "--message",
        "hi",
        "--capture",
        "lo",
        "--port",
        &backend,
    ]);
    assert_eq!(code, 0, "{v}\n{err}");
    let u = &v["probes"][0]["upstream"];
    assert_eq!(u["problems"], serde_json::json!([]), "{u}");
    assert_eq!(u["handshake"]["response"]["status"], 101);
    assert_eq!(u["handshake"]["request"]["upgrade"], "websocket");
    assert!(u["summary"].as_str().unwrap().contains("intact"), "{u}");
}

#[test]
fn probe_through_a_location_nginx_answers_itself_is_not_forwarded() {
    if skip("probe_not_forwarded") {
        return;
    }
    let mut lab = Lab::new("probe-notfwd");
    let ports = lab.start_stack("not-forwarded.conf");
    let (code, v, _) = probe_json(&[&url(ports.nginx), "--origin", ORIGIN]);
    assert_eq!(code, 1);
    let p = &v["probes"][0];
    assert_eq!(p["response"]["status"], 404);
    assert_eq!(p["response"]["server"], "nginx (its own error page)");
    // With the config nginx runs, the probe names the location that answered it.
    let conf = lab.dir.join("nginx.conf").display().to_string();
    let (code, v, err) = probe_json(&[
        &url(ports.nginx),
        "--origin",
        ORIGIN,
        "--nginx-config",
        &conf,
    ]);
    assert_eq!(code, 1, "{err}");
    let m = &v["probes"][0]["nginx"];
    // The lab runs samples/nginx/not-forwarded.conf as site.conf: `location /` is line 8.
    assert!(m["file"].as_str().unwrap().ends_with("site.conf"), "{m}");
    assert_eq!(
        (m["location"].as_str(), m["line"].as_u64()),
        (Some("location /"), Some(8)),
        "{m}"
    );
    assert!(
        m["note"]
            .as_str()
            .unwrap()
            .contains("has no proxy_pass: nginx answers this path itself"),
        "{m}"
    );
    if let Some(why) = capture_missing() {
        eprintln!("SKIP: probe --capture, not forwarded: {why}");
        return;
    }
    let backend = ports.backend.to_string();
    let (code, v, err) = probe_json(&[
        &url(ports.nginx),
        "--origin",
        ORIGIN,
        "--capture",
        "lo",
        "--port",
        &backend,
        "--capture-wait",
        "1",
    ]);
    assert_eq!(code, 1, "{err}");
    let u = &v["probes"][0]["upstream"];
    assert_eq!(u["problems"], serde_json::json!(["not_forwarded"]), "{u}");
    assert_eq!(u["handshake"], Value::Null);
    assert!(u["summary"]
        .as_str()
        .unwrap()
        .contains("the proxy answered by itself"));
}

#[test]
fn wss_through_nginx_with_a_self_signed_certificate() {
    if skip("wss_through_nginx") {
        return;
    }
    if !succeeds("openssl", &["version"]) {
        eprintln!("SKIP: wss_through_nginx: openssl is not installed (apt-get install openssl)");
        return;
    }
    let mut lab = Lab::new("probe-wss");
    let (key, cert) = (lab.dir.join("k.pem"), lab.dir.join("c.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-days", "1"])
        .output()
        .expect("run openssl");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let site =
        std::fs::read_to_string(crate::util::root().join("samples/nginx/correct.conf")).unwrap();
    let site = site.replace(
        "listen 127.0.0.1:8000;",
        &format!(
            "listen 127.0.0.1:8000 ssl;\n    ssl_certificate {};\n    ssl_certificate_key {};",
            cert.display(),
            key.display()
        ),
    );
    let ports = lab.start_site("correct.conf with TLS", &site);
    let wss = format!("wss://localhost:{}{PATH}", ports.nginx);
    let resolve = "localhost:127.0.0.1";

    let (code, v, err) = probe_json(&[
        &wss,
        "--insecure",
        "--resolve",
        resolve,
        "--origin",
        ORIGIN,
        "--message",
        "tls",
    ]);
    assert_eq!(code, 0, "{v}\n{err}");
    let p = &v["probes"][0];
    assert_eq!(p["verdict"], "ok", "{p}");
    assert_eq!(p["tls"]["verified"], false);
    assert!(
        p["tls"]["version"].as_str().unwrap().starts_with("TLS"),
        "{p}"
    );
    assert_eq!(p["message"]["received"], "alice#42: tls");
    assert_eq!(p["close"]["received"], 1000);

    // Without --insecure the certificate is not trusted: exit 2, one line.
    let (code, out, err) = run(&["probe", &wss, "--resolve", resolve, "--origin", ORIGIN]);
    assert_eq!(code, 2, "{out}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("certificate") && err.contains("--insecure"),
        "{err}"
    );
}

#[test]
fn probe_usage_and_connection_errors_are_one_line_and_exit_2() {
    // A port nothing listens on (bound then dropped).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for (args, says) in [
        (
            vec!["probe".to_string(), "ftp://x/".into()],
            "not ws or wss",
        ),
        (
            vec!["probe".into(), "ws://127.0.0.1:0/".into()],
            "not a port",
        ),
        (
            vec!["probe".into(), format!("ws://127.0.0.1:{port}/")],
            "cannot connect",
        ),
        (
            vec![
                "probe".into(),
                "ws://x/".into(),
                "--header".into(),
                "nocolon".into(),
            ],
            "NAME:VALUE",
        ),
        (
            vec![
                "probe".into(),
                "ws://x/".into(),
                "--resolve".into(),
                "x".into(),
            ],
            "HOST:IP",
        ),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = run(&args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
    }
    // With --compare an unreachable side is shown, not fatal.
    let (code, out, _) = run(&[
        "probe",
        "--format",
        "json",
        &format!("ws://127.0.0.1:{port}/"),
        "--compare",
        &format!("ws://127.0.0.1:{port}/b"),
    ]);
    assert_eq!(code, 2);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["probes"][1]["verdict"], "unreachable");
    assert!(v["probes"][1]["error"]
        .as_str()
        .unwrap()
        .contains("cannot connect"));
}

#[cfg(not(feature = "capture"))]
#[test]
fn probe_capture_without_the_feature_says_how_to_get_it() {
    let (code, _, err) = run(&[
        "probe",
        "ws://127.0.0.1:9/",
        "--capture",
        "lo",
        "--port",
        "8080",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("--features capture"), "{err}");
}
