-- The audit process: registers as "audit", prints what it is told, answers "stats".
return function(main)
    assert(process.registry.register("audit"))
    process.send(main, "ready")
    local count = 0
    local inbox = process.inbox()
    while true do
        local msg = inbox:receive()
        local topic = msg:topic()
        if topic == "event" then
            count += 1
            print("audit:", msg:payload().what)
        elseif topic == "stats" then
            process.send(msg:from(), "stats", count)
        elseif topic == "stop" then
            return
        end
    end
end
