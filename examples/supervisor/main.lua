-- Uses the pool the `pool` service supervises: crashes one worker on purpose, sees the
-- supervisor replace it, then spreads jobs over the workers.
local supervisor = require("supervisor")

local function workers()
    local pids = {}
    for _, child in assert(supervisor.which_children("pool_sup")) do
        pids[child.id] = child.pid
    end
    return pids
end

return function()
    assert(process.registry.register("pool_client"))
    local ready = process.listen("ready", { message = true })
    -- Wait until the service has started its tree.
    assert(process.send("pool_root", "await"))
    process.inbox():receive()

    local before = workers()
    assert(process.send(before.w2, "job", { poison = true }))
    -- The new worker 2 says it is ready (ready messages of the first workers are skipped).
    local msg
    repeat
        msg = ready:receive()
    until msg:payload() == 2 and msg:from() ~= before.w2
    local after = workers()
    print(`worker 2 crashed and was replaced: {after.w2 ~= before.w2}, workers 1 and 3 kept: {after.w1 == before.w1 and after.w3 == before.w3}`)

    for n = 1, 6 do
        assert(process.send(after["w" .. ((n - 1) % 3 + 1)], "job", { n = n, reply_to = process.pid() }))
    end
    local sum = 0
    for _ = 1, 6 do
        sum += process.inbox():receive():payload()
    end
    print(`sum of squares 1..6 = {sum}`)
end
