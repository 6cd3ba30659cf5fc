//! Request routing as nginx does it: which `server` a request reaches (listen port, then Host
//! against `server_name`: exact, longest `*.` wildcard, longest `.*` wildcard, first regex,
//! else the port's default server) and which `location` serves its path
//! (`ngx_http_core_find_location`: exact `=` wins; else the longest prefix, whose nested
//! locations are searched the same way; then, unless that prefix is `^~`, the regexes of the
//! level in config order, first match wins; named locations never match a URI).

use super::effective::{Model, Modifier};

/// The server nginx picks for a request with this `Host` arriving on `port`. With no server
/// listening on `port` (a capture of the upstream hop, where the port is the backend's),
/// servers are chosen among those whose locations proxy to `backend`, else among all.
pub fn find_server(
    m: &Model,
    host: Option<&str>,
    port: Option<u16>,
    backend: Option<&str>,
) -> Option<usize> {
    let all: Vec<usize> = (0..m.servers.len()).collect();
    let on_port: Vec<usize> = match port {
        Some(p) => all
            .iter()
            .copied()
            .filter(|&s| m.servers[s].listen.iter().any(|l| l.port == p))
            .collect(),
        None => Vec::new(),
    };
    let candidates = if !on_port.is_empty() {
        on_port
    } else {
        let proxying: Vec<usize> = match backend {
            Some(b) => all
                .iter()
                .copied()
                .filter(|&s| {
                    m.locations.iter().any(|l| {
                        l.server == s
                            && l.proxy_pass
                                .as_ref()
                                .is_some_and(|p| same_backend(&m.backends_of(&p.value), b))
                    })
                })
                .collect(),
            None => Vec::new(),
        };
        if proxying.is_empty() {
            all
        } else {
            proxying
        }
    };
    if candidates.is_empty() {
        return None;
    }
    if let Some(host) = host {
        let host = host_name(host);
        if let Some(s) = by_name(m, &candidates, &host) {
            return Some(s);
        }
    }
    candidates
        .iter()
        .copied()
        .find(|&s| {
            m.servers[s]
                .listen
                .iter()
                .any(|l| l.default_server && port.is_none_or(|p| p == l.port))
        })
        .or(candidates.first().copied())
}

fn same_backend(backends: &[String], addr: &str) -> bool {
    let norm = |s: &str| s.replace("localhost", "127.0.0.1");
    backends.iter().any(|b| norm(b) == norm(addr))
}

/// `Host` without the port, lower case.
fn host_name(host: &str) -> String {
    let h = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    h.trim_end_matches('.').to_ascii_lowercase()
}

fn by_name(m: &Model, candidates: &[usize], host: &str) -> Option<usize> {
    let names = |s: usize| m.servers[s].names.iter().map(|n| n.to_ascii_lowercase());
    // Exact names (and `.example.com`, which also means example.com).
    for &s in candidates {
        if names(s).any(|n| n == host || n.strip_prefix('.') == Some(host)) {
            return Some(s);
        }
    }
    // Longest leading wildcard.
    let mut best: Option<(usize, usize)> = None;
    for &s in candidates {
        for n in names(s) {
            let suffix = n
                .strip_prefix('*')
                .or_else(|| n.strip_prefix('.').map(|_| &n[..]));
            if let Some(suffix) = suffix {
                if suffix.starts_with('.')
                    && host.ends_with(suffix)
                    && best.is_none_or(|(len, _)| suffix.len() > len)
                {
                    best = Some((suffix.len(), s));
                }
            }
        }
    }
    if let Some((_, s)) = best {
        return Some(s);
    }
    // Longest trailing wildcard.
    for &s in candidates {
        for n in names(s) {
            if let Some(prefix) = n.strip_suffix('*') {
                if prefix.ends_with('.')
                    && host.starts_with(prefix)
                    && best.is_none_or(|(len, _)| prefix.len() > len)
                {
                    best = Some((prefix.len(), s));
                }
            }
        }
    }
    if let Some((_, s)) = best {
        return Some(s);
    }
    // Regexes, first in config order.
    for &s in candidates {
        for n in &m.servers[s].names {
            if let Some(re) = n.strip_prefix('~') {
                if regex::Regex::new(re).is_ok_and(|r| r.is_match(host)) {
                    return Some(s);
                }
            }
        }
    }
    None
}

/// The location of `server` that serves `uri` (path, query ignored), or `None` when no
/// location matches (nginx then answers 404 from the server level).
pub fn find_location(m: &Model, server: usize, uri: &str) -> Option<usize> {
    let path = uri.split(['?', '#']).next().unwrap_or(uri);
    let top = &m.servers.get(server)?.locations;
    find_in(m, top, path).0
}

/// One level of `ngx_http_core_find_location`: the location found and whether the search is
/// over (an exact or regex match).
fn find_in(m: &Model, level: &[usize], uri: &str) -> (Option<usize>, bool) {
    // Static locations: exact first.
    if let Some(&e) = level
        .iter()
        .find(|&&l| m.locations[l].modifier == Modifier::Exact && m.locations[l].path == uri)
    {
        return (Some(e), true);
    }
    let prefix = level
        .iter()
        .copied()
        .filter(|&l| {
            let loc = &m.locations[l];
            matches!(loc.modifier, Modifier::Prefix | Modifier::NoRegex)
                && uri.starts_with(&loc.path)
        })
        .max_by_key(|&l| m.locations[l].path.len());
    let mut found = None;
    let mut noregex = false;
    if let Some(p) = prefix {
        found = Some(p);
        noregex = m.locations[p].modifier == Modifier::NoRegex;
        let (nested, done) = find_in(m, &m.locations[p].children, uri);
        if done {
            return (nested, true);
        }
        if nested.is_some() {
            found = nested;
        }
    }
    if !noregex {
        for &r in level {
            let loc = &m.locations[r];
            if loc.regex.as_ref().is_some_and(|re| re.is_match(uri)) {
                let (nested, _) = find_in(m, &loc.children, uri);
                return (nested.or(Some(r)), true);
            }
        }
    }
    (found, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nginx::parse::parse;

    fn model(text: &str) -> Model {
        Model::from_tree(&parse(text, 0).unwrap())
    }

    /// The example of the nginx docs (`location` directive), plus nested and `^~` cases.
    pub const PRECEDENCE: &str = "server {
    listen 127.0.0.1:18080;
    location = / { return 200 A; }
    location / { return 200 B; }
    location /documents/ { return 200 C; }
    location ^~ /images/ { return 200 D; }
    location ~* \\.(gif|jpg|jpeg)$ { return 200 E; }
    location /api { return 200 F; }
    location /api/ { return 200 G;
        location ~ /ws$ { return 200 H; }
        location /api/game/ { return 200 I; }
    }
    location ~ ^/api/game/x { return 200 J; }
    location @fallback { return 200 K; }
    location ^~ /static/ { return 200 L;
        location ~ \\.css$ { return 200 M; }
    }
    location = /exact { return 200 N; }
    location /exact { return 200 O; }
}
";

    /// (path, the location's name, as `return 200 NAME` says).
    pub const CASES: &[(&str, &str)] = &[
        ("/", "A"),
        ("/index.html", "B"),
        ("/documents/document.html", "C"),
        ("/images/1.gif", "D"),
        ("/documents/1.jpg", "E"),
        ("/DOCUMENTS/1.JPG", "E"),
        ("/api", "F"),
        ("/apix", "F"),
        ("/api/", "G"),
        ("/api/v1/ws", "H"),
        ("/api/game/1", "I"),
        ("/api/game/ws", "H"),
        ("/api/game/x1", "J"),
        ("/static/a.css", "M"),
        ("/static/a.js", "L"),
        ("/exact", "N"),
        ("/exact/", "O"),
        ("/@fallback", "B"),
    ];

    /// The line of PRECEDENCE where the location that answers NAME starts.
    pub fn line_of(name: &str) -> u32 {
        try_line_of(name).unwrap_or_else(|| panic!("no location answers {name}"))
    }

    fn try_line_of(name: &str) -> Option<u32> {
        let needle = format!("return 200 {name};");
        PRECEDENCE
            .lines()
            .position(|l| l.contains(&needle))
            .map(|i| i as u32 + 1)
    }

    #[test]
    fn documented_precedence() {
        let m = model(PRECEDENCE);
        for (path, want) in CASES {
            let l = find_location(&m, 0, path).unwrap_or_else(|| panic!("{path}: no location"));
            assert_eq!(
                m.locations[l].at.line,
                line_of(want),
                "{path} should go to {want}, got {}",
                m.locations[l].display()
            );
        }
    }

    /// The same paths sent to a real nginx running PRECEDENCE: it must answer the name our
    /// routing predicts.
    #[test]
    fn nginx_itself_routes_the_same_way() {
        use std::io::{Read, Write};
        let Some(nginx) = ["/usr/sbin/nginx", "/usr/local/sbin/nginx"]
            .iter()
            .find(|p| std::path::Path::new(p).is_file())
        else {
            eprintln!("SKIP: nginx is not installed (apt-get install nginx); routing not compared with nginx");
            return;
        };
        let dir = std::env::temp_dir().join(format!("wsdiag-route-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = PRECEDENCE.replace("18080", &port.to_string());
        let conf = format!(
            "master_process off;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\naccess_log off;\n{server}}}\n",
            d = dir.display()
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut child = std::process::Command::new(nginx)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf_path)
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start nginx");
        let get = |path: &str| -> Option<String> {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
            s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .ok()?;
            write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
            let mut out = String::new();
            s.read_to_string(&mut out).ok()?;
            out.split("\r\n\r\n").nth(1).map(str::to_string)
        };
        let mut up = false;
        for _ in 0..100 {
            if get("/").is_some() {
                up = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let m = model(PRECEDENCE);
        let mut mismatches = Vec::new();
        if up {
            for (path, _) in CASES {
                let answer = get(path).unwrap_or_default();
                let ours = find_location(&m, 0, path).map(|l| m.locations[l].at.line);
                if ours.is_none() || ours != try_line_of(answer.trim()) {
                    mismatches.push(format!(
                        "{path}: nginx answered {answer:?}, we chose line {ours:?}"
                    ));
                }
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(up, "nginx did not start on port {port}");
        assert!(mismatches.is_empty(), "{mismatches:#?}");
    }

    #[test]
    fn query_is_ignored_and_no_location_is_none() {
        let m = model("server { location /api { } }");
        assert!(find_location(&m, 0, "/api/x?token=1").is_some());
        assert_eq!(find_location(&m, 0, "/other"), None);
    }

    #[test]
    fn servers_by_port_host_and_backend() {
        let m = model(
            "upstream app { server 127.0.0.1:8080; }
             server { listen 80 default_server; server_name _; location / { proxy_pass http://127.0.0.1:9000; } }
             server { listen 80; server_name game.example.com; location / { proxy_pass http://app; } }
             server { listen 80; server_name *.example.com; }
             server { listen 80; server_name www.example.*; }
             server { listen 8000; server_name ~^api\\d+\\.example\\.org$; }",
        );
        assert_eq!(
            find_server(&m, Some("game.example.com:80"), Some(80), None),
            Some(1)
        );
        assert_eq!(
            find_server(&m, Some("a.example.com"), Some(80), None),
            Some(2)
        );
        assert_eq!(
            find_server(&m, Some("www.example.net"), Some(80), None),
            Some(3)
        );
        assert_eq!(find_server(&m, Some("other"), Some(80), None), Some(0));
        assert_eq!(
            find_server(&m, Some("api7.example.org"), Some(8000), None),
            Some(4)
        );
        // Upstream hop: the port is the backend's; the server that proxies there wins.
        assert_eq!(
            find_server(
                &m,
                Some("127.0.0.1:8080"),
                Some(8080),
                Some("127.0.0.1:8080")
            ),
            Some(1)
        );
    }
}
