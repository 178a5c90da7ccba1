#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and end-to-end tests.
# Installs the Debian packages the tests use when they are missing (needs root then).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test
scripts/deps.sh --rust
export PATH="$HOME/.cargo/bin:$PATH"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# End-to-end tests run the built daemon, CLI and PAM module.
cargo build --workspace --locked
cargo test --workspace --locked
