#!/usr/bin/env bash
# Builds every fuzz target on the stable toolchain (no sanitizer: AddressSanitizer needs
# nightly), so CI notices when a target stops compiling. Installs cargo-fuzz when missing.
# The regression inputs are replayed by `cargo test` (tests/cli/hostile.rs), not here.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz --version 0.13.2
fi
cargo fuzz build -s none -a
