//! The checks of one proxying location's effective settings: what nginx will send upstream for
//! a WebSocket handshake, and which directive (file:line) makes it so. Hands [`Issue`]s to
//! `nginx::report`, which sets their level: errors and warnings on locations that carry
//! WebSocket traffic, advice on the others.

use serde::Serialize;

use super::effective::{proxy_pass_uri, Header, Location, Model, Modifier};
use super::load::Config;

/// How much a finding matters. Errors and warnings make `wsdiag nginx` exit 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Breaks WebSocket handshakes (or nginx itself).
    Error,
    /// Works, but wrong in a way that bites: idle timeouts, rewritten paths, headers sent on
    /// every request.
    Warning,
    /// The same checks on a location with no sign of WebSocket use: only if it carries any.
    Advice,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Advice => "advice",
        }
    }
}

/// An nginx version, `1.22.1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    /// The first nginx whose `proxy_http_version` defaults to 1.1.
    pub const HTTP11_DEFAULT: Version = Version(1, 29, 7);

    pub fn parse(s: &str) -> Option<Version> {
        let s = s.trim().trim_start_matches("nginx/");
        let mut it = s.split('.').map(|p| p.parse::<u32>());
        let v = Version(
            it.next()?.ok()?,
            it.next()?.ok()?,
            it.next().unwrap_or(Ok(0)).ok()?,
        );
        Some(v)
    }
}

/// One thing wrong with a location's settings.
#[derive(Clone, Debug)]
pub struct Issue {
    /// Stable name: `http_version`, `upgrade_missing`, `connection_header`,
    /// `connection_map_undefined`, `read_timeout`, `proxy_pass_uri`.
    pub code: &'static str,
    /// The level on a WebSocket location ([`Level::Advice`] elsewhere, except
    /// `connection_map_undefined`, which is always an error).
    pub level: Level,
    pub message: String,
    /// The nginx lines that cure it.
    pub fix: Option<String>,
    /// Only meaningful on a WebSocket location (timeouts).
    pub ws_only: bool,
}

/// What the checks know beyond the config.
#[derive(Clone, Debug, Default)]
pub struct CheckContext {
    /// The running nginx's version, when known.
    pub version: Option<Version>,
}

const MAP: &str = "# in the http {} block:\nmap $http_upgrade $connection_upgrade {\n    default upgrade;\n    ''      close;\n}";

/// Where a directive is, `FILE:LINE`.
pub fn at(cfg: &Config, site: super::effective::Site) -> String {
    format!("{}:{}", cfg.file(site.file), site.line)
}

/// Signs that a location carries WebSocket traffic, in a sentence, or `None`.
pub fn websocket_sign(loc: &Location) -> Option<String> {
    if let Some(h) = loc.header("Upgrade") {
        return Some(format!("sets `Upgrade {}`", h.value));
    }
    if let Some(h) = loc.header("Connection") {
        if h.value.to_ascii_lowercase().contains("upgrade") {
            return Some(format!("sets `Connection {}`", h.value));
        }
    }
    let p = loc.path.to_ascii_lowercase();
    if p.contains("websocket")
        || p.contains("socket.io")
        || p.split(['/', '-', '_', '.'])
            .any(|s| s == "ws" || s == "wss")
    {
        return Some(format!("its path `{}` names WebSocket", loc.path));
    }
    None
}

/// The checks of one location that has `proxy_pass`.
pub fn location(m: &Model, cfg: &Config, ctx: &CheckContext, loc: &Location) -> Vec<Issue> {
    let mut out = Vec::new();
    let issue = |code, level, message: String, fix: Option<&str>| Issue {
        code,
        level,
        message,
        fix: fix.map(str::to_string),
        ws_only: false,
    };

    // proxy_http_version
    let new_default = ctx.version.is_some_and(|v| v >= Version::HTTP11_DEFAULT);
    match &loc.http_version {
        Some(v) if v.value != "1.1" => out.push(issue(
            "http_version",
            Level::Error,
            format!(
                "`proxy_http_version {}` at {} makes nginx send HTTP/{} upstream, which cannot upgrade",
                v.value,
                at(cfg, v.at),
                v.value
            ),
            Some("proxy_http_version 1.1;"),
        )),
        Some(_) => {}
        None if new_default => {}
        None => {
            let which = match ctx.version {
                Some(v) => format!("nginx {}.{}.{} defaults", v.0, v.1, v.2),
                None => "nginx before 1.29.7 defaults (version unknown: pass --nginx-version if it is newer)".into(),
            };
            out.push(issue(
                "http_version",
                Level::Error,
                format!("no `proxy_http_version` here or in the enclosing blocks: {which} to HTTP/1.0 upstream, which cannot upgrade"),
                Some("proxy_http_version 1.1;"),
            ));
        }
    }

    // Upgrade
    let dropped_note = |name: &str| -> String {
        match (loc.dropped.iter().find(|h| h.name.eq_ignore_ascii_case(name)), loc.headers_block) {
            (Some(h), Some(block)) => format!(
                " (`proxy_set_header {} {}` at {} is not inherited: the `proxy_set_header`s of the block at {} replace every inherited one)",
                h.name,
                h.value,
                at(cfg, h.at),
                at(cfg, block)
            ),
            _ => String::new(),
        }
    };
    match loc.header("Upgrade") {
        None => out.push(issue(
            "upgrade_missing",
            Level::Error,
            format!(
                "no `proxy_set_header Upgrade $http_upgrade`: nginx drops the client's hop-by-hop Upgrade header{}",
                dropped_note("Upgrade")
            ),
            Some("proxy_set_header Upgrade $http_upgrade;"),
        )),
        Some(h) if h.value.contains("$http_upgrade") => {}
        Some(h) if h.value.is_empty() => out.push(issue(
            "upgrade_missing",
            Level::Error,
            format!("`proxy_set_header Upgrade \"\"` at {} sends no Upgrade header", at(cfg, h.at)),
            Some("proxy_set_header Upgrade $http_upgrade;"),
        )),
        Some(h) => out.push(issue(
            "upgrade_missing",
            Level::Warning,
            format!(
                "`proxy_set_header Upgrade {}` at {} sends that value on every request instead of the client's",
                h.value,
                at(cfg, h.at)
            ),
            Some("proxy_set_header Upgrade $http_upgrade;"),
        )),
    }

    // Connection
    if let Some(i) = connection(m, cfg, loc, &dropped_note("Connection")) {
        out.push(i);
    }

    // proxy_read_timeout
    let (secs, what) = match &loc.read_timeout {
        Some(t) => (
            parse_time(&t.value),
            format!("`proxy_read_timeout {}` at {}", t.value, at(cfg, t.at)),
        ),
        None => (
            Some(60),
            "`proxy_read_timeout` is not set (nginx's default is 60s)".to_string(),
        ),
    };
    if secs.is_some_and(|s| s <= 60) {
        out.push(Issue {
            ws_only: true,
            ..issue(
                "read_timeout",
                Level::Warning,
                format!("{what}: nginx closes a WebSocket that the backend leaves silent that long; raise it or have the backend ping"),
                Some("proxy_read_timeout 3600s;"),
            )
        });
    }

    // proxy_pass with a URI part
    if let Some(pp) = &loc.proxy_pass {
        if let Some(uri) = proxy_pass_uri(&pp.value) {
            if matches!(
                loc.modifier,
                Modifier::Prefix | Modifier::NoRegex | Modifier::Exact
            ) {
                let example = format!(
                    "{}game/ws",
                    loc.path.trim_end_matches('/').to_string() + "/"
                );
                let rewritten = format!("{uri}{}", &example[loc.path.len().min(example.len())..]);
                out.push(issue(
                    "proxy_pass_uri",
                    Level::Warning,
                    format!(
                        "`proxy_pass {}` at {} has a URI part (`{uri}`): nginx replaces the matched `{}` with it, so `{example}` reaches the backend as `{rewritten}`; make sure the backend's WebSocket route is at that path",
                        pp.value,
                        at(cfg, pp.at),
                        loc.path
                    ),
                    None,
                ));
            }
        }
    }
    out
}

fn connection(m: &Model, cfg: &Config, loc: &Location, dropped: &str) -> Option<Issue> {
    let mk = |code, level, message: String, fix: Option<String>| Issue {
        code,
        level,
        message,
        fix,
        ws_only: false,
    };
    let map_fix = Some(match m.map_for("connection_upgrade") {
        // The map is there already: only the location needs the line.
        Some(map) if map.source == "$http_upgrade" => {
            "proxy_set_header Connection $connection_upgrade;".to_string()
        }
        _ => format!("{MAP}\n# in the location:\nproxy_set_header Connection $connection_upgrade;"),
    });
    let Some(h): Option<&Header> = loc.header("Connection") else {
        return Some(mk(
            "connection_header",
            Level::Error,
            format!("no `proxy_set_header Connection`: nginx sends `Connection: close`, so the handshake loses `Connection: upgrade`{dropped}"),
            map_fix,
        ));
    };
    let v = h.value.trim();
    let here = at(cfg, h.at);
    if v.is_empty() {
        return Some(mk(
            "connection_header",
            Level::Error,
            format!("`proxy_set_header Connection \"\"` at {here} sends no Connection header (right for a keepalive upstream, but handshakes lose `Connection: upgrade`); set it from a map with `'' '';`"),
            Some("# in the http {} block:\nmap $http_upgrade $connection_upgrade {\n    default upgrade;\n    ''      '';\n}\n# in the location:\nproxy_set_header Connection $connection_upgrade;".into()),
        ));
    }
    if let Some(var) = v.strip_prefix('$') {
        let var = var.trim_start_matches('{').trim_end_matches('}');
        if var == "http_connection" {
            return None;
        }
        return match m.map_for(var) {
            None => Some(mk(
                "connection_map_undefined",
                Level::Error,
                format!("`${var}` is used at {here} but no `map` defines it (`nginx -t` fails with \"unknown variable\")"),
                Some(MAP.into()),
            )),
            Some(map) if map.source != "$http_upgrade" => Some(mk(
                "connection_header",
                Level::Warning,
                format!(
                    "`Connection ${var}` at {here} comes from a map on `{}` (at {}), not on `$http_upgrade`",
                    map.source,
                    at(cfg, map.at)
                ),
                map_fix,
            )),
            Some(_) => None,
        };
    }
    if v.eq_ignore_ascii_case("upgrade") {
        return Some(mk(
            "connection_header",
            Level::Warning,
            format!("`proxy_set_header Connection {v}` at {here} is hard-coded: every request, plain ones too, goes upstream with `Connection: upgrade`; set it from a map on $http_upgrade"),
            map_fix,
        ));
    }
    Some(mk(
        "connection_header",
        Level::Error,
        format!("`proxy_set_header Connection {v}` at {here}: the handshake reaches the backend without `Connection: upgrade`"),
        map_fix,
    ))
}

/// Seconds in an nginx time value (`60`, `60s`, `1m`, `1h30m`, `500ms`); `None` if unreadable.
pub fn parse_time(s: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().ok()?;
        num.clear();
        let mult = match c {
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                total += n / 1000;
                any = true;
                continue;
            }
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            'w' => 7 * 86400,
            'M' => 30 * 86400,
            'y' => 365 * 86400,
            _ => return None,
        };
        total += n * mult;
        any = true;
    }
    if !num.is_empty() {
        total += num.parse::<u64>().ok()?;
        any = true;
    }
    any.then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("60"), Some(60));
        assert_eq!(parse_time("60s"), Some(60));
        assert_eq!(parse_time("1m"), Some(60));
        assert_eq!(parse_time("1h30m"), Some(5400));
        assert_eq!(parse_time("500ms"), Some(0));
        assert_eq!(parse_time("x"), None);
    }

    #[test]
    fn versions() {
        assert!(Version::parse("1.22.1").unwrap() < Version::HTTP11_DEFAULT);
        assert!(Version::parse("nginx/1.29.7").unwrap() >= Version::HTTP11_DEFAULT);
        assert!(Version::parse("1.30").unwrap() > Version::HTTP11_DEFAULT);
        assert_eq!(Version::parse("x"), None);
    }
}
