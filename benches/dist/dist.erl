%% The Erlang side of benches/distribution.sh: the same echo server and client as
%% benches/dist/echo.lua and client.lua.
-module(dist).
-export([serve/0, client/1]).

serve() ->
    register(echo, spawn(fun() -> loop(0) end)),
    io:format("ready~n").

loop(Count) ->
    receive
        {ping, From} -> From ! {pong}, loop(Count);
        {msg, _} -> loop(Count + 1);
        {done, From} -> From ! {count, Count}, loop(0);
        {stop} -> ok
    end.

client([Node, N, M]) ->
    Dest = {echo, list_to_atom(Node)},
    Rounds = list_to_integer(N),
    Messages = list_to_integer(M),
    Dest ! {ping, self()},
    receive {pong} -> ok end,
    T0 = erlang:monotonic_time(nanosecond),
    round_trips(Dest, Rounds),
    T1 = erlang:monotonic_time(nanosecond),
    send_all(Dest, 1, Messages),
    Dest ! {done, self()},
    receive {count, Messages} -> ok end,
    T2 = erlang:monotonic_time(nanosecond),
    io:format("roundtrip_ns ~p~n", [(T1 - T0) div Rounds]),
    io:format("pipelined_per_s ~p~n", [round(Messages / ((T2 - T1) / 1.0e9))]),
    halt().

round_trips(_, 0) -> ok;
round_trips(Dest, K) ->
    Dest ! {ping, self()},
    receive {pong} -> ok end,
    round_trips(Dest, K - 1).

send_all(_, I, M) when I > M -> ok;
send_all(Dest, I, M) -> Dest ! {msg, I}, send_all(Dest, I + 1, M).
