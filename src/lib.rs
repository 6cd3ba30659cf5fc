//! wsdiag: diagnose broken WebSocket upgrades behind reverse proxies from packets.
pub mod common;
pub mod decode;
pub mod http;
pub mod source;
pub mod tcp;
pub mod ws;
