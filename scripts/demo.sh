#!/usr/bin/env bash
# Runs the local store-edge demo: a collector with its embedded MQTT broker and an agent on
# 127.0.0.1, fed with a simulated store day, with an HQ outage in the middle. No Mosquitto needed.
#
#   scripts/demo.sh                          # a 60 s store day; Ctrl-C to stop afterwards
#   scripts/demo.sh --duration 20 --no-wait  # shorter, exits after the summary
#   scripts/demo.sh --help                   # all options (--duration, --speed, --no-wait, --keep)
#
# Builds the release binaries first (cargo build --release --bins), then runs target/release/demo
# with the arguments given here.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

command -v cargo >/dev/null 2>&1 || { echo "cargo not found on PATH (install a Rust toolchain: https://rustup.rs)" >&2; exit 1; }

echo "==> building (cargo build --release --bins)"
cargo build --release --bins

exec target/release/demo "$@"
