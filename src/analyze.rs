//! The pipeline that ties the stages together for one run: for each input, packets from
//! `source` are decoded, reassembled by `tcp`, parsed by `http` and judged by `diagnose`; the
//! result is one [`Analysis`] for `report`. Data flows one way; this module only routes it.

use std::collections::{BTreeMap, HashMap};

use crate::common::{Direction, PacketRef, Timestamp, Warning};
use crate::decode::{decode, Decoded};
use crate::diagnose::{DiagnoseConfig, Diagnoser};
use crate::http::{HttpConfig, HttpConn, HttpEvent};
use crate::report::{Analysis, Finding, InputInfo, InputWarning};
use crate::source::{CaptureReader, SourceError};
use crate::tcp::{ConnId, ConnInfo, ConnTable, StreamEvent, StreamSink, TcpConfig};

/// Warnings listed per code; more are counted, not listed.
const WARNINGS_PER_CODE: u64 = 20;

/// Everything `analyze` needs to know, parsed once from the command line.
#[derive(Clone, Debug, Default)]
pub struct AnalyzeConfig {
    pub tcp: TcpConfig,
    pub http: HttpConfig,
    pub diagnose: DiagnoseConfig,
}

/// Analyses the inputs one after the other and merges what they hold.
pub fn analyze(inputs: &[String], cfg: &AnalyzeConfig) -> Result<Analysis, AnalyzeError> {
    let mut analysis = Analysis {
        redacted: !cfg.diagnose.no_redact,
        ..Analysis::default()
    };
    let mut warnings = WarningLog::default();
    for path in inputs {
        let mut reader = CaptureReader::open(path)?;
        let bytes = std::fs::metadata(path)
            .ok()
            .filter(|m| m.is_file())
            .map_or(0, |m| m.len());
        let mut sink = Sink {
            http_config: cfg.http.clone(),
            conns: HashMap::new(),
            diag: Diagnoser::new(cfg.diagnose.clone()),
            warnings: Vec::new(),
        };
        let mut table = ConnTable::new(cfg.tcp.clone());
        let mut packets = 0u64;
        let mut tcp_packets = 0u64;
        let (mut first, mut last): (Option<Timestamp>, Option<Timestamp>) = (None, None);
        loop {
            let packet = match reader.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => {
                    sink.warnings.push(Warning {
                        packet: None,
                        code: "read_error",
                        message: format!("{e}; stopped reading"),
                    });
                    break;
                }
            };
            packets += 1;
            first.get_or_insert(packet.ts);
            last = Some(packet.ts);
            let at = PacketRef {
                number: packet.number,
                ts: packet.ts,
            };
            match decode(&packet) {
                Decoded::Tcp(seg) => {
                    tcp_packets += 1;
                    table.process(at, &seg, &mut sink);
                }
                Decoded::Other => {}
                Decoded::Malformed(e) => sink.warnings.push(Warning {
                    packet: Some(packet.number),
                    code: "malformed_packet",
                    message: e.to_string(),
                }),
            }
        }
        let format = reader.format().name().to_string();
        let link_types = reader.link_types().iter().map(|l| l.name()).collect();
        let bytes_read = reader.bytes_read();
        for w in reader.take_warnings() {
            warnings.push(path, w);
        }
        table.finish(&mut sink);
        let stats = table.stats();
        let Sink {
            diag,
            warnings: sink_warnings,
            ..
        } = sink;
        let findings = diag.finish_all();
        for w in sink_warnings.into_iter().chain(findings.warnings) {
            warnings.push(path, w);
        }

        analysis.inputs.push(InputInfo {
            path: path.clone(),
            format,
            link_types,
            bytes: if bytes > 0 { bytes } else { bytes_read },
            packets,
        });
        let s = &mut analysis.summary;
        s.packets += packets;
        s.tcp_packets += tcp_packets;
        s.connections += stats.connections;
        s.http_requests += findings.counts.http_requests;
        s.http_responses += findings.counts.http_responses;
        s.handshakes += findings.counts.handshakes;
        s.requests_not_captured_whole += findings.counts.requests_not_captured_whole;
        for (v, n) in &findings.counts.by_verdict {
            *s.by_verdict.entry(v).or_default() += n;
        }
        for h in &findings.handshakes {
            for p in &h.problems {
                *s.by_problem.entry(p.code()).or_default() += 1;
            }
        }
        s.first_packet_ts = min_opt(s.first_packet_ts, first);
        s.last_packet_ts = s.last_packet_ts.max(last);
        analysis
            .handshakes
            .extend(findings.handshakes.into_iter().map(|handshake| Finding {
                input: path.clone(),
                handshake,
            }));
        analysis.plain.extend(findings.plain);
    }
    analysis.summary.warnings = warnings.total;
    analysis.warnings = warnings.listed;
    analysis.warnings_not_listed = warnings.not_listed;
    Ok(analysis)
}

fn min_opt(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Why an analysis could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// Warnings kept for the report: the first few of each code, the rest counted.
#[derive(Default)]
struct WarningLog {
    listed: Vec<InputWarning>,
    per_code: BTreeMap<&'static str, u64>,
    not_listed: BTreeMap<&'static str, u64>,
    total: u64,
}

impl WarningLog {
    fn push(&mut self, input: &str, w: Warning) {
        self.total += 1;
        let n = self.per_code.entry(w.code).or_default();
        *n += 1;
        if *n <= WARNINGS_PER_CODE {
            self.listed.push(InputWarning::new(input, w));
        } else {
            *self.not_listed.entry(w.code).or_default() += 1;
        }
    }
}

/// Receives reassembled stream events, keeps one HTTP parser per live connection and passes
/// HTTP events to the diagnosis.
struct Sink {
    http_config: HttpConfig,
    conns: HashMap<ConnId, Conn>,
    diag: Diagnoser,
    warnings: Vec<Warning>,
}

/// What the sink keeps per live connection.
struct Conn {
    http: HttpConn,
    /// Who is who as the HTTP stage sees it (roles swapped when the bytes say so).
    info: ConnInfo,
    /// Whether the TCP stage's roles are the wrong way round; decided by the first bytes.
    swapped: Option<bool>,
}

impl Conn {
    /// When the capture missed the SYN the TCP stage guesses roles from ports. The first bytes
    /// settle it: a response travelling "to the server", or a request travelling "to the
    /// client", means the guess was wrong.
    fn decide_roles(&mut self, dir: Direction, bytes: &[u8]) {
        if self.swapped.is_some() || bytes.is_empty() {
            return;
        }
        let looks_like_response = bytes.starts_with(b"HTTP/1.");
        let looks_like_request = looks_like_request_line(bytes);
        let swapped = match dir {
            Direction::ToServer => looks_like_response,
            Direction::ToClient => looks_like_request,
        };
        if swapped {
            std::mem::swap(&mut self.info.client, &mut self.info.server);
        }
        self.swapped = Some(swapped);
    }
}

/// `METHOD SP` at the start of a stream: an uppercase token of 3 to 16 characters and a space.
fn looks_like_request_line(b: &[u8]) -> bool {
    let n = b
        .iter()
        .take(17)
        .take_while(|c| c.is_ascii_uppercase())
        .count();
    (3..=16).contains(&n) && b.get(n) == Some(&b' ')
}

impl StreamSink for Sink {
    fn event(&mut self, conn: &ConnInfo, at: PacketRef, ev: StreamEvent<'_>) {
        if let StreamEvent::Opened = ev {
            self.conns.insert(
                conn.id,
                Conn {
                    http: HttpConn::new(&self.http_config),
                    info: conn.clone(),
                    swapped: None,
                },
            );
            return;
        }
        let Some(c) = self.conns.get_mut(&conn.id) else {
            return;
        };
        if let StreamEvent::Data { dir, bytes } = ev {
            c.decide_roles(dir, bytes);
        }
        let swapped = c.swapped == Some(true);
        let http_dir = |dir: Direction| if swapped { dir.reverse() } else { dir };
        let diag = &mut self.diag;
        let info = &c.info;
        let mut deliver = |e: HttpEvent<'_>| diag.http_event(info, at, &e);
        match ev {
            StreamEvent::Opened => {}
            StreamEvent::Data { dir, bytes } => c.http.data(http_dir(dir), bytes, &mut deliver),
            StreamEvent::Gap { dir, len } => c.http.gap(http_dir(dir), len, &mut deliver),
            StreamEvent::Fin { dir } | StreamEvent::Rst { dir } => {
                c.http.end(http_dir(dir), &mut deliver)
            }
            StreamEvent::Closed => {
                c.http.end(Direction::ToServer, &mut deliver);
                c.http.end(Direction::ToClient, &mut deliver);
                diag.connection_closed(info);
                self.conns.remove(&conn.id);
            }
        }
    }

    fn warning(&mut self, w: Warning) {
        self.warnings.push(w);
    }
}
