-- pipeline: a producer task → worker processes → a collector task, joined by channels inside
-- this process and by messages between processes; the main task waits for the total with a
-- timeout through channel.select.
--
--   moonweave run examples/pipeline            -- squares 1..100 on 4 workers
--   moonweave run examples/pipeline -- 1000 8  -- squares 1..1000 on 8 workers
local time = require("time")

return function(count, workers)
    count = tonumber(count) or 100
    workers = tonumber(workers) or 4
    local me = process.pid()

    local pool = {}
    for i = 1, workers do
        pool[i] = process.spawn_linked("app:worker", "app:processes", me)
    end

    -- producer: numbers into a buffered channel, closed when done
    local jobs = channel.new(16)
    coroutine.spawn(function()
        for n = 1, count do
            jobs:send(n)
        end
        jobs:close()
    end)

    -- dispatcher: hands jobs to the worker processes in turn
    coroutine.spawn(function()
        local next_worker = 1
        while true do
            local n, ok = jobs:receive()
            if not ok then
                break
            end
            process.send(pool[next_worker], "job", n)
            next_worker = next_worker % workers + 1
        end
    end)

    -- collector: every result message, summed; the total goes out on `done`
    local done = channel.new(1)
    coroutine.spawn(function()
        local total, by_worker = 0, {}
        for _ = 1, count do
            local msg = process.inbox():receive()
            local n, square = msg:payload()
            total += square
            by_worker[msg:from()] = (by_worker[msg:from()] or 0) + 1
        end
        local busiest = 0
        for _, jobs_done in by_worker do
            busiest = math.max(busiest, jobs_done)
        end
        done:send({ total = total, busiest = busiest })
    end)

    local r = channel.select({ done:case_receive(), time.after("10s"):case_receive() })
    if r.channel ~= done then
        print("timed out waiting for the workers")
        return 1
    end
    print(`sum of squares 1..{count} = {r.value.total}`)
    print(`{workers} workers, the busiest did {r.value.busiest} jobs`)
    for _, pid in pool do
        process.send(pid, "stop")
    end
    return 0
end
