#![no_main]
//! Thin wrapper: the code under test is `wsdiag::fuzzing::decode`, which the regression replay in
//! `tests/cli/hostile.rs` calls too.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| wsdiag::fuzzing::decode(data));
