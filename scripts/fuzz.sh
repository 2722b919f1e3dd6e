#!/usr/bin/env bash
# Fuzzes where hostile bytes enter: the collector's handling of one publish, the agent's
# handling of a commit mark or collector status, and every decoder of device, POS, config and
# HQ command input (targets in fuzz/fuzz_targets/; README, "Fuzzing", lists what each asserts).
#
#   scripts/fuzz.sh --all                # every target, 600 s each, one after the other
#   scripts/fuzz.sh                      # the same (no target named means all of them)
#   scripts/fuzz.sh --secs 30            # a short run (what CI could afford)
#   scripts/fuzz.sh --parallel           # the targets side by side, one per core (nproc)
#   scripts/fuzz.sh --jobs 2 --all       # at most two at a time (implies --parallel)
#   scripts/fuzz.sh --cmin               # then minimise each corpus (cargo fuzz cmin)
#   scripts/fuzz.sh agent_ack            # only the named target(s)
#   scripts/fuzz.sh --list               # the targets
#   scripts/fuzz.sh --seeds              # rewrite the seed inputs into fuzz/corpus/ and stop
#
# Installs cargo-fuzz from crates.io when it is missing. Uses the nightly toolchain when rustup
# has one, else stable with RUSTC_BOOTSTRAP=1 (cargo-fuzz needs nightly-only rustc flags).
# Builds into FUZZ_TARGET_DIR (default fuzz/target): fuzz builds use other flags than normal
# ones and must not share their target dir. FUZZ_SANITIZER (default none: the code under test
# is safe Rust, and the targets assert their own invariants) may be address. New corpus entries
# land in fuzz/corpus/<target>; a failure leaves its input in fuzz/artifacts/<target>/ and the
# script exits non-zero (see README, "Fuzzing", for turning it into a regression test).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)

secs=600
parallel=false
jobs=$(nproc 2>/dev/null || echo 2)
cmin=false
list=false
seeds=false
all=false
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --secs) secs="$2"; shift 2 ;;
        --secs=*) secs="${1#--secs=}"; shift ;;
        --parallel) parallel=true; shift ;;
        --jobs) parallel=true; jobs="$2"; shift 2 ;;
        --jobs=*) parallel=true; jobs="${1#--jobs=}"; shift ;;
        --cmin) cmin=true; shift ;;
        --list) list=true; shift ;;
        --seeds) seeds=true; shift ;;
        --all) targets=(); all=true; shift ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        -*) echo "unknown option: $1" >&2; exit 2 ;;
        *) $all || targets+=("$1"); shift ;;
    esac
done
case "$secs" in ''|*[!0-9]*) echo "--secs takes a whole number of seconds" >&2; exit 2 ;; esac
case "$jobs" in ''|0|*[!0-9]*) echo "--jobs takes a positive whole number" >&2; exit 2 ;; esac

# Normal builds' target dir (e.g. a shared CARGO_TARGET_DIR) must not see fuzz flags.
unset CARGO_TARGET_DIR
target_dir="${FUZZ_TARGET_DIR:-$root/fuzz/target}"
sanitizer="${FUZZ_SANITIZER:-none}"

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    toolchain=()
    export RUSTC_BOOTSTRAP=1
fi

if ! cargo "${toolchain[@]}" fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked
fi

fuzz() { cargo "${toolchain[@]}" fuzz "$@"; }

if $list; then
    fuzz list
    exit 0
fi
if $seeds; then
    (cd fuzz && cargo "${toolchain[@]}" run --quiet --target-dir "$target_dir" --example seeds -- corpus)
    echo "seeds written to fuzz/corpus/"
    exit 0
fi
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(fuzz list)
fi

build_args=(--sanitizer "$sanitizer" --target-dir "$target_dir")
started=$(date +%s)
echo "==> building ${targets[*]} (toolchain ${toolchain[*]:-stable with RUSTC_BOOTSTRAP=1}, sanitizer $sanitizer)"
for t in "${targets[@]}"; do
    fuzz build "${build_args[@]}" "$t"
done
echo "==> built in $(( $(date +%s) - started )) s"

run_one() {
    local t="$1"
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    # -timeout: one input taking seconds is a hang (a stall from one bad message).
    fuzz run "${build_args[@]}" "$t" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        > "fuzz/target-$t.log" 2>&1
}

failed=()
if $parallel; then
    # At most $jobs runs at once: more than one per core only slows each down.
    declare -A running=()
    reap() {
        local pid
        wait -n -p pid "${!running[@]}" || failed+=("${running[$pid]}")
        unset "running[$pid]"
    }
    for t in "${targets[@]}"; do
        while [ ${#running[@]} -ge "$jobs" ]; do reap; done
        echo "==> fuzzing $t for $secs s (log: fuzz/target-$t.log)"
        run_one "$t" & running[$!]="$t"
    done
    while [ ${#running[@]} -gt 0 ]; do reap; done
else
    for t in "${targets[@]}"; do
        echo "==> fuzzing $t for $secs s (log: fuzz/target-$t.log)"
        run_one "$t" || failed+=("$t")
    done
fi

for t in "${targets[@]}"; do
    echo "--- $t"
    grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb)|Done [0-9]+ runs' "fuzz/target-$t.log" || true
    grep -E 'cov: [0-9]+' "fuzz/target-$t.log" | tail -1 || true
    echo "corpus: $(find "fuzz/corpus/$t" -type f | wc -l) files, $(du -sh "fuzz/corpus/$t" | cut -f1)"
done

if $cmin && [ ${#failed[@]} -eq 0 ]; then
    for t in "${targets[@]}"; do
        echo "==> minimising the $t corpus"
        fuzz cmin "${build_args[@]}" "$t" "fuzz/corpus/$t" > "fuzz/target-$t-cmin.log" 2>&1
        echo "corpus: $(find "fuzz/corpus/$t" -type f | wc -l) files, $(du -sh "fuzz/corpus/$t" | cut -f1)"
    done
fi

echo "==> total $(( $(date +%s) - started )) s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]} (inputs in fuzz/artifacts/; details in fuzz/target-<name>.log)" >&2
    exit 1
fi
