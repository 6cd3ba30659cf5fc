//! Both hops in one capture: pairs each handshake the client sent to the proxy with the one the
//! proxy sent upstream, says what the proxy changed, and finds handshakes the proxy never
//! forwarded. A pure pass over one input's judged handshakes, in capture order.
//!
//! Pairing is by `Sec-WebSocket-Key` first (nginx and Apache forward it unchanged), then by
//! method, target and time. The proxy is the endpoint that received a handshake and then sent
//! one with the same key, unless `--proxy-port` / `--backend-port` say it.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use super::{fix::Fix, Handshake, Problem, Verdict};

/// Longest delay between a client's handshake and the proxy's upstream one that still pairs
/// them by method and target.
const PAIR_WINDOW_NS: i64 = 2_000_000_000;

/// Which hop a handshake was seen on, and its other half.
#[derive(Clone, Debug, Serialize)]
pub struct Hop {
    /// `client` (client -> proxy) or `upstream` (proxy -> backend).
    pub hop: &'static str,
    /// The request packet of the other half, when it was found.
    pub paired_with: Option<u64>,
    /// What the proxy changed between the two halves, in words.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub proxy_changes: Vec<String>,
}

/// Ports the user named (`--proxy-port`, `--backend-port`).
#[derive(Clone, Debug, Default)]
pub struct HopHints {
    pub proxy_ports: Vec<u16>,
    pub backend_ports: Vec<u16>,
}

/// A request seen anywhere, for telling the proxy's port when no handshake pair shows it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub ts: i64,
    pub server_port: u16,
    /// The method: borrowed for the common ones, so remembering a request allocates only its
    /// path.
    pub method: Cow<'static, str>,
    pub path: String,
}

/// `method` as a [`Seen::method`].
pub fn seen_method(method: &str) -> Cow<'static, str> {
    const COMMON: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"];
    match COMMON.iter().find(|&&m| m == method) {
        Some(&m) => Cow::Borrowed(m),
        None => Cow::Owned(method.to_string()),
    }
}

/// Ports that received a request which another port received again right after, with the same
/// method and resource: the proxy's listening ports.
///
/// Quadratic within the pairing window, so the common case is cut short: a capture of one hop
/// (every request to one port) has no pair, and a port already found needs no second pair.
fn proxy_ports_from_requests(seen: &[Seen]) -> BTreeSet<u16> {
    let mut ports = BTreeSet::new();
    let one_port = seen
        .windows(2)
        .all(|w| w[0].server_port == w[1].server_port);
    if one_port {
        return ports;
    }
    for (i, a) in seen.iter().enumerate() {
        if ports.contains(&a.server_port) {
            continue;
        }
        let later = seen[i + 1..]
            .iter()
            .take_while(|b| b.ts.saturating_sub(a.ts) <= PAIR_WINDOW_NS)
            .find(|b| {
                b.server_port != a.server_port
                    && b.method == a.method
                    && same_resource(&a.path, &b.path)
            });
        if later.is_some() {
            ports.insert(a.server_port);
        }
    }
    ports
}

/// Pairs the hops of one input's handshakes (sorted by request packet) in place. `seen` is
/// every request of the input in capture order (capped), to find the proxy when no handshake
/// pair shows it.
pub fn correlate(handshakes: &mut [Box<Handshake>], seen: &[Seen], hints: &HopHints) {
    // 1. The proxy's listening ports: named, or inferred from pairs of handshakes with one key.
    let mut by_key: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, h) in handshakes.iter().enumerate() {
        if let Some(k) = h.key.as_deref() {
            by_key.entry(k).or_default().push(i);
        }
    }
    let mut proxy_ports: BTreeSet<u16> = hints.proxy_ports.iter().copied().collect();
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for idx in by_key.values() {
        if let [first, second, ..] = idx[..] {
            // The proxy received the first one and sent the second.
            if handshakes[first].server != handshakes[second].server {
                pairs.push((first, second));
                if hints.proxy_ports.is_empty() {
                    proxy_ports.insert(handshakes[first].server.port());
                }
            }
        }
    }
    if proxy_ports.is_empty() {
        proxy_ports = proxy_ports_from_requests(seen);
    }
    let backend_ports: BTreeSet<u16> = hints.backend_ports.iter().copied().collect();
    proxy_ports.retain(|p| !backend_ports.contains(p));
    if proxy_ports.is_empty() {
        return; // One hop only: nothing to pair.
    }
    let is_client_hop = |h: &Handshake| {
        proxy_ports.contains(&h.server.port()) && !backend_ports.contains(&h.server.port())
    };
    // Only pairs whose first half is on the client hop count.
    pairs.retain(|(c, u)| is_client_hop(&handshakes[*c]) && !is_client_hop(&handshakes[*u]));
    // 2. Handshakes without a key (or whose key did not pair): method, target and time.
    let mut paired: BTreeSet<usize> = pairs.iter().flat_map(|(c, u)| [*c, *u]).collect();
    for c in 0..handshakes.len() {
        if paired.contains(&c) || !is_client_hop(&handshakes[c]) {
            continue;
        }
        let found = (c + 1..handshakes.len()).find(|&u| {
            let (hc, hu) = (&handshakes[c], &handshakes[u]);
            !paired.contains(&u)
                && !is_client_hop(hu)
                && (hc.key.is_none() || hu.key.is_none())
                && hu.ts.nanos_since(hc.ts) <= PAIR_WINDOW_NS
                && hc.request.method == hu.request.method
                && same_resource(&hc.request.target, &hu.request.target)
        });
        if let Some(u) = found {
            pairs.push((c, u));
            paired.insert(c);
            paired.insert(u);
        }
    }
    // 3. Mark both halves; say what the proxy changed.
    for &(c, u) in &pairs {
        let changes = changes(&handshakes[c], &handshakes[u]);
        let rewritten = handshakes[c].request.target != handshakes[u].request.target;
        let (cp, up) = (handshakes[c].request_packet, handshakes[u].request_packet);
        handshakes[c].hop = Some(Hop {
            hop: "client",
            paired_with: Some(up),
            proxy_changes: changes.clone(),
        });
        let upstream = &mut handshakes[u];
        if !changes.is_empty() {
            upstream.evidence.push(format!(
                "the client sent it as packet {cp}; the proxy {}",
                changes.join(", ")
            ));
        }
        upstream.hop = Some(Hop {
            hop: "upstream",
            paired_with: Some(cp),
            proxy_changes: changes,
        });
        if rewritten {
            add_problem(upstream, Problem::PathRewritten, Fix {
                problem: Problem::PathRewritten,
                advice: "the proxy changed the path: a proxy_pass with a URI part (e.g. a trailing slash, `proxy_pass http://backend/;`) replaces the matched location prefix; drop the URI part or make the backend serve the rewritten path".into(),
                nginx: Some("# in the WebSocket location, no URI part after host:port:\nproxy_pass http://127.0.0.1:8080;".into()),
            });
        }
        // The client's half: what the proxy returned to it, explained by the upstream half.
        // When the proxy damaged the handshake, that is the client's verdict too; the backend
        // did not refuse what the client sent.
        let (status, verdict, problems, fix) = {
            let h = &handshakes[u];
            (
                h.response.as_ref().map(|r| r.status),
                h.verdict,
                h.problems.clone(),
                h.fix.clone(),
            )
        };
        let client = &mut handshakes[c];
        if verdict != Verdict::Ok {
            let what = match &client.hop {
                Some(hop) if !hop.proxy_changes.is_empty() => {
                    format!(" after it {}", hop.proxy_changes.join(", "))
                }
                _ => String::new(),
            };
            client.evidence.push(format!(
                "the proxy forwarded it as packet {up}{what}; upstream it was {}{}",
                verdict.name(),
                status
                    .map(|s| format!(" and the backend answered {s}"))
                    .unwrap_or_default()
            ));
        }
        if verdict == Verdict::Broken {
            client.problems = problems;
            client.verdict = Verdict::Broken;
            client.fix = fix;
        }
    }
    // 4. Client-hop handshakes with no upstream half: the proxy answered by itself. Only said
    //    when the capture holds the upstream hop at all.
    let upstream_seen = handshakes.iter().any(|h| !is_client_hop(h))
        || seen.iter().any(|r| !proxy_ports.contains(&r.server_port))
        || !hints.backend_ports.is_empty();
    if !upstream_seen {
        return;
    }
    for h in handshakes.iter_mut() {
        if h.hop.is_some() || !is_client_hop(h) {
            continue;
        }
        h.hop = Some(Hop {
            hop: "client",
            paired_with: None,
            proxy_changes: Vec::new(),
        });
        if h.response.is_none() {
            continue; // Not answered yet either: nothing to say about who answered.
        }
        h.problems.retain(|p| *p != Problem::BackendRejected);
        h.fix.retain(|f| f.problem != Problem::BackendRejected);
        h.evidence.push(match &h.key {
            Some(_) => "no upstream request carried its Sec-WebSocket-Key: the proxy answered by itself".into(),
            None => "no upstream request with the same method and target followed: the proxy answered by itself".into(),
        });
        add_problem(h, Problem::NotForwarded, Fix {
            problem: Problem::NotForwarded,
            advice: "the proxy answered this handshake itself: the location that serves this path does not proxy it (wrong location, a site file that is not enabled, or another server block won); check which location nginx picks, e.g. with `wsdiag nginx`".into(),
            nginx: None,
        });
    }
}

fn add_problem(h: &mut Handshake, p: Problem, fix: Fix) {
    if !h.problems.contains(&p) {
        h.problems.push(p);
        h.problems.sort();
        h.fix.push(fix);
        h.fix.sort();
    }
    // A rewritten or unforwarded handshake is the proxy's doing, not the backend's.
    h.problems.retain(|x| *x != Problem::BackendRejected);
    h.fix.retain(|f| f.problem != Problem::BackendRejected);
    h.verdict = Verdict::Broken;
}

/// The same resource seen on both hops: equal targets, or one ends with the other's last path
/// segments (a proxy that strips or adds a prefix).
fn same_resource(client: &str, upstream: &str) -> bool {
    let path = |t: &str| t.split('?').next().unwrap_or("").to_string();
    let (c, u) = (path(client), path(upstream));
    c == u || c.ends_with(&u) || u.ends_with(&c)
}

/// What the proxy changed, in words, e.g. "removed Upgrade", "downgraded HTTP/1.1 to HTTP/1.0".
fn changes(c: &Handshake, u: &Handshake) -> Vec<String> {
    let (rc, ru) = (&c.request, &u.request);
    let mut out = Vec::new();
    if rc.version != ru.version {
        out.push(format!("changed {} to {}", rc.version, ru.version));
    }
    match (&rc.upgrade, &ru.upgrade) {
        (Some(a), None) => out.push(format!("removed `Upgrade: {a}`")),
        (Some(a), Some(b)) if a != b => out.push(format!("changed `Upgrade: {a}` to `{b}`")),
        _ => {}
    }
    match (&rc.connection, &ru.connection) {
        (Some(a), None) => out.push(format!("removed `Connection: {a}`")),
        (Some(a), Some(b)) if !a.eq_ignore_ascii_case(b) => {
            out.push(format!("replaced `Connection: {a}` with `Connection: {b}`"))
        }
        _ => {}
    }
    if rc.target != ru.target {
        out.push(format!(
            "rewrote the path `{}` to `{}`",
            rc.target, ru.target
        ));
    }
    out
}
