//! The configuration as nginx applies it: every `server` and `location` of the `http` block,
//! with the proxy settings each location really gets after nginx's inheritance. Array
//! directives (`proxy_set_header`) are inherited from the enclosing level only when the inner
//! level sets none of them, so one `proxy_set_header` in a location silently drops every
//! inherited one; scalar ones (`proxy_http_version`, `proxy_read_timeout`) are inherited
//! each on its own. Also the `map`s and `upstream`s that checks and routing need.

use regex::Regex;
use serde::Serialize;

use super::load::Config;
use super::parse::Directive;

/// Where a directive is: file index and line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Site {
    pub file: usize,
    pub line: u32,
}

impl Site {
    fn of(d: &Directive) -> Site {
        Site {
            file: d.file,
            line: d.line,
        }
    }
}

/// A value and where it was set.
#[derive(Clone, Debug)]
pub struct Set {
    pub value: String,
    pub at: Site,
}

/// One `proxy_set_header NAME VALUE`.
#[derive(Clone, Debug)]
pub struct Header {
    pub name: String,
    pub value: String,
    pub at: Site,
}

/// How a location matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Modifier {
    /// `location /p`
    Prefix,
    /// `location = /p`
    Exact,
    /// `location ^~ /p`
    NoRegex,
    /// `location ~ re`
    Regex,
    /// `location ~* re`
    RegexCaseless,
    /// `location @name`
    Named,
}

/// The proxy settings of one level (http, server or location), as written there.
#[derive(Clone, Debug, Default)]
struct Level {
    headers: Vec<Header>,
    /// Where the level that holds `headers` starts.
    headers_block: Option<Site>,
    http_version: Option<Set>,
    read_timeout: Option<Set>,
}

impl Level {
    fn read(block: &Directive) -> Level {
        let mut l = Level::default();
        for d in block.children() {
            match d.name.as_str() {
                "proxy_set_header" => l.headers.push(Header {
                    name: d.arg(0).unwrap_or("").to_string(),
                    value: d.arg(1).unwrap_or("").to_string(),
                    at: Site::of(d),
                }),
                "proxy_http_version" => {
                    l.http_version = d.arg(0).map(|v| Set {
                        value: v.to_string(),
                        at: Site::of(d),
                    })
                }
                "proxy_read_timeout" => {
                    l.read_timeout = d.arg(0).map(|v| Set {
                        value: v.to_string(),
                        at: Site::of(d),
                    })
                }
                _ => {}
            }
        }
        if !l.headers.is_empty() {
            l.headers_block = Some(Site::of(block));
        }
        l
    }

    /// This level merged over its parent's effective settings.
    fn merge(self, parent: &Level) -> (Level, Vec<Header>) {
        let mut dropped = Vec::new();
        let (headers, headers_block) = if self.headers.is_empty() {
            (parent.headers.clone(), parent.headers_block)
        } else {
            // The parent's headers are not inherited at all: note those this level does not
            // set again.
            dropped = parent
                .headers
                .iter()
                .filter(|h| {
                    !self
                        .headers
                        .iter()
                        .any(|s| s.name.eq_ignore_ascii_case(&h.name))
                })
                .cloned()
                .collect();
            (self.headers, self.headers_block)
        };
        (
            Level {
                headers,
                headers_block,
                http_version: self.http_version.or_else(|| parent.http_version.clone()),
                read_timeout: self.read_timeout.or_else(|| parent.read_timeout.clone()),
            },
            dropped,
        )
    }
}

/// One `location` with its effective proxy settings.
#[derive(Clone, Debug)]
pub struct Location {
    pub server: usize,
    pub parent: Option<usize>,
    pub modifier: Modifier,
    /// The prefix, exact path, regex or name.
    pub path: String,
    pub at: Site,
    pub regex: Option<Regex>,
    pub children: Vec<usize>,
    /// `proxy_pass` in this location itself (it is not inherited).
    pub proxy_pass: Option<Set>,
    /// Effective `proxy_http_version`; `None` is nginx's default.
    pub http_version: Option<Set>,
    /// Effective `proxy_set_header`s.
    pub headers: Vec<Header>,
    /// The block that holds the effective headers (this location, an enclosing one, the
    /// server or http).
    pub headers_block: Option<Site>,
    /// Headers set at an enclosing level that this level's own `proxy_set_header`s drop.
    pub dropped: Vec<Header>,
    pub read_timeout: Option<Set>,
}

impl Location {
    /// `location /api`, `location = /x`, `location ~* \.php$`.
    pub fn display(&self) -> String {
        let m = match self.modifier {
            Modifier::Prefix | Modifier::Named => "",
            Modifier::Exact => "= ",
            Modifier::NoRegex => "^~ ",
            Modifier::Regex => "~ ",
            Modifier::RegexCaseless => "~* ",
        };
        format!("location {m}{}", self.path)
    }

    /// The effective value of a header, the last one set when repeated.
    pub fn header(&self, name: &str) -> Option<&Header> {
        self.headers
            .iter()
            .rev()
            .find(|h| h.name.eq_ignore_ascii_case(name))
    }
}

/// A `listen` of a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listen {
    /// The address part, `None` for all addresses (`*` or absent).
    pub addr: Option<String>,
    pub port: u16,
    pub default_server: bool,
}

/// One `server` block.
#[derive(Clone, Debug)]
pub struct Server {
    pub at: Site,
    pub listen: Vec<Listen>,
    pub names: Vec<String>,
    /// Top-level locations, in config order.
    pub locations: Vec<usize>,
}

impl Server {
    /// `server game.example.com` or `server at FILE:LINE`.
    pub fn label(&self) -> String {
        match self.names.iter().find(|n| !n.is_empty() && *n != "_") {
            Some(n) => n.clone(),
            None => "(no server_name)".into(),
        }
    }
}

/// One `map $source $var { ... }`.
#[derive(Clone, Debug)]
pub struct MapDef {
    pub source: String,
    /// The variable it defines, without `$`.
    pub var: String,
    pub at: Site,
    /// `default` value, when given.
    pub default: Option<String>,
}

/// One `upstream NAME { server ADDR; ... }`.
#[derive(Clone, Debug)]
pub struct Upstream {
    pub name: String,
    pub servers: Vec<String>,
}

/// The analysed configuration.
#[derive(Clone, Debug, Default)]
pub struct Model {
    pub servers: Vec<Server>,
    pub locations: Vec<Location>,
    pub maps: Vec<MapDef>,
    pub upstreams: Vec<Upstream>,
    /// Locations whose regex the regex crate cannot compile (PCRE-only syntax): never matched.
    pub bad_regex: Vec<usize>,
}

impl Model {
    /// Builds the model of the `http` block(s) of a configuration. `top` says whether the tree
    /// is a main file (`http { ... }` inside) or a fragment that lives in `http` already (a
    /// sites-available file on its own).
    pub fn build(cfg: &Config) -> Model {
        Model::from_tree(&cfg.tree)
    }

    pub fn from_tree(tree: &[Directive]) -> Model {
        let mut m = Model::default();
        let mut http_found = false;
        for d in tree {
            if d.name == "http" && d.block.is_some() {
                http_found = true;
                m.http(d);
            }
        }
        if !http_found {
            // A fragment (a site file read alone): its top level is the http level.
            let wrapper = Directive {
                name: "http".into(),
                args: vec![],
                file: tree.first().map_or(0, |d| d.file),
                line: 0,
                block: Some(tree.to_vec()),
            };
            m.http(&wrapper);
        }
        m
    }

    fn http(&mut self, http: &Directive) {
        let level = Level::read(http);
        for d in http.children() {
            match d.name.as_str() {
                "map" if d.block.is_some() => self.maps.push(MapDef {
                    source: d.arg(0).unwrap_or("").to_string(),
                    var: d.arg(1).unwrap_or("").trim_start_matches('$').to_string(),
                    at: Site::of(d),
                    default: d
                        .children()
                        .iter()
                        .find(|e| e.name == "default")
                        .and_then(|e| e.arg(0))
                        .map(str::to_string),
                }),
                "upstream" if d.block.is_some() => self.upstreams.push(Upstream {
                    name: d.arg(0).unwrap_or("").to_string(),
                    servers: d
                        .children()
                        .iter()
                        .filter(|e| e.name == "server")
                        .filter_map(|e| e.arg(0))
                        .map(str::to_string)
                        .collect(),
                }),
                "server" if d.block.is_some() => self.server(d, &level),
                _ => {}
            }
        }
    }

    fn server(&mut self, s: &Directive, http: &Level) {
        let (level, _) = Level::read(s).merge(http);
        let mut server = Server {
            at: Site::of(s),
            listen: Vec::new(),
            names: Vec::new(),
            locations: Vec::new(),
        };
        for d in s.children() {
            match d.name.as_str() {
                "listen" => server.listen.extend(parse_listen(&d.args)),
                "server_name" => server.names.extend(d.args.iter().cloned()),
                _ => {}
            }
        }
        if server.listen.is_empty() {
            server.listen.push(Listen {
                addr: None,
                port: 80,
                default_server: false,
            });
        }
        let id = self.servers.len();
        self.servers.push(server);
        let locs = self.locations_in(s, id, None, &level);
        self.servers[id].locations = locs;
    }

    fn locations_in(
        &mut self,
        block: &Directive,
        server: usize,
        parent: Option<usize>,
        level: &Level,
    ) -> Vec<usize> {
        let mut ids = Vec::new();
        for d in block.children() {
            if d.name != "location" || d.block.is_none() {
                continue;
            }
            let (modifier, path) = match (d.arg(0), d.arg(1)) {
                (Some("="), Some(p)) => (Modifier::Exact, p),
                (Some("^~"), Some(p)) => (Modifier::NoRegex, p),
                (Some("~"), Some(p)) => (Modifier::Regex, p),
                (Some("~*"), Some(p)) => (Modifier::RegexCaseless, p),
                (Some(p), None) if p.starts_with('@') => (Modifier::Named, p),
                // nginx also accepts the modifier glued on: `location =/x`, `location ~\.php`.
                (Some(p), None) if p.starts_with("~*") => (Modifier::RegexCaseless, &p[2..]),
                (Some(p), None) if p.starts_with('~') => (Modifier::Regex, &p[1..]),
                (Some(p), None) if p.starts_with("^~") => (Modifier::NoRegex, &p[2..]),
                (Some(p), None) if p.starts_with('=') => (Modifier::Exact, &p[1..]),
                (Some(p), _) => (Modifier::Prefix, p),
                (None, _) => continue,
            };
            let (own, dropped) = Level::read(d).merge(level);
            let regex = match modifier {
                Modifier::Regex => Regex::new(path).ok(),
                Modifier::RegexCaseless => Regex::new(&format!("(?i){path}")).ok(),
                _ => None,
            };
            let id = self.locations.len();
            if matches!(modifier, Modifier::Regex | Modifier::RegexCaseless) && regex.is_none() {
                self.bad_regex.push(id);
            }
            let proxy_pass = d
                .children()
                .iter()
                .find(|c| c.name == "proxy_pass")
                .and_then(|c| {
                    c.arg(0).map(|v| Set {
                        value: v.to_string(),
                        at: Site::of(c),
                    })
                });
            self.locations.push(Location {
                server,
                parent,
                modifier,
                path: path.to_string(),
                at: Site::of(d),
                regex,
                children: Vec::new(),
                proxy_pass,
                http_version: own.http_version.clone(),
                headers: own.headers.clone(),
                headers_block: own.headers_block,
                dropped,
                read_timeout: own.read_timeout.clone(),
            });
            let children = self.locations_in(d, server, Some(id), &own);
            self.locations[id].children = children;
            ids.push(id);
        }
        ids
    }

    /// The map that defines `$var`.
    pub fn map_for(&self, var: &str) -> Option<&MapDef> {
        let var = var.trim_start_matches('$');
        self.maps.iter().find(|m| m.var == var)
    }

    /// Backend addresses a `proxy_pass` URL sends to (`host:port`), through `upstream`s.
    pub fn backends_of(&self, proxy_pass: &str) -> Vec<String> {
        let rest = proxy_pass
            .strip_prefix("http://")
            .or_else(|| proxy_pass.strip_prefix("https://"))
            .unwrap_or(proxy_pass);
        let host = rest.split('/').next().unwrap_or("");
        match self.upstreams.iter().find(|u| u.name == host) {
            Some(u) => u.servers.clone(),
            None if host.contains(':') => vec![host.to_string()],
            None if proxy_pass.starts_with("https://") => vec![format!("{host}:443")],
            None => vec![format!("{host}:80")],
        }
    }
}

/// The URI part of a `proxy_pass` URL (`/` in `http://backend/`), if any.
pub fn proxy_pass_uri(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    if rest.starts_with("unix:") {
        // http://unix:/path/to.sock:/uri
        let after = rest.splitn(3, ':').nth(2)?;
        return after.find('/').map(|i| &after[i..]);
    }
    rest.find('/').map(|i| &rest[i..])
}

fn parse_listen(args: &[String]) -> Option<Listen> {
    let first = args.first()?;
    if first.starts_with("unix:") {
        return None;
    }
    let default_server = args[1..]
        .iter()
        .any(|a| a == "default_server" || a == "default");
    let (addr, port) = if let Some(rest) = first.strip_prefix('[') {
        // [::1]:8000 or [::]
        let (a, p) = rest.split_once(']')?;
        (Some(a.to_string()), p.strip_prefix(':').unwrap_or("80"))
    } else if let Some((a, p)) = first.rsplit_once(':') {
        (Some(a.to_string()), p)
    } else if first.bytes().all(|b| b.is_ascii_digit()) {
        (None, first.as_str())
    } else {
        (Some(first.clone()), "80")
    };
    let addr = addr.filter(|a| a != "*" && a != "::" && a != "0.0.0.0");
    Some(Listen {
        addr,
        port: port.parse().ok()?,
        default_server,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nginx::parse::parse;

    fn model(text: &str) -> Model {
        Model::from_tree(&parse(text, 0).unwrap())
    }

    #[test]
    fn inner_proxy_set_header_drops_every_inherited_one() {
        let m = model(
            "http {\n proxy_http_version 1.1;\n server {\n  proxy_set_header Upgrade $http_upgrade;\n  proxy_set_header Connection $connection_upgrade;\n  location /a { proxy_pass http://b; }\n  location /b {\n   proxy_pass http://b;\n   proxy_set_header X-Real-IP $remote_addr;\n  }\n }\n}\n",
        );
        let a = &m.locations[0];
        assert_eq!(a.header("upgrade").unwrap().at.line, 4);
        assert_eq!(a.http_version.as_ref().unwrap().value, "1.1");
        assert!(a.dropped.is_empty());
        let b = &m.locations[1];
        assert!(b.header("Upgrade").is_none());
        assert_eq!(b.dropped.len(), 2);
        assert_eq!(b.headers_block.unwrap().line, 7);
        // proxy_http_version is inherited on its own.
        assert_eq!(b.http_version.as_ref().unwrap().at.line, 2);
    }

    #[test]
    fn nested_locations_inherit_from_their_parent() {
        let m = model(
            "server { location /api/ { proxy_set_header Upgrade $http_upgrade; location /api/ws { proxy_pass http://b; } } }",
        );
        assert_eq!(m.locations.len(), 2);
        assert_eq!(m.locations[1].parent, Some(0));
        assert!(m.locations[1].header("Upgrade").is_some());
        assert_eq!(m.servers[0].locations, vec![0]);
    }

    #[test]
    fn listen_forms() {
        let l = |s: &str| parse_listen(&s.split(' ').map(String::from).collect::<Vec<_>>());
        assert_eq!(l("80").unwrap().port, 80);
        assert_eq!(
            l("127.0.0.1:8000").unwrap().addr.as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(l("[::]:443 ssl default_server").unwrap().addr, None);
        assert!(l("[::1]:8000").unwrap().addr.as_deref() == Some("::1"));
        assert!(l("80 default_server").unwrap().default_server);
        assert_eq!(l("localhost").unwrap().port, 80);
        assert!(l("unix:/run/x.sock").is_none());
    }

    #[test]
    fn proxy_pass_uri_part() {
        assert_eq!(proxy_pass_uri("http://127.0.0.1:8080"), None);
        assert_eq!(proxy_pass_uri("http://backend/"), Some("/"));
        assert_eq!(proxy_pass_uri("http://backend/ws/"), Some("/ws/"));
        assert_eq!(proxy_pass_uri("http://unix:/run/app.sock:/x"), Some("/x"));
        assert_eq!(proxy_pass_uri("http://unix:/run/app.sock"), None);
        assert_eq!(proxy_pass_uri("$backend"), None);
    }
}
