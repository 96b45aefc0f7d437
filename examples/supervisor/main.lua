-- A supervisor that keeps three workers alive: it monitors each one and restarts a worker
-- from its EXIT event when it fails. Run: moonweave run examples/supervisor
local WORKER, HOST = "app:worker", "app:processes"

return function()
    local events = process.events()
    local slot_of, attempts = {}, {}
    local function start(slot)
        attempts[slot] = (attempts[slot] or 0) + 1
        local pid = assert(process.spawn_monitored(WORKER, HOST, slot, attempts[slot]))
        slot_of[pid] = slot
    end
    for slot = 1, 3 do
        start(slot)
    end

    local restarts, finished = 0, 0
    while finished < 3 do
        local ev = events:receive()
        local slot = slot_of[ev.from]
        slot_of[ev.from] = nil
        if ev.result.error then
            restarts += 1
            print(`worker {slot} failed: {ev.result.error}; restarting`)
            start(slot)
        else
            finished += 1
            print(`worker {slot} finished: {ev.result.value}`)
        end
    end
    print(`all done after {restarts} restart(s)`)
    return 0
end
