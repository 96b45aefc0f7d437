return function()
    local inbox = process.inbox()
    while true do
        local msg = inbox:receive()
        if msg:topic() == "stop" then return end
        process.send(msg:payload(), "pong")
    end
end
