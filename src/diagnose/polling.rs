//! Clients that fall back to long polling when the upgrade fails: socket.io/engine.io
//! (`?EIO=4&transport=polling`) and SignalR (`/negotiate`, then requests carrying `id=`). A
//! capture full of polling requests and no working WebSocket upgrade is `stuck_on_polling`.

use serde::Serialize;

use super::{Fix, Handshake, Problem, Verdict};
use crate::common::PacketRef;

/// Polling requests needed before the fallback is called stuck.
const AT_LEAST: u64 = 3;

/// Counts polling requests as they go by.
#[derive(Debug, Default)]
pub struct PollingWatch {
    engine_io: Counter,
    signalr: Counter,
}

#[derive(Debug, Default)]
struct Counter {
    requests: u64,
    first_packet: Option<u64>,
    path: Option<String>,
}

impl Counter {
    fn count(&mut self, path: &str, at: PacketRef) {
        self.requests += 1;
        self.first_packet.get_or_insert(at.number);
        self.path.get_or_insert_with(|| path.to_string());
    }
}

/// A client stuck on long polling.
#[derive(Clone, Debug, Serialize)]
pub struct StuckOnPolling {
    pub problem: Problem,
    /// `socket.io/engine.io` or `SignalR`.
    pub library: &'static str,
    pub path: String,
    pub polling_requests: u64,
    pub first_packet: u64,
    /// WebSocket handshakes for that library seen, and how many got through.
    pub websocket_attempts: u64,
    pub websocket_ok: u64,
    pub evidence: Vec<String>,
    pub fix: Vec<Fix>,
}

impl PollingWatch {
    /// One plain (non-handshake) request.
    pub fn request(&mut self, target: &str, at: PacketRef) {
        // (memchr: `split_once('?')` costs more than the rest of this check on short targets.)
        let (path, query) = match memchr::memchr(b'?', target.as_bytes()) {
            Some(q) => (&target[..q], &target[q + 1..]),
            None => (target, ""),
        };
        // Most requests are neither: no `EIO=` or `id=` parameter and no `/negotiate`. Said
        // without splitting the query (each test below needs one of these).
        if !path.ends_with("/negotiate") && !has_param_prefix(query) {
            return;
        }
        let has = |name_value: &str| query.split('&').any(|p| p == name_value);
        if query.split('&').any(|p| p.starts_with("EIO=")) && has("transport=polling") {
            self.engine_io.count(path, at);
        } else if path.ends_with("/negotiate")
            || query.split('&').any(|p| p.starts_with("id=")) && self.signalr.requests > 0
        {
            self.signalr.count(path.trim_end_matches("/negotiate"), at);
        }
    }

    /// The fallbacks that never got a working upgrade, judged over all the input's handshakes.
    pub fn judge(&self, handshakes: &[Box<Handshake>]) -> Vec<StuckOnPolling> {
        let mut out = Vec::new();
        let libs = [
            (
                "socket.io/engine.io",
                &self.engine_io,
                "transport=websocket",
            ),
            ("SignalR", &self.signalr, ""),
        ];
        for (library, c, marker) in libs {
            let (Some(first_packet), Some(path)) = (c.first_packet, &c.path) else {
                continue;
            };
            if c.requests < AT_LEAST {
                continue;
            }
            let attempts: Vec<&Handshake> = handshakes
                .iter()
                .filter(|h| {
                    let t = &h.request.target;
                    t.starts_with(path.as_str()) && (marker.is_empty() || t.contains(marker))
                })
                .map(|h| &**h)
                .collect();
            let ok = attempts.iter().filter(|h| h.verdict == Verdict::Ok).count() as u64;
            if ok > 0 {
                continue;
            }
            let mut evidence = vec![format!(
                "{} long-polling requests to `{path}` from packet {first_packet} on",
                c.requests
            )];
            evidence.push(match attempts.first() {
                None => "no WebSocket upgrade was attempted for it: the client gave up on WebSocket (or was configured for polling only)".into(),
                Some(h) => format!(
                    "{} {}, none succeeded; the first (packet {}) was {}{}",
                    attempts.len(),
                    if attempts.len() == 1 {
                        "WebSocket upgrade attempt"
                    } else {
                        "WebSocket upgrade attempts"
                    },
                    h.request_packet,
                    h.verdict.name(),
                    if h.problems.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " ({})",
                            h.problems.iter().map(|p| p.code()).collect::<Vec<_>>().join(", ")
                        )
                    }
                ),
            });
            out.push(StuckOnPolling {
                problem: Problem::StuckOnPolling,
                library,
                path: path.clone(),
                polling_requests: c.requests,
                first_packet,
                websocket_attempts: attempts.len() as u64,
                websocket_ok: 0,
                evidence,
                fix: vec![Fix {
                    problem: Problem::StuckOnPolling,
                    advice: format!(
                        "{library} fell back to long polling because the WebSocket upgrade did not work: fix the upgrade (see the handshake findings), then the client switches by itself"
                    )
                .into(),
                    nginx: None,
                }],
            });
        }
        out
    }
}

/// Whether some `&`-separated parameter of `query` starts with `EIO=` or `id=`.
fn has_param_prefix(query: &str) -> bool {
    let q = query.as_bytes();
    std::iter::once(0)
        .chain(memchr::memchr_iter(b'&', q).map(|i| i + 1))
        .any(|i| q[i..].starts_with(b"EIO=") || q[i..].starts_with(b"id="))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::Timestamp;

    fn at(n: u64) -> PacketRef {
        PacketRef {
            number: n,
            ts: Timestamp(0),
        }
    }

    #[test]
    fn engine_io_polling_without_an_upgrade_is_stuck_and_a_few_requests_are_not() {
        let mut w = PollingWatch::default();
        for n in 0..2 {
            w.request("/socket.io/?EIO=4&transport=polling&t=abc", at(10 + n));
        }
        assert!(w.judge(&[]).is_empty(), "two requests are a normal start");
        w.request("/socket.io/?EIO=4&transport=polling&sid=x", at(30));
        let stuck = w.judge(&[]);
        assert_eq!(stuck.len(), 1);
        assert_eq!(
            (stuck[0].library, stuck[0].polling_requests),
            ("socket.io/engine.io", 3)
        );
        assert_eq!(
            (stuck[0].path.as_str(), stuck[0].first_packet),
            ("/socket.io/", 10)
        );
        assert!(stuck[0].evidence[1].contains("no WebSocket upgrade was attempted"));
        // Plain requests elsewhere are not polling.
        let mut w = PollingWatch::default();
        for n in 0..5 {
            w.request("/api/health?transport=polling", at(n));
        }
        assert!(w.judge(&[]).is_empty());
    }

    #[test]
    fn signalr_negotiate_then_id_requests() {
        let mut w = PollingWatch::default();
        w.request("/hub/negotiate?negotiateVersion=1", at(1));
        w.request("/hub?id=abc", at(2));
        w.request("/hub?id=abc&_=1", at(3));
        let stuck = w.judge(&[]);
        assert_eq!(stuck.len(), 1);
        assert_eq!(
            (stuck[0].library, stuck[0].path.as_str()),
            ("SignalR", "/hub")
        );
    }
}
