//! Judging a WebSocket session after its 101: how it ended and whether both sides kept to
//! RFC 6455. Takes the facts `ws::session` gathered and gives a [`SessionFinding`] with
//! problems, evidence and fixes.

use std::net::SocketAddr;

use serde::Serialize;

use super::{Fix, Problem};
use crate::ws::session::{SessionFacts, Side};

/// Well-known idle timeouts that cut silent WebSocket connections, with the setting to change.
const IDLE_TIMEOUTS: &[(f64, f64, &str)] = &[
    (
        55.0,
        65.0,
        "60 s: nginx's default proxy_read_timeout (and AWS load balancers' default idle timeout)",
    ),
    (
        95.0,
        105.0,
        "about 100 s: Cloudflare's idle timeout for proxied WebSockets",
    ),
];

/// A WebSocket session and its judgement.
#[derive(Clone, Debug, Serialize)]
pub struct SessionFinding {
    pub connection: u64,
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// The request packet of the handshake that opened it; None when the capture began after
    /// the handshake (`--decode-as`).
    pub handshake_packet: Option<u64>,
    pub target: Option<String>,
    pub handshake_captured: bool,
    /// Seconds from the 101 (or first frame) to the last activity.
    pub duration: f64,
    /// The close handshake: both sides sent a close frame.
    pub close_completed: bool,
    #[serde(flatten)]
    pub facts: SessionFacts,
    pub problems: Vec<Problem>,
    pub evidence: Vec<String>,
    pub fix: Vec<Fix>,
}

/// Where a session came from.
pub struct Opening {
    pub connection: u64,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub handshake_packet: Option<u64>,
    pub target: Option<String>,
}

pub fn judge(open: Opening, facts: SessionFacts) -> SessionFinding {
    let mut problems = Vec::new();
    let mut evidence = Vec::new();
    let mut fix = Vec::new();
    let who = |side: Side, addr: SocketAddr| format!("the {} ({addr})", side.name());
    let addr = |side: Side| match side {
        Side::Client => open.client,
        Side::Server => open.server,
    };
    if !open.handshake_captured() {
        evidence.push(
            "the handshake was not captured: framing was recognised on this port because you asked (--decode-as); no verdict is given for the handshake"
                .into(),
        );
    }
    let sent = |t: &crate::ws::session::Traffic| {
        format!(
            "{} in {} ({})",
            count(t.messages, "message"),
            count(t.frames, "frame"),
            count(t.payload_bytes, "payload byte")
        )
    };
    evidence.push(format!(
        "client sent {}, server sent {}; pings {}/{}, pongs {}/{} (client/server)",
        sent(&facts.from_client),
        sent(&facts.from_server),
        facts.from_client.pings,
        facts.from_server.pings,
        facts.from_client.pongs,
        facts.from_server.pongs,
    ));
    if let Some(c) = &facts.close {
        evidence.push(format!(
            "first close frame from the {} (packet {}): code {}{}{}",
            c.from.name(),
            c.packet,
            c.code.map_or_else(|| "none".to_string(), |c| c.to_string()),
            if c.reason.is_empty() {
                String::new()
            } else {
                format!(", reason {:?}", c.reason)
            },
            match &facts.close_reply {
                Some(r) => format!("; answered by the {} (packet {})", r.from.name(), r.packet),
                None => "; not answered".into(),
            }
        ));
    }
    if let (Some(end), None, false) = (&facts.tcp_end, &facts.close, facts.framing_lost) {
        problems.push(Problem::ClosedWithoutCloseFrame);
        let silence = facts.silence_before_end.unwrap_or(0.0);
        evidence.push(format!(
            "{} ended the TCP connection with {} (packet {}) after {silence:.1} s without a frame; no close frame was sent in either direction",
            who(end.by, addr(end.by)),
            end.how.to_uppercase(),
            end.packet,
        ));
        match IDLE_TIMEOUTS
            .iter()
            .find(|(lo, hi, _)| (*lo..=*hi).contains(&silence))
        {
            Some((_, _, which)) => {
                evidence.push(format!(
                    "that silence is close to a well-known idle timeout: {which}"
                ));
                fix.push(Fix {
                    problem: Problem::ClosedWithoutCloseFrame,
                    advice: format!(
                        "the connection was idle for {silence:.0} s and an idle timeout cut it: raise the proxy's timeout for WebSocket locations, or send a ping (or any message) more often than the timeout, e.g. every 25 s"
                    )
                .into(),
                    nginx: Some("proxy_read_timeout 3600s;\nproxy_send_timeout 3600s;".into()),
                });
            }
            None => fix.push(Fix {
                problem: Problem::ClosedWithoutCloseFrame,
                advice: format!(
                    "the {} dropped the connection after {silence:.1} s of silence without a close frame: on a proxy -> backend capture the client side is the proxy, and a proxy closing an idle WebSocket is its read timeout (nginx: proxy_read_timeout, 60 s by default): raise it, or send pings more often; if it is the application, close with a close frame (1000/1001) so the other side knows why",
                    end.by.name()
                )
                .into(),
                nginx: Some("proxy_read_timeout 3600s;\nproxy_send_timeout 3600s;".into()),
            }),
        }
    }
    if !facts.violations.is_empty() {
        problems.push(Problem::ProtocolViolation);
        for v in &facts.violations {
            evidence.push(format!(
                "{} from the {} (packet {}): {}",
                v.kind,
                v.from.name(),
                v.packet,
                v.detail
            ));
        }
        if facts.violations_not_listed > 0 {
            evidence.push(format!(
                "... and {} more violations",
                facts.violations_not_listed
            ));
        }
        let mut kinds: Vec<&str> = facts.violations.iter().map(|v| v.kind).collect();
        kinds.sort_unstable();
        kinds.dedup();
        fix.push(Fix {
            problem: Problem::ProtocolViolation,
            advice: format!(
                "an endpoint breaks RFC 6455 ({}): browsers and proxies drop such connections; fix or update the WebSocket library on the side named in the evidence",
                kinds.join(", ")
            )
                .into(),
            nginx: None,
        });
    }
    if facts.framing_lost {
        evidence.push(
            "a gap in the capture hid part of the frames: counts after it are incomplete, and a missing close frame is not claimed"
                .into(),
        );
    }
    let duration = facts.last_activity.secs_since(facts.start).max(0.0);
    let close_completed = facts.close.is_some() && facts.close_reply.is_some();
    SessionFinding {
        connection: open.connection,
        client: open.client,
        server: open.server,
        handshake_captured: open.handshake_captured(),
        handshake_packet: open.handshake_packet,
        target: open.target,
        duration,
        close_completed,
        facts,
        problems,
        evidence,
        fix,
    }
}

fn count(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

impl Opening {
    fn handshake_captured(&self) -> bool {
        self.handshake_packet.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::{Direction, PacketRef, Timestamp};
    use crate::ws::session::Session;

    fn at(n: u64, secs: i64) -> PacketRef {
        PacketRef {
            number: n,
            ts: Timestamp::from_parts(1_700_000_000 + secs, 0),
        }
    }

    fn opening() -> Opening {
        Opening {
            connection: 3,
            client: "127.0.0.1:40000".parse().unwrap(),
            server: "127.0.0.1:8080".parse().unwrap(),
            handshake_packet: Some(4),
            target: Some("/ws".into()),
        }
    }

    #[test]
    fn an_idle_cut_at_sixty_seconds_names_the_timeout_and_the_setting() {
        let mut s = Session::new(at(6, 0), false);
        s.data(Direction::ToServer, &[0x81, 0x80, 1, 2, 3, 4], at(8, 1));
        s.tcp_end(Direction::ToServer, "fin", at(20, 61));
        let f = judge(opening(), s.into_facts());
        assert_eq!(f.problems, [Problem::ClosedWithoutCloseFrame]);
        let ev = f.evidence.join("\n");
        assert!(ev.contains("client (127.0.0.1:40000) ended the TCP connection with FIN (packet 20) after 60.0 s"), "{ev}");
        assert!(ev.contains("proxy_read_timeout"), "{ev}");
        assert_eq!(
            f.fix[0].nginx.as_deref(),
            Some("proxy_read_timeout 3600s;\nproxy_send_timeout 3600s;")
        );
        assert_eq!(f.duration, 61.0);
        assert!(!f.close_completed);
    }

    #[test]
    fn a_clean_close_has_no_problem_and_a_lost_framing_claims_nothing() {
        let mut s = Session::new(at(6, 0), false);
        s.data(
            Direction::ToServer,
            &[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8],
            at(7, 2),
        );
        s.data(Direction::ToClient, &[0x88, 0x02, 0x03, 0xe8], at(8, 2));
        s.tcp_end(Direction::ToClient, "fin", at(9, 2));
        let f = judge(opening(), s.into_facts());
        assert!(f.problems.is_empty(), "{:?}", f.evidence);
        assert!(f.close_completed);
        assert_eq!(f.facts.close.as_ref().unwrap().code, Some(1000));

        let mut s = Session::new(at(6, 0), false);
        s.data(Direction::ToServer, &[0x81], at(7, 1));
        s.gap(Direction::ToServer, 10);
        s.tcp_end(Direction::ToServer, "rst", at(9, 5));
        let f = judge(opening(), s.into_facts());
        assert!(
            f.problems.is_empty(),
            "nothing claimed across a gap: {:?}",
            f.problems
        );
        assert!(f.facts.framing_lost);
    }
}
