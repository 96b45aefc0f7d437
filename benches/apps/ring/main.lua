-- ring: 10,000 processes in a ring; a token goes 1,000 times around (10,000,000 messages).
return function(size, laps)
    size, laps = tonumber(size) or 10000, tonumber(laps) or 1000
    local me = process.pid()
    local first = process.spawn("app:link", "app:processes", me)
    local next_pid = first
    for _ = 2, size do
        next_pid = process.spawn("app:link", "app:processes", next_pid)
    end
    -- next_pid is the last spawned; it forwards to the one before it, ..., first forwards to main
    process.send(next_pid, "t", size * laps - 1)
    local inbox = process.inbox()
    while true do
        local left = inbox:receive():payload()
        if left <= 0 then break end
        process.send(next_pid, "t", left - 1)
    end
    return 0
end
