//! `ws://` and `wss://` URLs, parsed by hand (host, port, target) so the probe sends exactly
//! what the user wrote, and `--resolve HOST:IP`.

use std::net::IpAddr;

/// A WebSocket URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsUrl {
    pub tls: bool,
    /// As written, without brackets for IPv6.
    pub host: String,
    pub port: u16,
    /// Path and query, `/` when the URL has none.
    pub target: String,
}

impl WsUrl {
    /// Parses `ws://HOST[:PORT][/PATH][?QUERY]` or `wss://...` (`http://` and `https://` are
    /// taken as their WebSocket equivalents).
    pub fn parse(s: &str) -> Result<WsUrl, String> {
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| format!("{s:?} is not a ws:// or wss:// URL"))?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "ws" | "http" => false,
            "wss" | "https" => true,
            other => return Err(format!("{s:?}: scheme {other:?} is not ws or wss")),
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, mut target) = rest.split_at(end);
        // A fragment is never sent.
        if let Some(i) = target.find('#') {
            target = &target[..i];
        }
        let authority = authority.rsplit('@').next().unwrap_or(authority);
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("{s:?}: unclosed [ in the host"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(format!("{s:?}: junk after the IPv6 address")),
            };
            (h, port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(format!("{s:?} has no host"));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| format!("{s:?}: {p:?} is not a port (1..65535)"))?,
            None if tls => 443,
            None => 80,
        };
        let target = if target.is_empty() {
            "/".to_string()
        } else if target.starts_with('?') {
            format!("/{target}")
        } else {
            target.to_string()
        };
        if target.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(format!(
                "{s:?}: the path has spaces or control characters; percent-encode them"
            ));
        }
        Ok(WsUrl {
            tls,
            host: host.to_string(),
            port,
            target,
        })
    }

    fn default_port(&self) -> bool {
        self.port == if self.tls { 443 } else { 80 }
    }

    /// The `Host` header a browser sends for this URL.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.default_port() {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// The URL written back, with `target` in place of the real one (for redaction).
    pub fn display_with(&self, target: &str) -> String {
        format!(
            "{}://{}{}",
            if self.tls { "wss" } else { "ws" },
            self.host_header(),
            target
        )
    }
}

/// `--resolve HOST:IP` (curl's `HOST:PORT:IP` is accepted too; the port is then checked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolve {
    pub host: String,
    pub port: Option<u16>,
    pub ip: IpAddr,
}

impl Resolve {
    pub fn parse(s: &str) -> Result<Resolve, String> {
        let bad = || format!("--resolve {s:?}: expected HOST:IP (e.g. game.example.com:127.0.0.1)");
        let (host, rest) = s.split_once(':').ok_or_else(bad)?;
        let ip = |t: &str| t.trim_matches(['[', ']']).parse::<IpAddr>().ok();
        if host.is_empty() {
            return Err(bad());
        }
        if let Some(ip) = ip(rest) {
            return Ok(Resolve {
                host: host.to_string(),
                port: None,
                ip,
            });
        }
        let (port, addr) = rest.split_once(':').ok_or_else(bad)?;
        Ok(Resolve {
            host: host.to_string(),
            port: Some(port.parse().map_err(|_| bad())?),
            ip: ip(addr).ok_or_else(bad)?,
        })
    }

    /// Whether it applies to `url`.
    pub fn applies(&self, url: &WsUrl) -> bool {
        self.host.eq_ignore_ascii_case(&url.host) && self.port.is_none_or(|p| p == url.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = WsUrl::parse("ws://localhost:8080/api/game/ws/42/alice?token=x#frag").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.target.as_str()),
            (false, "localhost", 8080, "/api/game/ws/42/alice?token=x")
        );
        assert_eq!(u.host_header(), "localhost:8080");
        let u = WsUrl::parse("wss://example.com").unwrap();
        assert_eq!((u.port, u.target.as_str()), (443, "/"));
        assert_eq!(u.host_header(), "example.com");
        let u = WsUrl::parse("ws://[::1]:9000?x=1").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 9000));
        assert_eq!(u.target, "/?x=1");
        assert_eq!(u.host_header(), "[::1]:9000");
        for bad in [
            "localhost:80",
            "ftp://x/",
            "ws://:80/",
            "ws://x:0/",
            "ws://x:99999/",
            "ws://x/a b",
        ] {
            assert!(WsUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn resolve() {
        let r = Resolve::parse("game.example.com:127.0.0.1").unwrap();
        assert_eq!(r.ip, IpAddr::from([127, 0, 0, 1]));
        assert!(r.applies(&WsUrl::parse("ws://GAME.example.com:1/").unwrap()));
        assert!(!r.applies(&WsUrl::parse("ws://other:1/").unwrap()));
        let r = Resolve::parse("h:443:::1").unwrap();
        assert_eq!((r.port, r.ip.to_string().as_str()), (Some(443), "::1"));
        assert!(Resolve::parse("h").is_err());
        assert!(Resolve::parse("h:nope").is_err());
    }
}
