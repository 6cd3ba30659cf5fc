//! `wsdiag nginx` and `analyze --nginx-config` on real configs checked by real nginx: each
//! test writes a layout into a temp dir, runs Debian's `nginx -t` and `nginx -T` on it (skipped
//! with a message when nginx is absent), and asserts the findings and their file:line.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::{self, run, sample};

fn nginx() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/local/sbin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// A temp nginx prefix holding `nginx.conf` and whatever the test writes.
struct Prefix {
    dir: PathBuf,
}

impl Prefix {
    fn new(name: &str) -> Prefix {
        let dir = std::env::temp_dir().join(format!("wsdiag-nginx-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Prefix { dir }
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    fn link(&self, rel: &str, target: &str) {
        let p = self.dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, p).unwrap();
    }

    /// nginx.conf around `http_body`, with pid and logs inside the prefix.
    fn main(&self, http_body: &str) -> PathBuf {
        self.write(
            "nginx.conf",
            &format!(
                "pid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n    access_log off;\n{http_body}}}\n",
                d = self.dir.display()
            ),
        )
    }

    /// Runs `nginx -t` (must pass) and `nginx -T`; returns the path of the saved dump.
    fn checked_dump(&self, nginx: &Path) -> PathBuf {
        let conf = self.dir.join("nginx.conf");
        let t = Command::new(nginx)
            .arg("-t")
            .arg("-p")
            .arg(&self.dir)
            .arg("-c")
            .arg(&conf)
            .output()
            .unwrap();
        assert!(
            t.status.success(),
            "nginx -t rejects the test config: {}",
            String::from_utf8_lossy(&t.stderr)
        );
        let dump = Command::new(nginx)
            .arg("-T")
            .arg("-p")
            .arg(&self.dir)
            .arg("-c")
            .arg(&conf)
            .output()
            .unwrap();
        assert!(dump.status.success());
        let path = self.dir.join("dump.txt");
        std::fs::write(&path, &dump.stdout).unwrap();
        path
    }

    fn path(&self, rel: &str) -> String {
        self.dir.join(rel).display().to_string()
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The 1-based line of `text` that contains `needle`.
fn line_of(text: &str, needle: &str) -> u64 {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle}")) as u64
        + 1
}

fn json(args: &[&str]) -> (i32, Value) {
    let (code, out, err) = run(args);
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}\n{err}"));
    (code, v)
}

fn findings<'a>(v: &'a Value, code: &str) -> Vec<&'a Value> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == code)
        .collect()
}

const MAP: &str = "    map $http_upgrade $connection_upgrade {\n        default upgrade;\n        ''      close;\n    }\n";

const DEFAULT_SITE: &str = "server {
    listen 127.0.0.1:8000;
    server_name game.example.com;

    location /api/ {
        proxy_pass http://127.0.0.1:8080;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_set_header Host $host;
        proxy_read_timeout 3600s;
    }
}
";

/// The incident: the right settings in sites-available/default, not enabled; the enabled
/// link points to sites-available/sogething, whose `location /api` lacks them.
fn incident_layout(p: &Prefix, enabled_site: &str) {
    p.main(&format!("{MAP}    include sites-enabled/*;\n"));
    p.write("sites-available/default", DEFAULT_SITE);
    p.write("sites-available/sogething", enabled_site);
    p.link("sites-enabled/sogething", "../sites-available/sogething");
}

fn incident_conf() -> String {
    std::fs::read_to_string(util::root().join(sample("nginx/incident.conf"))).unwrap()
}

#[test]
fn nginx_names_the_enabled_file_the_bad_location_and_the_disabled_file() {
    let Some(nginx) = nginx() else {
        eprintln!(
            "SKIP: nginx is not installed (apt-get install nginx); nginx config tests not run"
        );
        return;
    };
    let p = Prefix::new("incident");
    let site = incident_conf();
    incident_layout(&p, &site);
    let dump = p.checked_dump(&nginx);
    let line = line_of(&site, "location /api");
    let enabled = p.path("sites-enabled/sogething");

    for source in [
        vec!["--dump".to_string(), dump.display().to_string()],
        vec!["--conf".to_string(), p.path("nginx.conf")],
    ] {
        let mut args = vec!["nginx", "--format", "json", "--nginx-version", "1.22.1"];
        args.extend(source.iter().map(String::as_str));
        let (code, v) = json(&args);
        assert_eq!(code, 1, "{v}");
        let shadow = findings(&v, "websocket_config_not_enabled");
        assert_eq!(shadow.len(), 1, "{v:#}");
        let f = shadow[0];
        assert_eq!(f["level"], "error");
        assert_eq!(f["file"], enabled.as_str());
        assert_eq!(f["line"], line);
        let msg = f["message"].as_str().unwrap();
        assert!(
            msg.contains("sites-available/default has the WebSocket headers for /api/ ")
                && msg.contains("but is not enabled")
                && msg.contains(&format!(
                    "the enabled sites-available/sogething:{line} `location /api` lacks them"
                )),
            "{msg}"
        );
        for code in [
            "http_version",
            "upgrade_missing",
            "connection_header",
            "read_timeout",
        ] {
            let f = findings(&v, code);
            assert_eq!(f.len(), 1, "{code}: {v:#}");
            assert_eq!(f[0]["file"], enabled.as_str(), "{code}");
            assert_eq!(f[0]["line"], line, "{code}");
            assert_ne!(
                f[0]["level"], "advice",
                "{code}: the disabled file marks it WebSocket"
            );
        }
        let not_enabled = findings(&v, "site_not_enabled");
        assert_eq!(not_enabled.len(), 1);
        assert_eq!(
            not_enabled[0]["file"],
            p.path("sites-available/default").as_str()
        );
        assert_eq!(v["sites"][0]["not_enabled"][0], "default");
    }

    // The table says the same in words.
    let (code, out, _) = run(&["nginx", "--dump", &dump.display().to_string()]);
    assert_eq!(code, 1);
    assert!(out.contains(&format!("{enabled}:{line}")), "{out}");
    assert!(
        out.contains("not enabled: sites-available/default"),
        "{out}"
    );
    assert!(
        out.contains("sites-available/default has the WebSocket headers for /api/"),
        "{out}"
    );

    // And so does the Markdown for a writeup: the location table, the finding at its line,
    // the disabled file, and the fix as an nginx snippet.
    let (code, md, _) = run(&[
        "nginx",
        "--format",
        "markdown",
        "--dump",
        &dump.display().to_string(),
    ]);
    assert_eq!(code, 1);
    assert!(md.starts_with("# nginx configuration check"), "{md}");
    assert!(md.contains("| location | file:line |"), "{md}");
    assert!(md.contains(&format!("`{enabled}:{line}`")), "{md}");
    assert!(
        md.contains("- not enabled: `sites-available/default`"),
        "{md}"
    );
    assert!(md.contains("```nginx\nproxy_http_version 1.1;"), "{md}");
}

#[test]
fn nginx_reports_a_dangling_link() {
    let Some(nginx) = nginx() else {
        eprintln!("SKIP: nginx is not installed; dangling link test not run");
        return;
    };
    let p = Prefix::new("dangling");
    incident_layout(&p, &incident_conf());
    let dump = p.checked_dump(&nginx);
    // Broken after nginx -t: the link now points nowhere.
    p.link("sites-enabled/old", "../sites-available/removed");
    let (code, v) = json(&[
        "nginx",
        "--format",
        "json",
        "--dump",
        &dump.display().to_string(),
    ]);
    assert_eq!(code, 1);
    let d = findings(&v, "dangling_link");
    assert_eq!(d.len(), 1, "{v:#}");
    assert!(d[0]["message"]
        .as_str()
        .unwrap()
        .contains("../sites-available/removed"));
}

/// One config with each case of the issue, in one server.
const CASES: &str = "    server {
        listen 127.0.0.1:8001;
        server_name cases.example.com;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_read_timeout 1h;

        location /ok/ {
            proxy_pass http://127.0.0.1:8080;
        }
        location /inner/ {
            proxy_pass http://127.0.0.1:8080;
            proxy_set_header X-Real-IP $remote_addr;
        }
        location /hard/ {
            proxy_pass http://127.0.0.1:8080;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection upgrade;
        }
        location /keep/ {
            proxy_pass http://127.0.0.1:8080;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection \"\";
        }
        location /slash/ {
            proxy_pass http://127.0.0.1:8080/;
        }
        location /plain/ {
            proxy_pass http://127.0.0.1:8080;
            proxy_set_header Host $host;
        }
    }
";

#[test]
fn each_case_is_found_at_its_line() {
    let Some(nginx) = nginx() else {
        eprintln!("SKIP: nginx is not installed; config cases not run");
        return;
    };
    let p = Prefix::new("cases");
    let conf = p.main(&format!("{MAP}{CASES}"));
    let text = std::fs::read_to_string(&conf).unwrap();
    let dump = p.checked_dump(&nginx);
    let conf_s = conf.display().to_string();
    let mut args = vec![
        "nginx",
        "--format",
        "json",
        "--nginx-version",
        "1.22.1",
        "--dump",
    ];
    let dump_s = dump.display().to_string();
    args.push(&dump_s);
    for ws in ["/ok/", "/inner/", "/hard/", "/keep/", "/slash/"] {
        args.extend(["--ws-path", ws]);
    }
    let (code, v) = json(&args);
    assert_eq!(code, 1);
    let at = |f: &Value| {
        (
            f["file"].as_str().unwrap().to_string(),
            f["line"].as_u64().unwrap(),
        )
    };
    let codes_at = |loc: &str| -> Vec<(String, String)> {
        let line = line_of(&text, &format!("location {loc} {{"));
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| at(f) == (conf_s.clone(), line))
            .map(|f| {
                (
                    f["code"].as_str().unwrap().to_string(),
                    f["level"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let s = |a: &[(&str, &str)]| -> Vec<(String, String)> {
        a.iter()
            .map(|(c, l)| (c.to_string(), l.to_string()))
            .collect()
    };
    // Inherited from the server: right.
    assert_eq!(codes_at("/ok/"), s(&[]));
    // Its own proxy_set_header drops the server's Upgrade and Connection.
    assert_eq!(
        codes_at("/inner/"),
        s(&[("upgrade_missing", "error"), ("connection_header", "error")])
    );
    let inner = findings(&v, "upgrade_missing")
        .into_iter()
        .find(|f| f["location"] == "location /inner/")
        .unwrap();
    let msg = inner["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!(
            "at {conf_s}:{} is not inherited",
            line_of(&text, "proxy_set_header Upgrade")
        )),
        "{msg}"
    );
    assert_eq!(codes_at("/hard/"), s(&[("connection_header", "warning")]));
    assert_eq!(codes_at("/keep/"), s(&[("connection_header", "error")]));
    assert_eq!(codes_at("/slash/"), s(&[("proxy_pass_uri", "warning")]));
    // No sign of WebSocket and not named by --ws-path: advice only, and no timeout advice.
    assert_eq!(
        codes_at("/plain/"),
        s(&[
            ("upgrade_missing", "advice"),
            ("connection_header", "advice")
        ])
    );
    let loc = v["locations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["location"] == "location /plain/")
        .unwrap();
    assert_eq!(loc["websocket"], false);
    assert_eq!(loc["proxy_http_version"], "1.1");
}

#[test]
fn an_undefined_connection_map_is_an_error_even_without_websocket_signs() {
    // nginx -t rejects this config, so it is read with --conf, as a dump from elsewhere would be.
    let p = Prefix::new("nomap");
    let conf = p.main(
        "    server {\n        listen 8002;\n        location / {\n            proxy_pass http://127.0.0.1:8080;\n            proxy_set_header Connection $connection_upgrade;\n        }\n    }\n",
    );
    let text = std::fs::read_to_string(&conf).unwrap();
    let (code, v) = json(&[
        "nginx",
        "--format",
        "json",
        "--conf",
        &conf.display().to_string(),
    ]);
    assert_eq!(code, 1);
    let f = findings(&v, "connection_map_undefined");
    assert_eq!(f.len(), 1, "{v:#}");
    assert_eq!(f[0]["level"], "error");
    assert_eq!(f[0]["line"], line_of(&text, "location / {"));
}

#[test]
fn analyze_points_each_broken_handshake_at_the_location_line() {
    let Some(nginx) = nginx() else {
        eprintln!("SKIP: nginx is not installed; analyze --nginx-config not run");
        return;
    };
    let p = Prefix::new("analyze");
    let site = incident_conf();
    incident_layout(&p, &site);
    let dump = p.checked_dump(&nginx);
    let dump_s = dump.display().to_string();
    let line = line_of(&site, "location /api");
    let (code, v) = json(&[
        "analyze",
        "--format",
        "json",
        &sample("incident-upstream.pcap"),
        "--nginx-config",
        &dump_s,
    ]);
    assert_eq!(code, 1);
    let hs = v["handshakes"].as_array().unwrap();
    assert_eq!(hs.len(), 2);
    for h in hs {
        let n = &h["nginx"];
        assert_eq!(n["file"], p.path("sites-enabled/sogething").as_str(), "{n}");
        assert_eq!(n["line"], line);
        assert_eq!(n["location"], "location /api");
        let causes: Vec<&str> = n["causes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(causes.len(), 3, "{causes:?}");
        assert!(causes[0].starts_with("http10_downgrade: no `proxy_http_version`"));
        assert!(causes[1].starts_with("upgrade_stripped: no `proxy_set_header Upgrade"));
        assert!(causes[2].starts_with("connection_not_upgrade: no `proxy_set_header Connection`"));
        assert!(n.get("note").is_none());
    }
    let (_, table, _) = run(&[
        "analyze",
        &sample("incident-upstream.pcap"),
        "--nginx-config",
        &dump_s,
    ]);
    assert!(
        table.contains(&format!(
            "location: {}:{line} `location /api`",
            p.path("sites-enabled/sogething")
        )),
        "{table}"
    );
    // Without --nginx-config the JSON has no nginx field (the golden files hold).
    let (_, v) = json(&[
        "analyze",
        "--format",
        "json",
        &sample("incident-upstream.pcap"),
    ]);
    assert!(v["handshakes"][0].get("nginx").is_none());
}

#[test]
fn a_broken_handshake_at_a_correct_location_gets_a_note() {
    let Some(nginx) = nginx() else {
        eprintln!("SKIP: nginx is not installed; note test not run");
        return;
    };
    let p = Prefix::new("correct");
    let correct = std::fs::read_to_string(util::root().join(sample("nginx/correct.conf"))).unwrap();
    p.write("conf.d/correct.conf", &correct);
    p.main("    include conf.d/*.conf;\n");
    let dump = p.checked_dump(&nginx);
    let dump_s = dump.display().to_string();
    let (code, v) = json(&[
        "nginx",
        "--format",
        "json",
        "--dump",
        &dump_s,
        "--nginx-version",
        "1.22.1",
    ]);
    let errors: Vec<&Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["level"] != "advice")
        .collect();
    // Only the idle timeout is left to say about the documented config.
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0]["code"], "read_timeout");
    assert_eq!(code, 1);

    let (_, v) = json(&[
        "analyze",
        "--format",
        "json",
        &sample("correct-session.pcap"),
        "--nginx-config",
        &dump_s,
    ]);
    let n = &v["handshakes"][0]["nginx"];
    assert_eq!(n["line"], line_of(&correct, "location /api"));
    assert_eq!(n["causes"].as_array().unwrap().len(), 0);
    assert!(n.get("note").is_none());

    let (_, v) = json(&[
        "analyze",
        "--format",
        "json",
        &sample("incident-upstream.pcap"),
        "--nginx-config",
        &dump_s,
    ]);
    let n = &v["handshakes"][0]["nginx"];
    assert!(
        n["note"]
            .as_str()
            .unwrap()
            .contains("the config on disk is not the one running"),
        "{n}"
    );
}

#[test]
fn nginx_bad_usage_is_exit_2_with_one_line() {
    let (code, out, err) = run(&["nginx", "--dump", "/nonexistent/dump.txt"]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let notdump = std::env::temp_dir().join(format!("wsdiag-notdump-{}", std::process::id()));
    std::fs::write(&notdump, "server { listen 80; }\n").unwrap();
    let (code, _, err) = run(&["nginx", "--dump", &notdump.display().to_string()]);
    assert_eq!(code, 2);
    assert!(err.contains("not an `nginx -T` dump"), "{err}");
    let _ = std::fs::remove_file(&notdump);
    let (code, _, err) = run(&[
        "analyze",
        &sample("plain-http.pcap"),
        "--nginx-config",
        "/nonexistent",
    ]);
    assert_eq!(code, 2);
    assert!(err.starts_with("wsdiag: --nginx-config"), "{err}");
}
