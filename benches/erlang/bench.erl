%% The six moonweave workloads in Erlang, for a side-by-side run on the same machine.
%% Run with benches/compare.sh; prints one "name value" line per workload, in the same units
%% as benches/workloads.rs.
-module(bench).
-export([main/0, run/1]).

main() ->
    lists:foreach(fun run/1, [idle, spawn, skynet, ring, ping_pong, fan_in]),
    halt(0).

best(F, Better) ->
    lists:foldl(fun(_, Acc) -> V = F(), case Acc of none -> V; _ -> Better(V, Acc) end end,
                none, [1, 2, 3]).

seconds(F) ->
    T0 = erlang:monotonic_time(),
    F(),
    erlang:convert_time_unit(erlang:monotonic_time() - T0, native, nanosecond) / 1.0e9.

report(Name, Value) -> io:format("~s ~.2f~n", [Name, float(Value)]).

run(idle) ->
    N = 100000,
    erlang:garbage_collect(),
    Before = erlang:memory(total),
    Self = self(),
    Pids = [spawn(fun() -> Self ! ready, receive stop -> ok end end) || _ <- lists:seq(1, N)],
    [receive ready -> ok end || _ <- Pids],
    After = erlang:memory(total),
    [P ! stop || P <- Pids],
    report("idle", (After - Before) / N / 1024);
run(spawn) ->
    N = 1000000,
    S = best(fun() -> seconds(fun() -> spawn_all(N) end) end, fun min/2),
    report("spawn", N / S / 1.0e6);
run(skynet) ->
    S = best(fun() -> seconds(fun() -> 499999500000 = skynet(0, 1000000) end) end, fun min/2),
    report("skynet", S);
run(ring) ->
    S = best(fun() -> seconds(fun() -> ring(10000, 1000) end) end, fun min/2),
    report("ring", 10000000 / S / 1.0e6);
run(ping_pong) ->
    N = 1000000,
    S = best(fun() -> seconds(fun() -> ping_pong(N) end) end, fun min/2),
    report("ping_pong", S * 1.0e9 / N);
run(fan_in) ->
    S = best(fun() -> seconds(fun() -> fan_in(1000, 1000) end) end, fun min/2),
    report("fan_in", 1000000 / S / 1.0e6).

%% spawn: N processes that exit at once; done when every one has exited.
spawn_all(N) ->
    Refs = [erlang:monitor(process, spawn(fun() -> ok end)) || _ <- lists:seq(1, N)],
    [receive {'DOWN', R, _, _, _} -> ok end || R <- Refs].

skynet(Num, 1) -> Num;
skynet(Num, Size) ->
    Self = self(),
    Step = Size div 10,
    [spawn(fun() -> Self ! {sum, skynet(Num + I * Step, Step)} end) || I <- lists:seq(0, 9)],
    lists:sum([receive {sum, S} -> S end || _ <- lists:seq(1, 10)]).

ring(Size, Laps) ->
    Self = self(),
    Last = lists:foldl(fun(_, Next) -> spawn(fun() -> link_loop(Next) end) end, Self,
                       lists:seq(1, Size)),
    Last ! Size * Laps - 1,
    ring_main(Last).

ring_main(Last) ->
    receive
        Left when Left =< 0 -> ok;
        Left -> Last ! Left - 1, ring_main(Last)
    end.

link_loop(Next) ->
    receive
        Left when Left =< 0 -> Next ! Left - 1;
        Left -> Next ! Left - 1, link_loop(Next)
    end.

ping_pong(N) ->
    Pong = spawn(fun pong/0),
    [begin Pong ! {ping, self()}, receive pong -> ok end end || _ <- lists:seq(1, N)],
    Pong ! stop.

pong() ->
    receive
        {ping, From} -> From ! pong, pong();
        stop -> ok
    end.

fan_in(Senders, Each) ->
    Self = self(),
    [spawn(fun() -> [Self ! {m, I} || I <- lists:seq(1, Each)] end) || _ <- lists:seq(1, Senders)],
    [receive {m, _} -> ok end || _ <- lists:seq(1, Senders * Each)].
