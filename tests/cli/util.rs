//! A small harness that runs the real `wsdiag` binary from the crate root.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn wsdiag() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wsdiag"));
    c.current_dir(root());
    c
}

/// Runs wsdiag with `args`, returns (exit status, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = wsdiag().args(args).output().expect("run wsdiag");
    decode(out)
}

/// Runs wsdiag with `stdin` fed from `input`.
pub fn run_stdin(args: &[&str], input: &[u8]) -> (i32, String, String) {
    use std::io::Write;
    let mut child = wsdiag()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn wsdiag");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        // The child may stop reading early (bad input); that is fine.
        let _ = stdin.write_all(input);
    }
    decode(child.wait_with_output().expect("wait wsdiag"))
}

fn decode(out: Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Compares `actual` with the reviewed golden file `tests/golden/NAME`; with `UPDATE_GOLDEN=1`
/// writes it instead (read the diff before committing).
pub fn golden(name: &str, actual: &str) {
    let path = root().join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing golden file {}; create it with UPDATE_GOLDEN=1 cargo test and review it",
            path.display()
        )
    });
    if expected != actual {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .enumerate()
            .filter(|(_, (e, a))| e != a)
            .take(5)
            .map(|(i, (e, a))| format!("line {}:\n  expected: {e}\n  actual:   {a}", i + 1))
            .collect();
        panic!(
            "output differs from {} ({} vs {} lines)\n{}\nIf the change is intended: UPDATE_GOLDEN=1 cargo test, then review the diff.",
            path.display(),
            expected.lines().count(),
            actual.lines().count(),
            diff.join("\n")
        );
    }
}

/// The message of the first warning with `code` listed in a JSON report.
pub fn warning_message<'a>(report: &'a serde_json::Value, code: &str) -> &'a str {
    report["warnings"]
        .as_array()
        .and_then(|ws| ws.iter().find(|w| w["code"] == code))
        .and_then(|w| w["message"].as_str())
        .unwrap_or_else(|| panic!("no {code} warning listed"))
}

pub fn sample(name: &str) -> String {
    let p = Path::new("samples").join(name);
    assert!(root().join(&p).exists(), "sample {name} is missing");
    p.to_string_lossy().into_owned()
}
