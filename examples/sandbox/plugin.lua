-- An untrusted plugin: may send to "audit" and nothing else that needs a permission.
local logger = require("logger")

return function()
    local ok, err = process.send("audit", "event", { what = "plugin started" }) -- allowed
    if not ok then
        return `cannot reach audit: {err:message()}`
    end
    local denied = 0
    local attempts = {
        { "send to itself", function() return process.send(process.pid(), "x") end },
        { "spawn", function() return process.spawn("app:plugin", "app:sandbox") end },
        { "register a name", function() return process.registry.register("plugin") end },
        { "terminate audit", function() return process.terminate("audit") end },
    }
    for _, attempt in attempts do
        local ok, err = attempt[2]()
        if not ok and err:kind() == errors.PERMISSION_DENIED then
            denied += 1
            logger:warn("denied", { attempt = attempt[1], reason = err:message() })
        end
    end
    return `{denied} denied`
end
