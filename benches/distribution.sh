#!/usr/bin/env bash
# Remote messaging between two nodes on this machine (docs/src/distribution.md): a round trip
# one at a time and pipelined throughput, for Erlang<->Erlang, moonweave->Erlang,
# Erlang->moonweave and moonweave<->moonweave, measured in one run, and prints one table.
# Each pair runs ROUNDS times (default 5), the pairs interleaved, and the table shows medians:
# single runs on a shared 2-core machine move by 2-3x (the Erlang sender especially).
# Installs Debian's erlang-nox when `erl` is missing (the tests never need it).
#   [ROUNDS=n] [PAIRS="client:server ..."] bash benches/distribution.sh [round trips] [pipelined messages]
# (PAIRS picks pairs of the four; erlang:erlang is always needed for the ratios.)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
M=${2:-200000}
ROUNDS=${ROUNDS:-5}

if ! command -v erl >/dev/null 2>&1; then
    echo "installing erlang-nox (Erlang/OTP) for the comparison..." >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq erlang-nox >/dev/null
fi
cargo build -q --release
MW=target/release/moonweave
COOKIE=moonweave-bench
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
erlc -o "$work" benches/dist/dist.erl

wait_for() { # file, text: the server prints "ready" once its name is registered
    for _ in $(seq 1 600); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "server did not start: $(cat "$1")" >&2
    exit 1
}

# server kind (erlang|moonweave), client kind: prints "round_trip_ns rate"
measure() {
    local server=$1 client=$2 tag=$1$2$$$RANDOM
    local snode=s$tag@127.0.0.1 cnode=c$tag@127.0.0.1
    if [ "$server" = erlang ]; then
        erl -name "$snode" -setcookie "$COOKIE" -noshell -hidden -pa "$work" -s dist serve >"$work/server" 2>&1 &
    else
        "$MW" run --workers 2 --name "$snode" --cookie "$COOKIE" benches/dist/echo.lua >"$work/server" 2>&1 &
    fi
    local server_pid=$!
    wait_for "$work/server" ready
    local out
    if [ "$client" = erlang ]; then
        out=$(erl -name "$cnode" -setcookie "$COOKIE" -noshell -hidden -pa "$work" -run dist client "$snode" "$N" "$M")
    else
        out=$("$MW" run --workers 2 --name "$cnode" --cookie "$COOKIE" benches/dist/client.lua -- "echo@$snode" "$N" "$M")
    fi
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    echo "$(awk '/^roundtrip_ns/ {print $2}' <<<"$out") $(awk '/^pipelined_per_s/ {print $2}' <<<"$out")"
}

otp=$(erl -noshell -eval 'io:format("~s", [erlang:system_info(otp_release)]), halt().')
pairs=${PAIRS:-"erlang:erlang moonweave:erlang erlang:moonweave moonweave:moonweave"} # client:server
for round in $(seq 1 "$ROUNDS"); do
    for pair in $pairs; do
        client=${pair%%:*} server=${pair##*:}
        echo "$pair $(measure "$server" "$client")" >>"$work/results"
    done
done
median() { # pair, column (2: round trip, 3: rate)
    awk -v p="$1" -v c="$2" '$1 == p {print $c}' "$work/results" | sort -n |
        awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
ee_rt=$(median erlang:erlang 2)
ee_rate=$(median erlang:erlang 3)
echo "| client → server (two nodes, loopback) | round trip (µs) | pipelined (k messages/s) | vs Erlang↔Erlang (round trip, pipelined) |"
echo "|---|---|---|---|"
row() {
    local rt rate
    grep -q "^$2 " "$work/results" || return 0 # a pair PAIRS left out
    rt=$(median "$2" 2)
    rate=$(median "$2" 3)
    awk -v name="$1" -v rt="$rt" -v rate="$rate" -v ert="$ee_rt" -v erate="$ee_rate" \
        'BEGIN {printf "| %s | %.1f | %.0f | %.2f×, %.2f× |\n", name, rt / 1000, rate / 1000, ert / rt, rate / erate}'
}
row "Erlang/OTP $otp → Erlang" erlang:erlang
row "moonweave → Erlang" moonweave:erlang
row "Erlang → moonweave" erlang:moonweave
row "moonweave → moonweave" moonweave:moonweave
