-- ping-pong: 1,000,000 round trips between two processes.
return function(n)
    n = tonumber(n) or 1000000
    local pong = process.spawn("app:pong", "app:processes")
    local me, inbox = process.pid(), process.inbox()
    for i = 1, n do
        process.send(pong, "ping", me)
        inbox:receive()
    end
    process.send(pong, "stop")
    return 0
end
