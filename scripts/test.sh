#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and end-to-end tests.
# Installs the Debian packages the tests use when they are missing (needs root then).
# Tests run under cargo nextest (.config/nextest.toml): each in its own process, none
# retried, a hung one killed and named after its deadline, a summary at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test
scripts/deps.sh --rust
export PATH="$HOME/.cargo/bin:$PATH"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# End-to-end tests run the built daemon, CLI and PAM module.
cargo build --workspace --locked
# No doctests: the only code blocks in doc comments are JSON examples. Add
# `cargo test --doc --workspace --locked` here when a Rust one appears.
if cargo nextest run --workspace --locked; then
    echo "behaviord: test suite passed"
else
    echo "behaviord: test suite FAILED (the failing and killed tests are listed above)" >&2
    exit 1
fi
