#!/usr/bin/env bash
# Builds store-edge and runs every test, including the end-to-end tests with real processes.
#
#   scripts/test.sh            # from anywhere inside the checkout
#
# Installs Mosquitto, PostgreSQL, libfaketime (package faketime), binutils and Chromium when they are
# missing (apt-get; sudo only when not root), builds the release binaries the end-to-end tests
# start, runs the unit tests of every crate, then the end-to-end tests one at a time, then the
# reduced fault suite, and prints a summary.
# Non-interactive: works as root in CI (CI=true, no stdin). Knobs for the end-to-end tests (see
# tests/src/lib.rs): STORE_TESTS_SEED, STORE_TESTS_OUTAGE_SECS, STORE_TESTS_POWER_CUTS,
# STORE_TESTS_COLLECTOR_POWER_CUTS, STORE_TESTS_LIMIT_SECS, STORE_TESTS_KEEP=1, RUST_LOG; step
# limits: UNIT_LIMIT, E2E_LIMIT, FAULTS_LIMIT (timeout(1) durations).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

log() { printf '\n==> %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        echo "need root to run: $* (and sudo is not available)" >&2
        return 1
    fi
}

# --- prerequisites -----------------------------------------------------------------------------
find_mosquitto() {
    if [ -n "${MOSQUITTO_BIN:-}" ] && [ -x "${MOSQUITTO_BIN}" ]; then
        echo "${MOSQUITTO_BIN}"
    elif [ -x /usr/sbin/mosquitto ]; then
        echo /usr/sbin/mosquitto
    else
        command -v mosquitto || true
    fi
}

if [ -z "$(find_mosquitto)" ]; then
    log "mosquitto not found: installing it"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update </dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends mosquitto </dev/null
fi
MOSQUITTO_BIN="$(find_mosquitto)"
if [ -z "${MOSQUITTO_BIN}" ]; then
    echo "mosquitto is still missing after installing it" >&2
    exit 1
fi
export MOSQUITTO_BIN
echo "mosquitto: ${MOSQUITTO_BIN} ($("${MOSQUITTO_BIN}" -h 2>/dev/null | head -n1 || true))"
# The package may start a system broker on 1883. The tests never use 1883 (each starts its own
# broker on a free port below the ephemeral range), so it is left alone; just say so.
if (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
    echo "note: something listens on 127.0.0.1:1883 (a system broker?); the tests do not use it"
fi

# The power-cut test mounts a FUSE filesystem (tests/src/lazyfs) through fusermount3 (Debian
# package fuse3; the fuser crate needs no libfuse C library).
if ! command -v fusermount3 >/dev/null 2>&1; then
    log "fusermount3 not found: installing fuse3"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update </dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends fuse3 </dev/null
fi

# The unit-file test runs `systemd-analyze verify` (Debian package systemd; not started).
if ! command -v systemd-analyze >/dev/null 2>&1; then
    log "systemd-analyze not found: installing systemd"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update </dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends systemd </dev/null
fi

# The PostgreSQL sink's test (collector/tests/pgsink.rs) runs a temporary cluster of the Debian
# package's server (initdb and postgres from /usr/lib/postgresql/*/bin; the package's own cluster
# is not used). It runs it as the package's `postgres` user when the tests run as root.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    log "PostgreSQL not found: installing postgresql"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update </dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql </dev/null
fi
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { echo "PostgreSQL is still missing after installing postgresql" >&2; exit 1; }

# The clock-jump test runs the agent under libfaketime (Debian package faketime).
find_libfaketime() {
    if [ -n "${FAKETIME_LIB:-}" ] && [ -f "${FAKETIME_LIB}" ]; then
        echo "${FAKETIME_LIB}"
    else
        ls /usr/lib/*/faketime/libfaketimeMT.so.1 2>/dev/null | head -n1 || true
    fi
}
if [ -z "$(find_libfaketime)" ]; then
    log "libfaketime not found: installing faketime"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update </dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends faketime </dev/null
fi
[ -n "$(find_libfaketime)" ] || { echo "libfaketime is still missing after installing faketime" >&2; exit 1; }

# The packaging test builds a .deb with dpkg-deb and strips and inspects the binary (binutils).
if ! command -v readelf >/dev/null 2>&1 || ! command -v strip >/dev/null 2>&1; then
    log "readelf/strip not found: installing binutils"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update </dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends binutils </dev/null
fi

# The dashboard test loads HQ's page in headless Chromium (Debian package chromium).
find_chromium() {
    if [ -n "${CHROMIUM_BIN:-}" ] && [ -x "${CHROMIUM_BIN}" ]; then
        echo "${CHROMIUM_BIN}"
    else
        command -v chromium || command -v chromium-browser || true
    fi
}
if [ -z "$(find_chromium)" ]; then
    log "chromium not found: installing it"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update </dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium </dev/null
fi
[ -n "$(find_chromium)" ] || { echo "chromium is still missing after installing it" >&2; exit 1; }
echo "chromium: $(find_chromium)"

command -v cargo >/dev/null 2>&1 || { echo "cargo not found on PATH" >&2; exit 1; }

# The declared minimum Rust version (`rust-version` in Cargo.toml) is checked with Debian's own
# build of that version (packages rustc-web and cargo-web, installed in /usr/bin beside the
# rustup toolchain, which stays first on PATH). Debian 12 carries 1.85 as an older version of
# rustc-web; elsewhere the check is skipped with a note.
MSRV="$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml)"
MSRV_DEB_VERSION="1.85.0+dfsg3-1~deb12u3"
msrv_rustc_ok() { [ -x /usr/bin/rustc ] && /usr/bin/rustc --version 2>/dev/null | grep -q "^rustc ${MSRV}"; }
if ! msrv_rustc_ok && [ "${MSRV_DEB_VERSION%%+*}" = "${MSRV}.0" ]; then
    log "Rust ${MSRV} (the declared minimum) not found in /usr/bin: installing rustc-web ${MSRV_DEB_VERSION}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update </dev/null || true
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        "rustc-web=${MSRV_DEB_VERSION}" "cargo-web=${MSRV_DEB_VERSION}" \
        "libstd-rust-web-dev=${MSRV_DEB_VERSION}" "libstd-rust-web-${MSRV}=${MSRV_DEB_VERSION}" \
        </dev/null || echo "note: could not install rustc-web ${MSRV_DEB_VERSION}; the minimum-version check is skipped"
fi

# --- build and test ----------------------------------------------------------------------------
# Runs a command with a time limit (coreutils timeout signals the command's whole process group,
# so brokers and agents a hung test started go too) and says so when the limit hit.
limited() {
    local limit="$1"
    shift
    local rc=0
    timeout --kill-after=30s "${limit}" "$@" || rc=$?
    if [ "${rc}" -eq 124 ] || [ "${rc}" -eq 137 ]; then
        echo "TIMED OUT after ${limit}: $*" >&2
    fi
    return "${rc}"
}
declare -a SUMMARY=()
FAILED=0
step() {
    local name="$1"
    shift
    log "${name}: $*"
    local start=${SECONDS}
    if "$@"; then
        SUMMARY+=("PASS  ${name} ($((SECONDS - start)) s)")
    else
        SUMMARY+=("FAIL  ${name} ($((SECONDS - start)) s)")
        FAILED=1
        return 1
    fi
}

step "formatting" cargo fmt --all -- --check || true
step "lints" cargo clippy --workspace --all-targets -- -D warnings || true
step "docs" env RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace || true
if msrv_rustc_ok && [ -x /usr/bin/cargo ]; then
    # Its own target directory: a different compiler must not invalidate the main build.
    step "minimum Rust ${MSRV}" env RUSTC=/usr/bin/rustc CARGO_TARGET_DIR=target/msrv \
        /usr/bin/cargo check --workspace --all-targets --locked || true
else
    SUMMARY+=("SKIP  minimum Rust ${MSRV} (no rustc ${MSRV} in /usr/bin)")
fi

BUILT=1
step "build release binaries" cargo build --release --workspace --bins || BUILT=0

if [ "${BUILT}" -eq 1 ]; then
    # Unit and integration tests of every crate but the end-to-end one, in parallel as usual.
    # Each test step has a time limit well above its usual duration (unit tests about 5 min,
    # end-to-end about 7 min on 2 cores), so a hang fails that step with a word instead of using
    # up CI's budget; each end-to-end test also has its own limit (tests/src/watchdog.rs).
    step "unit tests" limited "${UNIT_LIMIT:-30m}" cargo test --release --workspace --exclude store-tests --no-fail-fast || true
    # End-to-end tests: real processes, one test at a time (the harness serialises them within a
    # test binary too); output shown so the CI log has each scenario's timeline. --no-fail-fast:
    # one failing file must not hide the others.
    step "end-to-end tests" limited "${E2E_LIMIT:-40m}" cargo test --release -p store-tests --no-fail-fast -- --test-threads=1 --nocapture || true
    # The reduced fault suite (tests/src/bin/faults.rs, about 90 s): one fault per case, each
    # must end with zero lost and zero double-applied events. `--full` runs the documented
    # version (README, "Fault suite"); the table is also written as JSON.
    step "fault suite (reduced)" limited "${FAULTS_LIMIT:-10m}" cargo run --release -p store-tests --bin faults -- \
        --json target/faults.json || true
else
    SUMMARY+=("SKIP  unit tests (build failed)")
    SUMMARY+=("SKIP  end-to-end tests (build failed)")
    SUMMARY+=("SKIP  fault suite (build failed)")
fi

log "summary"
for line in "${SUMMARY[@]}"; do
    echo "  ${line}"
done
if [ "${FAILED}" -ne 0 ]; then
    echo "FAILED (scroll up for the failing step; failing end-to-end tests print process logs" \
         "and keep their directory under ${TMPDIR:-/tmp})"
    exit 1
fi
echo "ALL PASSED"
