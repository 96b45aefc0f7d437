-- Starts the audit process, runs one untrusted plugin in the sandbox, and shows that the
-- plugin's forbidden attempts were denied while the audit process kept running.
local security = require("security")

return function()
    local audit = assert(process.spawn("app:audit", "app:audit_host", process.pid()))
    assert(process.inbox():receive():topic() == "ready") -- audit holds its name now

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

    assert(process.send(audit, "stats"))
    print("audit still running, events:", process.inbox():receive():payload())
    process.send(audit, "stop")
end
