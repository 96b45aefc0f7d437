-- The calling side of benches/distribution.sh: n round trips to `dest` one at a time, then m
-- messages pipelined (sent back to back, then one {done, From} answered with the count).
local time = require("time")

return function(dest, n, m)
    n, m = tonumber(n), tonumber(m)
    local me, inbox = process.pid(), process.inbox()
    process.send(dest, "ping", me) -- connects
    inbox:receive()
    local t0 = time.now()
    for _ = 1, n do
        process.send(dest, "ping", me)
        inbox:receive()
    end
    local round_trip = time.now():sub(t0):nanoseconds() / n
    t0 = time.now()
    for i = 1, m do
        process.send(dest, "msg", i)
    end
    process.send(dest, "done", me)
    local count = inbox:receive():payload()
    assert(count == m, "the echo counted " .. tostring(count) .. " of " .. m)
    local rate = m / time.now():sub(t0):seconds()
    print(string.format("roundtrip_ns %.0f", round_trip))
    print(string.format("pipelined_per_s %.0f", rate))
    return 0
end
