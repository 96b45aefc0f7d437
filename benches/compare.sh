#!/usr/bin/env bash
# Runs the six workloads on moonweave and on Erlang/OTP on this machine and prints one table,
# with a ratio column (moonweave's advantage: Erlang's time or size divided by ours, our rate
# divided by Erlang's; above 1 means moonweave is ahead), followed by the one-worker rows, the
# preemption cost, the cost breakdown of the message path and the floors of ping-pong and ring on a
# bare Luau VM (benches/floor.rs).
# Installs Debian's erlang-nox when `erl` is missing (the tests never need it).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v erl >/dev/null 2>&1; then
    echo "installing erlang-nox (Erlang/OTP) for the comparison..." >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq erlang-nox >/dev/null
fi

workers=$(nproc)
erl_dir=$(mktemp -d)
trap 'rm -rf "$erl_dir"' EXIT
erlc -o "$erl_dir" benches/erlang/bench.erl
erl_out=$(erl +S "$workers:$workers" +P 4000000 -noshell -pa "$erl_dir" -s bench main)
otp=$(erl -noshell -eval 'io:format("~s", [erlang:system_info(otp_release)]), halt().')

# Each workload in a fresh process: one run's freed memory and allocator state otherwise
# changes the next one's result (spawn measured 0.54 M/s after idle, 0.90 M/s alone).
cargo bench -q --bench workloads --no-run 2>/dev/null
mw_out=$(for name in idle spawn skynet ring_1w ring ping_pong_1w ping_pong fan_in cpu_preemption cpu_process breakdown; do
    # A name's filter also runs the workloads whose names contain it: keep its own rows.
    pattern="^| $name |"
    [ "$name" = breakdown ] && pattern="^| breakdown_"
    cargo bench -q --bench workloads -- "$name" 2>/dev/null | grep "$pattern"
done)

echo "| workload | unit | moonweave | Erlang/OTP $otp ($workers schedulers) | moonweave vs Erlang | target |"
echo "|---|---|---|---|---|---|"
for name in idle spawn skynet ring ping_pong fan_in; do
    row=$(grep "^| $name |" <<<"$mw_out")
    unit=$(cut -d'|' -f3 <<<"$row" | xargs)
    ours=$(cut -d'|' -f4 <<<"$row" | xargs)
    target=$(cut -d'|' -f6 <<<"$row" | xargs)
    theirs=$(awk -v n="$name" '$1 == n {print $2}' <<<"$erl_out")
    case $name in
        idle | skynet | ping_pong) ratio=$(awk -v a="$theirs" -v b="$ours" 'BEGIN {printf "%.2f×", a / b}') ;;
        *) ratio=$(awk -v a="$ours" -v b="$theirs" 'BEGIN {printf "%.2f×", a / b}') ;;
    esac
    echo "| $name | $unit | $ours | $theirs | $ratio | $target |"
done
grep -E "^\| (ring_1w|ping_pong_1w|cpu_|breakdown_)" <<<"$mw_out" | sed 's/| — | \(.*\) |$/| — | — | \1 |/'
# The floors of ping-pong and ring on a bare Luau VM (benches/floor.rs), in the same sitting.
cargo bench -q --bench floor 2>/dev/null | grep -E "^\| (idle|ping_pong|ring)_floor" | sed 's/ |$/ | — | — | — |/'
