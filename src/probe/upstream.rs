//! The upstream hop during a probe (feature `capture`): a live capture on a thread, fed through
//! the same pipeline as `wsdiag capture` (`analyze::InputAnalysis`), and the upstream request
//! that carries the probe's own `Sec-WebSocket-Key` picked out of it.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::analyze::{AnalyzeConfig, InputAnalysis, Merged};
use crate::diagnose::{Handshake, Problem};
use crate::report::{InputInfo, Live};
use crate::source::live::{LiveCapture, LiveConfig, Next, Stopper};

use super::{CaptureArgs, ProbeReport, Upstream};

/// What the capture saw.
pub struct Found {
    pub interface: String,
    pub filter: String,
    pub handshakes: Vec<Handshake>,
    pub wait: Duration,
}

/// A capture running on its own thread.
pub struct Watcher {
    stopper: Stopper,
    /// Keys of the handshakes judged so far.
    keys: Arc<Mutex<Vec<String>>>,
    thread: JoinHandle<Vec<Handshake>>,
    interface: String,
    filter: String,
    wait: Duration,
}

impl Watcher {
    /// Opens the capture (an error, e.g. no permission, is one line) and starts reading.
    pub fn start(args: &CaptureArgs) -> Result<Watcher, String> {
        if args.ports.is_empty() {
            return Err("--capture needs --port N: the backend's port on the upstream hop".into());
        }
        let filter = args
            .ports
            .iter()
            .map(|p| format!("tcp port {p}"))
            .collect::<Vec<_>>()
            .join(" or ");
        let live = LiveConfig {
            interface: args.interface.clone(),
            filter: filter.clone(),
            snaplen: 262_144,
            // A probe is one handshake: a small buffer is plenty.
            buffer_bytes: 8 << 20,
        };
        let mut cfg = AnalyzeConfig::default();
        cfg.tcp.server_ports = args.ports.clone();
        let keys: Arc<Mutex<Vec<String>>> = Arc::default();
        let shared = keys.clone();
        let (tx, rx) = mpsc::channel();
        let name = format!("live:{}", args.interface);
        // The capture is opened on the thread that reads it; it reports back once it listens.
        let thread = std::thread::spawn(move || {
            let mut cap = match LiveCapture::open(&live, None) {
                Ok(c) => {
                    let _ = tx.send(Ok(c.stopper()));
                    c
                }
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                    return Vec::new();
                }
            };
            let mut input = InputAnalysis::new(&name, &cfg);
            let mut note = |item: Live<'_>| {
                if let Live::Handshake(f) = item {
                    if let Some(k) = &f.handshake.key {
                        shared.lock().unwrap().push(k.clone());
                    }
                }
                Ok(())
            };
            loop {
                match cap.next_packet() {
                    Ok(Next::Packet(p)) => input.packet(&p),
                    Ok(Next::Idle) => {}
                    Ok(Next::End) | Err(_) => break,
                }
                let _ = input.drain_finished(&mut note);
            }
            let packets = input.packets();
            let Ok(result) = input.finish(&mut note) else {
                return Vec::new();
            };
            let mut merged = Merged::new(&cfg);
            merged.add(
                InputInfo {
                    path: name,
                    format: "live".into(),
                    link_types: vec![cap.link_type().name()],
                    bytes: 0,
                    packets,
                },
                result,
            );
            merged
                .into_analysis()
                .handshakes
                .into_iter()
                .map(|f| *f.handshake)
                .collect()
        });
        let stopper = match rx.recv() {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e.replace(" capture ", " probe --capture "));
            }
            Err(_) => return Err("the capture thread died".into()),
        };
        Ok(Watcher {
            stopper,
            keys,
            thread,
            interface: args.interface.clone(),
            filter,
            wait: args.wait,
        })
    }

    /// Waits (at most the wait time) until a handshake with each of `keys` was judged, then
    /// stops the capture and returns every handshake it saw.
    pub fn finish(self, keys: &[String]) -> Result<Found, String> {
        let deadline = Instant::now() + self.wait;
        while Instant::now() < deadline {
            let seen = self.keys.lock().unwrap();
            if keys.iter().all(|k| seen.contains(k)) {
                break;
            }
            drop(seen);
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stopper.stop();
        let handshakes = self
            .thread
            .join()
            .map_err(|_| "the capture thread panicked".to_string())?;
        Ok(Found {
            interface: self.interface,
            filter: self.filter,
            handshakes,
            wait: self.wait,
        })
    }
}

/// The backend's view of probe `p`: its upstream handshake (if any) and what the proxy changed.
pub fn view(p: &ProbeReport, hs: Option<Handshake>, found: &Found) -> Upstream {
    let Some(h) = hs else {
        return Upstream {
            interface: found.interface.clone(),
            filter: found.filter.clone(),
            handshake: None,
            problems: vec![Problem::NotForwarded.code()],
            summary: format!(
                "not_forwarded: no request with the probe's Sec-WebSocket-Key crossed {} ({}) within {:.1} s of the answer: the proxy answered by itself (wrong location, a site file that is not enabled, or another server block won){}",
                found.interface,
                found.filter,
                found.wait.as_secs_f64(),
                match p.response.as_ref() {
                    Some(a) => format!("; it returned {} {}", a.status, a.reason),
                    None => String::new(),
                }
            ),
        };
    };
    let r = &h.request;
    let mut changes: Vec<String> = Vec::new();
    let sent_target = p
        .sent
        .request_line
        .strip_prefix("GET ")
        .and_then(|l| l.strip_suffix(" HTTP/1.1"))
        .unwrap_or("");
    if r.target != sent_target {
        changes.push(format!("rewrote the target to `{}`", r.target));
    }
    let upgrade_ok = r
        .upgrade
        .as_deref()
        .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    let connection_ok = r.connection.as_deref().is_some_and(|c| {
        c.split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
    });
    match (upgrade_ok, connection_ok, r.connection.as_deref()) {
        (false, false, None) => changes.push("removed Upgrade and Connection".into()),
        (false, false, Some(c)) => {
            changes.push("removed Upgrade".into());
            changes.push(format!(
                "replaced `Connection: Upgrade` with `Connection: {c}`"
            ));
        }
        (false, true, _) => changes.push("removed Upgrade".into()),
        (true, false, None) => changes.push("removed Connection".into()),
        (true, false, Some(c)) => changes.push(format!(
            "replaced `Connection: Upgrade` with `Connection: {c}`"
        )),
        (true, true, _) => {}
    }
    if r.version == "HTTP/1.0" {
        changes.push("downgraded to HTTP/1.0".into());
    }
    let proxy = if changes.is_empty() {
        "the proxy forwarded the handshake intact".to_string()
    } else {
        format!("the proxy {}", join_and(&changes))
    };
    let backend = match &h.response {
        Some(resp) => {
            let who = resp.backend.map(|b| format!(" ({b})")).unwrap_or_default();
            let proxy_status = p.response.as_ref().map(|a| a.status);
            let passed = match proxy_status {
                Some(s) if s != resp.status => format!(", the proxy returned {s} instead"),
                _ => String::new(),
            };
            format!(
                "the backend answered {} {}{who}{passed}",
                resp.status, resp.reason
            )
        }
        None => "the backend did not answer".into(),
    };
    Upstream {
        interface: found.interface.clone(),
        filter: found.filter.clone(),
        problems: h.problems.iter().map(|p| p.code()).collect(),
        summary: format!("{proxy}; {backend}"),
        handshake: Some(h),
    }
}

fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}
