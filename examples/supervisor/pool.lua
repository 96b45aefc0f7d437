-- The pool service: starts the supervisor tree, then tells whoever asks that it is up. It is
-- linked to its supervisor: if the supervisor gives up, this process fails and the service
-- starts a new tree.
local supervisor = require("supervisor")

return function()
    assert(supervisor.start({
        name = "pool_sup",
        strategy = "one_for_one",
        max_restarts = 5,
        period = "10s",
        children = {
            { id = "w1", entry = "app:worker", args = { 1 } },
            { id = "w2", entry = "app:worker", args = { 2 } },
            { id = "w3", entry = "app:worker", args = { 3 } },
        },
    }))
    local inbox, events = process.inbox(), process.events()
    while true do
        local r = channel.select({ inbox:case_receive(), events:case_receive() })
        if r.channel == events then
            if r.value.kind == process.event.CANCEL then
                return -- the runtime shuts down; the supervisor stops the workers
            end
        elseif r.value:topic() == "await" then
            process.send(r.value:from(), "up")
        end
    end
end
