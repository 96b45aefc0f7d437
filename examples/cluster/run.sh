#!/usr/bin/env bash
# A cluster on this machine (docs/src/distribution.md): one Erlang node and two moonweave
# nodes. The Erlang node calls the counter node as a gen_server; the client node sends to both
# by name and monitors the counter. Needs Erlang/OTP (erl, epmd: apt-get install erlang-base).
#   bash examples/cluster/run.sh        (uses `moonweave` from PATH, else `cargo run --release`)
set -euo pipefail
cd "$(dirname "$0")"
if command -v moonweave >/dev/null; then MW=(moonweave); else MW=(cargo run --release --quiet --); fi
if ! command -v erl >/dev/null; then
    echo "this example needs Erlang/OTP: apt-get install erlang-base" >&2
    exit 1
fi
COOKIE=moonweave-example
BEAM=beam$$@127.0.0.1
COUNTER=counter$$@127.0.0.1
CLIENT=client$$@127.0.0.1
LOG=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$LOG"' EXIT

# Waits until file $1 has a line containing $2 (the nodes print when they are ready).
wait_for() {
    for _ in $(seq 1 600); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "timed out waiting for '$2' in $1:" >&2; cat "$1" >&2; exit 1
}

erl -name "$BEAM" -setcookie "$COOKIE" -noshell -hidden -eval '
    register(greeter, spawn(fun Loop() ->
        receive {hello, From, Name} -> From ! {greeting, <<"hello, ", Name/binary>>}, Loop() end
    end)),
    io:format("erlang ready~n").' >"$LOG/erlang" 2>&1 &
wait_for "$LOG/erlang" "erlang ready"

"${MW[@]}" run --name "$COUNTER" --cookie "$COOKIE" counter.lua >"$LOG/counter" 2>&1 &
COUNTER_PID=$!
wait_for "$LOG/counter" "counter ready"

# Erlang calls the Lua counter like any gen_server.
erl -name "call$$@127.0.0.1" -setcookie "$COOKIE" -noshell -hidden -eval "
    Total = gen_server:call({counter, '$COUNTER'}, {add, 37}),
    io:format(\"erlang called the counter: ~p~n\", [Total]),
    init:stop()."

"${MW[@]}" run --name "$CLIENT" --cookie "$COOKIE" client.lua -- "$COUNTER" "$BEAM"
wait "$COUNTER_PID"
cat "$LOG/counter"
