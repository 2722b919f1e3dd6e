#!/usr/bin/env bash
# Builds the store-agent Debian package from an already built binary, with plain dpkg-deb (no
# cargo-deb needed). Installs the same files as `cargo deb -p store-agent` would from
# [package.metadata.deb] in agent/Cargo.toml:
#
#   /usr/bin/store-agent                         the binary (stripped copy)
#   /lib/systemd/system/store-agent.service      the unit (StateDirectory= makes /var/lib/store-agent)
#   /lib/udev/rules.d/70-store-scanners.rules    hidraw access for HID scanners
#   /etc/store-agent/agent.toml                  config/agent.example.toml, a conffile
#   /usr/share/doc/store-agent/{README.md,copyright}
#   maintainer scripts from packaging/deb/ (daemon-reload, restart on upgrade, stop on removal)
#
#   scripts/package-deb.sh                                   # amd64, from target/release
#   scripts/package-deb.sh --arch arm64                      # from scripts/cross-aarch64.sh's build
#   scripts/package-deb.sh --binary PATH --out DIR           # any binary, package written to DIR
#
# Options: --arch amd64|arm64 (default: this machine's), --binary PATH (default: the release
# binary for that arch under $CARGO_TARGET_DIR or target/), --out DIR (default: target/debian),
# --version V (default: the workspace version in Cargo.toml). Prints the path of the .deb last.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

die() { echo "error: $*" >&2; exit 1; }

ARCH=""
BINARY=""
OUT=""
VERSION=""
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) ARCH="${2:?--arch needs a value}"; shift 2 ;;
        --binary) BINARY="${2:?--binary needs a value}"; shift 2 ;;
        --out) OUT="${2:?--out needs a value}"; shift 2 ;;
        --version) VERSION="${2:?--version needs a value}"; shift 2 ;;
        -h|--help) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done

command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb not found (package dpkg)"

TARGET_ROOT="${CARGO_TARGET_DIR:-${ROOT}/target}"
[ -n "${ARCH}" ] || ARCH="$(dpkg --print-architecture)"
case "${ARCH}" in
    amd64)
        DEFAULT_BINARY="${TARGET_ROOT}/release/store-agent"
        STRIP=(strip)
        ;;
    arm64)
        DEFAULT_BINARY="${ROOT}/target/cross-aarch64/aarch64-unknown-linux-gnu/release/store-agent"
        STRIP=(aarch64-linux-gnu-strip)
        ;;
    *) die "unsupported --arch ${ARCH} (amd64 or arm64)" ;;
esac
[ -n "${BINARY}" ] || BINARY="${DEFAULT_BINARY}"
[ -f "${BINARY}" ] || die "no binary at ${BINARY}: build it first (cargo build --release -p store-agent, or scripts/cross-aarch64.sh for arm64), or pass --binary"
[ -n "${OUT}" ] || OUT="${TARGET_ROOT}/debian"
if [ -z "${VERSION}" ]; then
    VERSION="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n1)"
    [ -n "${VERSION}" ] || die "cannot read the workspace version from Cargo.toml"
fi

# The binary must be for the package's architecture: a mismatch would install a binary that
# cannot run. `file` may be missing; readelf (binutils) is what strip needs anyway.
machine="$(readelf -h "${BINARY}" 2>/dev/null | sed -n 's/^ *Machine: *//p')"
case "${ARCH}:${machine}" in
    amd64:*X86-64*|arm64:*AArch64*) ;;
    *) die "${BINARY} is for '${machine:-unknown machine}', not ${ARCH}" ;;
esac

STAGE="$(mktemp -d "${TMPDIR:-/tmp}/store-agent-deb.XXXXXX")"
trap 'rm -rf "${STAGE}"' EXIT
PKG="${STAGE}/store-agent"

install -d "${PKG}/DEBIAN" "${PKG}/usr/bin" "${PKG}/lib/systemd/system" "${PKG}/lib/udev/rules.d" \
    "${PKG}/etc/store-agent" "${PKG}/usr/share/doc/store-agent"
if command -v "${STRIP[0]}" >/dev/null 2>&1; then
    "${STRIP[@]}" -o "${PKG}/usr/bin/store-agent" "${BINARY}"
else
    echo "warning: ${STRIP[0]} not found; packaging the binary unstripped" >&2
    cp "${BINARY}" "${PKG}/usr/bin/store-agent"
fi
chmod 755 "${PKG}/usr/bin/store-agent"
install -m 644 systemd/store-agent.service "${PKG}/lib/systemd/system/store-agent.service"
install -m 644 systemd/70-store-scanners.rules "${PKG}/lib/udev/rules.d/70-store-scanners.rules"
install -m 644 config/agent.example.toml "${PKG}/etc/store-agent/agent.toml"
install -m 644 README.md "${PKG}/usr/share/doc/store-agent/README.md"
cat >"${PKG}/usr/share/doc/store-agent/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: store-edge
Source: https://github.com/store-edge/store-edge

Files: *
Copyright: store-edge contributors
License: Apache-2.0
 On Debian systems, the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
EOF
for script in postinst prerm postrm; do
    install -m 755 "packaging/deb/${script}" "${PKG}/DEBIAN/${script}"
done
echo "/etc/store-agent/agent.toml" >"${PKG}/DEBIAN/conffiles"

# Depends: the highest glibc symbol version the binary needs (readelf reads any architecture's
# ELF), and libgcc_s for unwinding when it is linked.
glibc="$(readelf -V "${BINARY}" 2>/dev/null | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -Vu | tail -n1)"
depends="libc6 (>= ${glibc:-2.31})"
if readelf -d "${BINARY}" 2>/dev/null | grep -q 'NEEDED.*libgcc_s'; then
    depends="${depends}, libgcc-s1"
fi
# postinst creates the store-agent system user.
depends="${depends}, adduser"
installed_kib="$(du -sk --exclude=DEBIAN "${PKG}" | cut -f1)"
cat >"${PKG}/DEBIAN/control" <<EOF
Package: store-agent
Version: ${VERSION}
Architecture: ${ARCH}
Maintainer: store-edge maintainers <store-edge@users.noreply.github.com>
Installed-Size: ${installed_kib}
Depends: ${depends}
Section: net
Priority: optional
Homepage: https://github.com/store-edge/store-edge
Description: Store edge agent: devices to a durable journal to HQ over MQTT
 Reads store devices (barcode scanners, POS feeds, people counters), makes every
 event durable in a local journal and forwards the events to HQ over MQTT.
 Edit /etc/store-agent/agent.toml, then: systemctl enable --now store-agent
EOF
(cd "${PKG}" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) \
    >"${PKG}/DEBIAN/md5sums"

mkdir -p "${OUT}"
DEB="${OUT}/store-agent_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zxz --build "${PKG}" "${DEB}" >/dev/null
echo "${DEB}"
