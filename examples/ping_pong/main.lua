-- Two processes bounce a counter back and forth; main prints the final count.
-- Run: moonweave run examples/ping_pong -- 5
return function(rounds)
    rounds = tonumber(rounds) or 3
    local pong = assert(process.spawn("app:pong", "app:processes"))
    local inbox = process.inbox()
    for i = 1, rounds do
        assert(process.send(pong, "ping", i))
        local msg = inbox:receive()
        local n = msg:payload()
        print(`{msg:topic()} {n} from {msg:from() == pong and "pong" or "?"}`)
    end
    process.send(pong, "stop")
    return 0
end
