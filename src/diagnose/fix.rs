//! What to change for each problem: nginx lines, and for a rejection what the status usually
//! means. Data, not logic: one entry per problem.

use std::borrow::Cow;

use serde::Serialize;

use super::{Handshake, Problem};

/// One cure for one problem of a handshake.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Fix {
    pub problem: Problem,
    /// One sentence: what to do. Borrowed when it is the same for every handshake (most are):
    /// a report of thousands of handshakes then holds each sentence once.
    pub advice: Cow<'static, str>,
    /// nginx configuration lines that cure it, when nginx can.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nginx: Option<Cow<'static, str>>,
}

const MAP_CLOSE: &str = "# in the http {} block:
map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      close;
}
# in the location that proxies to the backend:
proxy_set_header Connection $connection_upgrade;";

const MAP_KEEPALIVE: &str =
    "# in the http {} block (keepalive upstream: plain requests keep Connection empty):
map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      '';
}
# in the location that proxies to the backend:
proxy_set_header Connection $connection_upgrade;";

/// The fixes for a judged handshake, one per problem.
pub fn fixes_for(hs: &Handshake) -> Vec<Fix> {
    hs.problems
        .iter()
        .map(|&p| {
            let (advice, nginx): (Cow<'static, str>, Option<&'static str>) = match p {
                Problem::Http10Downgrade => (
                    "make nginx speak HTTP/1.1 to the backend (its default before 1.29.7 is HTTP/1.0, which cannot upgrade)".into(),
                    Some("proxy_http_version 1.1;"),
                ),
                Problem::UpgradeStripped => (
                    "forward the client's Upgrade header: nginx drops it unless told (it is hop-by-hop)".into(),
                    Some("proxy_set_header Upgrade $http_upgrade;"),
                ),
                Problem::ConnectionNotUpgrade => {
                    // An HTTP/1.1 request with no Connection header at all is what a keepalive
                    // upstream (`proxy_set_header Connection ""`, or nginx 1.29.7+) sends.
                    let keepalive =
                        hs.request.version == "HTTP/1.1" && hs.request.connection.is_none();
                    (
                        "send `Connection: upgrade` for handshakes, from a map on $http_upgrade".into(),
                        Some(if keepalive { MAP_KEEPALIVE } else { MAP_CLOSE }),
                    )
                }
                Problem::BackendRejected => {
                    let status = hs.response.as_ref().map_or(0, |r| r.status);
                    (status_meaning(status), None)
                }
                Problem::BadAccept => (
                    "the 101's Sec-WebSocket-Accept does not match the key: something between client and backend rewrote the key or the response; browsers will refuse this connection".into(),
                    None,
                ),
                // Judged with the session (`session.rs`) or across hops (`hops.rs`), which give
                // their own fixes; never among a single handshake's problems here.
                Problem::ClosedWithoutCloseFrame
                | Problem::ProtocolViolation
                | Problem::PathRewritten
                | Problem::NotForwarded
                | Problem::StuckOnPolling => (Cow::Borrowed(""), None),
                Problem::NoResponse => (
                    "the backend did not answer before the connection or the capture ended: check the backend's logs, or capture for longer".into(),
                    None,
                ),
            };
            Fix {
                problem: p,
                advice,
                nginx: nginx.map(Cow::Borrowed),
            }
        })
        .collect()
}

/// What a non-101 answer to an intact handshake usually means.
fn status_meaning(status: u16) -> Cow<'static, str> {
    Cow::Borrowed(match status {
        400 => "400: the backend found the handshake malformed (check Sec-WebSocket-Key and Sec-WebSocket-Version, and that no middleware rewrote them)",
        401 => "401: the backend wants credentials; check that the cookie or token reaches it",
        403 => "403: uvicorn/FastAPI answers 403 to an intact handshake when no WebSocket route matches the path, or when the app refused it before accept (e.g. an Origin check); compare the path with the backend's routes",
        404 => "404: the backend has no route for this path; check the path it received (a proxy_pass with a URI part rewrites it)",
        405 => "405: the route exists but not for GET/WebSocket",
        426 => "426: the backend wants an upgrade it did not see; check that Upgrade and Connection reach it",
        429 => "429: the backend is rate-limiting handshakes",
        500..=599 => "5xx: the backend failed while handling the handshake; check its logs",
        _ => "the backend refused the handshake; its status says why",
    })
}
