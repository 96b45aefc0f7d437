-- The audit service: prints what it is told, answers "stats", and stops cleanly when the
-- runtime shuts down (CANCEL).
return function()
    local inbox, events = process.inbox(), process.events()
    local count = 0
    while true do
        local r = channel.select({ inbox:case_receive(), events:case_receive() })
        if r.channel == events then
            if r.value.kind == process.event.CANCEL then
                return
            end
        else
            local msg = r.value
            local topic = msg:topic()
            if topic == "event" then
                count += 1
                print("audit:", msg:payload().what)
            elseif topic == "stats" then
                process.send(msg:from(), "stats", count)
            end
        end
    end
end
