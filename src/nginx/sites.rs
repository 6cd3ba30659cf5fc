//! The Debian sites layout on disk: `sites-enabled/` holds links to files in
//! `sites-available/`. Finds the directories from the `include .../sites-enabled/*` of the
//! config (or `--sites-dir`), lists files no link points to and links that point nowhere. The
//! comparison of a disabled file's WebSocket locations with the enabled config is in `mod.rs`,
//! which has both models.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::load::Config;

/// One entry of `sites-enabled/`.
#[derive(Clone, Debug, Serialize)]
pub struct EnabledEntry {
    pub name: String,
    /// Where the link points, as written; `None` for a plain file.
    pub link: Option<String>,
    /// The file it resolves to; `None` when the link is dangling.
    #[serde(skip)]
    pub target: Option<PathBuf>,
    pub dangling: bool,
}

/// A `sites-available/` + `sites-enabled/` pair.
#[derive(Clone, Debug, Serialize)]
pub struct Layout {
    /// The directory holding both (`/etc/nginx`).
    pub root: String,
    pub enabled: Vec<EnabledEntry>,
    /// Files in `sites-available/` that no `sites-enabled/` entry points to.
    pub not_enabled: Vec<String>,
}

/// The directories holding a sites pair: `override_dir` if given, else the parent of every
/// `sites-enabled` directory the config includes from.
pub fn roots(cfg: &Config, override_dir: Option<&Path>) -> Vec<PathBuf> {
    if let Some(d) = override_dir {
        return vec![d.to_path_buf()];
    }
    let mut out: Vec<PathBuf> = Vec::new();
    for inc in &cfg.includes {
        let dir = Path::new(&inc.pattern).parent();
        if let Some(dir) = dir.filter(|d| d.file_name().is_some_and(|n| n == "sites-enabled")) {
            if let Some(root) = dir.parent() {
                if !out.iter().any(|r| r == root) {
                    out.push(root.to_path_buf());
                }
            }
        }
    }
    out
}

/// Reads the layout under `root`; `None` when `root/sites-enabled` is not on this machine
/// (a dump read elsewhere).
pub fn inspect(root: &Path) -> Option<Layout> {
    let enabled_dir = root.join("sites-enabled");
    let available_dir = root.join("sites-available");
    let mut enabled = Vec::new();
    for e in list(&enabled_dir)? {
        let path = enabled_dir.join(&e);
        let link = std::fs::read_link(&path)
            .ok()
            .map(|l| l.to_string_lossy().into_owned());
        let target = std::fs::canonicalize(&path).ok();
        enabled.push(EnabledEntry {
            name: e,
            dangling: target.is_none(),
            link,
            target,
        });
    }
    let mut not_enabled = Vec::new();
    for a in list(&available_dir).unwrap_or_default() {
        let path = available_dir.join(&a);
        if !path.is_file() {
            continue;
        }
        let canon = std::fs::canonicalize(&path).ok();
        if !enabled
            .iter()
            .any(|e| e.target.is_some() && e.target == canon)
        {
            not_enabled.push(a);
        }
    }
    Some(Layout {
        root: root.display().to_string(),
        enabled,
        not_enabled,
    })
}

/// Names in a directory, sorted, without hidden ones (the `*` glob skips them too).
fn list(dir: &Path) -> Option<Vec<String>> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    v.sort();
    Some(v)
}

/// `path` shown relative to `root` after resolving links (`sites-available/sogething` for
/// `/etc/nginx/sites-enabled/sogething`), or as given when it is elsewhere.
pub fn display(root: &Path, path: &str) -> String {
    let canon_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let canon = std::fs::canonicalize(path).unwrap_or_else(|_| PathBuf::from(path));
    canon
        .strip_prefix(&canon_root)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.to_string())
}
