//! nginx configuration: reads the config nginx really loads (`nginx -T`, a saved dump, or the
//! files on disk), computes each proxying location's effective settings, and hands
//! `report` an [`NginxReport`] of findings with file:line (`wsdiag nginx`), or ties a
//! handshake to the location that served it ([`Routing::locate`], `analyze --nginx-config`).
//!
//! Files: `parse` (syntax), `dump` (`nginx -T` output), `load` (includes, I/O), `effective`
//! (inheritance), `route` (server and location selection), `check` (the checks of one
//! location), `sites` (sites-available / sites-enabled).

pub mod check;
pub mod dump;
pub mod effective;
pub mod load;
pub mod parse;
pub mod route;
pub mod sites;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::diagnose::{Handshake, Problem, Verdict};
pub use check::{CheckContext, Level, Version};
use effective::{Location, Model, Modifier};
pub use load::{Config, ConfigSource, LoadError};

/// What `wsdiag nginx` was asked to do.
#[derive(Clone, Debug)]
pub struct NginxOptions {
    pub source: ConfigSource,
    /// `--nginx-version`; else `nginx -v` when nginx is run here.
    pub version: Option<String>,
    /// Path prefixes that carry WebSocket traffic.
    pub ws_paths: Vec<String>,
    /// The directory holding sites-available/ and sites-enabled/, instead of the one the
    /// includes name.
    pub sites_dir: Option<PathBuf>,
}

/// One finding about the configuration.
#[derive(Clone, Debug, Serialize)]
pub struct ConfigFinding {
    pub level: Level,
    /// Stable name (see README, "Checking the nginx config").
    pub code: &'static str,
    pub file: String,
    pub line: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// A proxying location and its effective settings.
#[derive(Clone, Debug, Serialize)]
pub struct LocationReport {
    pub file: String,
    pub line: u32,
    pub server: String,
    pub location: String,
    pub proxy_pass: String,
    pub websocket: bool,
    /// Why it is taken to carry WebSocket traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub websocket_because: Option<String>,
    /// Effective values; `None` when unset (nginx's default applies).
    pub proxy_http_version: Option<String>,
    pub upgrade: Option<String>,
    pub connection: Option<String>,
    pub proxy_read_timeout: Option<String>,
    /// Codes of its findings.
    pub findings: Vec<&'static str>,
}

/// Everything `wsdiag nginx` found.
#[derive(Clone, Debug, Serialize)]
pub struct NginxReport {
    /// `nginx -T`, `dump FILE` or `conf FILE`.
    pub source: String,
    pub nginx_version: Option<String>,
    pub files: Vec<String>,
    pub locations: Vec<LocationReport>,
    pub sites: Vec<sites::Layout>,
    pub findings: Vec<ConfigFinding>,
    pub warnings: Vec<String>,
}

impl NginxReport {
    /// True when an error or a warning was found: exit status 1.
    pub fn needs_fixing(&self) -> bool {
        self.findings.iter().any(|f| f.level != Level::Advice)
    }
}

/// Loads and checks the configuration.
pub fn check(opts: &NginxOptions) -> Result<NginxReport, LoadError> {
    let (cfg, ran_version) = load::load(&opts.source)?;
    let version_text = opts.version.clone().or(ran_version);
    let ctx = CheckContext {
        version: version_text.as_deref().and_then(Version::parse),
    };
    let model = Model::build(&cfg);
    let mut findings = Vec::new();
    let mut warnings = cfg.warnings.clone();
    // Locations known to carry WebSocket traffic, and why.
    let mut ws: BTreeMap<usize, String> = BTreeMap::new();
    for p in &opts.ws_paths {
        for s in 0..model.servers.len() {
            if let Some(l) = route::find_location(&model, s, p) {
                ws.entry(l)
                    .or_insert_with(|| format!("--ws-path {p} goes there"));
            }
        }
    }
    let mut layouts = Vec::new();
    for root in sites::roots(&cfg, opts.sites_dir.as_deref()) {
        let Some(layout) = sites::inspect(&root) else {
            warnings.push(format!(
                "{}/sites-enabled is not on this machine: sites layout not checked",
                root.display()
            ));
            continue;
        };
        sites_findings(&cfg, &model, &ctx, &root, &layout, &mut findings, &mut ws);
        layouts.push(layout);
    }
    let mut locations = Vec::new();
    for (id, loc) in model.locations.iter().enumerate() {
        let Some(pp) = &loc.proxy_pass else { continue };
        let because = ws.get(&id).cloned().or_else(|| check::websocket_sign(loc));
        let is_ws = because.is_some();
        let issues = check::location(&model, &cfg, &ctx, loc);
        let mut codes = Vec::new();
        for i in issues {
            if i.ws_only && !is_ws {
                continue;
            }
            let level = if is_ws || i.code == "connection_map_undefined" {
                i.level
            } else {
                Level::Advice
            };
            codes.push(i.code);
            findings.push(ConfigFinding {
                level,
                code: i.code,
                file: cfg.file(loc.at.file).to_string(),
                line: loc.at.line,
                location: Some(loc.display()),
                message: i.message,
                fix: i.fix,
            });
        }
        let server = &model.servers[loc.server];
        locations.push(LocationReport {
            file: cfg.file(loc.at.file).to_string(),
            line: loc.at.line,
            server: server.label(),
            location: loc.display(),
            proxy_pass: pp.value.clone(),
            websocket: is_ws,
            websocket_because: because,
            proxy_http_version: loc.http_version.as_ref().map(|v| v.value.clone()),
            upgrade: loc.header("Upgrade").map(|h| h.value.clone()),
            connection: loc.header("Connection").map(|h| h.value.clone()),
            proxy_read_timeout: loc.read_timeout.as_ref().map(|v| v.value.clone()),
            findings: codes,
        });
    }
    for &l in &model.bad_regex {
        let loc = &model.locations[l];
        warnings.push(format!(
            "{}:{}: `{}` uses regex syntax wsdiag cannot read; it is never matched when routing",
            cfg.file(loc.at.file),
            loc.at.line,
            loc.display()
        ));
    }
    findings.sort_by(|a, b| (a.level, &a.file, a.line).cmp(&(b.level, &b.file, b.line)));
    Ok(NginxReport {
        source: cfg.origin.clone(),
        nginx_version: version_text,
        files: cfg.files.clone(),
        locations,
        sites: layouts,
        findings,
        warnings,
    })
}

/// The layout's findings: dangling links, files not enabled, and disabled files that
/// configure WebSocket for a path the enabled config serves without it (the incident).
fn sites_findings(
    cfg: &Config,
    model: &Model,
    ctx: &CheckContext,
    root: &Path,
    layout: &sites::Layout,
    findings: &mut Vec<ConfigFinding>,
    ws: &mut BTreeMap<usize, String>,
) {
    for e in layout.enabled.iter().filter(|e| e.dangling) {
        findings.push(ConfigFinding {
            level: Level::Error,
            code: "dangling_link",
            file: format!("{}/sites-enabled/{}", layout.root, e.name),
            line: 0,
            location: None,
            message: format!(
                "sites-enabled/{} points to {}, which does not exist: `nginx -t` fails on it; remove the link or restore the file",
                e.name,
                e.link.as_deref().unwrap_or("?")
            ),
            fix: None,
        });
    }
    for name in &layout.not_enabled {
        let path = root.join("sites-available").join(name);
        let rel = format!("sites-available/{name}");
        findings.push(ConfigFinding {
            level: Level::Advice,
            code: "site_not_enabled",
            file: path.display().to_string(),
            line: 0,
            location: None,
            message: format!(
                "{rel} is not enabled (no sites-enabled/ link points to it): nginx does not load it"
            ),
            fix: Some(format!(
                "ln -s ../sites-available/{name} {}/sites-enabled/{name}",
                layout.root
            )),
        });
        let Ok(disabled) = load::from_disk(&path) else {
            continue;
        };
        let dmodel = Model::from_tree(&disabled.tree);
        let mut said = Vec::new();
        for dloc in &dmodel.locations {
            let has_ws = dloc
                .header("Upgrade")
                .is_some_and(|h| h.value.contains("$http_upgrade"));
            if !has_ws || dloc.proxy_pass.is_none() {
                continue;
            }
            if !matches!(
                dloc.modifier,
                Modifier::Prefix | Modifier::Exact | Modifier::NoRegex
            ) {
                continue;
            }
            let dserver = &dmodel.servers[dloc.server];
            for s in servers_like(model, dserver) {
                let Some(l) = route::find_location(model, s, &dloc.path) else {
                    continue;
                };
                let loc = &model.locations[l];
                if loc.proxy_pass.is_none() || said.contains(&l) {
                    continue;
                }
                let issues = check::location(model, cfg, ctx, loc);
                let lacks: Vec<&str> = issues
                    .iter()
                    .filter(|i| {
                        matches!(
                            i.code,
                            "upgrade_missing" | "connection_header" | "http_version"
                        )
                    })
                    .map(|i| i.code)
                    .collect();
                if lacks.is_empty() {
                    continue;
                }
                said.push(l);
                ws.entry(l).or_insert_with(|| {
                    format!(
                        "{rel}:{} configures WebSocket for {}",
                        dloc.at.line, dloc.path
                    )
                });
                let enabled_file = cfg.file(loc.at.file);
                findings.push(ConfigFinding {
                    level: Level::Error,
                    code: "websocket_config_not_enabled",
                    file: enabled_file.to_string(),
                    line: loc.at.line,
                    location: Some(loc.display()),
                    message: format!(
                        "{rel} has the WebSocket headers for {} (`{}` at line {}) but is not enabled; the enabled {}:{} `{}` lacks them ({})",
                        dloc.path,
                        dloc.display(),
                        dloc.at.line,
                        sites::display(root, enabled_file),
                        loc.at.line,
                        loc.display(),
                        lacks.join(", ")
                    ),
                    fix: Some(format!(
                        "either enable {rel} instead (and remove the other link), or copy its proxy_http_version / proxy_set_header Upgrade / Connection lines into `{}`",
                        loc.display()
                    )),
                });
            }
        }
    }
}

/// Servers of `m` that a request for `other`'s names or ports would reach: those sharing a
/// server_name, else those sharing a port, else all.
fn servers_like(m: &Model, other: &effective::Server) -> Vec<usize> {
    let by_name: Vec<usize> = (0..m.servers.len())
        .filter(|&s| {
            m.servers[s]
                .names
                .iter()
                .any(|n| n != "_" && !n.is_empty() && other.names.contains(n))
        })
        .collect();
    if !by_name.is_empty() {
        return by_name;
    }
    let by_port: Vec<usize> = (0..m.servers.len())
        .filter(|&s| {
            m.servers[s]
                .listen
                .iter()
                .any(|l| other.listen.iter().any(|o| o.port == l.port))
        })
        .collect();
    if !by_port.is_empty() {
        return by_port;
    }
    (0..m.servers.len()).collect()
}

/// Where a handshake went in the config, and which settings broke it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct NginxMatch {
    /// The location's file and line; `None` when no location matched.
    pub file: Option<String>,
    pub line: Option<u32>,
    pub location: Option<String>,
    pub server: Option<String>,
    /// For each problem of the handshake, the setting that causes it.
    pub causes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A loaded configuration to route handshakes through (`analyze --nginx-config`).
pub struct Routing {
    cfg: Config,
    model: Model,
    ctx: CheckContext,
}

impl Routing {
    /// Loads a saved `nginx -T` dump, or a main config file when `path` is not a dump.
    pub fn load(path: &Path, version: Option<&str>) -> Result<Routing, LoadError> {
        let text =
            std::fs::read(path).map_err(|e| LoadError(format!("{}: {e}", path.display())))?;
        let text = String::from_utf8_lossy(&text);
        let cfg = if dump::split(&text).is_empty() {
            load::from_disk(path)?
        } else {
            load::from_dump(&text, &format!("dump {}", path.display()))?
        };
        let model = Model::build(&cfg);
        Ok(Routing {
            cfg,
            model,
            ctx: CheckContext {
                version: version.and_then(Version::parse),
            },
        })
    }

    /// Finds the server (by Host, port and, on the upstream hop, the backend it proxies to)
    /// and the location for `target`, filling those parts of the match. Without a location the
    /// match is finished, with a note saying why none was found.
    fn route(
        &self,
        host: Option<&str>,
        port: u16,
        backend: Option<&str>,
        target: &str,
        no_server: impl FnOnce() -> String,
    ) -> (NginxMatch, Option<&Location>) {
        let m = &self.model;
        let mut out = NginxMatch {
            file: None,
            line: None,
            location: None,
            server: None,
            causes: Vec::new(),
            note: None,
        };
        let Some(s) = route::find_server(m, host, Some(port), backend) else {
            out.note = Some(no_server());
            return (out, None);
        };
        let server = &m.servers[s];
        out.server = Some(format!(
            "{} ({})",
            server.label(),
            check::at(&self.cfg, server.at)
        ));
        let Some(l) = route::find_location(m, s, target) else {
            out.note = Some(format!(
                "no location of this server matches {}: nginx answers it from the server level",
                path_of(target)
            ));
            return (out, None);
        };
        let loc: &Location = &m.locations[l];
        out.file = Some(self.cfg.file(loc.at.file).to_string());
        out.line = Some(loc.at.line);
        out.location = Some(loc.display());
        (out, Some(loc))
    }

    /// `file:line` of a location.
    fn place(&self, loc: &Location) -> String {
        format!("{}:{}", self.cfg.file(loc.at.file), loc.at.line)
    }

    /// The server and location nginx picks for this handshake, and the settings there that
    /// explain its problems.
    pub fn locate(&self, hs: &Handshake) -> NginxMatch {
        let backend = hs.server.to_string();
        let (mut out, loc) = match self.route(
            hs.request.host.as_deref(),
            hs.server.port(),
            Some(&backend),
            &hs.request.target,
            || "the config has no server block".into(),
        ) {
            (out, None) => return out,
            (out, Some(loc)) => (out, loc),
        };
        let issues = check::location(&self.model, &self.cfg, &self.ctx, loc);
        for p in &hs.problems {
            let codes: &[&str] = match p {
                Problem::Http10Downgrade => &["http_version"],
                Problem::UpgradeStripped => &["upgrade_missing"],
                Problem::ConnectionNotUpgrade => &["connection_header", "connection_map_undefined"],
                _ => &[],
            };
            for i in issues.iter().filter(|i| codes.contains(&i.code)) {
                out.causes.push(format!("{}: {}", p.code(), i.message));
            }
        }
        let place = self.place(loc);
        if loc.proxy_pass.is_none() {
            out.note = Some(format!(
                "`{}` at {place} has no proxy_pass: this request should not have reached a backend through it; another server block or an older config served it",
                loc.display()
            ));
        } else if hs.verdict == Verdict::Broken && out.causes.is_empty() {
            out.note = Some(format!(
                "`{}` at {place} looks right for WebSocket, yet the handshake was broken: the config on disk is not the one running (reload nginx), or another server block won (check listen and server_name)",
                loc.display()
            ));
        }
        out
    }

    /// The server and location nginx picks for a request a client sends to it (Host, the port
    /// it connected to, target): where a probe landed. When that location does not proxy,
    /// nginx answers the path itself, which is what `not_forwarded` means.
    pub fn locate_client(&self, host: Option<&str>, port: u16, target: &str) -> NginxMatch {
        let (mut out, loc) = match self.route(host, port, None, target, || {
            format!("no server block listens on port {port}")
        }) {
            (out, None) => return out,
            (out, Some(loc)) => (out, loc),
        };
        if loc.proxy_pass.is_none() {
            out.note = Some(format!(
                "`{}` at {} has no proxy_pass: nginx answers this path itself",
                loc.display(),
                self.place(loc)
            ));
        } else {
            for i in check::location(&self.model, &self.cfg, &self.ctx, loc) {
                if matches!(
                    i.code,
                    "http_version"
                        | "upgrade_missing"
                        | "connection_header"
                        | "connection_map_undefined"
                ) {
                    out.causes.push(format!("{}: {}", i.code, i.message));
                }
            }
        }
        out
    }
}

fn path_of(target: &str) -> &str {
    target.split(['?', '#']).next().unwrap_or(target)
}
