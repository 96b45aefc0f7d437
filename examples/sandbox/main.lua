-- Runs one untrusted plugin in the sandbox and shows that its forbidden attempts were
-- denied while the audit service (started at boot, registered as "audit") kept running.
local security = require("security")

return function()
    local scope = assert(security.new_scope({ "app:send_to_audit" }))
    local actor = assert(security.new_actor("plugin:untrusted", { tier = "sandbox" }))
    local sandboxed = process.with_context({}):with_actor(actor):with_scope(scope)
    local events = process.events()
    local plugin = assert(sandboxed:spawn_monitored("app:plugin", "app:sandbox"))
    local ev = events:receive()
    print("plugin:", ev.from == plugin, ev.result.value)

    -- A process on the sandbox host without actor and scope gets nothing either.
    local bare = assert(process.spawn_monitored("app:plugin", "app:sandbox"))
    ev = events:receive()
    print("bare plugin:", ev.from == bare, ev.result.value)

    assert(process.send("audit", "stats"))
    print("audit still running, events:", process.inbox():receive():payload())
end
