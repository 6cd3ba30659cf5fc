//! Where the configuration text comes from: `nginx -T` run here, a saved dump, or the files on
//! disk starting from a main file. Expands `include` (globs sorted like glob(3); relative
//! paths from the main file's directory, as nginx does) into one [`Config`] tree whose
//! directives keep their own file and line. The only part of `nginx` that reads files or runs
//! a program.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::dump::{self, DumpFile};
use super::parse::{self, Directive};

/// Includes nested deeper than this are refused (nginx has no limit, but a loop would never
/// end).
const MAX_DEPTH: usize = 32;

/// Where to read the configuration from.
#[derive(Clone, Debug)]
pub enum ConfigSource {
    /// Run `nginx -T` (the binary found in PATH or /usr/sbin).
    Run,
    /// A saved `nginx -T` output.
    Dump(PathBuf),
    /// A main config file; includes are followed on disk.
    Conf(PathBuf),
}

/// An `include` directive and what it matched.
#[derive(Clone, Debug)]
pub struct Include {
    /// The pattern made absolute.
    pub pattern: String,
    pub file: usize,
    pub line: u32,
}

/// The whole configuration nginx loads, includes expanded.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Paths as nginx opened them (through symlinks, not resolved), main file first.
    pub files: Vec<String>,
    /// Top-level directives of the main file with every `include` replaced by what it holds.
    pub tree: Vec<Directive>,
    pub includes: Vec<Include>,
    /// Things that could not be read, said in a sentence each.
    pub warnings: Vec<String>,
    /// How it was read: `nginx -T`, `dump FILE`, `conf FILE`.
    pub origin: String,
}

impl Config {
    pub fn file(&self, index: usize) -> &str {
        self.files.get(index).map_or("?", String::as_str)
    }
}

/// A failure to load: the message is one line saying what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LoadError(pub String);

/// Loads the configuration from `source`. With [`ConfigSource::Run`] also returns the
/// version `nginx -v` reports.
pub fn load(source: &ConfigSource) -> Result<(Config, Option<String>), LoadError> {
    match source {
        ConfigSource::Dump(path) => {
            let text =
                std::fs::read(path).map_err(|e| LoadError(format!("{}: {e}", path.display())))?;
            let cfg = from_dump(
                &String::from_utf8_lossy(&text),
                &format!("dump {}", path.display()),
            )?;
            Ok((cfg, None))
        }
        ConfigSource::Conf(path) => Ok((from_disk(path)?, None)),
        ConfigSource::Run => {
            let nginx = find_nginx().ok_or_else(|| {
                LoadError("nginx is not installed here (not in PATH or /usr/sbin): pass --dump FILE with the output of `nginx -T` from the server, or --conf PATH".into())
            })?;
            let out = Command::new(&nginx)
                .arg("-T")
                .output()
                .map_err(|e| LoadError(format!("running {} -T: {e}", nginx.display())))?;
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                let why = err
                    .lines()
                    .find(|l| l.contains("[emerg]"))
                    .or_else(|| err.lines().next())
                    .unwrap_or("no message");
                return Err(LoadError(format!(
                    "`{} -T` failed ({why}); run it as a user that can read the config (sudo), or pass --dump FILE",
                    nginx.display()
                )));
            }
            let cfg = from_dump(&String::from_utf8_lossy(&out.stdout), "nginx -T")?;
            Ok((cfg, nginx_version(&nginx)))
        }
    }
}

fn find_nginx() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|d| d.join("nginx"))
        .find(|p| p.is_file())
}

/// `nginx -v` prints `nginx version: nginx/1.22.1` on stderr.
fn nginx_version(nginx: &Path) -> Option<String> {
    let out = Command::new(nginx).arg("-v").output().ok()?;
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .find_map(|w| w.strip_prefix("nginx/"))
        .map(str::to_string)
}

/// A configuration from the text of an `nginx -T` dump.
pub fn from_dump(text: &str, origin: &str) -> Result<Config, LoadError> {
    let files = dump::split(text);
    if files.is_empty() {
        return Err(LoadError(format!(
            "{origin}: not an `nginx -T` dump (no `# configuration file PATH:` line); for a config file use --conf"
        )));
    }
    let main = files[0].path.clone();
    let mut src = DumpFiles { files };
    build(&mut src, &main, origin)
}

/// A configuration from files on disk, starting at `main`.
pub fn from_disk(main: &Path) -> Result<Config, LoadError> {
    let abs =
        std::path::absolute(main).map_err(|e| LoadError(format!("{}: {e}", main.display())))?;
    let abs = abs.to_string_lossy().into_owned();
    build(&mut DiskFiles, &abs, &format!("conf {}", main.display()))
}

/// A place files come from.
trait Files {
    /// Paths matching a glob pattern, sorted.
    fn glob(&mut self, pattern: &str) -> Vec<String>;
    fn read(&mut self, path: &str) -> Result<String, String>;
}

struct DumpFiles {
    files: Vec<DumpFile>,
}

impl Files for DumpFiles {
    fn glob(&mut self, pattern: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .files
            .iter()
            .filter(|f| glob_match(pattern, &f.path))
            .map(|f| f.path.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }
    fn read(&mut self, path: &str) -> Result<String, String> {
        self.files
            .iter()
            .find(|f| f.path == path)
            .map(|f| f.text.clone())
            .ok_or_else(|| "not in the dump".to_string())
    }
}

struct DiskFiles;

impl Files for DiskFiles {
    fn glob(&mut self, pattern: &str) -> Vec<String> {
        disk_glob(pattern)
    }
    fn read(&mut self, path: &str) -> Result<String, String> {
        std::fs::read(path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| e.to_string())
    }
}

struct Builder<'a> {
    src: &'a mut dyn Files,
    conf_dir: String,
    cfg: Config,
    index: HashMap<String, usize>,
}

fn build(src: &mut dyn Files, main: &str, origin: &str) -> Result<Config, LoadError> {
    let conf_dir = Path::new(main)
        .parent()
        .map_or_else(|| "/".to_string(), |p| p.to_string_lossy().into_owned());
    let mut b = Builder {
        src,
        conf_dir,
        cfg: Config {
            origin: origin.to_string(),
            ..Config::default()
        },
        index: HashMap::new(),
    };
    let text = b
        .src
        .read(main)
        .map_err(|e| LoadError(format!("{main}: {e}")))?;
    let tree = b.file(main, &text, 0)?;
    b.cfg.tree = tree;
    Ok(b.cfg)
}

impl Builder<'_> {
    fn file(&mut self, path: &str, text: &str, depth: usize) -> Result<Vec<Directive>, LoadError> {
        let next = self.cfg.files.len();
        let idx = *self.index.entry(path.to_string()).or_insert(next);
        if idx == next {
            self.cfg.files.push(path.to_string());
        }
        let parsed = parse::parse(text, idx)
            .map_err(|e| LoadError(format!("{path}:{}: {}", e.line, e.message)))?;
        self.expand(parsed, depth)
    }

    fn expand(&mut self, list: Vec<Directive>, depth: usize) -> Result<Vec<Directive>, LoadError> {
        let mut out = Vec::with_capacity(list.len());
        for mut d in list {
            if d.name == "include" && d.block.is_none() {
                let Some(arg) = d.arg(0) else { continue };
                let pattern = if arg.starts_with('/') {
                    arg.to_string()
                } else {
                    format!("{}/{arg}", self.conf_dir.trim_end_matches('/'))
                };
                self.cfg.includes.push(Include {
                    pattern: pattern.clone(),
                    file: d.file,
                    line: d.line,
                });
                let wild = pattern.contains(['*', '?', '[']);
                let paths = if wild {
                    self.src.glob(&pattern)
                } else {
                    vec![pattern.clone()]
                };
                if depth >= MAX_DEPTH {
                    return Err(LoadError(format!(
                        "{}:{}: includes nested more than {MAX_DEPTH} deep (a loop?)",
                        self.cfg.file(d.file),
                        d.line
                    )));
                }
                for p in paths {
                    match self.src.read(&p) {
                        Ok(text) => out.extend(self.file(&p, &text, depth + 1)?),
                        Err(e) => self.cfg.warnings.push(format!(
                            "{}:{}: include {p}: {e}",
                            self.cfg.file(d.file),
                            d.line
                        )),
                    }
                }
                continue;
            }
            if let Some(children) = d.block.take() {
                d.block = Some(self.expand(children, depth)?);
            }
            out.push(d);
        }
        Ok(out)
    }
}

/// Paths on disk matching `pattern`, each wildcard component listed in sorted order (like
/// glob(3): wildcards do not match a leading `.`; dangling symlinks are listed).
pub fn disk_glob(pattern: &str) -> Vec<String> {
    let mut prefixes = vec![String::new()];
    for (i, comp) in pattern.split('/').enumerate() {
        if i == 0 && comp.is_empty() {
            continue;
        }
        let absolute = pattern.starts_with('/');
        let join = |p: &str, c: &str| {
            if p.is_empty() && !absolute {
                c.to_string()
            } else {
                format!("{p}/{c}")
            }
        };
        let mut next = Vec::new();
        for p in &prefixes {
            if comp.contains(['*', '?', '[']) {
                let dir = if p.is_empty() {
                    if absolute {
                        "/"
                    } else {
                        "."
                    }
                } else {
                    p.as_str()
                };
                let Ok(rd) = std::fs::read_dir(dir) else {
                    continue;
                };
                let mut names: Vec<String> = rd
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| component_match(comp, n))
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|n| join(p, &n)));
            } else {
                next.push(join(p, comp));
            }
        }
        prefixes = next;
    }
    prefixes
        .into_iter()
        .filter(|p| Path::new(p).symlink_metadata().is_ok())
        .collect()
}

/// Does a whole path match a glob pattern (`*`, `?` and `[...]` never match `/`)?
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let pc: Vec<&str> = pattern.split('/').collect();
    let tc: Vec<&str> = path.split('/').collect();
    pc.len() == tc.len() && pc.iter().zip(&tc).all(|(p, t)| component_match(p, t))
}

/// Does one path component match a glob component?
fn component_match(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return pattern == name;
    }
    wild(pattern.as_bytes(), name.as_bytes())
}

fn wild(p: &[u8], t: &[u8]) -> bool {
    match p.first() {
        None => t.is_empty(),
        Some(b'*') => (0..=t.len()).any(|i| wild(&p[1..], &t[i..])),
        Some(b'?') => !t.is_empty() && wild(&p[1..], &t[1..]),
        Some(b'[') => {
            let Some(end) = p.iter().skip(2).position(|&c| c == b']').map(|e| e + 2) else {
                return t.first() == Some(&b'[') && wild(&p[1..], &t[1..]);
            };
            let Some(&c) = t.first() else { return false };
            let set = &p[1..end];
            let (neg, set) = match set.first() {
                Some(b'!' | b'^') => (true, &set[1..]),
                _ => (false, set),
            };
            let mut hit = false;
            let mut i = 0;
            while i < set.len() {
                if i + 2 < set.len() && set[i + 1] == b'-' {
                    hit |= set[i] <= c && c <= set[i + 2];
                    i += 3;
                } else {
                    hit |= set[i] == c;
                    i += 1;
                }
            }
            hit != neg && wild(&p[end + 1..], &t[1..])
        }
        Some(&c) => t.first() == Some(&c) && wild(&p[1..], &t[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_patterns() {
        assert!(glob_match(
            "/etc/nginx/sites-enabled/*",
            "/etc/nginx/sites-enabled/default"
        ));
        assert!(!glob_match(
            "/etc/nginx/sites-enabled/*",
            "/etc/nginx/sites-enabled/a/b"
        ));
        assert!(!glob_match(
            "/etc/nginx/sites-enabled/*",
            "/etc/nginx/sites-enabled/.hidden"
        ));
        assert!(glob_match(
            "/etc/nginx/conf.d/*.conf",
            "/etc/nginx/conf.d/x.conf"
        ));
        assert!(!glob_match(
            "/etc/nginx/conf.d/*.conf",
            "/etc/nginx/conf.d/x.conf.bak"
        ));
        assert!(glob_match("/a/[a-c]?.conf", "/a/b1.conf"));
        assert!(!glob_match("/a/[!a-c]?.conf", "/a/b1.conf"));
    }

    #[test]
    fn dump_includes_expand_in_place_with_their_own_lines() {
        let dump = "# configuration file /etc/nginx/nginx.conf:\n\
events {}\n\
http {\n\
    include mime.types;\n\
    include /etc/nginx/sites-enabled/*;\n\
}\n\
# configuration file /etc/nginx/mime.types:\n\
types { text/html html; }\n\
# configuration file /etc/nginx/sites-enabled/b:\n\
server { listen 81; }\n\
# configuration file /etc/nginx/sites-enabled/a:\n\
\n\
server { listen 80; }\n";
        let cfg = from_dump(dump, "test").unwrap();
        let http = &cfg.tree[1];
        let names: Vec<&str> = http.children().iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, vec!["types", "server", "server"]);
        // Sorted like glob(3): a before b, whatever the dump order.
        let a = &http.children()[1];
        assert_eq!(cfg.file(a.file), "/etc/nginx/sites-enabled/a");
        assert_eq!(a.line, 2);
        assert_eq!(cfg.includes.len(), 2);
        assert_eq!(cfg.includes[0].pattern, "/etc/nginx/mime.types");
    }
}
