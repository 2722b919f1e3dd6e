#!/usr/bin/env bash
# Runs the local store-edge demo: HQ (a collector with its embedded MQTT broker) and two stores'
# agents on 127.0.0.1, store s1 with virtual devices read by the real drivers (serial scanner on
# a pty, HID POS scanner on a FIFO, ESC/POS till and printer around the tap, Xovis door counter),
# store s2 through its line feed. A store day plays on a simulated clock with an HQ outage in the
# middle; alerts and staffing signals are printed as they fire. No Mosquitto needed.
#
#   scripts/demo.sh                          # a 60 s store day; the dashboard stays up until Ctrl-C
#   scripts/demo.sh --duration 30 --no-wait  # shorter, exits after the summary
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
