-- Spawns 10,000 workers, each squares its number and reports back; main sums the answers.
-- Run: moonweave run examples/fanout
local N = 10000

return function(n)
    n = tonumber(n) or N
    local me = process.pid()
    for i = 1, n do
        assert(process.spawn("app:worker", "app:processes", me, i))
    end
    local inbox, sum = process.inbox(), 0
    for _ = 1, n do
        local msg = inbox:receive()
        sum += msg:payload()
    end
    print(`{n} workers answered, sum of squares = {string.format("%d", sum)}`)
    return 0
end
