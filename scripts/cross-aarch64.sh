#!/usr/bin/env bash
# Builds store-agent for 64-bit ARM (aarch64-unknown-linux-gnu) on a Debian amd64 machine without
# Docker, then smoke-tests the ARM binary under qemu user emulation against a real Mosquitto.
#
#   scripts/cross-aarch64.sh                 # install what is missing, build, smoke-test
#   scripts/cross-aarch64.sh --no-install    # fail instead of installing packages
#   scripts/cross-aarch64.sh --build-only    # skip the qemu smoke test
#
# Uses Debian's own Rust toolchain (rustc-web/cargo-web, with the arm64 standard library from
# libstd-rust-web-dev:arm64) and the aarch64-linux-gnu cross linker. Where `cross` and Docker are
# available, `cross build --target aarch64-unknown-linux-gnu -p store-agent --release` (see
# Cross.toml) gives the same binary.
#
# Output: target/cross-aarch64/aarch64-unknown-linux-gnu/release/store-agent (the host's target
# directory is left alone), plus a stripped copy next to it (store-agent.stripped).
#
# The smoke test runs the binary with qemu-aarch64-static and WITHOUT `-L`: the arm64 glibc is
# installed multiarch, so the binary's loader /lib/ld-linux-aarch64.so.1 finds it natively; a
# sysroot given with -L mixes two glibcs and makes threaded programs spin forever.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

TARGET=aarch64-unknown-linux-gnu
TARGET_DIR="${CROSS_AARCH64_TARGET_DIR:-${ROOT}/target/cross-aarch64}"
INSTALL=1
SMOKE=1
for arg in "$@"; do
    case "${arg}" in
        --no-install) INSTALL=0 ;;
        --build-only) SMOKE=0 ;;
        -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: ${arg} (see --help)" >&2; exit 2 ;;
    esac
done

log() { printf '\n==> %s\n' "$*"; }
die() { echo "error: $*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        die "need root to run: $* (and sudo is not available)"
    fi
}

# --- prerequisites -----------------------------------------------------------------------------
PACKAGES=(rustc-web cargo-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu
          libc6-dev-arm64-cross qemu-user-static mosquitto mosquitto-clients binutils-aarch64-linux-gnu)

installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = "installed" ]
}

missing=()
for p in "${PACKAGES[@]}"; do
    installed "${p}" || missing+=("${p}")
done
need_arch=0
dpkg --print-foreign-architectures | grep -qx arm64 || need_arch=1
if [ "${need_arch}" -eq 1 ] || [ "${#missing[@]}" -gt 0 ]; then
    [ "${INSTALL}" -eq 1 ] || die "missing: ${missing[*]:-}${need_arch:+ (arm64 architecture not enabled)}"
    log "installing: ${missing[*]}"
    if [ "${need_arch}" -eq 1 ]; then
        as_root dpkg --add-architecture arm64
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update </dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" </dev/null
fi

# Debian's cargo-web installs /usr/bin/cargo (and rustc-web /usr/bin/rustc). Call both by full
# path: a rustup toolchain earlier on PATH has no arm64 standard library (it fails on `core`).
CARGO="${DEBIAN_CARGO:-/usr/bin/cargo}"
RUSTC_BIN="${DEBIAN_RUSTC:-/usr/bin/rustc}"
[ -x "${CARGO}" ] || die "${CARGO} not found (package cargo-web)"
[ -x "${RUSTC_BIN}" ] || die "${RUSTC_BIN} not found (package rustc-web)"
echo "rustc: $("${RUSTC_BIN}" --version)"
echo "cargo: $(RUSTC="${RUSTC_BIN}" "${CARGO}" --version)"
msrv="$(sed -n 's/^rust-version *= *"\(.*\)"/\1/p' Cargo.toml | head -n1)"
echo "workspace rust-version: ${msrv}"

# --- build -------------------------------------------------------------------------------------
log "building store-agent for ${TARGET} into ${TARGET_DIR}"
start=${SECONDS}
env RUSTC="${RUSTC_BIN}" \
    RUSTDOC=/usr/bin/rustdoc \
    CARGO_TARGET_DIR="${TARGET_DIR}" \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
    nice -n 10 "${CARGO}" build --locked --release -p store-agent --target "${TARGET}"
echo "built in $((SECONDS - start)) s"

BIN="${TARGET_DIR}/${TARGET}/release/store-agent"
[ -x "${BIN}" ] || die "no binary at ${BIN}"
aarch64-linux-gnu-strip -o "${BIN}.stripped" "${BIN}"
file "${BIN}" 2>/dev/null || true
echo "size: $(stat -c %s "${BIN}") bytes; stripped: $(stat -c %s "${BIN}.stripped") bytes"

[ "${SMOKE}" -eq 1 ] || exit 0

# --- smoke test under qemu ---------------------------------------------------------------------
QEMU="$(command -v qemu-aarch64-static || true)"
[ -n "${QEMU}" ] || die "qemu-aarch64-static not found (package qemu-user-static)"
MOSQUITTO="$(command -v mosquitto || echo /usr/sbin/mosquitto)"
[ -x "${MOSQUITTO}" ] || die "mosquitto not found"

arm() { "${QEMU}" "${BIN}" "$@"; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/cross-aarch64.XXXXXX")"
PIDS=()
cleanup() {
    local status=$?
    for pid in "${PIDS[@]}"; do
        kill "${pid}" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [ "${status}" -ne 0 ]; then
        echo "smoke test failed; logs kept in ${WORK}" >&2
        for f in "${WORK}"/*.log; do
            [ -f "${f}" ] && { echo "--- ${f}"; tail -n 30 "${f}"; } >&2
        done
    else
        rm -rf "${WORK}"
    fi
}
trap cleanup EXIT

# A free TCP port on 127.0.0.1 outside the ephemeral range (which starts at 32768 on Linux).
free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 12000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/${p}") 2>/dev/null; then
            echo "${p}"
            return 0
        fi
    done
    die "no free port found"
}

# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
    local secs="$1"
    shift
    local deadline=$((SECONDS + secs))
    until "$@"; do
        [ "${SECONDS}" -lt "${deadline}" ] || return 1
        sleep 0.2
    done
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

log "smoke: store-agent --version (qemu)"
arm --version

log "smoke: store-agent check-config config/agent.example.toml (qemu)"
arm check-config config/agent.example.toml

log "smoke: journal and publish events to Mosquitto (qemu)"
MQTT_PORT="$(free_port)"
FEED_PORT="$(free_port)"
while [ "${FEED_PORT}" = "${MQTT_PORT}" ]; do FEED_PORT="$(free_port)"; done
cat >"${WORK}/mosquitto.conf" <<EOF
listener ${MQTT_PORT} 127.0.0.1
allow_anonymous true
persistence false
EOF
"${MOSQUITTO}" -c "${WORK}/mosquitto.conf" >"${WORK}/mosquitto.log" 2>&1 &
PIDS+=($!)
wait_for 10 port_open "${MQTT_PORT}" || die "mosquitto did not listen on ${MQTT_PORT}"

# Counts event batches as they arrive (payloads are protobuf; only their arrival matters here).
mosquitto_sub -h 127.0.0.1 -p "${MQTT_PORT}" -t 'stores/+/agents/+/events' -v -N \
    >"${WORK}/events.out" 2>"${WORK}/mosquitto_sub.log" &
PIDS+=($!)

cat >"${WORK}/agent.toml" <<EOF
store_id = "store-cross"
agent_id = "aarch64"
state_dir = "${WORK}/state"

[mqtt]
host = "127.0.0.1"
port = ${MQTT_PORT}

[uplink]
linger_ms = 0

[[drivers]]
type = "line_feed"
id = "feed"
listen = "127.0.0.1:${FEED_PORT}"
EOF
arm check-config "${WORK}/agent.toml"
"${QEMU}" "${BIN}" run --config "${WORK}/agent.toml" >"${WORK}/agent.log" 2>&1 &
AGENT_PID=$!
PIDS+=("${AGENT_PID}")
wait_for 60 port_open "${FEED_PORT}" || die "the agent's line feed did not open on ${FEED_PORT}"

N=5
exec 4<>"/dev/tcp/127.0.0.1/${FEED_PORT}"
for i in $(seq 1 "${N}"); do
    printf '{"type":"scan","device_id":"scanner-1","data":"0950600013435%s","mode":"sale","quantity":1}\n' "$((i % 10))" >&4
done
acked=0
for i in $(seq 1 "${N}"); do
    read -r -t 30 answer <&4 || die "no answer for event ${i}"
    case "${answer}" in
        ok\ *) acked=$((acked + 1)); echo "event ${i}: ${answer}" ;;
        *) die "event ${i} refused: ${answer}" ;;
    esac
done
exec 4>&-
[ "${acked}" -eq "${N}" ] || die "only ${acked} of ${N} events acknowledged"

# The broker has the events once a batch arrived and the agent has nothing left in flight.
topic_seen() { grep -q '^stores/store-cross/agents/aarch64/events ' "${WORK}/events.out"; }
wait_for 60 topic_seen || die "no event batch reached the broker"
settled() {
    arm status --socket "${WORK}/state/agent.sock" --json 2>/dev/null | tr -d ' \n' >"${WORK}/status.json" &&
        grep -q '"inflight_batches":0' "${WORK}/status.json" &&
        grep -q '"to_send":0' "${WORK}/status.json" &&
        ! grep -q '"last_puback_wall_ms":null' "${WORK}/status.json"
}
wait_for 60 settled || die "the agent did not settle: $(cat "${WORK}/status.json" 2>/dev/null)"
echo "batches received by mosquitto_sub: $(grep -c '^stores/' "${WORK}/events.out")"
echo "status: $(cat "${WORK}/status.json")"

kill -TERM "${AGENT_PID}"
set +e
wait "${AGENT_PID}"
rc=$?
set -e
[ "${rc}" -eq 0 ] || die "the agent exited with ${rc} after SIGTERM"

# No collector runs here, so the journal keeps every event (they leave only below HQ's mark).
arm journal stats --state-dir "${WORK}/state" | tee "${WORK}/journal-stats.txt"
log "aarch64 smoke test passed: ${N} events journaled and published"
