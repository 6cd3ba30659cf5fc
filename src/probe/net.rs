//! Getting a byte stream to the server: name resolution (or `--resolve`), TCP with a timeout,
//! and TLS through rustls (ring; Mozilla's roots from webpki-roots; `--insecure` accepts any
//! certificate). Each step is timed for the report.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};

use super::url::{Resolve, WsUrl};

/// A plain or TLS connection.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
    pub fn set_read_timeout(&self, d: Duration) -> io::Result<()> {
        self.tcp()
            .set_read_timeout(Some(d.max(Duration::from_millis(1))))
    }
    pub fn shutdown(&mut self) {
        if let Stream::Tls(s) = self {
            s.conn.send_close_notify();
            let _ = s.flush();
        }
        let _ = self.tcp().shutdown(std::net::Shutdown::Both);
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// What the TLS handshake agreed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TlsInfo {
    /// Seconds the TLS handshake took.
    pub seconds: f64,
    pub version: String,
    pub cipher: String,
    /// The ALPN protocol the server picked (the probe offers only `http/1.1`).
    pub alpn: Option<String>,
    /// False with `--insecure`: the certificate was not checked.
    pub verified: bool,
}

/// An open connection and how it was made.
pub struct Connected {
    pub stream: Stream,
    pub addr: SocketAddr,
    /// Seconds the TCP connect took.
    pub connect_seconds: f64,
    pub tls: Option<TlsInfo>,
}

/// Resolves, connects and (for wss) runs the TLS handshake. Errors are one line each.
pub fn connect(
    url: &WsUrl,
    resolve: &[Resolve],
    insecure: bool,
    timeout: Duration,
) -> Result<Connected, String> {
    let addrs: Vec<SocketAddr> = match resolve.iter().find(|r| r.applies(url)) {
        Some(r) => vec![SocketAddr::new(r.ip, url.port)],
        None => (url.host.as_str(), url.port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {}: {e}", url.host))?
            .collect(),
    };
    let mut last = None;
    let mut tcp = None;
    for addr in &addrs {
        let start = Instant::now();
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(s) => {
                tcp = Some((s, *addr, start.elapsed().as_secs_f64()));
                break;
            }
            Err(e) => last = Some(format!("{addr}: {e}")),
        }
    }
    let (tcp, addr, connect_seconds) = tcp.ok_or_else(|| {
        format!(
            "cannot connect to {}:{} ({})",
            url.host,
            url.port,
            last.unwrap_or_else(|| "no address".into())
        )
    })?;
    let _ = tcp.set_nodelay(true);
    tcp.set_read_timeout(Some(timeout))
        .and_then(|()| tcp.set_write_timeout(Some(timeout)))
        .map_err(|e| format!("{addr}: {e}"))?;
    if !url.tls {
        return Ok(Connected {
            stream: Stream::Plain(tcp),
            addr,
            connect_seconds,
            tls: None,
        });
    }
    let (stream, tls) = tls_handshake(url, tcp, insecure).map_err(|e| {
        let hint = if e.contains("certificate") && !insecure {
            " (a self-signed or private CA certificate? --insecure skips the check)"
        } else {
            ""
        };
        format!("TLS handshake with {addr} ({}) failed: {e}{hint}", url.host)
    })?;
    Ok(Connected {
        stream,
        addr,
        connect_seconds,
        tls: Some(tls),
    })
}

fn tls_handshake(
    url: &WsUrl,
    mut tcp: TcpStream,
    insecure: bool,
) -> Result<(Stream, TlsInfo), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let mut config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
            .with_no_client_auth()
    } else {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = ServerName::try_from(url.host.clone())
        .map_err(|e| format!("{:?} is not a TLS server name: {e}", url.host))?;
    let mut conn = ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let start = Instant::now();
    while conn.is_handshaking() {
        match conn.complete_io(&mut tcp) {
            Ok(_) => {}
            Err(e) => {
                // rustls hands its own errors through io::Error; show the TLS reason.
                let msg = match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                    Some(t) => t.to_string(),
                    None if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                    {
                        "timed out".into()
                    }
                    None => e.to_string(),
                };
                return Err(msg);
            }
        }
    }
    let info = TlsInfo {
        seconds: start.elapsed().as_secs_f64(),
        version: conn
            .protocol_version()
            .map(|v| format!("{v:?}").replace('_', "."))
            .unwrap_or_default(),
        cipher: conn
            .negotiated_cipher_suite()
            .map(|c| format!("{:?}", c.suite()))
            .unwrap_or_default(),
        alpn: conn
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        verified: !insecure,
    };
    Ok((Stream::Tls(Box::new(StreamOwned::new(conn, tcp))), info))
}

/// `--insecure`: any certificate is accepted; signatures are still checked so the TLS
/// handshake itself is sound.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
