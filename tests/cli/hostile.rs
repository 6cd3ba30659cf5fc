//! Hostile and broken inputs: the fuzzers' regression inputs and seeds replayed through the same
//! entry points (`wsdiag::fuzzing`), and synthetic captures of attacks and impossible packets
//! generated here (nothing large is committed).

use std::path::Path;

use crate::util;

/// Runs every file in `fuzz/regressions/TARGET/` and `fuzz/seeds/TARGET/` through the fuzz
/// target's entry point. A panic fails the test and names the file.
#[test]
fn fuzz_regressions_and_seeds_replay_without_panic() {
    let targets: [(&str, fn(&[u8])); 4] = [
        ("capture_reader", wsdiag::fuzzing::capture_reader),
        ("decode", wsdiag::fuzzing::decode),
        ("tcp_http", wsdiag::fuzzing::tcp_http),
        ("http_conn", wsdiag::fuzzing::http_conn),
    ];
    let mut replayed = 0;
    for (target, entry) in targets {
        for kind in ["regressions", "seeds"] {
            let dir = util::root().join("fuzz").join(kind).join(target);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
            files.sort();
            for path in files {
                if is_hidden(&path) {
                    continue;
                }
                let bytes = std::fs::read(&path).unwrap();
                let r = std::panic::catch_unwind(|| entry(&bytes));
                assert!(r.is_ok(), "{target}: {} panics", path.display());
                replayed += 1;
            }
        }
    }
    assert!(replayed >= 20, "only {replayed} inputs replayed");
}

fn is_hidden(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}
