-- The serving side of benches/distribution.sh: registered as "echo", it answers
-- {ping, From} with {pong}, counts {msg, _} and answers {done, From} with {count, N}.
return function()
    process.registry.register("echo")
    print("ready")
    local inbox = process.inbox()
    local count = 0
    while true do
        local msg = inbox:receive()
        local topic = msg:topic()
        if topic == "ping" then
            process.send(msg:payload(), "pong")
        elseif topic == "msg" then
            count = count + 1
        elseif topic == "done" then
            process.send(msg:payload(), "count", count)
            count = 0
        elseif topic == "stop" then
            return 0
        end
    end
end
