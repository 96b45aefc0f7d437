-- Cost breakdown of the message path, in nanoseconds per operation, measured inside one
-- process on one worker (CPU time, os.clock). Returns {name = ns}; `cargo bench --bench
-- workloads` prints it beside the six workloads.
local N = 1000000

local function measure(n, f)
    local t0 = os.clock()
    f(n)
    return (os.clock() - t0) * 1e9 / n
end

local security = require("security")

-- ns per `process.send` to this process (received afterwards), the loop's cost removed.
local function send_cost(n, me)
    local inbox = process.inbox()
    local t0 = os.clock()
    for i = 1, n do process.send(me, "t", i) end
    local t1 = os.clock()
    for _ = 1, n do end
    local t2 = os.clock()
    for _ = 1, n do inbox:receive() end
    return ((t1 - t0) - (t2 - t1)) * 1e9 / n
end

return function(mode)
    if mode == "idle" then
        local inbox = process.inbox()
        while true do inbox:receive() end
    end
    if mode == "checked" then
        return send_cost(N, process.pid())
    end
    local me, inbox = process.pid(), process.inbox()
    local results = {}
    local function report(name, ns)
        results[name] = ns
    end

    -- An empty loop, to know what the loop itself costs.
    local loop = measure(N, function(n) for _ = 1, n do end end)

    -- A local send: to this very process (messages pile up), then receiving them.
    local send = measure(N, function(n)
        for i = 1, n do process.send(me, "t", i) end
    end)
    report("send_local", send - loop)
    local receive = measure(N, function(n)
        for _ = 1, n do inbox:receive() end
    end)
    report("receive_waiting", receive - loop)

    -- A payload copy of a small table: a send with the table minus a send with a number
    -- (the messages are received and dropped between the runs).
    local small = {a = 1, b = "x", c = {1, 2, 3}}
    local table_send = measure(N // 4, function(n)
        for _ = 1, n do process.send(me, "t", small) end
    end)
    for _ = 1, N // 4 do inbox:receive() end
    report("copy_small_table", table_send - send)

    -- A process switch: a plain coroutine.yield() at top level gives the worker back, which
    -- resumes this process again (nothing else runs).
    local switch = measure(N, function(n)
        for _ = 1, n do coroutine.yield() end
    end)
    report("process_switch", switch - loop)

    -- PID resolution: one send to each of many waiting processes whose PIDs this worker has
    -- not resolved yet, minus the same sends once it has (each send wakes its receiver in
    -- both runs: the yields let them receive and wait again). Each of the two is the best of
    -- three rounds with fresh processes: a round the worker preempts runs 20,000 receivers
    -- inside the measurement, which alone made the difference negative in some runs.
    local M = 20000
    local cold, warm = math.huge, math.huge
    for _ = 1, 3 do
        local pids = {}
        for i = 1, M do pids[i] = process.spawn("app:main", "app:processes", "idle") end
        coroutine.yield() -- let them start and wait
        cold = math.min(cold, measure(M, function(n)
            for i = 1, n do process.send(pids[i], "t", 1) end
        end))
        coroutine.yield()
        warm = math.min(warm, measure(M, function(n)
            for i = 1, n do process.send(pids[i], "t", 1) end
        end))
        for i = 1, M do process.terminate(pids[i]) end
        coroutine.yield()
    end
    report("pid_resolution", cold - warm)

    -- A permission check on the send path: the same sends by a process with an actor and a
    -- scope of 10 policies (app.yaml; only the last allows the send), minus unchecked sends.
    local ids = {}
    for i = 1, 10 do ids[i] = "app:policy" .. i end
    local checked = process.with_context({})
        :with_actor(assert(security.new_actor("bench", {team = "dev"})))
        :with_scope(assert(security.new_scope(ids)))
    assert(checked:spawn_monitored("app:main", "app:processes", "checked"))
    local checked_send = process.events():receive().result.value
    report("permission_check", checked_send - send_cost(N, me))

    return results
end
