//! Command-line flags. Flag names live here only: they are parsed once into a typed
//! [`Command`] and nothing downstream sees a flag string.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::analyze::{AnalyzeConfig, CaptureSpec};
use crate::diagnose::DiagnoseConfig;
use crate::http::HttpConfig;
use crate::nginx::{ConfigSource, NginxOptions};
use crate::report::{Format, Output, Terminal};
use crate::tcp::TcpConfig;

#[derive(Parser, Debug)]
#[command(
    name = "wsdiag",
    version,
    about = "Diagnose broken WebSocket upgrades behind reverse proxies from packet captures",
    after_help = "Exit status: 0 no broken or rejected handshake, 1 some found, 2 bad usage or unreadable input."
)]
struct Cli {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// Read captures (pcap or pcapng; `-` for stdin) of the proxy -> backend hop and judge every
    /// WebSocket handshake in them.
    Analyze(AnalyzeArgs),
    /// Capture live on an interface (libpcap; needs the `capture` feature and CAP_NET_RAW) and
    /// report each handshake as its verdict becomes known; the summary prints at the end.
    Capture(CaptureArgs),
    /// List the interfaces that can be captured on (same as `capture --list`).
    Interfaces,
    /// Check the nginx configuration for WebSocket proxying: by default the one `nginx -T`
    /// shows; every proxying location with its file:line, and the sites-available /
    /// sites-enabled layout.
    Nginx(NginxArgs),
    /// Send a real WebSocket handshake (ws:// or wss://) and report every step: the address,
    /// connect and TLS times, the answer and its headers, the accept check, a message and its
    /// reply, the close. With --capture, also what the backend received.
    Probe(ProbeArgs),
}

#[derive(Args, Debug)]
struct ProbeArgs {
    /// The WebSocket URL, e.g. ws://localhost:8080/api/game/ws/42/alice or
    /// wss://game.example.com/api/game/ws/42/alice.
    #[arg(value_name = "URL")]
    url: String,

    /// Probe a second URL the same way and show the two side by side (e.g. the backend
    /// directly, and the same path through the proxy).
    #[arg(long, value_name = "URL2")]
    compare: Option<String>,

    /// Accept any TLS certificate (self-signed, private CA, wrong name).
    #[arg(short = 'k', long)]
    insecure: bool,

    /// Connect to IP for HOST instead of resolving it (like curl; HOST:PORT:IP also works).
    #[arg(long, value_name = "HOST:IP", value_parser = parse_resolve)]
    resolve: Vec<crate::probe::url::Resolve>,

    /// An extra request header (repeatable); a header the probe sends anyway (Host,
    /// Connection, ...) is replaced.
    #[arg(short = 'H', long = "header", value_name = "NAME:VALUE", value_parser = parse_probe_header)]
    headers: Vec<(String, String)>,

    /// The Origin header (browsers always send one; many backends check it).
    #[arg(long, value_name = "ORIGIN")]
    origin: Option<String>,

    /// Offer this subprotocol (repeatable).
    #[arg(long = "subprotocol", value_name = "P")]
    subprotocols: Vec<String>,

    /// After the upgrade, send this text message and wait for one back.
    #[arg(long, value_name = "TEXT")]
    message: Option<String>,

    /// Seconds to wait for each step (connect, TLS, the answer, the reply, the close).
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    timeout: f64,

    /// Capture the upstream hop on IFACE during the probe (feature `capture`, CAP_NET_RAW) and
    /// show what the backend received for this very handshake.
    #[arg(long, value_name = "IFACE", requires = "ports")]
    capture: Option<String>,

    /// The backend's port on the upstream hop, for --capture (repeatable).
    #[arg(long = "port", value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    ports: Vec<u16>,

    /// Seconds to wait after the answer for the upstream request, before saying not_forwarded.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    capture_wait: f64,

    /// Output format.
    #[arg(long, value_enum, default_value_t = ProbeFormatArg::Table)]
    format: ProbeFormatArg,

    /// An `nginx -T` dump (or a main config file): name the server and location that served
    /// the probe, and the settings there that explain what the proxy did.
    #[arg(long, value_name = "DUMP")]
    nginx_config: Option<PathBuf>,

    /// The version of that nginx (from 1.29.7 `proxy_http_version` defaults to 1.1).
    #[arg(long, value_name = "V", requires = "nginx_config")]
    nginx_version: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ProbeFormatArg {
    Table,
    Json,
    Markdown,
}

fn parse_resolve(v: &str) -> Result<crate::probe::url::Resolve, String> {
    crate::probe::url::Resolve::parse(v)
}

fn parse_probe_header(v: &str) -> Result<(String, String), String> {
    crate::probe::handshake::parse_header(v)
}

/// Seconds from a flag, clamped to something sane.
fn seconds(v: f64) -> Duration {
    Duration::from_secs_f64(if v.is_finite() {
        v.clamp(0.001, 3600.0)
    } else {
        5.0
    })
}

#[derive(Args, Debug)]
struct NginxArgs {
    /// A saved `nginx -T` output (e.g. from the server of an incident) instead of running
    /// `nginx -T` here.
    #[arg(long, value_name = "FILE", conflicts_with = "conf")]
    dump: Option<PathBuf>,

    /// A main config file (nginx.conf); `include`s are followed on disk.
    #[arg(long, value_name = "PATH")]
    conf: Option<PathBuf>,

    /// The nginx version the config runs on (default: `nginx -v` when nginx is run here;
    /// from 1.29.7 the default proxy_http_version is 1.1).
    #[arg(long, value_name = "V")]
    nginx_version: Option<String>,

    /// A path prefix that carries WebSocket traffic (repeatable): the location serving it is
    /// checked as a WebSocket location (errors, not advice).
    #[arg(long = "ws-path", value_name = "PREFIX")]
    ws_paths: Vec<String>,

    /// The directory holding sites-available/ and sites-enabled/ (default: found from the
    /// config's `include .../sites-enabled/*`).
    #[arg(long, value_name = "DIR")]
    sites_dir: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = NginxFormatArg::Table)]
    format: NginxFormatArg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum NginxFormatArg {
    Table,
    Json,
    Markdown,
}

#[derive(Args, Debug)]
struct AnalyzeArgs {
    /// Capture files (pcap or pcapng, recognised by content); `-` reads standard input as it
    /// arrives (e.g. `tcpdump -U -w - ... | wsdiag analyze -`).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,

    /// Files analysed at once, each on its own thread (default: the number of cores); the
    /// report is the same whatever the number.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    jobs: Option<u32>,

    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args, Debug)]
struct CaptureArgs {
    /// Interface to capture on, e.g. `lo` for the hop between nginx and a local backend.
    #[arg(value_name = "IFACE", required_unless_present = "list")]
    interface: Option<String>,

    /// List the interfaces that can be captured on, and exit.
    #[arg(long)]
    list: bool,

    /// A full BPF filter expression instead of the one built from --port
    /// (`tcp port N or ...`; all TCP without either).
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,

    /// Also save the raw packets to FILE (pcap, mode 0600, flushed per packet).
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    write: Option<PathBuf>,

    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,

    /// Stop after this many packets.
    #[arg(long, value_name = "N")]
    count: Option<u64>,

    /// Kernel capture buffer in MiB: how far wsdiag may fall behind a burst before packets
    /// are dropped (packets are packed into it as they come; peak RSS includes it).
    #[arg(long, value_name = "MiB", default_value_t = 128,
          value_parser = clap::value_parser!(u32).range(1..=2047))]
    buffer_size: u32,

    /// Close and report connections silent for this long, so a capture that runs for hours
    /// keeps memory flat.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    idle_timeout: u64,

    /// Bytes kept of each packet.
    #[arg(long, value_name = "BYTES", default_value_t = 262_144,
          value_parser = clap::value_parser!(i32).range(64..=262_144))]
    snaplen: i32,

    #[command(flatten)]
    common: CommonArgs,
}

/// Flags shared by `analyze` and `capture`.
#[derive(Args, Debug)]
struct CommonArgs {
    /// Output format: a terminal table, one JSON document, JSON Lines (one object per
    /// handshake as it is judged, then warnings and a summary), a Markdown report or a
    /// self-contained HTML report. Default: from the --output file's extension, else table.
    #[arg(long, value_enum)]
    format: Option<FormatArg>,

    /// Write the report to FILE instead of standard output; without --format, its extension
    /// chooses the format (.md, .html, .json, .jsonl, .txt).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,

    /// Backend port (repeatable): its side of a connection is the server when the capture
    /// missed the SYN; for `capture` it also builds the kernel filter.
    #[arg(long = "port", value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    ports: Vec<u16>,

    /// Also list plain HTTP requests, not only handshakes.
    #[arg(long)]
    all: bool,

    /// The proxy's listening port, when the capture holds the client -> proxy hop too
    /// (repeatable; inferred from matching Sec-WebSocket-Keys otherwise).
    #[arg(long = "proxy-port", value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    proxy_ports: Vec<u16>,

    /// The backend's port on the proxy -> backend hop, when the capture holds both hops
    /// (repeatable).
    #[arg(long = "backend-port", value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    backend_ports: Vec<u16>,

    /// Treat connections on PORT as WebSocket frames from the start, like Wireshark's
    /// "Decode As", for captures that began after the handshake (`websocket:PORT`, repeatable).
    #[arg(long = "decode-as", value_name = "websocket:PORT", value_parser = parse_decode_as)]
    decode_as: Vec<u16>,

    /// Show secrets (cookies, credentials, tokens in query strings) instead of `<redacted>`;
    /// the report says so at the top.
    #[arg(long)]
    no_redact: bool,

    /// Also redact the values of header NAME (repeatable), e.g. `Sec-WebSocket-Protocol` when
    /// it carries a token.
    #[arg(long = "redact-header", value_name = "NAME")]
    redact_headers: Vec<String>,

    /// Most TCP connections tracked at once; beyond it the least recently active is dropped
    /// (with a warning).
    #[arg(long, value_name = "N", default_value_t = TcpConfig::default().max_connections)]
    max_connections: usize,

    /// Most out-of-order bytes buffered per connection direction; beyond it the missing bytes
    /// are treated as lost (with a warning).
    #[arg(long, value_name = "BYTES", default_value_t = TcpConfig::default().max_buffered_per_direction)]
    max_buffered: usize,

    /// Most out-of-order bytes buffered by all connections together; beyond it the connection
    /// that would go over treats its missing bytes as lost (with a warning).
    #[arg(long, value_name = "BYTES", default_value_t = TcpConfig::default().max_buffered_total)]
    max_buffered_total: usize,

    /// Largest HTTP head (request or status line plus headers) parsed.
    #[arg(long, value_name = "BYTES", default_value_t = HttpConfig::default().max_head_bytes)]
    max_head: usize,

    /// Most bytes of unfinished HTTP heads held by all connections together; beyond it the
    /// head that would go over is skipped (with a warning).
    #[arg(long, value_name = "BYTES", default_value_t = HttpConfig::default().max_held_total)]
    max_head_total: usize,

    /// Most handshakes, sessions and (with --all) plain requests listed in the report, each;
    /// the rest are counted in the summary, by verdict and problem (with a warning).
    #[arg(long, value_name = "N", default_value_t = crate::diagnose::MAX_LISTED)]
    max_listed: usize,

    /// An `nginx -T` dump (or a main config file): each handshake gets the location nginx
    /// picks for it, with file:line and the settings that caused its problems.
    #[arg(long, value_name = "DUMP")]
    nginx_config: Option<PathBuf>,

    /// The nginx version of --nginx-config (from 1.29.7 proxy_http_version defaults to 1.1).
    #[arg(long, value_name = "V", requires = "nginx_config")]
    nginx_version: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    Table,
    Json,
    Jsonl,
    Markdown,
    Html,
}

impl FormatArg {
    /// The format an output file's extension names, if any.
    fn from_path(path: &std::path::Path) -> Option<FormatArg> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "md" | "markdown" => FormatArg::Markdown,
            "html" | "htm" => FormatArg::Html,
            "json" => FormatArg::Json,
            "jsonl" | "ndjson" => FormatArg::Jsonl,
            "txt" | "text" => FormatArg::Table,
            _ => return None,
        })
    }
}

/// An nginx configuration to tie handshakes to (`--nginx-config`).
#[derive(Clone, Debug)]
pub struct NginxConfigArg {
    pub path: PathBuf,
    pub version: Option<String>,
}

/// What the user asked for, typed.
#[derive(Debug)]
pub enum Command {
    Analyze {
        files: Vec<String>,
        /// Files analysed at once.
        jobs: usize,
        output: Output,
        config: AnalyzeConfig,
        nginx: Option<NginxConfigArg>,
    },
    Capture {
        spec: CaptureSpec,
        output: Output,
        config: AnalyzeConfig,
        nginx: Option<NginxConfigArg>,
    },
    ListInterfaces,
    Nginx {
        options: NginxOptions,
        format: Format,
    },
    Probe {
        spec: crate::probe::ProbeSpec,
        /// Table, Json or Markdown.
        format: Format,
        /// `--nginx-config`: name the location that served the probe.
        nginx: Option<NginxConfigArg>,
    },
}

/// Parses the process arguments. Bad usage prints one line naming the bad value and exits
/// with status 2; `--help` and `--version` print and exit 0.
pub fn parse() -> Command {
    try_parse_from(std::env::args_os()).unwrap_or_else(|e| {
        if !e.use_stderr() {
            e.exit()
        }
        eprintln!("wsdiag: {} (see wsdiag --help)", one_line(&e));
        std::process::exit(2)
    })
}

/// clap's message on one line: its first paragraph without the `error: ` prefix (the usage
/// and tips after it are left out).
pub fn one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let para: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let joined = para.join(" ");
    joined
        .strip_prefix("error: ")
        .unwrap_or(&joined)
        .to_string()
}

/// Parses the given arguments (the first is the program name).
pub fn try_parse_from<I, T>(args: I) -> Result<Command, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    // Reports say how they were made: the arguments as given, after the program's name.
    let command_line = args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    command_from(Cli::try_parse_from(&args)?, command_line)
}

fn command_from(cli: Cli, command_line: Vec<String>) -> Result<Command, clap::Error> {
    Ok(match cli.command {
        Sub::Analyze(a) => {
            let nginx = nginx_config(&a.common);
            let (output, config) = common(a.common, command_line)?;
            let jobs = a.jobs.map_or_else(
                || std::thread::available_parallelism().map_or(1, |n| n.get()),
                |n| n as usize,
            );
            // A progress bar for long files, on a terminal only: never into a pipe or a file,
            // and not while reading a stream (its length is unknown).
            let progress = std::io::IsTerminal::is_terminal(&std::io::stderr())
                && !a.files.iter().any(|f| f == "-");
            Command::Analyze {
                files: a.files,
                jobs,
                output,
                config: AnalyzeConfig { progress, ..config },
                nginx,
            }
        }
        Sub::Nginx(n) => Command::Nginx {
            options: NginxOptions {
                source: match (n.dump, n.conf) {
                    (Some(d), _) => ConfigSource::Dump(d),
                    (None, Some(c)) => ConfigSource::Conf(c),
                    (None, None) => ConfigSource::Run,
                },
                version: n.nginx_version,
                ws_paths: n.ws_paths,
                sites_dir: n.sites_dir,
            },
            format: match n.format {
                NginxFormatArg::Table => Format::Table,
                NginxFormatArg::Json => Format::Json,
                NginxFormatArg::Markdown => Format::Markdown,
            },
        },
        Sub::Probe(p) => Command::Probe {
            spec: crate::probe::ProbeSpec {
                url: p.url,
                compare: p.compare,
                resolve: p.resolve,
                headers: p.headers,
                origin: p.origin,
                subprotocols: p.subprotocols,
                message: p.message,
                timeout: seconds(p.timeout),
                insecure: p.insecure,
                capture: p.capture.map(|interface| crate::probe::CaptureArgs {
                    interface,
                    ports: p.ports,
                    wait: seconds(p.capture_wait),
                }),
            },
            format: match p.format {
                ProbeFormatArg::Table => Format::Table,
                ProbeFormatArg::Json => Format::Json,
                ProbeFormatArg::Markdown => Format::Markdown,
            },
            nginx: p.nginx_config.map(|path| NginxConfigArg {
                path,
                version: p.nginx_version,
            }),
        },
        Sub::Interfaces => Command::ListInterfaces,
        Sub::Capture(c) if c.list => Command::ListInterfaces,
        Sub::Capture(c) => {
            let filter = match (&c.filter, c.common.ports.is_empty()) {
                (Some(f), _) => f.clone(),
                (None, false) => c
                    .common
                    .ports
                    .iter()
                    .map(|p| format!("tcp port {p}"))
                    .collect::<Vec<_>>()
                    .join(" or "),
                (None, true) => "tcp".to_string(),
            };
            let spec = CaptureSpec {
                interface: c.interface.unwrap_or_default(),
                filter,
                snaplen: c.snaplen,
                write: c.write,
                // A negative or absurd duration is a usage error clap cannot express; clamp.
                duration: c
                    .duration
                    .filter(|d| d.is_finite())
                    .map(|d| Duration::from_secs_f64(d.clamp(0.0, 1e9))),
                count: c.count,
                idle_timeout: Duration::from_secs(c.idle_timeout.max(1)),
                buffer_bytes: i32::try_from(u64::from(c.buffer_size) << 20).unwrap_or(i32::MAX),
            };
            let nginx = nginx_config(&c.common);
            let (output, config) = common(c.common, command_line)?;
            Command::Capture {
                spec,
                output,
                config,
                nginx,
            }
        }
    })
}

fn nginx_config(a: &CommonArgs) -> Option<NginxConfigArg> {
    a.nginx_config.as_ref().map(|path| NginxConfigArg {
        path: path.clone(),
        version: a.nginx_version.clone(),
    })
}

fn common(
    a: CommonArgs,
    command_line: Vec<String>,
) -> Result<(Output, AnalyzeConfig), clap::Error> {
    let format = match (a.format, &a.output) {
        (Some(f), _) => f,
        (None, None) => FormatArg::Table,
        (None, Some(path)) => FormatArg::from_path(path).ok_or_else(|| {
            Cli::command().error(
                clap::error::ErrorKind::ValueValidation,
                format!(
                    "cannot tell the report format from the name `{}`: give --format (table, json, jsonl, markdown, html) or use .md, .html, .json, .jsonl or .txt",
                    path.display()
                ),
            )
        })?,
    };
    Ok((
        Output {
            format: match format {
                FormatArg::Table => Format::Table,
                FormatArg::Json => Format::Json,
                FormatArg::Jsonl => Format::Jsonl,
                FormatArg::Markdown => Format::Markdown,
                FormatArg::Html => Format::Html,
            },
            all: a.all,
            path: a.output,
            command_line,
            terminal: Terminal::default(),
            redacted: !a.no_redact,
        },
        AnalyzeConfig {
            decode_as_websocket: a.decode_as,
            tcp: TcpConfig {
                max_connections: a.max_connections.max(1),
                max_buffered_per_direction: a.max_buffered,
                max_buffered_total: a.max_buffered_total,
                server_ports: a.ports,
            },
            http: HttpConfig {
                max_head_bytes: a.max_head.max(64),
                max_held_total: a.max_head_total,
            },
            progress: false,
            diagnose: DiagnoseConfig {
                hops: crate::diagnose::hops::HopHints {
                    proxy_ports: a.proxy_ports,
                    backend_ports: a.backend_ports,
                },
                no_redact: a.no_redact,
                redact_headers: a.redact_headers,
                keep_plain: a.all,
                max_listed: a.max_listed,
            },
        },
    ))
}

/// `websocket:PORT` -> PORT.
fn parse_decode_as(v: &str) -> Result<u16, String> {
    let port = v
        .strip_prefix("websocket:")
        .ok_or_else(|| format!("{v:?}: expected websocket:PORT (only websocket is decoded)"))?;
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("{port:?} is not a port (1..65535)")),
    }
}
