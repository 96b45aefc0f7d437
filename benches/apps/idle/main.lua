-- idle memory: 100,000 processes waiting in receive. Main returns once every one is waiting;
-- the harness then reads the resident memory.
return function(n)
    n = tonumber(n) or 100000
    local me = process.pid()
    for _ = 1, n do
        process.spawn("app:waiter", "app:processes", me)
    end
    local inbox = process.inbox()
    for _ = 1, n do
        inbox:receive()
    end
    return 0
end
