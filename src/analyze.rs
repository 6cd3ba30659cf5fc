//! The pipeline that ties the stages together for one run: for each input, packets from
//! `source` are decoded, reassembled by `tcp`, parsed by `http` and judged by `diagnose`; the
//! result is one [`Analysis`] for `report`. Data flows one way; this module only routes it.

use std::collections::BTreeMap;
use std::io;

use crate::common::{Direction, PacketRef, Timestamp, Warning};
use crate::decode::{decode, Decoded, TcpSegment};
use crate::diagnose::{DiagnoseConfig, Diagnoser, Findings, Handshake, NotListed, SessionFinding};
use crate::http::{HeadBuffers, HttpConfig, HttpConn, HttpEvent};
use crate::report::{Analysis, Finding, InputInfo, InputWarning, Live, SessionRecord, StuckRecord};
use crate::source::{CaptureReader, Packet, SourceError};
use crate::tcp::{ConnInfo, ConnMap, ConnTable, StreamEvent, StreamSink, TcpConfig};
use crate::ws::session::Session;

/// Warnings listed per code; more are counted, not listed.
const WARNINGS_PER_CODE: u64 = 20;

/// Everything `analyze` needs to know, parsed once from the command line.
#[derive(Clone, Debug, Default)]
pub struct AnalyzeConfig {
    /// Ports whose connections carry WebSocket frames from the capture's start
    /// (`--decode-as websocket:PORT`).
    pub decode_as_websocket: Vec<u16>,
    pub tcp: TcpConfig,
    pub http: HttpConfig,
    pub diagnose: DiagnoseConfig,
    /// Draw a progress bar on stderr for long files (only when stderr is a terminal).
    pub progress: bool,
}

/// Files smaller than this get no progress bar: they are done before it would be read.
const PROGRESS_MIN_BYTES: u64 = 64 << 20;

/// A progress bar over one file's bytes, on stderr; hidden when not wanted.
fn progress_bar(
    bars: &indicatif::MultiProgress,
    path: &str,
    cfg: &AnalyzeConfig,
) -> indicatif::ProgressBar {
    let size = std::fs::metadata(path).map_or(0, |m| m.len());
    if !cfg.progress || size < PROGRESS_MIN_BYTES {
        return indicatif::ProgressBar::hidden();
    }
    let bar = bars.add(indicatif::ProgressBar::new(size));
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(path.to_string());
    bar
}

/// A live capture's settings.
#[derive(Clone, Debug)]
pub struct CaptureSpec {
    pub interface: String,
    /// The kernel (BPF) filter.
    pub filter: String,
    pub snaplen: i32,
    /// Kernel capture buffer, bytes.
    pub buffer_bytes: i32,
    pub write: Option<std::path::PathBuf>,
    pub duration: Option<std::time::Duration>,
    pub count: Option<u64>,
    /// Connections silent this long are closed and dropped, so memory stays flat over hours.
    pub idle_timeout: std::time::Duration,
}

/// Captures live until Ctrl-C, SIGTERM, `duration` or `count`, through the same pipeline as a
/// file. `on_start` is called once the capture is open (to tell the user it is listening).
#[cfg(feature = "capture")]
pub fn capture(
    spec: &CaptureSpec,
    cfg: &AnalyzeConfig,
    on_start: &mut dyn FnMut(&str),
    on_finding: &mut dyn FnMut(Live<'_>) -> io::Result<()>,
) -> Result<Analysis, AnalyzeError> {
    use crate::report::CaptureInfo;
    use crate::source::live::{LiveCapture, LiveConfig, Next};

    let live = LiveConfig {
        interface: spec.interface.clone(),
        filter: spec.filter.clone(),
        snaplen: spec.snaplen,
        buffer_bytes: spec.buffer_bytes,
    };
    let mut cap = LiveCapture::open(&live, spec.write.as_deref())?;
    let stopper = cap.stopper();
    {
        let s = stopper.clone();
        // Ctrl-C, SIGTERM and SIGHUP. Only one handler per process: a second capture in the same
        // process (tests) keeps the first one's, which is harmless.
        let _ = ctrlc::set_handler(move || s.stop());
    }
    if let Some(d) = spec.duration {
        let s = stopper.clone();
        std::thread::spawn(move || {
            std::thread::sleep(d);
            s.stop();
        });
    }
    let name = format!("live:{}", spec.interface);
    on_start(&format!(
        "capturing on {} ({}, {}); Ctrl-C to stop",
        spec.interface,
        spec.filter,
        cap.link_type().name()
    ));
    let mut input = InputAnalysis::new(&name, cfg);
    let mut result = Ok(());
    let idle_ns = i64::try_from(spec.idle_timeout.as_nanos()).unwrap_or(i64::MAX);
    let mut last_sweep = std::time::Instant::now();
    loop {
        let mut now = None;
        match cap.next_packet()? {
            Next::Packet(p) => {
                now = Some(p.ts);
                input.packet(&p);
            }
            Next::Idle => {}
            Next::End => break,
        }
        // Once a second: close connections idle longer than the timeout (by capture time, or
        // by the clock when no packet came).
        if last_sweep.elapsed() >= std::time::Duration::from_secs(1) {
            last_sweep = std::time::Instant::now();
            let now = now.unwrap_or_else(|| {
                let d = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                Timestamp::from_parts(d.as_secs() as i64, d.subsec_nanos())
            });
            input.evict_idle(now, idle_ns);
        }
        if let Err(e) = input.drain_finished(on_finding) {
            result = Err(e);
            break;
        }
        if spec.count.is_some_and(|n| input.packets() >= n) {
            break;
        }
    }
    let drops = cap.drops();
    if let Some(e) = cap.tee_error() {
        input.warning(Warning {
            packet: None,
            code: "write_error",
            message: format!("saving packets stopped: {e}"),
        });
    }
    if drops.dropped > 0 || drops.if_dropped > 0 {
        input.warning(Warning {
            packet: None,
            code: "packets_dropped",
            message: format!(
                "{} packets dropped by libpcap and {} by the interface: verdicts on the affected connections may be incomplete; capture a narrower filter or raise the buffer",
                drops.dropped, drops.if_dropped
            ),
        });
    }
    result?;
    let info = InputInfo {
        path: name,
        format: "live".into(),
        link_types: vec![cap.link_type().name()],
        bytes: 0,
        packets: input.packets(),
    };
    let mut merged = Merged::new(cfg);
    merged.add(info, input.finish(on_finding)?);
    let mut analysis = merged.into_analysis();
    analysis.capture = Some(CaptureInfo {
        interface: spec.interface.clone(),
        filter: spec.filter.clone(),
        link_type: cap.link_type().name(),
        dropped: u64::from(drops.dropped),
        if_dropped: u64::from(drops.if_dropped),
        saved_to: spec.write.as_ref().map(|p| p.display().to_string()),
    });
    Ok(analysis)
}

/// Analyses the inputs and merges what they hold. `on_finding` sees each handshake as soon as
/// its verdict is known (for live output); the returned [`Analysis`] holds them all, in
/// capture order.
///
/// A directory stands for the capture files in it, by name. With `jobs` above 1 and several
/// files (and no stdin), up to `jobs` files are analysed at once, each on its own thread; the
/// results, and what `on_finding` sees, are then handed on in input order, so the report is
/// the same as a sequential run's, byte for byte. (Live output then comes file by file, as each
/// is done, rather than packet by packet.)
pub fn analyze(
    inputs: &[String],
    cfg: &AnalyzeConfig,
    jobs: usize,
    on_finding: &mut dyn FnMut(Live<'_>) -> io::Result<()>,
) -> Result<Analysis, AnalyzeError> {
    let inputs = expand_directories(inputs)?;
    let bars = indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr());
    let mut merged = Merged::new(cfg);
    let jobs = jobs.clamp(1, inputs.len().max(1));
    if jobs == 1 || inputs.iter().any(|p| p == "-") {
        for path in &inputs {
            let (info, result) = analyze_input(path, cfg, &bars, on_finding)?;
            merged.add(info, result);
        }
        return Ok(merged.into_analysis());
    }
    for done in analyze_in_parallel(&inputs, cfg, jobs, &bars) {
        let Done { outcome, live } = done;
        // Replayed in input order; an input that failed stops the run where a sequential run
        // would have stopped, after the live items before the failure.
        for item in &live {
            on_finding(item.as_live())?;
        }
        let (info, result) = outcome?;
        merged.add(info, result);
    }
    Ok(merged.into_analysis())
}

/// What one input gave on a worker thread: its result, and the live items in the order a
/// sequential run would have shown them.
struct Done {
    outcome: Result<(InputInfo, InputResult), AnalyzeError>,
    live: Vec<LiveItem>,
}

enum LiveItem {
    Handshake(Box<Finding>),
    Session(Box<SessionRecord>),
}

impl LiveItem {
    fn as_live(&self) -> Live<'_> {
        match self {
            LiveItem::Handshake(f) => Live::Handshake(f),
            LiveItem::Session(s) => Live::Session(s),
        }
    }
}

/// Analyses `inputs` on `jobs` threads (each takes the next file not yet taken); the results
/// come back in input order.
fn analyze_in_parallel(
    inputs: &[String],
    cfg: &AnalyzeConfig,
    jobs: usize,
    bars: &indicatif::MultiProgress,
) -> Vec<Done> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Done>>> = inputs.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = inputs.get(i) else { break };
                let mut live = Vec::new();
                let outcome = analyze_input(path, cfg, bars, &mut |item| {
                    live.push(match item {
                        Live::Handshake(f) => LiveItem::Handshake(Box::new(f.clone())),
                        Live::Session(s) => LiveItem::Session(Box::new(s.clone())),
                    });
                    Ok(())
                });
                *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(Done { outcome, live });
            });
        }
    });
    slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every input was analysed")
        })
        .collect()
}

/// Capture files are recognised in a directory by these extensions.
const CAPTURE_EXTENSIONS: [&str; 3] = ["pcap", "pcapng", "cap"];

/// Each directory among `inputs` replaced by the capture files in it, sorted by name.
fn expand_directories(inputs: &[String]) -> Result<Vec<String>, AnalyzeError> {
    let mut out = Vec::new();
    for input in inputs {
        let path = std::path::Path::new(input);
        if input == "-" || !path.is_dir() {
            out.push(input.clone());
            continue;
        }
        let entries = std::fs::read_dir(path).map_err(|source| SourceError::Open {
            path: input.clone(),
            source,
        })?;
        let mut files: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| CAPTURE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
            })
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        if files.is_empty() {
            return Err(SourceError::IsDirectory {
                path: input.clone(),
            }
            .into());
        }
        files.sort();
        out.extend(files);
    }
    Ok(out)
}

/// One input, start to end.
fn analyze_input(
    path: &str,
    cfg: &AnalyzeConfig,
    bars: &indicatif::MultiProgress,
    on_finding: &mut dyn FnMut(Live<'_>) -> io::Result<()>,
) -> Result<(InputInfo, InputResult), AnalyzeError> {
    let mut reader = CaptureReader::open(path)?;
    let mut input = InputAnalysis::new(path, cfg);
    let bar = progress_bar(bars, path, cfg);
    loop {
        if input.packets.is_multiple_of(4096) && !bar.is_hidden() {
            bar.set_position(reader.bytes_read());
        }
        match reader.next_packet() {
            Ok(Some(packet)) => input.packet(&packet),
            Ok(None) => break,
            Err(e) => {
                input.warning(Warning {
                    packet: None,
                    code: "read_error",
                    message: format!("{e}; stopped reading"),
                });
                break;
            }
        }
        input.drain_finished(on_finding)?;
    }
    bar.finish_and_clear();
    for w in reader.take_warnings() {
        input.warning(w);
    }
    let bytes = std::fs::metadata(path)
        .ok()
        .filter(|m| m.is_file())
        .map_or(reader.bytes_read(), |m| m.len());
    let info = InputInfo {
        path: path.to_string(),
        format: reader.format().name().to_string(),
        link_types: reader.link_types().iter().map(|l| l.name()).collect(),
        bytes,
        packets: input.packets,
    };
    Ok((info, input.finish(on_finding)?))
}

/// One input being analysed: feed it packets in capture order; it routes them through decode,
/// reassembly, HTTP and the diagnosis, and hands out handshakes as their verdicts are known.
pub struct InputAnalysis {
    name: String,
    table: ConnTable,
    sink: Sink,
    /// The diagnosis's warnings (HTTP anomalies), taken from it as they come so a flood of
    /// them is counted, not kept.
    diag_warnings: CappedWarnings,
    /// Handshakes and sessions already handed out, kept for the final report.
    /// Boxed: see `Diagnoser::done`.
    #[allow(clippy::vec_box)]
    handed_out: Vec<Box<Handshake>>,
    sessions_handed_out: Vec<SessionFinding>,
    /// How many of each the report lists (`--max-listed`), and what it leaves out.
    max_listed: usize,
    not_listed: NotListed,
    hop_hints: crate::diagnose::hops::HopHints,
    packets: u64,
    tcp_packets: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

/// What one input held, once it ended.
pub struct InputResult {
    name: String,
    /// Warnings beyond the first few of their code, counted by code (not in `findings`).
    warnings_not_kept: BTreeMap<&'static str, u64>,
    findings: Findings,
    connections: u64,
    packets: u64,
    tcp_packets: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

impl InputAnalysis {
    pub fn new(name: &str, cfg: &AnalyzeConfig) -> InputAnalysis {
        InputAnalysis {
            name: name.to_string(),
            table: ConnTable::new(cfg.tcp.clone()),
            sink: Sink {
                tls_seen: false,
                http_config: cfg.http.clone(),
                decode_as_websocket: cfg.decode_as_websocket.clone(),
                conns: ConnMap::default(),
                heads: HeadBuffers::default(),
                held_total: 0,
                diag: Diagnoser::new(cfg.diagnose.clone()),
                warnings: CappedWarnings::default(),
            },
            diag_warnings: CappedWarnings::default(),
            handed_out: Vec::new(),
            sessions_handed_out: Vec::new(),
            max_listed: cfg.diagnose.max_listed,
            not_listed: NotListed::default(),
            hop_hints: cfg.diagnose.hops.clone(),
            packets: 0,
            tcp_packets: 0,
            first: None,
            last: None,
        }
    }

    /// Packets seen so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// One captured packet.
    pub fn packet(&mut self, packet: &Packet<'_>) {
        self.packets += 1;
        self.first.get_or_insert(packet.ts);
        self.last = Some(packet.ts);
        let at = PacketRef {
            number: packet.number,
            ts: packet.ts,
        };
        match decode(packet) {
            Decoded::Tcp(seg) => self.tcp(at, &seg),
            Decoded::Other => {}
            Decoded::Malformed(e) => self.sink.warnings.push(Warning {
                packet: Some(packet.number),
                code: "malformed_packet",
                message: e.to_string(),
            }),
        }
    }

    /// One decoded TCP segment of packet `at` (already counted by [`InputAnalysis::packet`]).
    fn tcp(&mut self, at: PacketRef, seg: &TcpSegment<'_>) {
        self.tcp_packets += 1;
        self.table.process(at, seg, &mut self.sink);
    }

    /// A TCP segment that did not come from a capture (fuzzing and tests build them directly):
    /// counted as one packet, then reassembled, parsed and diagnosed like a decoded one.
    pub fn segment(&mut self, at: PacketRef, seg: &TcpSegment<'_>) {
        self.packets += 1;
        self.first.get_or_insert(at.ts);
        self.last = Some(at.ts);
        self.tcp(at, seg);
    }

    /// Closes connections with no segment for longer than `idle_ns` before `now` (live
    /// capture housekeeping; their handshakes and sessions are judged as at the end).
    pub fn evict_idle(&mut self, now: Timestamp, idle_ns: i64) {
        self.table.evict_idle(now, idle_ns, &mut self.sink);
    }

    /// Something odd about the input itself.
    pub fn warning(&mut self, w: Warning) {
        self.sink.warnings.push(w);
    }

    /// Hands each handshake and session judged since the last call to `f`; stops at `f`'s
    /// first error.
    pub fn drain_finished(
        &mut self,
        f: &mut dyn FnMut(Live<'_>) -> io::Result<()>,
    ) -> io::Result<()> {
        // Called after every packet; almost always there is nothing.
        if !self.sink.diag.has_output() {
            return Ok(());
        }
        for w in self.sink.diag.take_warnings() {
            self.diag_warnings.push(w);
        }
        for handshake in self.sink.diag.take_finished() {
            let finding = Finding {
                input: self.name.clone(),
                handshake,
                nginx: None,
            };
            let r = f(Live::Handshake(&finding));
            keep_first(
                &mut self.handed_out,
                [finding.handshake],
                self.max_listed,
                |h| self.not_listed.handshake(&h),
            );
            r?;
        }
        for session in self.sink.diag.take_finished_sessions() {
            let record = SessionRecord {
                input: self.name.clone(),
                session,
            };
            let r = f(Live::Session(&record));
            keep_first(
                &mut self.sessions_handed_out,
                [record.session],
                self.max_listed,
                |s| self.not_listed.session(&s),
            );
            r?;
        }
        Ok(())
    }

    /// The input ended: flush every connection, hand out the last handshakes.
    pub fn finish(
        mut self,
        f: &mut dyn FnMut(Live<'_>) -> io::Result<()>,
    ) -> io::Result<InputResult> {
        self.table.finish(&mut self.sink);
        self.drain_finished(f)?;
        let stats = self.table.stats();
        let Sink { diag, warnings, .. } = self.sink;
        let mut findings = diag.finish_all();
        // Those judged only now come after the ones handed out: the first judged are listed.
        let late = std::mem::replace(&mut findings.handshakes, self.handed_out);
        keep_first(&mut findings.handshakes, late, self.max_listed, |h| {
            self.not_listed.handshake(&h)
        });
        findings.handshakes.sort_by_key(|h| h.request_packet);
        crate::diagnose::hops::correlate(&mut findings.handshakes, &findings.seen, &self.hop_hints);
        findings.stuck_on_polling = findings.polling.judge(&findings.handshakes);
        let late = std::mem::replace(&mut findings.sessions, self.sessions_handed_out);
        keep_first(&mut findings.sessions, late, self.max_listed, |s| {
            self.not_listed.session(&s)
        });
        findings.not_listed.add(&self.not_listed);
        findings
            .sessions
            .sort_by_key(|s| (s.handshake_packet, s.connection));
        let mut all_warnings = warnings;
        all_warnings.append(self.diag_warnings);
        for w in std::mem::take(&mut findings.warnings) {
            all_warnings.push(w);
        }
        findings.warnings = all_warnings.kept;
        Ok(InputResult {
            warnings_not_kept: all_warnings.not_kept,
            name: self.name,
            findings,
            connections: stats.connections,
            packets: self.packets,
            tcp_packets: self.tcp_packets,
            first: self.first,
            last: self.last,
        })
    }
}

/// Several inputs' results merged into one analysis.
pub struct Merged {
    analysis: Analysis,
    warnings: WarningLog,
    /// How many of each the merged report lists, what it leaves out, and the first input
    /// that left something out.
    max_listed: usize,
    not_listed: NotListed,
    first_not_listed: Option<String>,
}

impl Merged {
    pub fn new(cfg: &AnalyzeConfig) -> Merged {
        Merged {
            analysis: Analysis {
                redacted: !cfg.diagnose.no_redact,
                ..Analysis::default()
            },
            warnings: WarningLog::default(),
            max_listed: cfg.diagnose.max_listed,
            not_listed: NotListed::default(),
            first_not_listed: None,
        }
    }

    pub fn add(&mut self, info: InputInfo, r: InputResult) {
        let a = &mut self.analysis;
        a.inputs.push(info);
        let f = r.findings;
        let s = &mut a.summary;
        s.packets += r.packets;
        s.tcp_packets += r.tcp_packets;
        s.connections += r.connections;
        s.http_requests += f.counts.http_requests;
        s.http_responses += f.counts.http_responses;
        s.handshakes += f.counts.handshakes;
        s.requests_not_captured_whole += f.counts.requests_not_captured_whole;
        s.sessions += f.counts.sessions;
        for (p, n) in &f.counts.other_upgrades {
            *s.other_upgrades.entry(p.clone()).or_default() += n;
        }
        // From the handshakes, not the running counts: pairing the hops can change verdicts.
        // Those the input left out of its lists were counted as they were left out.
        for h in &f.handshakes {
            *s.by_verdict.entry(h.verdict.name()).or_default() += 1;
        }
        let problems = f.handshakes.iter().flat_map(|h| &h.problems);
        for p in problems.chain(f.sessions.iter().flat_map(|s| &s.problems)) {
            *s.by_problem.entry(p.code()).or_default() += 1;
        }
        for (v, n) in &f.not_listed.by_verdict {
            *s.by_verdict.entry(v).or_default() += n;
        }
        for (p, n) in &f.not_listed.by_problem {
            *s.by_problem.entry(p).or_default() += n;
        }
        s.first_packet_ts = min_opt(s.first_packet_ts, r.first);
        s.last_packet_ts = s.last_packet_ts.max(r.last);
        for w in f.warnings {
            self.warnings.push(&r.name, w);
        }
        for (code, n) in r.warnings_not_kept {
            self.warnings.count_unlisted(code, n);
        }
        // The lists hold at most `max_listed` of each over all inputs, the first inputs' first.
        let mut left_out = f.not_listed;
        let handshakes = f.handshakes.into_iter().map(|handshake| Finding {
            input: r.name.clone(),
            handshake,
            nginx: None,
        });
        keep_first(&mut a.handshakes, handshakes, self.max_listed, |f| {
            left_out.handshake(&f.handshake)
        });
        let sessions = f.sessions.into_iter().map(|session| SessionRecord {
            input: r.name.clone(),
            session,
        });
        keep_first(&mut a.sessions, sessions, self.max_listed, |s| {
            left_out.session(&s.session)
        });
        keep_first(&mut a.plain, f.plain, self.max_listed, |_| {
            left_out.plain += 1
        });
        if !left_out.is_empty() {
            self.first_not_listed.get_or_insert_with(|| r.name.clone());
            self.not_listed.add(&left_out);
        }
        for p in f.stuck_on_polling {
            *a.summary.by_problem.entry(p.problem.code()).or_default() += 1;
            a.stuck_on_polling.push(StuckRecord {
                input: r.name.clone(),
                stuck: p,
            });
        }
    }

    pub fn into_analysis(mut self) -> Analysis {
        if let Some(input) = &self.first_not_listed {
            let n = &self.not_listed;
            let parts: Vec<String> = [
                (n.handshakes, "handshake"),
                (n.sessions, "session"),
                (n.plain, "plain request"),
            ]
            .iter()
            .filter(|(count, _)| *count > 0)
            .map(|&(count, what)| crate::common::plural(count, what))
            .collect();
            self.warnings.push(
                input,
                Warning {
                    packet: None,
                    code: "report_limit",
                    message: format!(
                        "the lists hold the first {} of each: {} more were judged and are counted in the summary (by verdict and problem) but not listed, nor paired across hops; raise the limit with --max-listed",
                        self.max_listed,
                        parts.join(", ")
                    ),
                },
            );
        }
        self.analysis.summary.warnings = self.warnings.total;
        self.analysis.summary.by_warning = self.warnings.per_code;
        self.analysis.warnings = self.warnings.listed;
        self.analysis.warnings_not_listed = self.warnings.not_listed;
        self.analysis
    }
}

/// Appends `more` to `list` while it holds fewer than `max` (`--max-listed`); hands each of the
/// rest to `left_out`, to be counted.
fn keep_first<T>(
    list: &mut Vec<T>,
    more: impl IntoIterator<Item = T>,
    max: usize,
    mut left_out: impl FnMut(T),
) {
    for item in more {
        if list.len() < max {
            list.push(item);
        } else {
            left_out(item);
        }
    }
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
    /// Writing the live report failed (a closed stdout is one case).
    #[error("writing the report: {0}")]
    Output(#[from] io::Error),
    #[cfg(feature = "capture")]
    #[error(transparent)]
    Capture(#[from] crate::source::live::CaptureError),
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
    /// `n` more warnings of `code` that were counted but not kept.
    fn count_unlisted(&mut self, code: &'static str, n: u64) {
        self.total += n;
        *self.per_code.entry(code).or_default() += n;
        *self.not_listed.entry(code).or_default() += n;
    }

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

/// One input's warnings as they happen: the first [`WARNINGS_PER_CODE`] of each code are kept
/// (more would never be listed), the rest only counted, so memory stays bounded however many
/// there are (a SYN flood makes one `connection_limit` warning per SYN).
#[derive(Default)]
struct CappedWarnings {
    kept: Vec<Warning>,
    per_code: BTreeMap<&'static str, u64>,
    not_kept: BTreeMap<&'static str, u64>,
}

impl CappedWarnings {
    fn push(&mut self, w: Warning) {
        let n = self.per_code.entry(w.code).or_default();
        *n += 1;
        if *n <= WARNINGS_PER_CODE {
            self.kept.push(w);
        } else {
            *self.not_kept.entry(w.code).or_default() += 1;
        }
    }

    /// Adds `other`'s warnings after this log's own.
    fn append(&mut self, other: CappedWarnings) {
        for w in other.kept {
            self.push(w);
        }
        for (code, n) in other.not_kept {
            *self.per_code.entry(code).or_default() += n;
            *self.not_kept.entry(code).or_default() += n;
        }
    }
}

/// Receives reassembled stream events, keeps one HTTP parser per live connection and passes
/// HTTP events to the diagnosis.
struct Sink {
    /// A TLS connection was seen (the warning says so once).
    tls_seen: bool,
    http_config: HttpConfig,
    /// Ports whose connections are WebSocket frames from the start (`--decode-as`).
    decode_as_websocket: Vec<u16>,
    conns: ConnMap<Conn>,
    /// The one set of buffers every connection's heads are parsed into.
    heads: HeadBuffers,
    /// Bytes all connections' HTTP parsers hold ([`HttpConn::held`]), kept within
    /// `http_config.max_held_total`.
    held_total: usize,
    diag: Diagnoser,
    warnings: CappedWarnings,
}

/// What the sink keeps per live connection.
struct Conn {
    http: HttpConn,
    /// Who is who as the HTTP stage sees it (roles swapped when the bytes say so).
    info: ConnInfo,
    /// Whether the TCP stage's roles are the wrong way round; decided by the first bytes.
    swapped: Option<bool>,
    /// The WebSocket session after a 101 (or decoded on request), fed the tunnel's bytes.
    /// Boxed: most connections never have one, and every live connection pays for this field.
    session: Option<Box<Session>>,
    /// The last 101 negotiated permessage-deflate.
    deflate: bool,
    /// `--decode-as websocket:PORT` matched and the bytes are not HTTP: frames from the start,
    /// no handshake. Per direction: whether a plausible frame start was found yet.
    raw_websocket: Option<[bool; 2]>,
    /// The connection carries TLS: not parsed.
    tls: bool,
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
        // The HTTP parser of a connection is made when its first bytes (or gap) arrive: a
        // connection that never carries any (a SYN flood's half-open ones) costs only its entry
        // in the TCP table. Nothing can happen before that: an end or a close of an empty
        // stream has no HTTP meaning. Its head buffers come from a connection that ended.
        let c = match ev {
            StreamEvent::Opened => return,
            StreamEvent::Data { .. } | StreamEvent::Gap { .. } => {
                self.conns.entry(conn.id).or_insert_with(|| Conn {
                    http: HttpConn::new(&self.http_config),
                    info: conn.clone(),
                    swapped: None,
                    session: None,
                    deflate: false,
                    raw_websocket: None,
                    tls: false,
                })
            }
            _ => match self.conns.get_mut(&conn.id) {
                Some(c) => c,
                None => return,
            },
        };
        if let StreamEvent::Data { dir, bytes } = ev {
            // TLS (a handshake record: 0x16 0x03 0x0N): the client hop of an HTTPS proxy. Its
            // HTTP cannot be read; say so once per input and leave the connection alone.
            if c.swapped.is_none() && bytes.len() >= 3 && bytes[0] == 0x16 && bytes[1] == 0x03 {
                c.tls = true;
                if !self.tls_seen {
                    self.tls_seen = true;
                    self.warnings.push(Warning {
                        packet: Some(at.number),
                        code: "tls_unreadable",
                        message: format!(
                            "connection {} ({} -> {}) is TLS: its HTTP cannot be read, so handshakes on it are not judged; the verdicts come from the plain-HTTP proxy -> backend hop (capture that, e.g. tcp port 8080)",
                            conn.id.0, conn.client, conn.server
                        ),
                    });
                }
            }
            if c.swapped.is_none() && !self.decode_as_websocket.is_empty() {
                let ports = [conn.client.port(), conn.server.port()];
                if ports.iter().any(|p| self.decode_as_websocket.contains(p))
                    && !bytes.starts_with(b"HTTP/1.")
                    && !looks_like_request_line(bytes)
                {
                    c.raw_websocket = Some([false; 2]);
                    c.session = Some(Box::new(Session::new(at, true)));
                }
            }
            c.decide_roles(dir, bytes);
        }
        if c.tls {
            if let StreamEvent::Closed = ev {
                self.conns.remove(&conn.id);
            }
            return;
        }
        let swapped = c.swapped == Some(true);
        let http_dir = |dir: Direction| if swapped { dir.reverse() } else { dir };
        let Conn {
            http,
            info,
            session,
            deflate,
            raw_websocket,
            ..
        } = c;
        let diag = &mut self.diag;
        let heads = &mut self.heads;
        if let Some(synced) = raw_websocket {
            // No HTTP on this connection: frames straight into the session.
            if let Some(s) = session {
                match ev {
                    StreamEvent::Data { dir, bytes } => {
                        let d = http_dir(dir);
                        if !synced[d.index()] {
                            synced[d.index()] = crate::ws::frame::plausible_start(bytes, d);
                        }
                        if synced[d.index()] {
                            s.data(d, bytes, at);
                        }
                    }
                    StreamEvent::Gap { dir, len } => {
                        if synced[http_dir(dir).index()] {
                            s.gap(http_dir(dir), len);
                        }
                    }
                    StreamEvent::Fin { dir } => s.tcp_end(http_dir(dir), "fin", at),
                    StreamEvent::Rst { dir } => s.tcp_end(http_dir(dir), "rst", at),
                    StreamEvent::Opened | StreamEvent::Closed => {}
                }
            }
        } else {
            let mut deliver = |e: HttpEvent<'_>| {
                match &e {
                    HttpEvent::Response { head, .. } if head.status == 101 => {
                        *deflate = head.header("sec-websocket-extensions").is_some_and(|v| {
                            v.to_ascii_lowercase()
                                .windows(18)
                                .any(|w| w == b"permessage-deflate")
                        });
                        // Only a WebSocket upgrade gets frame analysis (not h2c, TLS, ...).
                        if head.has_token("upgrade", "websocket") {
                            *session = Some(Box::new(Session::new(at, *deflate)));
                        }
                    }
                    HttpEvent::TunnelData { dir, bytes } => {
                        if let Some(s) = session {
                            s.data(*dir, bytes, at);
                        }
                    }
                    HttpEvent::TunnelGap { dir, len } => {
                        if let Some(s) = session {
                            s.gap(*dir, *len);
                        }
                    }
                    _ => {}
                }
                diag.http_event(info, at, &e);
            };
            // This connection may grow by what the budget shared by all has left.
            let before = http.held();
            let room = self
                .http_config
                .max_held_total
                .saturating_sub(self.held_total);
            http.set_held_cap(before + room);
            match ev {
                StreamEvent::Opened | StreamEvent::Closed => {}
                StreamEvent::Data { dir, bytes } => {
                    http.data(http_dir(dir), bytes, heads, &mut deliver)
                }
                StreamEvent::Gap { dir, len } => http.gap(http_dir(dir), len, &mut deliver),
                StreamEvent::Fin { dir } | StreamEvent::Rst { dir } => {
                    http.end(http_dir(dir), heads, &mut deliver)
                }
            }
            self.held_total = self.held_total - before + http.held();
            if let (Some(s), StreamEvent::Fin { dir } | StreamEvent::Rst { dir }) = (session, ev) {
                let how = if matches!(ev, StreamEvent::Rst { .. }) {
                    "rst"
                } else {
                    "fin"
                };
                s.tcp_end(http_dir(dir), how, at);
            }
        }
        if let StreamEvent::Closed = ev {
            if let Some(c) = self.conns.remove(&conn.id) {
                self.held_total -= c.http.held();
                let mut http = c.http;
                let mut deliver = |e: HttpEvent<'_>| diag.http_event(&c.info, at, &e);
                http.end(Direction::ToServer, heads, &mut deliver);
                http.end(Direction::ToClient, heads, &mut deliver);
                if let Some(s) = c.session {
                    diag.session_ended(&c.info, s.into_facts());
                }
                diag.connection_closed(&c.info);
            }
        }
    }

    fn warning(&mut self, w: Warning) {
        self.warnings.push(w);
    }
}
