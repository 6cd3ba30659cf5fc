//! A laboratory for end-to-end tests: a real nginx with a sample site file in front of the real
//! FastAPI/uvicorn backend (`samples/backend.py`), on free loopback ports in a private temporary
//! directory, and the outputs of child processes read as they arrive. Shared by the live capture
//! tests and the probe tests; a [`Lab`] guard stops every process it started and removes its
//! directory even when an assertion fails.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::root;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_wsdiag");

// ------------------------------------------------------------------------------------------
// When the tests cannot run

pub(crate) fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// The effective uid is 0 (read from /proc, no libc needed).
pub(crate) fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// Runs a command quietly; true when it ran and succeeded.
pub(crate) fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

// ------------------------------------------------------------------------------------------
// Output read as it arrives

/// The lines a child writes, each with the moment it arrived, collected on a thread.
#[derive(Clone)]
pub(crate) struct Lines(pub(crate) Arc<Mutex<Received>>);

/// What a [`Lines`] collector has read so far.
#[derive(Default)]
pub(crate) struct Received {
    lines: Vec<(Instant, String)>,
    /// The stream ended.
    pub(crate) eof: bool,
}

impl Lines {
    pub(crate) fn collect(r: impl Read + Send + 'static) -> Lines {
        let lines = Lines(Arc::default());
        let shared = lines.0.clone();
        thread::spawn(move || {
            let mut r = BufReader::new(r);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&buf).trim_end().to_string();
                        shared.lock().unwrap().lines.push((Instant::now(), text));
                    }
                }
            }
            shared.lock().unwrap().eof = true;
        });
        lines
    }

    pub(crate) fn snapshot(&self) -> Vec<(Instant, String)> {
        self.0.lock().unwrap().lines.clone()
    }

    pub(crate) fn text(&self) -> String {
        self.snapshot()
            .into_iter()
            .map(|(_, l)| l)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Waits until `n` lines satisfy `pred`; returns when the n-th arrived. Panics after
    /// `timeout`, showing what did arrive.
    pub(crate) fn wait_for(
        &self,
        what: &str,
        n: usize,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Instant {
        let start = Instant::now();
        loop {
            if let Some((at, _)) = self.snapshot().iter().filter(|(_, l)| pred(l)).nth(n - 1) {
                return *at;
            }
            assert!(
                start.elapsed() < timeout,
                "timed out after {timeout:?} waiting for {what}; got:\n{}",
                self.text()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the end of the stream (the writer exited), then returns every line.
    pub(crate) fn finish(&self, timeout: Duration) -> Vec<(Instant, String)> {
        let start = Instant::now();
        while !self.0.lock().unwrap().eof {
            assert!(
                start.elapsed() < timeout,
                "output did not end within {timeout:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
        self.snapshot()
    }
}

// ------------------------------------------------------------------------------------------
// Processes and their cleanup

pub(crate) struct Proc {
    pub(crate) name: String,
    pub(crate) child: Child,
    /// The signal that stops it cleanly.
    pub(crate) stop: &'static str,
    pub(crate) reaped: bool,
}

/// A private temporary directory and the processes of one test. Dropping it stops them all
/// (their stop signal, then SIGKILL) and removes the directory, also when a test panics.
pub(crate) struct Lab {
    pub(crate) dir: PathBuf,
    pub(crate) procs: Vec<Proc>,
}

#[derive(Clone, Copy)]
pub(crate) struct Ports {
    pub(crate) nginx: u16,
    pub(crate) backend: u16,
}

/// Sends `sig` (a name: INT, TERM, ...) through the shell's builtin kill: no libc binding, and
/// no dependence on procps's /usr/bin/kill, which minimal images lack.
pub(crate) fn signal(pid: u32, sig: &str) {
    let _ = Command::new("sh")
        .args(["-c", &format!("kill -{sig} {pid}")])
        .stderr(Stdio::null())
        .status();
}

/// A loopback port nobody listens on, outside the ephemeral range (so no client connection of
/// another test can be using it) and away from the samples' 8000/8080.
pub(crate) fn free_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Spread concurrent test processes apart.
    let base = 18000 + (std::process::id() % 50) as u16 * 20;
    loop {
        let p = base + NEXT.fetch_add(1, Ordering::SeqCst) % 1000;
        if TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}

impl Lab {
    pub(crate) fn new(tag: &str) -> Lab {
        let dir = std::env::temp_dir().join(format!("wsdiag-live-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("tmp")).expect("create the temporary directory");
        // nginx's workers run as nobody.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        Lab {
            dir,
            procs: Vec::new(),
        }
    }

    pub(crate) fn spawn(&mut self, name: &str, cmd: &mut Command, stop: &'static str) -> usize {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        self.procs.push(Proc {
            name: name.into(),
            child,
            stop,
            reaped: false,
        });
        self.procs.len() - 1
    }

    pub(crate) fn stdout(&mut self, i: usize) -> ChildStdout {
        self.procs[i].child.stdout.take().expect("stdout is piped")
    }

    pub(crate) fn stderr(&mut self, i: usize) -> ChildStderr {
        self.procs[i].child.stderr.take().expect("stderr is piped")
    }

    /// Both outputs of a child, collected as they arrive.
    pub(crate) fn lines(&mut self, i: usize) -> (Lines, Lines) {
        (
            Lines::collect(self.stdout(i)),
            Lines::collect(self.stderr(i)),
        )
    }

    pub(crate) fn running(&mut self, i: usize) -> bool {
        matches!(self.procs[i].child.try_wait(), Ok(None))
    }

    pub(crate) fn signal(&self, i: usize, sig: &str) {
        signal(self.procs[i].child.id(), sig);
    }

    /// Waits for a child to exit; kills it and panics after `timeout`.
    pub(crate) fn wait(&mut self, i: usize, timeout: Duration) -> ExitStatus {
        let start = Instant::now();
        let p = &mut self.procs[i];
        loop {
            if let Some(status) = p.child.try_wait().expect("try_wait") {
                p.reaped = true;
                return status;
            }
            if start.elapsed() > timeout {
                let _ = p.child.kill();
                let _ = p.child.wait();
                p.reaped = true;
                panic!("{} did not exit within {timeout:?}", p.name);
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// A log file in the lab directory, for a child's stdout and stderr.
    pub(crate) fn log_file(&self, name: &str) -> (std::fs::File, std::fs::File) {
        let f = std::fs::File::create(self.dir.join(name)).expect("create a log file");
        (f.try_clone().expect("clone a file handle"), f)
    }

    pub(crate) fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    /// Waits until something accepts connections on 127.0.0.1:`port`; panics (with the log)
    /// if process `i` exits first or 10 s pass.
    pub(crate) fn wait_listening(&mut self, port: u16, i: usize, log: &str) {
        for _ in 0..200 {
            if TcpStream::connect_timeout(
                &([127, 0, 0, 1], port).into(),
                Duration::from_millis(200),
            )
            .is_ok()
            {
                return;
            }
            if !self.running(i) {
                panic!(
                    "{} exited during startup:\n{}",
                    self.procs[i].name,
                    self.file(log)
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{} is not listening on port {port}:\n{}",
            self.procs[i].name,
            self.file(log)
        );
    }

    /// Starts the backend and a private nginx with `samples/nginx/SITE`, its ports rewritten to
    /// free ones (as `samples/record.sh` does, with a standalone nginx.conf).
    pub(crate) fn start_stack(&mut self, site: &str) -> Ports {
        let text = std::fs::read_to_string(root().join("samples/nginx").join(site))
            .expect("read the site file");
        self.start_site(site, &text)
    }

    /// Starts the backend and a private nginx with the site file `text` (named `site` in
    /// messages), its ports rewritten to free ones.
    pub(crate) fn start_site(&mut self, site: &str, text: &str) -> Ports {
        let backend = free_port();
        let nginx = free_port();
        let ports = Ports { nginx, backend };

        let (out, err) = self.log_file("backend.log");
        let i = self.spawn(
            "uvicorn",
            Command::new(python())
                .current_dir(root())
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .args(["-m", "uvicorn", "backend:app", "--app-dir", "samples"])
                .args(["--host", "127.0.0.1", "--port", &backend.to_string()])
                .args(["--log-level", "warning", "--no-access-log"])
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err),
            "TERM",
        );
        self.wait_listening(backend, i, "backend.log");

        assert!(
            text.contains("127.0.0.1:8000") && text.contains("127.0.0.1:8080"),
            "{site} no longer listens on 127.0.0.1:8000 and proxies to 127.0.0.1:8080"
        );
        let text = text
            .replace("127.0.0.1:8000", &format!("127.0.0.1:{nginx}"))
            .replace("127.0.0.1:8080", &format!("127.0.0.1:{backend}"));
        std::fs::write(self.dir.join("site.conf"), text).unwrap();
        let d = self.dir.display();
        let conf = format!(
            "worker_processes 1;
error_log {d}/error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    include {d}/site.conf;
}}
"
        );
        std::fs::write(self.dir.join("nginx.conf"), conf).unwrap();
        let prefix = format!("{d}/");
        let (out, err) = self.log_file("nginx.out");
        let i = self.spawn(
            "nginx",
            Command::new("nginx")
                .args(["-p", &prefix, "-e", &format!("{d}/error.log")])
                .args(["-c", &format!("{d}/nginx.conf"), "-g", "daemon off;"])
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err),
            // Fast shutdown: a graceful one (QUIT) would wait for open connections.
            "TERM",
        );
        self.wait_listening(nginx, i, "nginx.out");
        ports
    }

    /// Runs `samples/client.py SCENARIO` against this lab's nginx, to completion.
    pub(crate) fn client(&self, ports: Ports, scenario: &str) {
        let out = Command::new(python())
            .current_dir(root())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("WSDIAG_NGINX_PORT", ports.nginx.to_string())
            .args(["samples/client.py", scenario])
            .stdin(Stdio::null())
            .output()
            .expect("run samples/client.py");
        assert!(
            out.status.success(),
            "client.py {scenario} failed:\n{}{}\nnginx error.log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.file("error.log")
        );
    }

    /// `wsdiag capture lo --port BACKEND ARGS...`, its outputs collected; returns once it says
    /// it is listening.
    pub(crate) fn capture(&mut self, ports: Ports, args: &[&str]) -> (usize, Lines, Lines) {
        let i = self.spawn(
            "wsdiag capture",
            Command::new(BIN)
                .args(["capture", "lo", "--port", &ports.backend.to_string()])
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
            "INT",
        );
        let (out, err) = self.lines(i);
        err.wait_for(
            "`wsdiag: capturing on lo (...); Ctrl-C to stop` on stderr",
            1,
            Duration::from_secs(10),
            |l| l.starts_with("wsdiag: capturing on lo (") && l.ends_with("Ctrl-C to stop"),
        );
        (i, out, err)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Newest first: the capture and the pipe before nginx, nginx before its backend.
        for p in self.procs.iter_mut().rev() {
            if p.reaped {
                continue;
            }
            if let Ok(None) = p.child.try_wait() {
                signal(p.child.id(), p.stop);
                let start = Instant::now();
                while start.elapsed() < Duration::from_secs(3) {
                    if let Ok(Some(_)) = p.child.try_wait() {
                        break;
                    }
                    thread::sleep(Duration::from_millis(20));
                }
                let _ = p.child.kill();
            }
            let _ = p.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
