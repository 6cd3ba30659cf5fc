//! HTTP/1.x stage: owns the parsing of one connection's reassembled byte streams (requests
//! `ToServer`, responses `ToClient`) into message events, indifferent to where chunks split.
//! It receives `data` / `gap` / `end` calls from the TCP stage in capture order and hands
//! [`HttpEvent`]s (heads, body ends, request/response pairing, tunnel start, losses, desyncs and
//! anomalies) to the diagnose stage. It never invents what a gap hid: a head cut by a gap is
//! reported as [`HttpEvent::Lost`] with its captured prefix, and parsing in that direction stops
//! until the next recognisable start line.
//!
//! Layout: `scan` finds start lines and head ends, `head` turns head bytes into
//! [`RequestHead`] / [`ResponseHead`], `body` frames bodies, `conn` is the state machine.

mod body;
mod conn;
mod head;
mod scan;
#[cfg(test)]
mod tests;

pub use conn::{HeadBuffers, HttpConfig, HttpConn, HttpEvent, MAX_PENDING};
pub use head::{Header, Headers, RequestHead, ResponseHead};
pub(crate) use head::{SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE};
