-- A target: answers pings, reports its first event and the probes it received, fails on demand.
return function()
    local inbox = process.inbox()
    local probes = 0
    while true do
        local m = inbox:receive()
        local topic = m:topic()
        if topic == "ping" then
            process.send(m:from(), "pong")
        elseif topic == "probe" then
            probes += 1
        elseif topic == "report" then
            process.send(m:from(), "report", probes)
        elseif topic == "events?" then
            local r = channel.select({ process.events():case_receive(), default = true })
            process.send(m:from(), "events", r.default and "none" or r.value.kind)
        elseif topic == "fail" then
            error("asked to fail")
        end
    end
end
