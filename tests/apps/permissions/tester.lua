local security = require("security")

-- "ok <value>" or "denied <kind> <message>" for a `value | nil/false, err` result.
local function result(v, e)
    if v then
        return "ok " .. tostring(v)
    end
    return "denied " .. e:kind() .. " " .. e:message()
end

local function raised(f)
    local ok, e = pcall(f)
    if ok then
        return "ok"
    end
    return "raised " .. e:kind() .. " " .. e:message()
end

-- Tells main this process is ready, then waits until main says the effect (if any) happened.
local function ready(main)
    process.send(main, "ready")
    local inbox = process.inbox()
    while inbox:receive():topic() ~= "check" do
    end
end

local function first_event()
    local r = channel.select({ process.events():case_receive(), default = true })
    if r.default then
        return "none"
    end
    return r.value.kind
end

local function lookup(name)
    local pid = process.registry.lookup(name)
    if pid == nil then
        return "free"
    end
    return pid == process.pid() and "mine" or "taken"
end

local scenarios = {
    spawn = function()
        return result(process.spawn("app:idle", "app:one"))
    end,
    spawn_monitored = function()
        return result(process.spawn_monitored("app:idle", "app:one"))
    end,
    spawn_linked = function()
        return result(process.spawn_linked("app:idle", "app:one"))
    end,
    spawn_linked_monitored = function()
        return result(process.spawn_linked_monitored("app:idle", "app:one"))
    end,
    call = function(main)
        return result(process.call("app:answer", "app:one", main))
    end,
    send = function()
        return result(process.send("collector", "probe", 1))
    end,
    terminate = function(_, target)
        return result(process.terminate(target))
    end,
    cancel = function(_, target)
        return result(process.cancel(target))
    end,
    monitor = function(main, target)
        local r = result(process.monitor(target))
        ready(main)
        return r .. " | " .. first_event()
    end,
    unmonitor = function(main, target)
        assert(process.monitor(target))
        local r = result(process.unmonitor(target))
        ready(main)
        return r .. " | " .. first_event()
    end,
    link = function(main, target)
        process.set_options({ trap_links = true })
        local r = result(process.link(target))
        ready(main)
        return r .. " | " .. first_event()
    end,
    unlink = function(main, target)
        process.set_options({ trap_links = true })
        assert(process.link(target))
        local r = result(process.unlink(target))
        ready(main)
        return r .. " | " .. first_event()
    end,
    context = function()
        return raised(function()
            return process.with_context({ a = 1 })
        end)
    end,
    with_actor = function()
        local other = assert(security.new_actor("other"))
        return raised(function()
            return process.with_context({}):with_actor(other)
        end)
    end,
    with_scope = function()
        local empty = assert(security.new_scope({}))
        return raised(function()
            return process.with_context({}):with_scope(empty)
        end)
    end,
    register = function()
        return result(process.registry.register("probe_name")) .. " | " .. lookup("probe_name")
    end,
    unregister = function()
        return result(process.registry.unregister("held_name"))
    end,
    with_name = function()
        local b = process.with_context({}):with_name("named")
        return result(b:spawn("app:idle", "app:one")) .. " | " .. lookup("named")
    end,
}

return function(scenario, main, target)
    return scenarios[scenario](main, target)
end
