-- Every permission of security.md §4, allowed and denied: a tester process with an actor and
-- a scope performs the operation, and main shows the result and whether it took effect.
-- Run with one worker (tests/permissions.rs), so that effects are visible in a known order.
local security = require("security")

return function()
    local me = process.pid()
    local inbox, events = process.inbox(), process.events()
    local actor = assert(security.new_actor("tester", { role = "probe" }))
    local allow_all = assert(security.new_scope({ "app:allow_all" }))
    local function deny(...)
        local scope = allow_all
        for _, name in { ... } do
            scope = assert(scope:with("app:deny_" .. name))
        end
        return scope
    end

    local function exit_of(pid)
        while true do
            local ev = events:receive()
            if ev.from == pid then
                return ev.result
            end
        end
    end
    local function reply(topic)
        while true do
            local m = inbox:receive()
            if m:topic() == topic then
                return m:payload()
            end
        end
    end
    local function pending(topic)
        local r = channel.select({ inbox:case_receive(), default = true })
        if r.default then
            return "none"
        end
        return r.value:topic()
    end
    local function tester(scope, scenario, target)
        return assert(
            process
                .with_context({})
                :with_actor(actor)
                :with_scope(scope)
                :spawn_monitored("app:tester", "app:processes", scenario, me, target)
        )
    end
    local function outcome(pid)
        local r = exit_of(pid)
        if r.error then
            return "error " .. r.error:message()
        end
        return r.value
    end
    local function stop(pid)
        process.terminate(pid)
        exit_of(pid)
    end
    -- Whether host app:one (max_processes: 1) has room: a spawn there took effect if not.
    local function one()
        local pid = process.spawn_monitored("app:idle", "app:one")
        if not pid then
            return "one full"
        end
        stop(pid)
        return "one free"
    end
    local function target()
        return assert(process.spawn_monitored("app:idle", "app:processes"))
    end
    local function show(name, mode, text)
        -- PIDs differ from run to run: show them as <pid>.
        print(name .. " " .. mode .. ": " .. string.gsub(text, "{[^}]*}", "<pid>"))
    end
    local function both(name, denied, run)
        show(name, "allowed", run(allow_all))
        show(name, "denied", run(deny(table.unpack(denied))))
    end

    -- Spawns: the child would occupy app:one.
    for _, case in {
        { "spawn", "spawn", { "spawn" } },
        { "spawn.monitored", "spawn_monitored", { "spawn_monitored" } },
        { "spawn.linked", "spawn_linked", { "spawn_linked" } },
        { "host", "spawn", { "host" } },
        { "order", "spawn_linked_monitored", { "spawn_linked", "spawn_monitored" } },
    } do
        both(case[1], case[3], function(scope)
            local r = outcome(tester(scope, case[2]))
            local effect = one()
            local child = string.match(r, "^ok (.+)$")
            if child then
                assert(process.monitor(child))
                stop(child)
            end
            return r .. " | " .. effect
        end)
    end

    both("call", { "call" }, function(scope)
        return outcome(tester(scope, "call")) .. " | " .. pending()
    end)

    local collector = target()
    assert(process.registry.register("collector", collector))
    both("send", { "send" }, function(scope)
        local r = outcome(tester(scope, "send"))
        process.send(collector, "report")
        return r .. " | probes " .. reply("report")
    end)

    both("terminate", { "terminate" }, function(scope)
        local t = target()
        local r = outcome(tester(scope, "terminate", t))
        local alive = process.send(t, "ping") and reply("pong") == nil
        if not alive then
            exit_of(t)
            return r .. " | terminated"
        end
        stop(t)
        return r .. " | alive"
    end)

    both("cancel", { "cancel" }, function(scope)
        local t = target()
        local r = outcome(tester(scope, "cancel", t))
        process.send(t, "events?")
        local seen = reply("events")
        stop(t)
        return r .. " | target saw " .. seen
    end)

    -- Monitors and links: main makes the target end, waits for its own EXIT, then lets the
    -- tester look at its events (one worker: the tester's event, if any, is already there).
    for _, case in {
        { "monitor", "monitor", "terminate" },
        { "unmonitor", "unmonitor", "terminate" },
        { "link", "link", "fail" },
        { "unlink", "unlink", "fail" },
    } do
        both(case[1], { case[2] }, function(scope)
            local t = target()
            local pid = tester(scope, case[2], t)
            reply("ready")
            if case[3] == "terminate" then
                process.terminate(t)
            else
                process.send(t, "fail")
            end
            exit_of(t)
            process.send(pid, "check")
            return outcome(pid)
        end)
    end

    for _, case in {
        { "context", "context", "context" },
        { "security (actor)", "with_actor", "security" },
        { "security (scope)", "with_scope", "security" },
        { "register", "register", "register" },
        { "with_name", "with_name", "register" },
    } do
        both(case[1], { case[3] }, function(scope)
            local r = outcome(tester(scope, case[2]))
            if case[2] == "with_name" then
                local child = string.match(r, "^ok ([^ ]+)")
                r ..= " | " .. one()
                if child then
                    assert(process.monitor(child))
                    stop(child)
                end
            end
            return r
        end)
    end

    both("unregister", { "unregister" }, function(scope)
        local t = target()
        assert(process.registry.register("held_name", t))
        local r = outcome(tester(scope, "unregister"))
        local holder = process.registry.lookup("held_name")
        stop(t)
        return r .. " | " .. (holder == t and "still held" or "free")
    end)
    stop(collector)
end
