//! Command-line flags. Flag names live here only: they are parsed once into a typed
//! [`Command`] and nothing downstream sees a flag string.

use clap::{Parser, Subcommand, ValueEnum};

use crate::analyze::AnalyzeConfig;
use crate::diagnose::DiagnoseConfig;
use crate::http::HttpConfig;
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
}

#[derive(clap::Args, Debug)]
struct AnalyzeArgs {
    /// Capture files (pcap or pcapng, recognised by content); `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    format: FormatArg,

    /// Backend port (repeatable): its side of a connection is the server when the capture
    /// missed the SYN.
    #[arg(long = "port", value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    ports: Vec<u16>,

    /// Also list plain HTTP requests, not only handshakes.
    #[arg(long)]
    all: bool,

    /// Show secrets (tokens in query strings) instead of `<redacted>`.
    #[arg(long)]
    no_redact: bool,

    /// Most TCP connections tracked at once; beyond it the least recently active is dropped
    /// (with a warning).
    #[arg(long, value_name = "N", default_value_t = TcpConfig::default().max_connections)]
    max_connections: usize,

    /// Most out-of-order bytes buffered per connection direction; beyond it the missing bytes
    /// are treated as lost (with a warning).
    #[arg(long, value_name = "BYTES", default_value_t = TcpConfig::default().max_buffered_per_direction)]
    max_buffered: usize,

    /// Largest HTTP head (request or status line plus headers) parsed.
    #[arg(long, value_name = "BYTES", default_value_t = HttpConfig::default().max_head_bytes)]
    max_head: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Table,
    Json,
}

/// What the user asked for, typed.
#[derive(Debug)]
pub enum Command {
    Analyze {
        files: Vec<String>,
        format: FormatArg,
        all: bool,
        config: AnalyzeConfig,
    },
}

/// Parses the process arguments; on bad usage clap prints the error and exits with status 2.
pub fn parse() -> Command {
    command_from(Cli::parse())
}

/// Parses the given arguments (the first is the program name).
pub fn try_parse_from<I, T>(args: I) -> Result<Command, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    Cli::try_parse_from(args).map(command_from)
}

fn command_from(cli: Cli) -> Command {
    match cli.command {
        Sub::Analyze(a) => Command::Analyze {
            config: AnalyzeConfig {
                tcp: TcpConfig {
                    max_connections: a.max_connections.max(1),
                    max_buffered_per_direction: a.max_buffered,
                    server_ports: a.ports,
                },
                http: HttpConfig {
                    max_head_bytes: a.max_head.max(64),
                },
                diagnose: DiagnoseConfig {
                    no_redact: a.no_redact,
                    keep_plain: a.all,
                },
            },
            files: a.files,
            format: a.format,
            all: a.all,
        },
    }
}
